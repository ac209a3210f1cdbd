"""The sync engine on real SQLite and PostgreSQL: idempotent upsert, isolation, logging."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buyersync.errors import HeaderError, LockHeld, SyncRefused
from buyersync.records import RunStatus
from buyersync.services.sync import SyncEngine, sync
from buyersync.sources.csv_source import CsvSource
from buyersync.store import open_database
from buyersync.store.db import Database
from tests.helpers import assert_every_row_accounted, buyers_table, error_rows, write_csv

HEADER = ["buyer_number", "name", "address", "note"]


def _rows(n: int, start: int = 1) -> list[list[str]]:
    return [[f"B{i:05d}", f"Name {i}", f"{i} Main St", ""] for i in range(start, start + n)]


def test_first_sync_inserts_and_second_updates_in_place(db: Database, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "s.csv", HEADER, _rows(250))
    first = sync(db, CsvSource(src), batch_size=100)
    assert (first.inserted, first.updated, first.failed, first.rows_read) == (250, 0, 0, 250)
    assert first.batches == 3 and first.status is RunStatus.SUCCEEDED
    before = buyers_table(db, ["name"])
    rows = _rows(250)
    rows[10][1] = "Changed"
    write_csv(src, HEADER, rows)
    time.sleep(0.01)
    second = sync(db, CsvSource(src), batch_size=100)
    assert (second.inserted, second.updated, second.failed) == (0, 250, 0)
    after = buyers_table(db, ["name"])
    assert len(after) == 250  # property 17: one row per buyer number
    assert after["B00011"]["name"] == "Changed"  # property 18
    for key, row in after.items():
        assert row["created_at"] == before[key]["created_at"]  # property 19
        assert str(row["synced_at"]) > str(before[key]["synced_at"])  # property 20
        assert str(row["db_updated_at"]) > str(before[key]["db_updated_at"])


def test_run_is_recorded_with_duration_and_throughput(db: Database, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "s.csv", HEADER, _rows(30))
    report = sync(db, CsvSource(src))
    run = db.query_one("SELECT * FROM sync_runs WHERE run_id = %s", (report.run_id,))
    assert run is not None
    assert run["status"] == "succeeded" and run["rows_read"] == 30 and run["inserted"] == 30
    assert run["duration_s"] > 0 and run["rows_per_s"] > 0  # property 22


def test_keys_are_normalized_once_everywhere(db: Database, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "s.csv", HEADER, [["  Ｂ１ ", "full width", "", ""]])
    sync(db, CsvSource(src))
    write_csv(src, HEADER, [["B1", "ascii", "", ""]])
    report = sync(db, CsvSource(src))
    assert report.updated == 1
    assert list(buyers_table(db, ["name"])) == ["B1"]


def test_bad_rows_fail_alone_and_are_logged_once(db: Database, tmp_path: Path) -> None:
    rows = _rows(400)
    ts = "timestamptz" if db.dialect == "postgresql" else "text"
    db.execute(
        "CREATE TABLE buyers (buyer_number text PRIMARY KEY, name text, address text "
        f"CHECK (address <> 'REJECT'), note text, created_at {ts}, synced_at {ts}, "
        f"db_updated_at {ts})"
    )
    bad = {7, 150, 151, 399}
    for i in bad:
        rows[i][2] = "REJECT"
    rows.insert(20, ["", "no key", "", ""])
    rows.insert(30, ["B00003", "duplicate", "", ""])
    rows.insert(40, ["", "", "", ""])
    src = write_csv(tmp_path / "s.csv", HEADER, rows)
    report = sync(db, CsvSource(src), batch_size=50)
    assert report.inserted == 396
    assert report.skipped_blank == 1
    assert report.failed == 6
    assert report.failures_by_type() == {"constraint": 4, "duplicate_key": 1, "validation": 1}
    logged = error_rows(db, report.run_id)
    assert len(logged) == 6  # property 5: exactly one entry per failure
    for entry in logged:  # property 6: every field present
        assert entry["row_number"] and entry["error_type"] and entry["error_message"]
        assert entry["run_id"] == report.run_id and entry["operation"] == "sync"
        assert entry["retryable"] in (0, 1, False, True) and entry["created_at"]
    assert {e["row_number"] for e in logged if e["error_type"] == "constraint"} == {
        9,
        155,
        156,
        404,
    }  # sheet rows: index + 2, shifted by the three rows inserted above
    assert_every_row_accounted(db, report.run_id, rows)


def test_value_too_long_is_caught_before_the_database(db: Database, tmp_path: Path) -> None:
    if db.dialect == "postgresql":
        db.execute(
            "CREATE TABLE buyers (buyer_number varchar(50) PRIMARY KEY, name varchar(50), "
            "address varchar(50), note text, created_at timestamptz, synced_at timestamptz,"
            " db_updated_at timestamptz)"
        )
    else:
        db.execute(
            "CREATE TABLE buyers (buyer_number varchar(50) PRIMARY KEY, name varchar(50) "
            "CHECK (length(name) <= 50), address varchar(50) CHECK (length(address) <= 50),"
            " note text, created_at text, synced_at text, db_updated_at text)"
        )
    rows = _rows(100)
    rows[5][2] = "東京都" * 30  # 90 characters
    rows[6][3] = "x" * 200_000  # TEXT column: fits
    src = write_csv(tmp_path / "s.csv", HEADER, rows)
    report = sync(db, CsvSource(src))
    assert report.inserted == 99 and report.failed == 1
    failure = report.failures[0]
    assert str(failure.category) == "value_too_long" and failure.row_number == 7
    assert failure.details["columns"] == [{"column": "address", "length": 90, "limit": 50}]
    assert "buyersync schema fix --apply" in failure.message
    assert len(buyers_table(db)["B00007"]) > 0
    note = db.query_value("SELECT note FROM buyers WHERE buyer_number = 'B00007'")
    assert note == "x" * 200_000  # stored exactly, never truncated


def test_header_problems_stop_before_anything_is_written(db: Database, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "s.csv", ["buyer_number", "Name", "name"], [["B1", "a", "b"]])
    with pytest.raises(HeaderError, match="both map to column 'name'"):
        sync(db, CsvSource(src))
    assert not db.table_exists("buyers")


def test_empty_or_shrunken_sheet_is_refused_and_nothing_deleted(
    db: Database, tmp_path: Path
) -> None:
    src = write_csv(tmp_path / "s.csv", HEADER, _rows(100))
    sync(db, CsvSource(src))
    write_csv(src, HEADER, [])
    with pytest.raises(SyncRefused, match="empty sheet"):
        sync(db, CsvSource(src))
    write_csv(src, HEADER, _rows(10))
    with pytest.raises(SyncRefused, match="below the 50% guard"):
        sync(db, CsvSource(src))
    assert db.query_value("SELECT count(*) FROM buyers") == 100
    statuses = [r["status"] for r in db.query("SELECT status FROM sync_runs ORDER BY started_at")]
    assert statuses == ["succeeded", "refused", "refused"]
    report = sync(db, CsvSource(src), max_shrink_ratio=0)
    assert report.updated == 10
    assert db.query_value("SELECT count(*) FROM buyers") == 100  # sync never deletes


def test_dry_run_writes_nothing(db: Database, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "s.csv", HEADER, _rows(20) + [["", "x", "", ""]])
    report = sync(db, CsvSource(src), dry_run=True)
    assert (report.inserted, report.failed, report.status) == (20, 1, RunStatus.DRY_RUN)
    assert not db.table_exists("buyers") and not db.table_exists("sync_runs")


def test_a_second_sync_cannot_run_at_the_same_time(db_url: str, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "s.csv", HEADER, _rows(5))
    holder = open_database(db_url)
    other = open_database(db_url)
    try:
        with holder.lock("sync"):
            with pytest.raises(LockHeld, match="another buyersync sync is running"):
                SyncEngine(other, CsvSource(src)).run()
        assert SyncEngine(other, CsvSource(src)).run().inserted == 5
    finally:
        holder.close()
        other.close()


def test_a_killed_run_is_marked_incomplete_by_the_next(db: Database, tmp_path: Path) -> None:
    src = write_csv(tmp_path / "s.csv", HEADER, _rows(5))
    sync(db, CsvSource(src))
    db.execute("UPDATE sync_runs SET status = 'running'")
    report = sync(db, CsvSource(src))
    assert any("marked incomplete" in w for w in report.warnings)
    statuses = sorted(r["status"] for r in db.query("SELECT status FROM sync_runs"))
    assert statuses == ["incomplete", "succeeded"]


messy_cell = st.one_of(
    st.text(max_size=30),
    st.sampled_from(
        [
            "",
            " ",
            "山田 太郎",
            "東京都千代田区\n1-1",
            '"quoted", comma',
            "'; DROP TABLE buyers; --",
            "\u202eRTL",
            "😀🎉",
            "\t",
            "=1+1",
            "a\r\nb",
        ]
    ),
)
messy_key = st.one_of(
    st.sampled_from(["", " ", "B1", "B2", " B1", "Ｂ３", "b1", "K-0001"]),
    st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=6),
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.lists(st.tuples(messy_key, messy_cell, messy_cell), max_size=60),
    st.integers(min_value=1, max_value=7),
)
def test_every_row_of_a_messy_sheet_lands_or_is_logged(
    db: Database, tmp_path: Path, rows: list, batch: int
) -> None:
    for table in ("buyers", "sync_runs", "sync_error_log", "retry_queue"):
        db.execute(f"DROP TABLE IF EXISTS {table}")
    db.execute("DROP TABLE IF EXISTS buyersync_schema_version")
    sheet = [[k, a, b, ""] for k, a, b in rows]
    src = write_csv(tmp_path / "messy.csv", HEADER, sheet)
    report = sync(db, CsvSource(src), batch_size=batch)
    assert report.status in (RunStatus.SUCCEEDED, RunStatus.COMPLETED_WITH_ERRORS)
    assert_every_row_accounted(db, report.run_id, sheet)
    keys = [r["buyer_number"] for r in db.query("SELECT buyer_number FROM buyers")]
    assert len(keys) == len(set(keys))
    for entry in error_rows(db, report.run_id):
        details = entry["details"]
        assert isinstance(details if isinstance(details, dict) else json.loads(details), dict)


def test_a_refused_sync_alerts_and_a_later_sync_recovers(db_url: str, tmp_path: Path) -> None:
    import subprocess
    import sys

    src = write_csv(tmp_path / "s.csv", HEADER, _rows(20))
    args = [sys.executable, "-m", "buyersync", "sync", "--source", str(src), "--db", db_url]
    assert subprocess.run(args, capture_output=True, text=True).returncode == 0
    write_csv(src, HEADER, [])
    refused = subprocess.run(args, capture_output=True, text=True)
    assert refused.returncode == 3 and "refusing to sync an empty sheet" in refused.stderr
    assert "ALERT [sync_refused]" in refused.stderr  # the console channel always speaks
    db = open_database(db_url)
    try:
        state = db.query_one("SELECT active FROM alert_state WHERE condition = 'sync_refused'")
        assert state is not None and bool(state["active"])
        write_csv(src, HEADER, _rows(20))
        again = subprocess.run([*args, "-v"], capture_output=True, text=True)
        assert again.returncode == 0
        assert "recovered: a sync accepted the sheet again" in again.stderr
        state = db.query_one("SELECT active FROM alert_state WHERE condition = 'sync_refused'")
        assert state is not None and not bool(state["active"])
    finally:
        db.close()
