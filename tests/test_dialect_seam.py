"""The dialect seam: what differs between the databases lives in the store's dialect
modules, and the typed ``Database`` interface covers bulk load and reconnect."""

from __future__ import annotations

import re
from pathlib import Path

import psycopg
import pytest

from buyersync.store import open_database
from buyersync.store.db import Database
from buyersync.store.sql import SQL, Identifier, identifiers

SRC = Path(__file__).resolve().parents[1] / "src" / "buyersync"
#: The store's dialect modules: the driver modules and store/sql/.
DIALECT_MODULES = {"store/postgres.py", "store/sqlite.py"}
BRANCH = re.compile(r"dialect\s*(==|!=)")


def test_no_dialect_branch_outside_the_dialect_modules() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel in DIALECT_MODULES or rel.startswith("store/sql/"):
            continue
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            if BRANCH.search(line):
                found.append(f"{rel}:{n}: {line.strip()}")
    assert found == [], "ask db.sql for a capability or a named statement instead:\n" + "\n".join(
        found
    )


def test_bulk_load_appends_rows_to_a_temporary_table(db: Database) -> None:
    columns = ["seq", "%s", ":x", 'q"']
    db.execute(
        SQL("CREATE TEMP TABLE {} ({})").format(
            Identifier("loaded"),
            [SQL("{} text").format(Identifier(c)) for c in columns],
        )
    )
    rows = [(str(n), f"{n}%", None, "é\\\t'\"") for n in range(2500)]
    with db.transaction():
        db.bulk_load("loaded", columns, iter(rows))
    db.bulk_load("loaded", columns, [("x", "y", "z", "w")])
    got = db.query(
        SQL("SELECT {} FROM {} ORDER BY 1").format(identifiers(columns), Identifier("loaded"))
    )
    assert len(got) == 2501
    assert {tuple(r.values()) for r in got} == {*rows, ("x", "y", "z", "w")}


def test_reconnect_leaves_a_usable_database(db: Database) -> None:
    db.reconnect()
    assert db.query_value("SELECT 1 AS one") == 1


@pytest.mark.postgres
def test_reconnect_replaces_a_lost_postgres_connection(pg_url: str) -> None:
    with open_database(pg_url) as db:
        pid = db.query_value("SELECT pg_backend_pid() AS p")
        with psycopg.connect(pg_url, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        db.reconnect()
        assert db.query_value("SELECT pg_backend_pid() AS p") != pid
        assert db.query_value("SELECT %s::int + 1 AS n", (41,)) == 42


def test_capabilities_differ_only_through_db_sql(db: Database) -> None:
    """The repositories' questions have an answer on every backend."""
    sql = db.sql
    assert sql.name == db.dialect
    assert set(sql.column_types) == {"id", "ts", "json", "bool", "float"}
    # the named statements run as they are on their own backend
    assert db.query(sql.tables_like, ("no\\_such\\_table%",)) == []
    if sql.current_user is not None:
        assert db.query_value(sql.current_user)
    limit = {"limit": sql.no_limit}
    assert db.query_value("SELECT count(*) AS n FROM (SELECT 1 AS x LIMIT %(limit)s) s", limit) == 1
