"""Migration 050 on a real PostgreSQL legacy ``buyers`` table (issue 4)."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest

from buyersync.errors import SchemaFixError
from buyersync.services.schema import SchemaValidator
from buyersync.sources import open_source
from buyersync.store import catalog, open_database, schemafix
from tests.helpers import write_csv

pytestmark = pytest.mark.postgres

ROWS = 3000
LEGACY = """
CREATE TABLE buyers (
    buyer_number varchar(50) NOT NULL PRIMARY KEY,
    name varchar(50),
    address varchar(50),
    postcode char(8),
    notes text,
    credit integer,
    created_at timestamptz NOT NULL DEFAULT now(),
    synced_at timestamptz NOT NULL DEFAULT now(),
    db_updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX buyers_name_idx ON buyers (name);
INSERT INTO buyers (buyer_number, name, address, postcode, notes, credit)
SELECT 'B' || g, 'Buyer ' || g, g || ' Long Street', lpad(g::text, 6, '0'),
       repeat('n', g %% 300), g
FROM generate_series(1, %(rows)s) g;
CREATE VIEW buyer_names AS SELECT buyer_number, name, postcode FROM buyers;
CREATE VIEW buyer_names_b AS SELECT name FROM buyer_names WHERE name LIKE 'Buyer 1%%';
CREATE MATERIALIZED VIEW buyer_areas AS
    SELECT postcode, count(*) AS n FROM buyers GROUP BY postcode;
CREATE UNIQUE INDEX buyer_areas_pc ON buyer_areas (postcode);
CREATE VIEW buyer_notes AS SELECT notes FROM buyers;
GRANT SELECT ON buyer_names TO PUBLIC;
"""


def _legacy(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(LEGACY.replace("%(rows)s", str(ROWS)).replace("%%", "%").encode())


def _content(url: str) -> list[tuple]:
    with psycopg.connect(url) as conn:
        return conn.execute(
            "SELECT buyer_number::text, name::text, address::text, postcode::text, notes, credit,"
            " created_at FROM buyers ORDER BY 1"
        ).fetchall()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "buyersync", *args], capture_output=True, text=True, timeout=120
    )


def test_check_fix_apply_verify_and_repeat(pg_url: str, tmp_path: Path) -> None:
    _legacy(pg_url)
    before = _content(pg_url)

    check = _run("schema", "check", "--db", pg_url, "--json")
    assert check.returncode == 1, check.stderr
    doc = json.loads(check.stdout)
    assert doc["ok"] is False
    assert {f["column"]: f["type"] for f in doc["non_text_fields"]} == {
        "buyer_number": "character varying(50)",
        "name": "character varying(50)",
        "address": "character varying(50)",
        "postcode": "character(8)",
    }

    printed = _run("schema", "fix", "--db", pg_url)
    assert printed.returncode == 0, printed.stderr
    assert 'ALTER TABLE "buyers" ALTER COLUMN "name" TYPE text' in printed.stdout
    assert 'DROP MATERIALIZED VIEW "public"."buyer_areas"' in printed.stdout
    assert "notes" not in printed.stdout.split("-- 3.")[1].split("-- 4.")[0]
    out = tmp_path / "m050.sql"
    assert _run("schema", "fix", "--db", pg_url, "--output", str(out)).returncode == 0
    assert "BEGIN;" in out.read_text()
    # Printing applied nothing.
    with open_database(pg_url) as db:
        assert len(catalog.limited_columns(db)) == 4

    applied = _run("schema", "fix", "--apply", "--db", pg_url, "--json")
    assert applied.returncode == 0, applied.stderr
    res = json.loads(applied.stdout)
    assert res["ok"] and res["verification"]["identical"]
    assert res["verification"]["rows_before"] == res["verification"]["rows_after"] == ROWS
    assert res["backup_rows"] == ROWS and res["backup_identical"] is True
    assert set(res["dependents_recreated"]) == {
        "public.buyer_names",
        "public.buyer_names_b",
        "public.buyer_areas",
    }

    assert _content(pg_url) == before
    with open_database(pg_url) as db:
        types = catalog.columns(db)
        assert types["name"] == types["postcode"] == types["buyer_number"] == "text"
        assert types["credit"] == "integer"
        assert catalog.limited_columns(db) == []
        assert db.table_exists(res["backup_table"])
        assert db.columns(res["backup_table"])["name"] == "character varying(50)"
        assert db.query_value("SELECT count(*) FROM buyer_names_b") > 0
        assert db.query_value("SELECT sum(n) FROM buyer_areas") == ROWS
        assert (
            db.query_value("SELECT count(*) FROM pg_indexes WHERE indexname = 'buyer_areas_pc'")
            == 1
        )
        assert (
            db.query_value("SELECT has_table_privilege('public', 'buyer_names', 'SELECT')") is True
        )
        assert (
            db.query_value("SELECT count(*) FROM pg_indexes WHERE indexname = 'buyers_name_idx'")
            == 1
        )

    ok = _run("schema", "check", "--db", pg_url, "--json")
    assert ok.returncode == 0 and json.loads(ok.stdout)["ok"] is True
    again = _run("schema", "fix", "--apply", "--db", pg_url, "--json")
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["nothing_to_do"] is True
    assert _content(pg_url) == before


def test_busy_table_retries_then_fails_clearly_then_succeeds(pg_url: str) -> None:
    _legacy(pg_url)
    reader = psycopg.connect(pg_url)
    reader.execute("SELECT 1 FROM buyers LIMIT 1")  # an open transaction: ACCESS SHARE held
    try:
        held = _run(
            "schema", "fix", "--apply", "--db", pg_url, "--lock-timeout", "0.2", "--attempts", "3"
        )
        assert held.returncode == 3, held.stdout + held.stderr
        assert "could not lock the buyers table" in held.stderr
        assert "3 attempt(s)" in held.stderr and "idle in transaction" in held.stderr
        assert "Traceback" not in held.stderr
        with open_database(pg_url) as db:
            assert len(catalog.limited_columns(db)) == 4  # nothing changed
    finally:
        reader.rollback()
    # Released after the first attempt timed out (during its backoff wait, not on a timer
    # that a busy machine can outrun): a later attempt gets the lock and the apply succeeds.
    reader.execute("SELECT 1 FROM buyers LIMIT 1")
    waits: list[float] = []

    def release_then_sleep(seconds: float) -> None:
        if not waits:
            reader.rollback()
        waits.append(seconds)
        time.sleep(seconds)

    try:
        with open_database(pg_url) as db:
            result = schemafix.apply(
                db, lock_timeout_s=0.3, attempts=10, backoff_s=0.1, sleep=release_then_sleep
            )
        assert result.ok and result.attempts > 1
        assert waits, "the first attempt was expected to find the table busy"
    finally:
        reader.close()


def test_column_that_cannot_convert_is_reported(pg_url: str) -> None:
    _legacy(pg_url)
    with psycopg.connect(pg_url, autocommit=True) as conn:
        # A rule using the column blocks ALTER TYPE and is not a view we rebuild.
        conn.execute("CREATE TABLE audit (a varchar(50))")
        conn.execute(
            "CREATE RULE keep AS ON INSERT TO audit DO ALSO "
            "UPDATE buyers SET address = NEW.a WHERE false"
        )
    with open_database(pg_url) as db:
        result = schemafix.apply(db, lock_timeout_s=1, attempts=1)
        refused = {c["column"]: c for c in result.not_converted}
        assert set(refused) == {"address"}
        assert "rule" in refused["address"]["reason"]
        assert refused["address"]["what_to_do"]
        assert {c["column"] for c in result.converted} == {"buyer_number", "name", "postcode"}
        assert not result.ok and result.identical


def test_sync_preflight_then_fix_then_sync(pg_url: str, tmp_path: Path) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            "CREATE TABLE buyers (buyer_number varchar(20) PRIMARY KEY, "
            "name varchar(50), address varchar(50), notes text, "
            "created_at timestamptz, synced_at timestamptz, db_updated_at timestamptz)"
        )
    rows = [
        [f"B{i}", f"Name {i}", ("A" * (51 + i % 5)) if i % 7 == 0 else f"{i} St", "n" * (i % 90)]
        for i in range(1, 301)
    ]
    sheet = write_csv(tmp_path / "s.csv", ["buyer_number", "name", "address", "notes"], rows)
    too_long = {f"B{i}" for i in range(1, 301) if i % 7 == 0}

    with open_database(pg_url) as db:
        report = SchemaValidator(db).validate_buyers_schema(open_source(str(sheet)))
        assert {r.buyer_number for r in report.would_fail} == too_long
    first = _run("sync", "--db", pg_url, "--source", str(sheet), "--json")
    assert first.returncode == 1, first.stderr
    doc = json.loads(first.stdout)
    assert doc["inserted"] == 300 - len(too_long) and doc["failed"] == len(too_long)
    with open_database(pg_url) as db:
        logged = db.query(
            "SELECT buyer_number, error_type, error_message, details "
            "FROM sync_error_log WHERE run_id = %s",
            (doc["run_id"],),
        )
    assert {r["buyer_number"] for r in logged} == too_long
    for r in logged:
        assert r["error_type"] == "value_too_long"
        assert "buyersync schema fix --apply" in r["error_message"]
        col = r["details"]["columns"][0]
        assert col["column"] == "address" and col["limit"] == 50 and col["length"] > 50

    assert _run("schema", "fix", "--apply", "--db", pg_url).returncode == 0
    second = json.loads(_run("sync", "--db", pg_url, "--source", str(sheet), "--json").stdout)
    assert second["failed"] == 0 and second["inserted"] == len(too_long)


def test_apply_without_table_is_a_clear_error(pg_url: str) -> None:
    with open_database(pg_url) as db, pytest.raises(SchemaFixError, match="no buyers table"):
        schemafix.apply(db)
