"""Real change counts: of the existing buyers a sync writes, which changed and which did not."""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from buyersync.services.sync import sync
from buyersync.sources.csv_source import CsvSource
from buyersync.store.db import Database
from tests.helpers import buyers_table, run_cli, write_csv

HEADER = ["buyer_number", "name", "city"]


def _rows(n: int) -> list[list[str]]:
    return [[f"B{i}", f"Name {i}", "Oslo"] for i in range(1, n + 1)]


def test_cli_reports_changed_and_unchanged(tmp_path: Path, db_url: str) -> None:
    src = write_csv(tmp_path / "b.csv", HEADER, _rows(5))
    first = json.loads(run_cli("sync", "--source", str(src), "--db", db_url, "--json").stdout)
    assert (first["inserted"], first["changed"], first["unchanged"]) == (5, 0, 0)
    same = run_cli("sync", "--source", str(src), "--db", db_url)
    assert same.returncode == 0, same.stderr
    assert "inserted 0, changed 0, unchanged 5" in same.stdout
    rows = _rows(5)
    rows[2][2] = "Bergen"
    write_csv(src, HEADER, rows)
    out = run_cli("sync", "--source", str(src), "--db", db_url)
    assert out.returncode == 0, out.stderr
    assert "inserted 0, changed 1, unchanged 4" in out.stdout
    rows[0][1] = ""  # a value that becomes NULL is a change too
    rows.append(["B6", "New", ""])
    write_csv(src, HEADER, rows)
    doc = json.loads(run_cli("sync", "--source", str(src), "--db", db_url, "--json").stdout)
    assert (doc["inserted"], doc["changed"], doc["unchanged"], doc["updated"]) == (1, 1, 4, 5)


def test_counts_are_stored_with_the_run(db: Database, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "b.csv", HEADER, _rows(4))
    sync(db, CsvSource(src))
    rows = _rows(4)
    rows[1][1] = "Other"
    write_csv(src, HEADER, rows)
    before = buyers_table(db)
    report = sync(db, CsvSource(src))
    stored = db.query_one(
        "SELECT inserted, updated, changed, unchanged FROM sync_runs WHERE run_id = %s",
        (report.run_id,),
    )
    assert stored == {"inserted": 0, "updated": 4, "changed": 1, "unchanged": 3}
    after = buyers_table(db)
    # requirement 6.4: every synced row's timestamps advance, changed or not
    for key, row in after.items():
        assert str(row["synced_at"]) > str(before[key]["synced_at"])
        assert str(row["db_updated_at"]) > str(before[key]["db_updated_at"])
        assert row["created_at"] == before[key]["created_at"]


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 11),  # buyer
            st.sampled_from(["keep", "change", "blank", "nokey", "dup"]),
        ),
        min_size=1,
        max_size=30,
    ),
    st.integers(0, 8),
)
def test_every_row_is_counted_once(
    db: Database, tmp_path: Path, edits: list[tuple[int, str]], existing: int
) -> None:
    """changed + unchanged + inserted + failed + skipped accounts for every row read."""
    db.execute("DROP TABLE IF EXISTS buyers")
    base = {f"B{i}": f"Name {i}" for i in range(existing)}
    if base:
        sync(
            db,
            CsvSource(write_csv(tmp_path / "a.csv", HEADER, [[k, v, ""] for k, v in base.items()])),
        )
    rows: list[list[str]] = []
    seen: set[str] = set()
    expect = {"changed": 0, "unchanged": 0, "inserted": 0, "failed": 0, "skipped": 0}
    for buyer, action in edits:
        key = f"B{buyer}"
        if action == "blank":
            rows.append(["", "", ""])
            expect["skipped"] += 1
            continue
        if action == "nokey" or (action == "dup" and key not in seen):
            rows.append(["", "orphan", "x"])
            expect["failed"] += 1
            continue
        if key in seen:
            rows.append([key, "again", ""])
            expect["failed"] += 1
            continue
        seen.add(key)
        value = base.get(key, "fresh") if action == "keep" else f"changed {buyer}"
        rows.append([key, value, ""])
        if key not in base:
            expect["inserted"] += 1
        elif value == base[key]:
            expect["unchanged"] += 1
        else:
            expect["changed"] += 1
    # an empty sheet over a database of buyers is refused, not counted (another test)
    assume(len(rows) > expect["skipped"] or not base)
    src = write_csv(tmp_path / "b.csv", HEADER, rows)
    report = sync(db, CsvSource(src), max_shrink_ratio=0, min_key_share=0, min_header_share=0)
    got = {
        "changed": report.changed,
        "unchanged": report.unchanged,
        "inserted": report.inserted,
        "failed": report.failed,
        "skipped": report.skipped_blank,
    }
    assert got == expect
    assert report.updated == report.changed + report.unchanged
    assert sum(got.values()) == len(rows)
