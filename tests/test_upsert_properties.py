"""Hypothesis properties of the upsert over sequences of syncs, on SQLite and PostgreSQL.

Properties 5, 6, 17, 18, 19 and 20: after any sequence of sheets,
- one row per normalized buyer number (17);
- each buyer holds the values of its first row in the latest sheet that had it (18);
- created_at never changes after the insert (19);
- synced_at and db_updated_at advance on every sync of the row (20);
- every failed row has exactly one error-log entry, with every required field (5, 6).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buyersync.errors import SyncRefused
from buyersync.rules.normalize import normalize_key
from buyersync.services.sync import sync
from buyersync.sources.csv_source import CsvSource
from buyersync.store.db import Database
from tests.helpers import write_csv

HEADER = ["buyer_number", "name", "city"]
keys = st.sampled_from(["B1", "B2", " B2", "Ｂ３", "B3", "b4", "", "B5"])
values = st.text(
    st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"]), max_size=12
)
sheets = st.lists(st.lists(st.tuples(keys, values, values), max_size=12), min_size=1, max_size=4)

REQUIRED = (
    "row_number",
    "error_type",
    "error_message",
    "run_id",
    "operation",
    "retryable",
    "created_at",
)


def _reset(db: Database) -> None:
    for table in (
        "buyers",
        "sync_runs",
        "sync_error_log",
        "retry_queue",
        "sync_outcomes",
        "retry_attempts",
        "sync_health_metrics",
        "alert_state",
        "buyersync_schema_version",
    ):
        db.execute(f"DROP TABLE IF EXISTS {table}")


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sheets, st.integers(min_value=1, max_value=5))
def test_upsert_properties_over_sequences_of_syncs(
    db: Database, tmp_path: Path, sequence: list, batch: int
) -> None:
    _reset(db)
    created: dict[str, object] = {}
    last_synced: dict[str, str] = {}
    expected: dict[str, tuple[str, str]] = {}
    for sheet in sequence:
        rows = [[k, a, b] for k, a, b in sheet]
        src = write_csv(tmp_path / "s.csv", HEADER, rows)
        firsts: dict[str, tuple[str, str]] = {}
        failing_rows = set()
        for n, (k, a, b) in enumerate(sheet, start=2):
            key = normalize_key(k)
            if not (k.strip() or a.strip() or b.strip()):
                continue  # a blank row: skipped, not a failure
            if not key or key in firsts:
                failing_rows.add(n)
                continue
            firsts[key] = (a, b)
        nonblank = any(k.strip() or a.strip() or b.strip() for k, a, b in sheet)
        if not nonblank and expected:
            with pytest.raises(SyncRefused):  # an empty sheet never wipes or touches buyers
                sync(db, CsvSource(src), batch_size=batch, max_shrink_ratio=0)
            continue
        # arbitrary sequences replace whole sheets: the shape guards are off here
        report = sync(db, CsvSource(src), batch_size=batch, max_shrink_ratio=0, min_key_share=0)
        expected.update(firsts)
        table = {
            r["buyer_number"]: r
            for r in db.query(
                "SELECT buyer_number, name, city, created_at, synced_at, db_updated_at FROM buyers"
            )
        }
        # 17: one row per normalized key, and only keys the sheets ever had
        assert set(table) == set(expected)
        for key, (a, b) in expected.items():
            row = table[key]
            assert (row["name"] or "", row["city"] or "") == (a, b)  # 18 (empty cell → NULL)
            if key in created:
                assert row["created_at"] == created[key]  # 19
            created.setdefault(key, row["created_at"])
            if key in firsts:
                stamp = str(row["synced_at"])
                assert stamp > last_synced.get(key, "")  # 20
                assert row["db_updated_at"] == row["synced_at"]
                last_synced[key] = stamp
        log = db.query("SELECT * FROM sync_error_log WHERE run_id = %s", (report.run_id,))
        assert sorted(e["row_number"] for e in log) == sorted(failing_rows)  # 5
        for entry in log:  # 6
            for field in REQUIRED:
                assert entry[field] is not None, field
            details = entry["details"]
            assert isinstance(details if isinstance(details, dict) else json.loads(details), dict)
