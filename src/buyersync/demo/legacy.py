"""The legacy ``buyers`` table and the legacy sync the incident happened with.

They speak SQL outside :mod:`buyersync.store` on purpose: they stand in for the legacy
schema and the legacy sync, which buyersync itself would never produce.
"""

from __future__ import annotations

from collections.abc import Sequence

from buyersync.demo.sheet import HEADER, LIMIT
from buyersync.errors import ConfigError, StoreError
from buyersync.store.db import Database, utcnow
from buyersync.store.sql import SQL, Composable, Identifier, identifiers


def create_legacy_table(db: Database) -> None:
    """Create ``buyers`` as it was before Migration 050: every text column VARCHAR(50).

    SQLite ignores the declared length, so each column also carries the
    ``CHECK (length(col) <= 50)`` that made SQLite installations refuse long values.
    Raises ConfigError when the database already has buyers or buyersync's tables:
    the demo never writes into a database that is in use.
    """
    taken = [t for t in ("buyers", "sync_runs") if db.table_exists(t)]
    if taken:
        raise ConfigError(
            f"{db.display} already has a {taken[0]} table; the demo needs an empty database "
            "of its own",
            hint="point --db at an empty database (CREATE DATABASE buyersync_demo), "
            "or leave --db out to use an SQLite file",
        )
    ts = SQL(db.sql.column_types["ts"])
    cols: list[Composable] = []
    for name in HEADER:
        key = " NOT NULL PRIMARY KEY" if name == "buyer_number" else ""
        # where VARCHAR(n) is not enforced, the legacy table had a CHECK that was
        check = "" if db.sql.enforces_varchar_length else f" CHECK (length({{c}}) <= {LIMIT})"
        cols.append(SQL(f"{{c}} VARCHAR({LIMIT}){key}{check}").format(c=Identifier(name)))
    cols += [
        SQL("created_at {} NOT NULL").format(ts),
        SQL("synced_at {}").format(ts),
        SQL("db_updated_at {}").format(ts),
    ]
    db.execute(SQL("CREATE TABLE {} ({})").format(Identifier("buyers"), cols))


def old_sync(db: Database, rows: Sequence[Sequence[str]]) -> int:
    """Replay the pre-incident sync: insert row by row, silently drop refused rows.

    This is the bug, on purpose: no log, no count, no exit code. Returns the number
    of rows that landed (only so the demo can print it; the old sync did not).
    """
    sql = SQL("INSERT INTO {} ({}, created_at, synced_at, db_updated_at) VALUES ({})").format(
        Identifier("buyers"), identifiers(HEADER), SQL(", ".join(["%s"] * (len(HEADER) + 3)))
    )
    now = db.ts(utcnow())
    landed = 0
    with db.transaction():
        for row in rows:
            try:
                with db.transaction():  # a savepoint: one refused row must not abort the rest
                    db.execute(sql, (*row, now, now, now))
                landed += 1
            except StoreError:
                pass  # the incident: dropped without a trace
    return landed
