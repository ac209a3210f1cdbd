"""The Database interface on both drivers: parameters, quoting, transactions, locks."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from buyersync.errors import ConfigError, LockHeld, RowRejected, StoreConnectionError
from buyersync.store import open_database, sqlite_path
from buyersync.store.db import Database
from buyersync.store.sqlite import SQLiteDatabase, adapt_sql


def test_adapt_sql() -> None:
    assert adapt_sql("SELECT %s, %(name)s, '100%%'") == "SELECT ?, :name, '100%'"


@pytest.mark.parametrize("ident", ['a"b', "名前", "x; DROP TABLE buyers; --", "Robert'); --"])
def test_hostile_identifiers_are_quoted(db: Database, ident: str) -> None:
    db.execute(f"CREATE TABLE t ({db.quote(ident)} text)")
    db.execute(f"INSERT INTO t ({db.quote(ident)}) VALUES (%s)", ("v",))
    assert list(db.columns("t")) == [ident]
    assert db.query_value(f"SELECT {db.quote(ident)} FROM t") == "v"


def test_transaction_rolls_back_and_nests(db: Database) -> None:
    db.execute("CREATE TABLE t (x integer UNIQUE)")
    with db.transaction():
        db.execute("INSERT INTO t VALUES (1)")
        with pytest.raises(RowRejected), db.transaction():
            db.execute("INSERT INTO t VALUES (2)")
            db.execute("INSERT INTO t VALUES (1)")
    assert [r["x"] for r in db.query("SELECT x FROM t ORDER BY x")] == [1]


def test_lock_is_exclusive_across_connections(db_url: str) -> None:
    a, b = open_database(db_url), open_database(db_url)
    try:
        with a.lock("sync"):
            with pytest.raises(LockHeld):
                with b.lock("sync", wait_seconds=0.3):
                    pass
            with b.lock("other"):
                pass
        with b.lock("sync"):
            pass
    finally:
        a.close()
        b.close()


def test_opening_sqlite_while_another_process_writes(tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("CREATE TABLE t (x)")
    other.execute("BEGIN IMMEDIATE")
    other.execute("INSERT INTO t VALUES (1)")
    db = SQLiteDatabase(str(path), busy_timeout=0.5)
    try:
        assert db.query_value("SELECT count(*) FROM t") == 0  # readers are not blocked
    finally:
        db.close()
        other.close()


def test_sqlite_urls() -> None:
    assert sqlite_path("sqlite:///buyersync.db") == "buyersync.db"
    assert sqlite_path("sqlite:////var/lib/b.db") == "/var/lib/b.db"
    with pytest.raises(ConfigError):
        sqlite_path("sqlite:///")
    with pytest.raises(StoreConnectionError, match="does not exist"):
        open_database("sqlite:////no/such/folder/x.db")


def test_two_streams_on_one_connection(db: Database) -> None:
    db.execute("CREATE TABLE t (x integer)")
    db.executemany("INSERT INTO t VALUES (%s)", [(i,) for i in range(10)])
    if db.dialect == "postgresql":
        # server-side cursors live in a transaction: nest the second in the first
        outer = db.iterate("SELECT x FROM t ORDER BY x", chunk=3)
        first = next(outer)
        inner = list(db.iterate("SELECT x FROM t ORDER BY x DESC", chunk=3))
        assert first == (0,) and inner[0] == (9,) and len(inner) == 10
        assert [r[0] for r in outer] == list(range(1, 10))
    else:
        a = db.iterate("SELECT x FROM t ORDER BY x")
        b = db.iterate("SELECT x FROM t ORDER BY x DESC")
        assert next(a) == (0,) and next(b) == (9,)
