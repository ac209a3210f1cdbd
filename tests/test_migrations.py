"""Migrations are versioned, idempotent, and never change an existing buyers column."""

from __future__ import annotations

from pathlib import Path

from buyersync.services.sync import sync
from buyersync.sources.csv_source import CsvSource
from buyersync.store import migrations
from buyersync.store.db import Database
from tests.helpers import write_csv


def test_step_versions_are_unique() -> None:
    versions = [s.version for s in migrations.STEPS]
    assert len(versions) == len(set(versions)), "two migration steps share a version"
    names = [s.name for s in migrations.STEPS]
    assert len(names) == len(set(names))


def test_migrate_twice_is_a_no_op(db: Database) -> None:
    first = migrations.migrate(db)
    assert len(first) == len(migrations.STEPS)
    assert migrations.migrate(db) == []
    assert migrations.pending(db) == []
    for table in ("sync_runs", "sync_error_log", "retry_queue", "sync_health_metrics"):
        assert db.table_exists(table)


def test_existing_buyers_table_keeps_its_columns_and_types(db: Database, tmp_path: Path) -> None:
    db.execute(
        "CREATE TABLE buyers (buyer_number varchar(20) NOT NULL UNIQUE, name varchar(80), "
        "app_flag integer DEFAULT 7, extra_notes text)"
    )
    before = db.columns("buyers")
    src = write_csv(tmp_path / "s.csv", ["buyer_number", "name"], [["B1", "Ann"]])
    report = sync(db, CsvSource(src))
    assert report.inserted == 1
    after = db.columns("buyers")
    for column, declared in before.items():
        assert after[column] == declared  # never changes a type
    assert {"created_at", "synced_at", "db_updated_at"} <= set(after)
    assert db.query_value("SELECT app_flag FROM buyers WHERE buyer_number = 'B1'") == 7
