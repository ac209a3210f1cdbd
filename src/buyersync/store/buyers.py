"""The ``buyers`` table: create or extend it, read its keys and rows, check its keys.

Writing it is :mod:`buyersync.store.writer` (stage rows in a temporary table, then
merge slices of it with ``INSERT … ON CONFLICT … DO UPDATE``); :class:`Writer` and
:class:`MergeResult` are importable from here too.

With keys compared regardless of case (``key_case``, :mod:`buyersync.rules.keys`),
the staged keys first take the spelling of the buyers they fold like
(:meth:`Writer.adopt_stored_keys`, set-based ``UPDATE`` statements that find the
stored number through the primary key), so the merge still matches on
``buyer_number`` itself and an existing buyer keeps its spelling; :func:`key_collisions`
finds stored numbers that are one buyer under the fold.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from buyersync.errors import SchemaMismatch, StoreError
from buyersync.rules.normalize import KEY_COLUMN
from buyersync.store.buyertable import TABLE as TABLE
from buyersync.store.buyertable import TIMESTAMP_COLUMNS as TIMESTAMP_COLUMNS
from buyersync.store.buyertable import count_unfolded as count_unfolded
from buyersync.store.buyertable import fold_sql as fold_sql
from buyersync.store.buyertable import is_text
from buyersync.store.catalog import column_limits as column_limits  # one catalog reader
from buyersync.store.catalog import column_types as column_types
from buyersync.store.db import Database
from buyersync.store.sql import SQL, Identifier, identifiers
from buyersync.store.writer import MergeResult as MergeResult
from buyersync.store.writer import Writer as Writer

log = logging.getLogger(__name__)


def key_is_text(db: Database) -> bool:
    """Whether ``buyer_number`` holds text (a legacy integer key has no letter case)."""
    return is_text(db.columns(TABLE).get(KEY_COLUMN, "text"))


def ensure_table(db: Database, columns: Sequence[str]) -> list[str]:
    """Create ``buyers`` with one TEXT column per mapped sheet column, or extend it.

    An existing table keeps its columns and their types; missing timestamp columns
    and a unique index on ``buyer_number`` are added. Sheet columns that the table
    lacks are *not* added here (see :func:`add_columns`); they are returned.
    """
    ts = SQL(db.sql.column_types["ts"])
    table = Identifier(TABLE)
    if not db.table_exists(TABLE):
        parts = [SQL("{} text NOT NULL PRIMARY KEY").format(Identifier(KEY_COLUMN))]
        parts += [SQL("{} text").format(Identifier(c)) for c in columns if c != KEY_COLUMN]
        parts += [SQL("{} {} NOT NULL").format(Identifier(c), ts) for c in TIMESTAMP_COLUMNS]
        db.execute(SQL("CREATE TABLE {} ({})").format(table, parts))
        log.info("created table buyers with %d data columns", len(parts) - 4)
        return []
    existing = db.columns(TABLE)
    if KEY_COLUMN not in existing:
        raise SchemaMismatch(
            f"table buyers exists but has no {KEY_COLUMN} column",
            hint="rename the key column to buyer_number, or point --db at another database",
        )
    for column in TIMESTAMP_COLUMNS:
        if column not in existing:
            db.execute(SQL("ALTER TABLE {} ADD COLUMN {} {}").format(table, Identifier(column), ts))
    if not db.has_unique_index(TABLE, KEY_COLUMN):
        try:
            db.execute(
                SQL("CREATE UNIQUE INDEX IF NOT EXISTS buyers_buyer_number_key ON {} ({})").format(
                    table, Identifier(KEY_COLUMN)
                )
            )
        except StoreError as exc:
            raise SchemaMismatch(
                "buyers.buyer_number is not unique, so rows cannot be upserted on it: "
                f"{exc.message}",
                hint="remove the duplicate buyer numbers from buyers, then run the sync again",
            ) from exc
    return [c for c in columns if c not in existing]


def key_collisions(
    db: Database, *, shown: int = 20, unfolded: int | None = None
) -> tuple[list[list[str]], int]:
    """Groups of stored buyer numbers that fold alike (at most ``shown``), and how many
    groups there are. Empty when the table is missing or its key is not text.

    Two numbers that fold alike differ, so at least one of them is not its own fold
    (it has a letter a-z): only those are looked at, each joined to the primary key on
    its fold, and grouped among themselves. No index on the fold is needed.
    """
    if not db.table_exists(TABLE) or not key_is_text(db):
        return [], 0
    if not (count_unfolded(db) if unfolded is None else unfolded):
        return [], 0
    key = Identifier(KEY_COLUMN)
    slots = {"k": key, "t": Identifier(TABLE), "fo": fold_sql(db, SQL("o.{}").format(key))}
    rows = db.query(
        SQL(
            "SELECT {fo} AS f, o.{k} AS k FROM {t} o WHERE o.{k} <> {fo} AND ("
            "EXISTS (SELECT 1 FROM {t} b WHERE b.{k} = {fo}) OR {fo} IN ("
            "SELECT {fi} FROM {t} i WHERE i.{k} <> {fi} GROUP BY {fi} HAVING count(*) > 1))"
        ).format(fi=fold_sql(db, SQL("i.{}").format(key)), **slots)
    )
    groups: dict[str, set[str]] = {}
    for r in rows:
        if r["f"] not in groups:
            groups[r["f"]] = {r["f"]} if buyer_exists(db, r["f"]) else set()
        groups[r["f"]].add(r["k"])
    ordered = [sorted(g) for _, g in sorted(groups.items())]
    return ordered[:shown], len(ordered)


def buyer_exists(db: Database, key: str) -> bool:
    """Whether ``buyers`` holds exactly this buyer number."""
    return bool(fetch(db, [key], ()))


def count_matching(db: Database, keys: Sequence[str], *, fold_keys: bool) -> int:
    """How many buyers have one of ``keys`` (compared folded with ``fold_keys``)."""
    if not keys or not db.table_exists(TABLE):
        return 0
    if not fold_keys or not key_is_text(db):
        return len(fetch(db, keys, ()))
    from buyersync.rules.keys import fold_key

    folded = sorted({fold_key(k) for k in keys})  # the same fold as the SQL one
    total = 0
    for start in range(0, len(folded), 500):
        chunk = folded[start : start + 500]
        stmt = SQL("SELECT count(*) AS n FROM {t} WHERE {f} IN ({marks})").format(
            t=Identifier(TABLE),
            f=fold_sql(db, Identifier(KEY_COLUMN)),
            marks=SQL(", ".join(["%s"] * len(chunk))),
        )
        total += int(db.query_value(stmt, chunk))
    return total


def add_columns(db: Database, columns: Iterable[str]) -> None:
    """Add TEXT columns to ``buyers`` (for sheet columns it lacks)."""
    for column in columns:
        db.execute(
            SQL("ALTER TABLE {} ADD COLUMN {} text").format(Identifier(TABLE), Identifier(column))
        )


def count(db: Database) -> int:
    if not db.table_exists(TABLE):
        return 0
    return int(db.query_value(SQL("SELECT count(*) AS n FROM {}").format(Identifier(TABLE))))


def iter_keys(db: Database) -> Iterator[str]:
    """Every buyer number in the table (streamed)."""
    if not db.table_exists(TABLE):
        return
    stmt = SQL("SELECT {} FROM {}").format(Identifier(KEY_COLUMN), Identifier(TABLE))
    for (key,) in db.iterate(stmt):
        yield key


def iter_rows(db: Database, columns: Sequence[str]) -> Iterator[tuple[Any, ...]]:
    """``(buyer_number, *columns)`` for every buyer (streamed), ordered by key."""
    if not db.table_exists(TABLE):
        return
    yield from db.iterate(
        SQL("SELECT {cols} FROM {table} ORDER BY {key}").format(
            cols=identifiers((KEY_COLUMN, *columns)),
            table=Identifier(TABLE),
            key=Identifier(KEY_COLUMN),
        )
    )


def fetch(db: Database, keys: Sequence[str], columns: Sequence[str]) -> dict[str, tuple[Any, ...]]:
    """The given buyers' ``columns`` values, by buyer number."""
    found: dict[str, tuple[Any, ...]] = {}
    for start in range(0, len(keys), 500):
        chunk = list(keys[start : start + 500])
        stmt = SQL("SELECT {cols} FROM {table} WHERE {key} IN ({marks})").format(
            cols=identifiers((KEY_COLUMN, *columns)),
            table=Identifier(TABLE),
            key=Identifier(KEY_COLUMN),
            marks=SQL(", ".join(["%s"] * len(chunk))),
        )
        # rows come back as dicts keyed by column name; the order is the SELECT's
        for row in db.query(stmt, chunk):
            values = tuple(row.values())
            found[values[0]] = values[1:]
    return found
