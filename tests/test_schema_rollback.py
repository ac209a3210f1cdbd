"""The Migration 050 backup keeps types, key and constraints: rolling back is a rename."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from buyersync.store import open_database


def test_backup_is_a_faithful_copy_and_rollback_is_a_rename(db_url: str) -> None:
    db = open_database(db_url)
    try:
        check = "CHECK (length(name) <= 50)" if db.dialect == "sqlite" else ""
        db.execute(
            f"CREATE TABLE buyers (buyer_number varchar(20) PRIMARY KEY, "
            f"name varchar(50) {check}, note text)"
        )
        db.execute("INSERT INTO buyers VALUES ('B1', 'Ann', 'x'), ('B2', 'Bob', NULL)")
        before = db.columns("buyers")
    finally:
        db.close()
    out = subprocess.run(
        [sys.executable, "-m", "buyersync", "schema", "fix", "--apply", "--db", db_url, "--json"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    backup = json.loads(out.stdout)["backup_table"]
    db = open_database(db_url)
    try:
        assert db.columns(backup) == before  # the original declared types
        assert db.columns("buyers")["name"].lower() == "text"
        with db.transaction():
            db.execute("ALTER TABLE buyers RENAME TO buyers_after_050")
            db.execute(f"ALTER TABLE {db.quote(backup)} RENAME TO buyers")
        assert db.columns("buyers") == before
        rows = db.query("SELECT buyer_number, name, note FROM buyers ORDER BY buyer_number")
        assert [tuple(r.values()) for r in rows] == [("B1", "Ann", "x"), ("B2", "Bob", None)]
        with pytest.raises(Exception, match="(?i)unique|duplicate"):
            db.execute("INSERT INTO buyers (buyer_number, name) VALUES ('B1', 'again')")
        if db.dialect == "sqlite":  # the length CHECK came back with the table
            with pytest.raises(Exception, match="(?i)check"):
                db.execute("INSERT INTO buyers (buyer_number, name) VALUES ('B9', %s)", ("x" * 60,))
    finally:
        db.close()
