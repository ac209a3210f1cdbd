"""Migration 050 on SQLite: VARCHAR declarations and CHECK length constraints (issue 4)."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from buyersync.errors import SchemaFixError
from buyersync.store import catalog, open_database, schemafix
from tests.helpers import write_csv

ROWS = 3000
LEGACY = """
CREATE TABLE audit (buyer_number TEXT, at TEXT);
CREATE TABLE buyers (
    buyer_number VARCHAR(50) NOT NULL PRIMARY KEY,
    name VARCHAR(50) CHECK (length(name) <= 50),
    address VARCHAR(50),
    postcode CHAR(8),
    notes TEXT,
    credit INTEGER DEFAULT 0 CHECK (credit >= 0),
    created_at TEXT, synced_at TEXT, db_updated_at TEXT,
    CONSTRAINT address_len CHECK (length(address) <= 50)
);
CREATE INDEX buyers_name_idx ON buyers (name);
CREATE TRIGGER buyers_audit AFTER INSERT ON buyers
    BEGIN INSERT INTO audit VALUES (new.buyer_number, 'x'); END;
CREATE VIEW buyer_names AS SELECT buyer_number, name FROM buyers;
CREATE VIEW buyer_names_b AS SELECT name FROM buyer_names WHERE name LIKE 'Buyer 1%';
"""


def _legacy(path: Path) -> str:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode = WAL")  # as buyersync opens every SQLite file
    conn.executescript(LEGACY)
    conn.executemany(
        "INSERT INTO buyers (buyer_number, name, address, postcode, notes, credit) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (f"B{i}", f"Buyer {i}", f"{i} Long Street", f"{i:06d}", "n" * (i % 300), i)
            for i in range(1, ROWS + 1)
        ],
    )
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def _content(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT buyer_number, name, address, postcode, notes, credit FROM buyers ORDER BY 1"
        ).fetchall()
    finally:
        conn.close()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "buyersync", *args], capture_output=True, text=True, timeout=120
    )


def test_check_fix_apply_verify_and_repeat(tmp_path: Path) -> None:
    path = tmp_path / "legacy.db"
    url = _legacy(path)
    before = _content(path)

    check = _run("schema", "check", "--db", url, "--json")
    assert check.returncode == 1, check.stderr
    found = {f["column"]: f for f in json.loads(check.stdout)["non_text_fields"]}
    assert set(found) == {"buyer_number", "name", "address", "postcode"}
    assert found["name"]["enforced"] and found["address"]["enforced"]
    assert not found["postcode"]["enforced"]  # declared only: SQLite stores longer values

    printed = _run("schema", "fix", "--db", url)
    assert printed.returncode == 0 and "ALTER TABLE" in printed.stdout
    assert _content(path) == before
    with open_database(url) as db:
        assert len(catalog.limited_columns(db)) == 4

    applied = _run("schema", "fix", "--apply", "--db", url, "--json")
    assert applied.returncode == 0, applied.stderr
    res = json.loads(applied.stdout)
    assert res["ok"] and res["verification"]["identical"] and res["backup_identical"]
    assert res["backup_rows"] == ROWS
    assert _content(path) == before
    with open_database(url) as db:
        assert catalog.limited_columns(db) == []
        assert set(catalog.columns(db).values()) <= {"TEXT", "INTEGER"}
        create = catalog.sqlite_create_sql(db)
        assert "CHECK (credit >= 0)" in create and "NOT NULL PRIMARY KEY" in create
        objects = {(o.type, o.name) for o in catalog.sqlite_objects(db)}
        assert {
            ("index", "buyers_name_idx"),
            ("trigger", "buyers_audit"),
            ("view", "buyer_names"),
            ("view", "buyer_names_b"),
        } <= objects
        assert db.query_value("SELECT count(*) FROM buyer_names_b") > 0
        assert db.table_exists(res["backup_table"])
        db.execute("INSERT INTO buyers (buyer_number, name) VALUES ('NEW', %s)", ("x" * 500,))
        assert db.query_value("SELECT count(*) FROM audit WHERE buyer_number = 'NEW'") == 1
        with pytest.raises(Exception, match="UNIQUE|PRIMARY"):
            db.execute("INSERT INTO buyers (buyer_number) VALUES ('NEW')")
        with pytest.raises(Exception, match="CHECK"):
            db.execute("INSERT INTO buyers (buyer_number, credit) VALUES ('NEG', -1)")

    assert _run("schema", "check", "--db", url).returncode == 0
    again = _run("schema", "fix", "--apply", "--db", url, "--json")
    assert again.returncode == 0 and json.loads(again.stdout)["nothing_to_do"] is True


def test_busy_writer_retries_then_fails_clearly(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    url = _legacy(path)
    writer = sqlite3.connect(path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")  # another process writing: SQLite's exclusive lock
    try:
        held = _run(
            "schema", "fix", "--apply", "--db", url, "--lock-timeout", "0.2", "--attempts", "2"
        )
        assert held.returncode == 3, held.stdout + held.stderr
        assert "could not lock the buyers table" in held.stderr
        assert "Traceback" not in held.stderr
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    with open_database(url) as db:
        assert len(catalog.limited_columns(db)) == 4
        assert schemafix.apply(db, lock_timeout_s=1, attempts=2).ok


def test_compound_check_is_reported_not_hidden(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    with open_database(url) as db:
        db.execute(
            "CREATE TABLE buyers (buyer_number TEXT PRIMARY KEY, name VARCHAR(20), "
            "code TEXT CHECK (length(code) <= 4 AND code <> ''))"
        )
        db.execute("INSERT INTO buyers VALUES ('B1', 'n', 'c')")
        result = schemafix.apply(db)
        assert [c["column"] for c in result.converted] == ["name"]
        # the compound check limits a length with another condition: kept, and said so
        assert result.identical and not result.ok
        assert [(m.columns, m.name) for m in result.kept_constraints] == [(("code",), None)]
        assert "code <> ''" in result.kept_constraints[0].definition
        assert "by hand" in result.kept_constraints[0].what_to_do
        assert db.query_value("SELECT count(*) FROM buyers WHERE code = 'c'") == 1


def test_sync_preflight_then_fix_then_sync(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    with open_database(url) as db:
        db.execute(
            "CREATE TABLE buyers (buyer_number TEXT PRIMARY KEY, "
            "address VARCHAR(50) CHECK (length(address) <= 50), notes TEXT, "
            "created_at TEXT, synced_at TEXT, db_updated_at TEXT)"
        )
    rows = [[f"B{i}", ("A" * 60) if i % 9 == 0 else f"{i} St", "n"] for i in range(1, 201)]
    sheet = write_csv(tmp_path / "s.csv", ["buyer_number", "address", "notes"], rows)
    too_long = {f"B{i}" for i in range(1, 201) if i % 9 == 0}
    first = json.loads(_run("sync", "--db", url, "--source", str(sheet), "--json").stdout)
    assert first["failed"] == len(too_long) and first["inserted"] == 200 - len(too_long)
    with open_database(url) as db:
        logged = db.query(
            "SELECT buyer_number, error_type, error_message, details "
            "FROM sync_error_log WHERE run_id = %s",
            (first["run_id"],),
        )
    assert {r["buyer_number"] for r in logged} == too_long
    for r in logged:
        details = json.loads(r["details"])
        assert r["error_type"] == "value_too_long"
        assert "buyersync schema fix --apply" in r["error_message"]
        assert details["columns"] == [{"column": "address", "length": 60, "limit": 50}]
    assert _run("schema", "fix", "--apply", "--db", url).returncode == 0
    second = json.loads(_run("sync", "--db", url, "--source", str(sheet), "--json").stdout)
    assert second["failed"] == 0 and second["inserted"] == len(too_long)


def test_apply_without_table_is_a_clear_error(tmp_path: Path) -> None:
    with (
        open_database(f"sqlite:///{tmp_path / 'e.db'}") as db,
        pytest.raises(SchemaFixError, match="no buyers table"),
    ):
        schemafix.apply(db)
