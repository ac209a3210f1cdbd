"""The printed Migration 050 script (``buyersync schema fix``), run by hand.

The script is what an operator reviews and may run with psql or sqlite3 instead of
``schema fix --apply``. These tests print it for a real legacy table, check its
statements and their order, run it as printed against the same database, and check
what it left behind: every limited column is text, the rows are in the backup with
their old types, every dependent view is back with its options, indexes, grants and
comments, and a second check finds nothing to do.
"""

from __future__ import annotations

import re
import sqlite3
import uuid
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import psycopg
import pytest

from buyersync.rules.schema import FixPlan, backup_table_name, render_script
from buyersync.services.schema import SchemaValidator
from buyersync.store import open_database, schemafix

NOW = datetime(2026, 3, 4, 5, 6, 7)
BACKUP = "buyers_backup_20260304"


def statements(script: str) -> list[str]:
    """The SQL statements of a script, in order, comments dropped, one line each."""
    body = "\n".join(line for line in script.splitlines() if not line.startswith("--"))
    return [" ".join(s.split()) for s in body.split(";") if s.strip()]


def comments(script: str) -> list[str]:
    return [line for line in script.splitlines() if line.startswith("--")]


def build_plan(url: str, **kw: object) -> tuple[FixPlan, object]:
    db = open_database(url)
    try:
        return schemafix.build_plan(db, now=NOW, **kw)  # type: ignore[arg-type]
    finally:
        db.close()


def generate(url: str, **kw: object) -> str:
    db = open_database(url)
    try:
        return SchemaValidator(db).generate_fix_script(now=NOW, **kw)  # type: ignore[arg-type]
    finally:
        db.close()


# -- PostgreSQL ---------------------------------------------------------------------

PG_LEGACY = """
CREATE DOMAIN short_code AS varchar(6);
CREATE TABLE buyers (
    buyer_number varchar(20) NOT NULL PRIMARY KEY,
    name varchar(40),
    postcode char(8),
    area short_code,
    notes text CONSTRAINT notes_len CHECK (length(notes) <= 30),
    credit integer,
    CONSTRAINT name_sane CHECK (length(name) <= 40 AND name <> buyer_number)
);
INSERT INTO buyers VALUES ('B1', 'Ann', 'AB1 2CD', 'n1', 'first', 5),
                          ('B2', 'Bob''s', 'EF3', 'n2', 'second', 7);
CREATE VIEW buyer_names WITH (security_barrier = true, check_option = local) AS
    SELECT buyer_number, name, postcode FROM buyers;
COMMENT ON VIEW buyer_names IS 'names for the ''front'' desk';
COMMENT ON COLUMN buyer_names.name IS 'as in the sheet';
GRANT SELECT ON buyer_names TO PUBLIC;
GRANT UPDATE (name) ON buyer_names TO {role} WITH GRANT OPTION;
ALTER VIEW buyer_names OWNER TO {owner};
CREATE MATERIALIZED VIEW buyer_areas AS
    SELECT postcode, count(*) AS n FROM buyer_names GROUP BY postcode WITH NO DATA;
CREATE UNIQUE INDEX buyer_areas_pc ON buyer_areas (postcode);
"""


@pytest.fixture
def roles(pg_url: str) -> Iterator[tuple[str, str]]:
    """Two roles of this test's own, an owner and a reader (roles belong to the server)."""
    tag = uuid.uuid4().hex[:8]
    names = (f"bs_owner_{tag}", f"bs_reader_{tag}")
    with psycopg.connect(pg_url, autocommit=True) as conn:
        for name in names:
            conn.execute(f'CREATE ROLE "{name}"'.encode())
    try:
        yield names
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            for name in names:
                conn.execute(f'DROP OWNED BY "{name}" CASCADE'.encode())
                conn.execute(f'DROP ROLE "{name}"'.encode())


@pytest.mark.postgres
def test_postgres_script_statements_in_order_and_run_by_hand(
    pg_url: str, roles: tuple[str, str]
) -> None:
    owner, role = roles
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(PG_LEGACY.format(owner=f'"{owner}"', role=f'"{role}"').encode())
    script = generate(pg_url, add_columns=["email"], lock_timeout_s=1.5)

    assert statements(script) == [
        f'CREATE TABLE "{BACKUP}" (LIKE "buyers" INCLUDING ALL)',
        f'INSERT INTO "{BACKUP}" OVERRIDING SYSTEM VALUE SELECT * FROM "buyers"',
        "BEGIN",
        "SET LOCAL lock_timeout = '1500ms'",
        # dependents go deepest first ...
        'DROP MATERIALIZED VIEW "public"."buyer_areas"',
        'DROP VIEW "public"."buyer_names"',
        'ALTER TABLE "buyers" DROP CONSTRAINT "notes_len"',
        'ALTER TABLE "buyers" ALTER COLUMN "buyer_number" TYPE text',
        'ALTER TABLE "buyers" ALTER COLUMN "name" TYPE text',
        'ALTER TABLE "buyers" ALTER COLUMN "postcode" TYPE text',
        'ALTER TABLE "buyers" ALTER COLUMN "area" TYPE text',
        # ... and come back shallowest first, as they were
        'CREATE VIEW "public"."buyer_names" WITH (security_barrier=true, check_option=local) AS'
        " SELECT buyers.buyer_number, buyers.name, buyers.postcode FROM buyers",
        f'ALTER VIEW "public"."buyer_names" OWNER TO "{owner}"',
        'GRANT SELECT ON "public"."buyer_names" TO PUBLIC',
        f'GRANT UPDATE ("name") ON "public"."buyer_names" TO "{role}" WITH GRANT OPTION',
        "COMMENT ON VIEW \"public\".\"buyer_names\" IS 'names for the ''front'' desk'",
        'COMMENT ON COLUMN "public"."buyer_names"."name" IS \'as in the sheet\'',
        'CREATE MATERIALIZED VIEW "public"."buyer_areas" AS SELECT buyer_names.postcode,'
        " count(*) AS n FROM buyer_names GROUP BY buyer_names.postcode WITH NO DATA",
        "CREATE UNIQUE INDEX buyer_areas_pc ON public.buyer_areas USING btree (postcode)",
        'ALTER TABLE "buyers" ADD COLUMN IF NOT EXISTS "email" text',
        "COMMIT",
    ]
    notes = comments(script)
    # the header, then the notes on what changes beyond the type, then the kept CHECK
    assert notes[0].startswith("-- Migration 050")
    assert re.search(r"postgresql.*\b4 column.*\b1 length CHECK", notes[1]), notes[1]
    assert any("area" in n and "short_code" in n for n in notes)
    assert any("postcode" in n and "char" in n and "padding" in n for n in notes)
    kept = next(i for i, n in enumerate(notes) if "name_sane" in n)
    assert "NOT dropped" in notes[kept] and "length(" in notes[kept]
    assert re.search(r"\bon (name, buyer_number|buyer_number, name):", notes[kept]), notes[kept]
    assert notes[kept + 1].startswith("--   why:") and notes[kept + 2].startswith("--   what to")
    steps = [re.match(r"-- (\d+b?)\. ", n) for n in notes]
    assert [m.group(1) for m in steps if m] == ["1", "2", "2b", "3", "4"]
    assert "buyersync schema check" in notes[-1]
    assert all(re.search("[a-z]", n) for n in notes), notes  # comments are prose, not shouted
    assert "CHECK" in next(n for n in notes if n.startswith("-- 2b."))
    plan, _ = build_plan(pg_url, add_columns=["email"])
    assert (plan.dialect, plan.backup_table) == ("postgresql", BACKUP)
    assert plan.dependents == ("public.buyer_names", "public.buyer_areas")
    assert [k.name for k in plan.kept] == ["name_sane"]
    assert [a.column for a in plan.alters] == ["buyer_number", "name", "postcode", "area"]
    domain, padded = plan.notes  # what an operator is told beyond the type change
    assert "area" in domain and "short_code" in domain and "no longer apply" in domain
    assert "postcode" in padded and "padding spaces" in padded and "PostgreSQL" in padded
    for note in plan.notes:
        assert not re.search("[A-Z]{2,}", note.replace("PostgreSQL", "")), note

    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(script.encode())  # as printed, one script
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_name = 'buyers'"
            ).fetchall()
        )
        assert types == {
            "buyer_number": "text",
            "name": "text",
            "postcode": "text",
            "area": "text",
            "notes": "text",
            "credit": "integer",
            "email": "text",
        }
        assert conn.execute("SELECT postcode FROM buyers ORDER BY 1").fetchall() == [
            ("AB1 2CD",),
            ("EF3",),
        ]
        # the backup keeps the rows and the old types
        assert conn.execute(
            f"SELECT buyer_number, name, postcode::text FROM {BACKUP} ORDER BY 1"
        ).fetchall() == [("B1", "Ann", "AB1 2CD"), ("B2", "Bob's", "EF3")]
        assert conn.execute(
            "SELECT attname, format_type(atttypid, atttypmod) FROM pg_attribute"
            f" WHERE attrelid = '{BACKUP}'::regclass AND attname IN ('name', 'postcode')"
            " ORDER BY 1"
        ).fetchall() == [("name", "character varying(40)"), ("postcode", "character(8)")]
        cons = {
            r[0]
            for r in conn.execute(
                "SELECT conname FROM pg_constraint WHERE conrelid = 'buyers'::regclass"
            )
        }
        assert "notes_len" not in cons and "name_sane" in cons
        # the view and the materialized view are back as they were
        assert conn.execute(
            "SELECT reloptions FROM pg_class WHERE relname = 'buyer_names'"
        ).fetchone() == (["security_barrier=true", "check_option=local"],)
        assert conn.execute(
            "SELECT obj_description('buyer_names'::regclass, 'pg_class'),"
            " col_description('buyer_names'::regclass, 2)"
        ).fetchone() == ("names for the 'front' desk", "as in the sheet")
        assert conn.execute(
            "SELECT privilege_type, is_grantable FROM information_schema.table_privileges"
            " WHERE table_name = 'buyer_names' AND grantee = 'PUBLIC'"
        ).fetchall() == [("SELECT", "NO")]
        assert conn.execute(
            "SELECT column_name, privilege_type, is_grantable"
            " FROM information_schema.column_privileges"
            " WHERE table_name = 'buyer_names' AND grantee = %s AND privilege_type = 'UPDATE'",
            (role,),
        ).fetchall() == [("name", "UPDATE", "YES")]
        assert conn.execute(
            "SELECT pg_get_userbyid(relowner) FROM pg_class WHERE relname = 'buyer_names'"
        ).fetchone() == (owner,)
        assert conn.execute(
            "SELECT relispopulated FROM pg_class WHERE relname = 'buyer_areas'"
        ).fetchone() == (False,)
        assert conn.execute(
            "SELECT indexname FROM pg_indexes WHERE tablename = 'buyer_areas'"
        ).fetchall() == [("buyer_areas_pc",)]
    assert generate(pg_url) == ""  # nothing limited any more


@pytest.mark.postgres
def test_postgres_second_backup_of_the_day_gets_the_time(pg_url: str) -> None:
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute(
            f"CREATE TABLE buyers (buyer_number varchar(9) PRIMARY KEY);"
            f" CREATE TABLE {BACKUP} (x int)".encode()
        )
    script = generate(pg_url)
    assert statements(script)[0] == (
        f'CREATE TABLE "{BACKUP}_050607" (LIKE "buyers" INCLUDING ALL)'
    )
    # no dependents and no CHECK: no empty steps
    steps = [n for n in comments(script) if re.match(r"-- \d+b?\. ", n)]
    assert [s[:5] for s in steps] == ["-- 1.", "-- 3."]


# -- SQLite -------------------------------------------------------------------------

SQLITE_LEGACY = """
CREATE TABLE buyers (
    buyer_number VARCHAR(20) NOT NULL PRIMARY KEY,
    name VARCHAR(40),
    notes TEXT CHECK (length(notes) <= 30),
    credit INTEGER,
    CHECK (length(name) <= 40 AND name <> '')
);
INSERT INTO buyers VALUES ('B1', 'Ann', 'first', 5), ('B2', 'Bob''s', 'second', 7);
CREATE INDEX buyers_name_idx ON buyers (name);
CREATE TABLE audit (buyer_number TEXT);
CREATE TRIGGER buyers_audit AFTER INSERT ON buyers
    BEGIN INSERT INTO audit VALUES (new.buyer_number); END;
CREATE VIEW buyer_names AS SELECT buyer_number, name FROM buyers;
CREATE VIEW buyer_names_b AS SELECT name FROM buyer_names WHERE name LIKE 'B%';
"""


def test_sqlite_script_rebuilds_the_table_and_runs_by_hand(tmp_path: Path) -> None:
    path = tmp_path / "legacy.db"
    with sqlite3.connect(path) as conn:
        conn.executescript(SQLITE_LEGACY)
    conn.close()
    url = f"sqlite:///{path}"
    script = generate(url, add_columns=["email"])

    got = statements(script)
    assert got[:2] == [
        f'CREATE TABLE "{BACKUP}" ( buyer_number VARCHAR(20) NOT NULL PRIMARY KEY,'
        " name VARCHAR(40), notes TEXT CHECK (length(notes) <= 30), credit INTEGER,"
        " CHECK (length(name) <= 40 AND name <> '') )",
        f'INSERT INTO "{BACKUP}" SELECT * FROM "buyers"',
    ]
    assert got[2:9] == [
        "PRAGMA foreign_keys = OFF",
        "BEGIN IMMEDIATE",
        'DROP VIEW IF EXISTS "buyer_names_b"',  # the view on the view first
        'DROP VIEW IF EXISTS "buyer_names"',
        'DROP TRIGGER IF EXISTS "buyers_audit"',
        'DROP TABLE IF EXISTS "buyers__migration_050"',
        got[8],  # the rewritten CREATE, checked by what it makes below
    ]
    assert got[8].startswith('CREATE TABLE "buyers__migration_050"')
    cols = '"buyer_number", "name", "notes", "credit"'
    assert got[9:] == [
        f'INSERT INTO "buyers__migration_050" ({cols}) SELECT {cols} FROM "buyers"',
        'DROP TABLE "buyers"',
        'ALTER TABLE "buyers__migration_050" RENAME TO "buyers"',
        "CREATE INDEX buyers_name_idx ON buyers (name)",
        "CREATE TRIGGER buyers_audit AFTER INSERT ON buyers BEGIN INSERT INTO audit VALUES"
        " (new.buyer_number)",
        "END",  # the trigger's own END (this splitter cuts at every semicolon)
        "CREATE VIEW buyer_names AS SELECT buyer_number, name FROM buyers",
        "CREATE VIEW buyer_names_b AS SELECT name FROM buyer_names WHERE name LIKE 'B%'",
        'ALTER TABLE "buyers" ADD COLUMN "email" TEXT',
        "COMMIT",
        "PRAGMA foreign_keys = ON",
    ]
    kept = next(n for n in comments(script) if "NOT dropped" in n)
    assert (
        "name <> ''" in kept and "constraint (unnamed) on name:" in kept
    )  # SQLite's CHECK has no name
    plan, _ = build_plan(url, add_columns=["email"])
    assert (plan.dialect, plan.backup_table) == ("sqlite", BACKUP)
    assert plan.dependents == ("buyer_names", "buyer_names_b")
    assert len(plan.kept) == 1 and plan.alters == ()

    with sqlite3.connect(path) as conn:
        conn.executescript(script)  # as printed
        types = {r[1]: r[2] for r in conn.execute("PRAGMA table_info(buyers)")}
        assert types == {
            "buyer_number": "TEXT",
            "name": "TEXT",
            "notes": "TEXT",
            "credit": "INTEGER",
            "email": "TEXT",
        }
        long = "x" * 50
        conn.execute("INSERT INTO buyers (buyer_number, notes) VALUES ('B3', ?)", (long,))
        assert conn.execute("SELECT * FROM audit").fetchall() == [("B3",)]  # trigger back
        assert conn.execute("SELECT name FROM buyer_names_b").fetchall() == [("Bob's",)]
        assert conn.execute("PRAGMA index_list(buyers)").fetchall()[0][1] == "buyers_name_idx"
        assert conn.execute("PRAGMA foreign_keys").fetchone() == (1,)
        with pytest.raises(sqlite3.IntegrityError):  # the mixed CHECK is kept
            conn.execute("INSERT INTO buyers (buyer_number, name) VALUES ('B4', '')")
        assert conn.execute(f'SELECT * FROM "{BACKUP}" ORDER BY 1').fetchall() == [
            ("B1", "Ann", "first", 5),
            ("B2", "Bob's", "second", 7),
        ]
    conn.close()
    assert generate(url) == ""


def test_sqlite_nothing_limited_only_adds_columns(tmp_path: Path) -> None:
    path = tmp_path / "plain.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE buyers (buyer_number TEXT PRIMARY KEY)")
    conn.close()
    script = generate(f"sqlite:///{path}", add_columns=["email"])
    plan, _ = build_plan(f"sqlite:///{path}", add_columns=["email"])
    assert (plan.dialect, plan.backup_table) == ("sqlite", BACKUP)
    assert (plan.backup, plan.before, plan.alters) == ((), (), ())  # nothing to back up
    assert statements(script) == [
        "PRAGMA foreign_keys = OFF",
        "BEGIN IMMEDIATE",
        'ALTER TABLE "buyers" ADD COLUMN "email" TEXT',
        "COMMIT",
        "PRAGMA foreign_keys = ON",
    ]
    with sqlite3.connect(path) as conn:
        conn.executescript(script)
        assert [r[1] for r in conn.execute("PRAGMA table_info(buyers)")] == [
            "buyer_number",
            "email",
        ]
    conn.close()


def test_backup_names_count_up_from_two() -> None:
    taken = [BACKUP, f"{BACKUP}_050607", f"{BACKUP}_050607_2"]
    assert backup_table_name(NOW, taken) == f"{BACKUP}_050607_3"
    assert backup_table_name(NOW, [*taken, f"{BACKUP}_050607_3"]) == f"{BACKUP}_050607_4"


def test_render_defaults_two_second_lock_timeout_and_no_header() -> None:
    plan = FixPlan("postgresql", BACKUP, (), (), (), (), ("SET x = '{lock_timeout_ms}ms';",), ())
    lines = render_script(plan).splitlines()
    assert lines[0].startswith("-- Migration 050") and lines[1] == ""
    assert "SET x = '2000ms';" in lines
