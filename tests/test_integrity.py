"""IntegrityChecker and missing buyers on real SQLite and PostgreSQL (properties 2-4, 23, 24).

Generated sheets are synced, then the database is tampered with — rows deleted,
rows added, values altered — and the checks must find exactly those changes.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buyersync.services.integrity import IntegrityChecker, VerifyMode
from buyersync.services.missing import find_missing, sync_missing
from buyersync.services.sync import SyncEngine
from buyersync.sources import open_source
from buyersync.store import outcomes
from buyersync.store.db import Database
from tests.helpers import write_csv

HEADER = ["buyer_number", "name", "address", "note"]
COLUMNS = HEADER[1:]
HOSTILE = [
    "山田 太郎",
    "東京都千代田区1-1",
    "line1\nline2",
    "a\r\nb",
    " edge ",
    "<b>&x|y</b>",
    "x" * 5000,
    "",
    "0012",
    "1,234.50",
    "é́ combining",
    "😀",
]


def reset(db: Database) -> None:
    """Forget everything a previous example wrote (one database serves every example)."""
    db.execute("DROP TABLE IF EXISTS buyers")
    if db.table_exists("sync_outcomes"):
        db.execute("DELETE FROM sync_outcomes")


def fresh_sync(db: Database, path: Path) -> None:
    report = SyncEngine(db, open_source(str(path)), max_shrink_ratio=0).run()
    assert report.failed == 0, report.failures[:3]


def test_fresh_sync_verifies_clean_with_hostile_text(db: Database, tmp_path: Path) -> None:
    rows = [
        [
            f"{i:04d}",
            HOSTILE[i % len(HOSTILE)],
            HOSTILE[(i * 5) % len(HOSTILE)],
            HOSTILE[(i * 7) % len(HOSTILE)],
        ]
        for i in range(60)
    ]
    rows.append(["１２３", "全角の番号", "", ""])  # full-width key: stored as 123
    path = write_csv(tmp_path / "s.csv", HEADER, rows)
    fresh_sync(db, path)
    report = IntegrityChecker(db, open_source(str(path))).verify_full()
    assert report.ok, report.to_json()
    assert report.checked == 61 and report.diff.sheet_count == 61
    assert report.columns == tuple(COLUMNS)
    sample = IntegrityChecker(db, open_source(str(path))).verify_sample_data(500, seed=3)
    assert sample.ok and sample.checked == 61


def test_fresh_xlsx_sync_verifies_clean_with_numbers_and_dates(
    db: Database, tmp_path: Path
) -> None:
    openpyxl = pytest.importorskip("openpyxl")
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["buyer_number", "amount", "joined", "ratio", "name"])
    ws.append([1001, 1234.5, dt.date(2024, 1, 31), 0.25, "山田"])
    ws.append(["0042", 7, dt.datetime(2023, 12, 1, 9, 30), 1e-7, "line1\nline2"])
    ws.append([1003, -3, None, 12345678901234, "x" * 3000])
    path = tmp_path / "s.xlsx"
    wb.save(path)
    fresh_sync(db, path)
    report = IntegrityChecker(db, open_source(str(path))).verify_full()
    assert report.ok, report.to_json()
    assert report.checked == 3


def test_tampering_is_reported_exactly(db: Database, tmp_path: Path) -> None:
    rows = [[f"B{i}", f"name {i}", f"addr {i}", ""] for i in range(1, 21)]
    rows.insert(5, ["B3", "duplicate", "", ""])
    rows.insert(7, ["", "no key", "", ""])
    path = write_csv(tmp_path / "s.csv", HEADER, rows)
    SyncEngine(db, open_source(str(path))).run()
    q = db.quote
    db.execute(f"UPDATE buyers SET {q('name')} = %s WHERE buyer_number = %s", ("tampered", "B4"))
    db.execute(f"UPDATE buyers SET {q('note')} = %s WHERE buyer_number = %s", ("added", "B9"))
    db.execute(f"UPDATE buyers SET {q('address')} = NULL WHERE buyer_number = %s", ("B10",))
    db.execute("DELETE FROM buyers WHERE buyer_number IN ('B2', 'B17')")
    db.execute(
        "INSERT INTO buyers (buyer_number, created_at, synced_at, db_updated_at) "
        "VALUES ('Z1', %s, %s, %s)",
        (db.ts(dt.datetime.now(dt.UTC)),) * 3,
    )
    report = IntegrityChecker(db, open_source(str(path))).verify_full()
    assert not report.ok
    assert report.missing == (("B2", 3), ("B17", 20))
    assert report.extra == ("Z1",)
    got = {(m.buyer_number, m.column, m.sheet_value, m.db_value) for m in report.mismatches}
    assert got == {
        ("B4", "name", "name 4", "tampered"),
        ("B9", "note", None, "added"),
        ("B10", "address", "addr 10", None),
    }
    assert {m.buyer_number: m.row_number for m in report.mismatches} == {
        "B4": 5,
        "B9": 12,
        "B10": 13,
    }
    assert [(d.buyer_number, d.row_number, d.first_row) for d in report.duplicates] == [
        ("B3", 7, 4)
    ]
    assert report.blank_key_rows == (9,)
    # Counts always add up: sheet buyers - missing = database buyers - extra.
    d = report.diff
    assert d.sheet_count - d.missing_count == d.database_count - d.extra_count
    completeness = IntegrityChecker(db, open_source(str(path))).verify_completeness()
    assert completeness.missing == report.missing and completeness.mismatches == ()
    missing = find_missing(db, open_source(str(path)))
    assert missing.diff == report.diff


@st.composite
def tampering(draw: st.DrawFn) -> dict:
    n = draw(st.integers(1, 25))
    cells = st.sampled_from(HOSTILE)
    rows = [[f"K{i}", draw(cells), draw(cells), draw(cells)] for i in range(n)]
    keys = [r[0] for r in rows]
    deleted = draw(st.sets(st.sampled_from(keys), max_size=n))
    kept = [k for k in keys if k not in deleted]
    altered = (
        draw(st.sets(st.tuples(st.sampled_from(kept), st.sampled_from(COLUMNS)), max_size=8))
        if kept
        else set()
    )
    extra = draw(st.sets(st.sampled_from([f"X{i}" for i in range(10)]), max_size=4))
    return {"rows": rows, "deleted": deleted, "altered": altered, "extra": extra}


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(case=tampering())
def test_checker_finds_exactly_the_generated_changes(
    db: Database, tmp_path: Path, case: dict
) -> None:
    """Properties 2, 23, 24: missing, extra and altered fields are found exactly."""
    reset(db)
    rows = case["rows"]
    path = write_csv(tmp_path / "gen.csv", HEADER, rows)
    fresh_sync(db, path)
    q = db.quote
    for key in case["deleted"]:
        db.execute("DELETE FROM buyers WHERE buyer_number = %s", (key,))
    for key, column in case["altered"]:
        db.execute(
            f"UPDATE buyers SET {q(column)} = %s WHERE buyer_number = %s", ("§altered§", key)
        )
    now = db.ts(dt.datetime.now(dt.UTC))
    for key in case["extra"]:
        db.execute(
            "INSERT INTO buyers (buyer_number, created_at, synced_at, db_updated_at) "
            "VALUES (%s, %s, %s, %s)",
            (key, now, now, now),
        )
    row_of = {r[0]: n for n, r in enumerate(rows, start=2)}
    for mode in (VerifyMode.FULL, VerifyMode.SAMPLE):
        report = IntegrityChecker(db, open_source(str(path))).verify(mode, sample_size=1000, seed=1)
        assert {k for k, _ in report.missing} == case["deleted"]
        assert all(row_of[k] == r for k, r in report.missing)
        assert set(report.extra) == case["extra"]
        assert {(m.buyer_number, m.column) for m in report.mismatches} == case["altered"]
        assert all(
            m.db_value == "§altered§" and m.row_number == row_of[m.buyer_number]
            for m in report.mismatches
        )
        assert report.checked == len(rows) - len(case["deleted"])
        assert report.ok == (not case["deleted"] and not case["extra"] and not case["altered"])


def test_sample_is_reproducible_with_a_seed(db: Database, tmp_path: Path) -> None:
    rows = [[f"S{i}", f"n{i}", "", ""] for i in range(200)]
    path = write_csv(tmp_path / "s.csv", HEADER, rows)
    fresh_sync(db, path)
    db.execute(f"UPDATE buyers SET {db.quote('name')} = 'changed'")  # every buyer differs

    def sample(seed: int) -> set[str]:
        report = IntegrityChecker(db, open_source(str(path))).verify_sample_data(10, seed=seed)
        assert report.checked == 10 and report.seed == seed
        return {m.buyer_number for m in report.mismatches}

    assert len(sample(42)) == 10
    assert sample(42) == sample(42)
    unseeded = IntegrityChecker(db, open_source(str(path))).verify_sample_data(10)
    assert unseeded.seed is not None
    assert {m.buyer_number for m in unseeded.mismatches} == sample(unseeded.seed)


def _limit_name_column(db: Database) -> None:
    """A legacy schema: name limited to 10 characters (the incident)."""
    if db.dialect == "postgresql":
        db.execute("ALTER TABLE buyers ALTER COLUMN name TYPE varchar(10)")
    else:
        db.execute("DROP TABLE buyers")
        db.execute(
            "CREATE TABLE buyers (buyer_number text NOT NULL PRIMARY KEY, "
            "name text CHECK (length(name) <= 10), address text, note text, "
            "created_at TEXT NOT NULL, synced_at TEXT NOT NULL, "
            "db_updated_at TEXT NOT NULL)"
        )


def test_sync_missing_records_every_outcome(db: Database, tmp_path: Path) -> None:
    """Properties 3 and 4: storable missing buyers are synced, each outcome is recorded,
    and a buyer whose row cannot be stored stays missing with its logged reason."""
    rows = [[f"M{i}", f"n{i}", "", ""] for i in range(1, 11)]
    first = write_csv(tmp_path / "first.csv", HEADER, rows[:2])
    fresh_sync(db, first)
    _limit_name_column(db)
    fresh_sync(db, first)  # SQLite rebuilt the table: M1 and M2 are back
    rows[4][1] = "far too long for ten"  # M5 cannot be stored
    rows.append(["M3", "duplicate of M3", "", ""])
    path = write_csv(tmp_path / "s.csv", HEADER, rows)
    before = find_missing(db, open_source(str(path)))
    assert before.diff.missing_count == 8
    result = sync_missing(db, open_source(str(path)))
    by_key = {o.buyer_number: o for o in result.outcomes}
    assert set(by_key) == before.diff.missing_keys
    assert by_key["M5"].outcome == "failed" and by_key["M5"].error_type == "value_too_long"
    assert "M5" in (by_key["M5"].message or "")
    assert {k for k, o in by_key.items() if o.outcome == "synced"} == before.diff.missing_keys - {
        "M5"
    }
    stored = outcomes.query(db, run_id=result.run.run_id if result.run else None)
    assert {(o.buyer_number, str(o.outcome)) for o in stored} == {
        (o.buyer_number, str(o.outcome)) for o in result.outcomes
    }
    logged = db.query(
        "SELECT buyer_number, error_type FROM sync_error_log WHERE run_id = %s "
        "AND buyer_number = 'M5'",
        (result.run.run_id,),
    )  # type: ignore[union-attr]
    assert [r["error_type"] for r in logged] == ["value_too_long"]
    after = find_missing(db, open_source(str(path)))
    assert [k for k, _ in after.diff.missing] == ["M5"]
    assert result.to_json()["attempted"] == 8 and result.to_json()["failed"] == 1
    again = sync_missing(db, open_source(str(path)))
    assert [o.buyer_number for o in again.outcomes] == ["M5"]


@settings(
    max_examples=8,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(n=st.integers(1, 30), removed=st.sets(st.integers(0, 29), max_size=30))
def test_sync_missing_leaves_nothing_missing(
    db: Database, tmp_path: Path, n: int, removed: set[int]
) -> None:
    """Property 3 and 4: after sync-missing nothing storable is missing, and every synced
    buyer has an outcome recorded."""
    reset(db)
    rows = [[f"P{i}", HOSTILE[i % len(HOSTILE)], "", ""] for i in range(n)]
    path = write_csv(tmp_path / "p.csv", HEADER, rows)
    fresh_sync(db, path)
    gone = {f"P{i}" for i in removed if i < n}
    for key in gone:
        db.execute("DELETE FROM buyers WHERE buyer_number = %s", (key,))
    result = sync_missing(db, open_source(str(path)))
    assert {o.buyer_number for o in result.outcomes if o.outcome == "synced"} == gone
    assert find_missing(db, open_source(str(path))).ok
    if gone:
        recorded = outcomes.query(db, run_id=result.run.run_id)  # type: ignore[union-attr]
        assert {o.buyer_number for o in recorded} == gone
    else:
        assert result.run is None and result.outcomes == ()
