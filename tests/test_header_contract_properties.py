"""Property: a header change that leaves a fed column unfed is refused unless accepted or mapped.

Through the production path (the sync engine on a real database, both backends): any
baseline of columns, then any mix of kept, renamed, deleted, added and reordered headers.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buyersync.errors import SyncRefused
from buyersync.records import RunStatus
from buyersync.services.sync import sync
from buyersync.sources.csv_source import CsvSource
from buyersync.store.db import Database
from tests.helpers import write_csv

COLUMNS = ("name", "email", "phone", "city", "note")
KEYS = ("B1", "B2", "B3")


def _reset(db: Database) -> None:
    for table in ("sync_run_headers", "header_changes", "sync_runs"):
        if db.table_exists(table):
            db.execute(f"DELETE FROM {table}")
    db.execute("DROP TABLE IF EXISTS buyers")


@st.composite
def changes(draw: st.DrawFn) -> tuple[list[str], dict[str, str], list[str]]:
    """A baseline, what happens to each of its columns, and headers added."""
    baseline = draw(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=5, unique=True))
    fate = {c: draw(st.sampled_from(("keep", "rename", "delete"))) for c in baseline}
    added = draw(st.lists(st.sampled_from(("extra1", "extra2")), unique=True, max_size=2))
    return baseline, fate, added


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    change=changes(),
    accept=st.booleans(),
    mapped=st.booleans(),
    order=st.randoms(use_true_random=False),
)
def test_a_header_change_is_refused_unless_accepted_or_mapped(
    db: Database, tmp_path: Path, change: tuple, accept: bool, mapped: bool, order: object
) -> None:
    _reset(db)
    baseline, fate, added = change
    src = tmp_path / "sheet.csv"
    write_csv(
        src, ["buyer_number", *baseline], [[k, *(f"{k}-{c}" for c in baseline)] for k in KEYS]
    )
    assert sync(db, CsvSource(src)).status is RunStatus.SUCCEEDED
    # the columns are named: the same text must always mean the same row shape
    stored = "SELECT " + ", ".join(["buyer_number", *baseline]) + " FROM buyers"
    before = {tuple(r.values()) for r in db.query(stored)}

    header: list[str] = ["buyer_number"]
    mapping: dict[str, str] = {}
    for column in baseline:
        if fate[column] == "keep":
            header.append(column)
        elif fate[column] == "rename":
            header.append(f"New {column}")
            if mapped:
                mapping[f"New {column}"] = column
    header += added
    body = header[1:]
    order.shuffle(body)  # type: ignore[attr-defined]
    header = ["buyer_number", *body]
    write_csv(src, header, [[k, *(f"{k}-{h}-2" for h in body)] for k in KEYS])

    lost = [c for c in baseline if fate[c] == "delete" or (fate[c] == "rename" and not mapped)]
    refused = bool(lost) and not accept
    try:
        report = sync(db, CsvSource(src), mapping=mapping, accept_header_change=accept)
    except SyncRefused as exc:
        assert refused, f"refused without a lost column: {exc}"
        for column in lost:
            assert f"buyers.{column}" in exc.message
        assert {tuple(r.values()) for r in db.query(stored)} == before
        statuses = [r["status"] for r in db.query("SELECT status FROM sync_runs")]
        assert sorted(statuses) == ["refused", "succeeded"]
        return
    assert not refused, f"{lost} went unfed and the sync ran"
    assert report.header_change_accepted == (accept and not report.header_change.empty)
    # what was let through is the new baseline: the same sheet runs again unasked
    again = sync(db, CsvSource(src), mapping=mapping)
    assert again.header_change is not None and again.header_change.empty
