"""The ``buyers`` table: create or extend it, stage rows and merge them in.

Writing is two-phase. Rows are first *staged* into a temporary table (PostgreSQL
COPY, SQLite ``executemany``) — fast, no constraints, nothing visible to readers.
Then each slice of the staging table is *merged* into ``buyers`` with one
``INSERT … SELECT … ON CONFLICT (buyer_number) DO UPDATE`` in its own transaction.
A slice that fails rolls back alone; the caller splits it to find the failing rows.
``created_at`` is never in the ``SET`` list, so it is preserved on update.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

from buyersync.errors import SchemaMismatch, StoreError
from buyersync.rules.normalize import KEY_COLUMN
from buyersync.store.catalog import column_limits  # noqa: F401 - one catalog reader for all
from buyersync.store.db import Database

log = logging.getLogger(__name__)

TABLE = "buyers"
TIMESTAMP_COLUMNS = ("created_at", "synced_at", "db_updated_at")
_STAGE = "buyersync_stage"
_TEXT_TYPES = ("text", "character varying", "varchar", "character", "char", "bpchar", "")


@dataclass(frozen=True)
class MergeResult:
    inserted: int
    updated: int


def ensure_table(db: Database, columns: Sequence[str]) -> list[str]:
    """Create ``buyers`` with one TEXT column per mapped sheet column, or extend it.

    An existing table keeps its columns and their types; missing timestamp columns
    and a unique index on ``buyer_number`` are added. Sheet columns that the table
    lacks are *not* added here (see :func:`add_columns`); they are returned.
    """
    ts = "timestamptz" if db.dialect == "postgresql" else "TEXT"
    q = db.quote
    if not db.table_exists(TABLE):
        key = f"{q(KEY_COLUMN)} text NOT NULL PRIMARY KEY"
        data = [f"{q(c)} text" for c in columns if c != KEY_COLUMN]
        stamps = [f"{q(c)} {ts} NOT NULL" for c in TIMESTAMP_COLUMNS]
        db.execute(f"CREATE TABLE {q(TABLE)} ({', '.join([key, *data, *stamps])})")
        log.info("created table buyers with %d data columns", len(data))
        return []
    existing = db.columns(TABLE)
    if KEY_COLUMN not in existing:
        raise SchemaMismatch(
            f"table buyers exists but has no {KEY_COLUMN} column",
            hint="rename the key column to buyer_number, or point --db at another database",
        )
    for column in TIMESTAMP_COLUMNS:
        if column not in existing:
            db.execute(f"ALTER TABLE {q(TABLE)} ADD COLUMN {q(column)} {ts}")
    if not _has_unique_key(db):
        try:
            db.execute(
                f"CREATE UNIQUE INDEX IF NOT EXISTS buyers_buyer_number_key "
                f"ON {q(TABLE)} ({q(KEY_COLUMN)})"
            )
        except StoreError as exc:
            raise SchemaMismatch(
                "buyers.buyer_number is not unique, so rows cannot be upserted on it: "
                f"{exc.message}",
                hint="remove the duplicate buyer numbers from buyers, then run the sync again",
            ) from exc
    return [c for c in columns if c not in existing]


def add_columns(db: Database, columns: Iterable[str]) -> None:
    """Add TEXT columns to ``buyers`` (for sheet columns it lacks)."""
    for column in columns:
        db.execute(f"ALTER TABLE {db.quote(TABLE)} ADD COLUMN {db.quote(column)} text")


def _has_unique_key(db: Database) -> bool:
    if db.dialect == "postgresql":
        return bool(
            db.query_value(
                """
                SELECT count(*) FROM pg_index i
                JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
                WHERE i.indrelid = to_regclass(%s) AND i.indisunique AND i.indnatts = 1
                  AND i.indpred IS NULL AND a.attname = %s
                """,
                (db.quote(TABLE), KEY_COLUMN),
            )
        )
    for index in db.query(f"PRAGMA index_list({db.quote(TABLE)})"):
        if not index["unique"] or index.get("partial"):
            continue
        cols = [r["name"] for r in db.query(f"PRAGMA index_info({db.quote(index['name'])})")]
        if cols == [KEY_COLUMN]:
            return True
    return False


def count(db: Database) -> int:
    if not db.table_exists(TABLE):
        return 0
    return int(db.query_value(f"SELECT count(*) AS n FROM {db.quote(TABLE)}"))


def iter_keys(db: Database) -> Iterator[str]:
    """Every buyer number in the table (streamed)."""
    if not db.table_exists(TABLE):
        return
    for (key,) in db.iterate(f"SELECT {db.quote(KEY_COLUMN)} FROM {db.quote(TABLE)}"):
        yield key


def iter_rows(db: Database, columns: Sequence[str]) -> Iterator[tuple]:
    """``(buyer_number, *columns)`` for every buyer (streamed), ordered by key."""
    if not db.table_exists(TABLE):
        return
    q = db.quote
    cols = ", ".join(q(c) for c in (KEY_COLUMN, *columns))
    yield from db.iterate(f"SELECT {cols} FROM {q(TABLE)} ORDER BY {q(KEY_COLUMN)}")


def fetch(db: Database, keys: Sequence[str], columns: Sequence[str]) -> dict[str, tuple]:
    """The given buyers' ``columns`` values, by buyer number."""
    q = db.quote
    cols = ", ".join(q(c) for c in (KEY_COLUMN, *columns))
    found: dict[str, tuple] = {}
    for start in range(0, len(keys), 500):
        chunk = list(keys[start : start + 500])
        marks = ", ".join(["%s"] * len(chunk))
        for row in db.query(
            f"SELECT {cols} FROM {q(TABLE)} WHERE {q(KEY_COLUMN)} IN ({marks})", chunk
        ):
            values = tuple(row.values())
            found[values[0]] = values[1:]
    return found


class Writer:
    """Stages rows in a temporary table and merges slices of it into ``buyers``.

    Staged rows are ``(seq, row_number, buyer_number, *values)`` where ``values``
    line up with ``columns``. ``None`` stands for an empty cell.
    """

    def __init__(self, db: Database, columns: Sequence[str]) -> None:
        self.db = db
        self.columns = tuple(columns)
        self._stage_cols = ["seq", "row_number", "buyer_number"] + [
            f"c{i}" for i in range(len(self.columns))
        ]
        targets = db.columns(TABLE)
        q = db.quote
        exprs = []
        for i, column in enumerate(self.columns):
            declared = targets.get(column, "text").lower()
            base = declared.split("(")[0].strip()
            if db.dialect == "postgresql" and base not in _TEXT_TYPES:
                # A legacy non-text column (integer, date …): cast explicitly so a value
                # that does not fit fails as a data error for its row.
                exprs.append(f"CAST(NULLIF(s.c{i}, '') AS {declared})")
            else:
                exprs.append(f"s.c{i}")
        key_type = targets.get(KEY_COLUMN, "text").lower()
        key_expr = "s.buyer_number"
        if db.dialect == "postgresql" and key_type.split("(")[0].strip() not in _TEXT_TYPES:
            key_expr = f"CAST(s.buyer_number AS {key_type})"
        target_cols = ", ".join(q(c) for c in (KEY_COLUMN, *self.columns, *TIMESTAMP_COLUMNS))
        select = ", ".join([key_expr, *exprs, "%(ts)s", "%(ts)s", "%(ts)s"])
        updates = ", ".join(
            [f"{q(c)} = excluded.{q(c)}" for c in self.columns]
            + [f"{q(c)} = excluded.{q(c)}" for c in ("synced_at", "db_updated_at")]
        )
        stage = _STAGE if db.dialect == "postgresql" else f"temp.{_STAGE}"
        self._stage = stage
        self._merge_sql = (
            f"INSERT INTO {q(TABLE)} ({target_cols}) "
            f"SELECT {select} FROM {stage} s WHERE s.seq >= %(lo)s AND s.seq < %(hi)s "
            f"ORDER BY s.seq "
            f"ON CONFLICT ({q(KEY_COLUMN)}) DO UPDATE SET {updates}"
        )
        # PostgreSQL counts inserts and updates in the merge itself: a row that was
        # inserted has xmax = 0, an updated one has the locking transaction's id. That
        # saves a join of the slice with buyers (a quarter of a re-sync's time).
        self._merge_counted_sql = (
            f"WITH w AS ({self._merge_sql} RETURNING (xmax = 0) AS ins) "
            "SELECT count(*) FILTER (WHERE ins) AS inserted, count(*) AS written FROM w"
        )
        self._existing_sql = (
            f"SELECT count(*) AS n FROM {stage} s JOIN {q(TABLE)} b "
            f"ON b.{q(KEY_COLUMN)} = {key_expr} WHERE s.seq >= %(lo)s AND s.seq < %(hi)s"
        )
        self._create_stage()

    def _create_stage(self) -> None:
        db = self.db
        cols = ", ".join(
            [
                "seq integer PRIMARY KEY" if db.dialect == "sqlite" else "seq integer NOT NULL",
                "row_number integer",
                "buyer_number text",
            ]
            + [f"c{i} text" for i in range(len(self.columns))]
        )
        db.execute(f"DROP TABLE IF EXISTS {self._stage}")
        db.execute(f"CREATE TEMP TABLE {_STAGE} ({cols})")

    def stage(self, rows: Iterable[Sequence[object]]) -> None:
        """Append rows to the staging table (one round trip per chunk)."""
        db = self.db
        if db.dialect == "postgresql":
            db.copy_rows(_STAGE, self._stage_cols, rows)  # type: ignore[attr-defined]
        else:
            marks = ", ".join(["%s"] * len(self._stage_cols))
            with db.transaction():
                db.executemany(f"INSERT INTO {self._stage} VALUES ({marks})", rows)

    def finish_staging(self) -> None:
        """Index the staging table for slice reads (after the bulk load: faster)."""
        if self.db.dialect == "postgresql":
            self.db.execute(f"CREATE UNIQUE INDEX ON {_STAGE} (seq)")
            # Statistics of seq alone are what the slice reads need; analyzing every
            # text column cost a second per 100,000 rows.
            self.db.execute(f"ANALYZE {_STAGE} (seq)")

    def merge(self, lo: int, hi: int, ts: datetime) -> MergeResult:
        """Merge staged rows ``lo <= seq < hi`` into ``buyers`` in one transaction.

        Raises :class:`buyersync.errors.StoreError` (a :class:`RowRejected` when a row's
        data was refused); nothing of the slice is written then.
        """
        params = {"lo": lo, "hi": hi, "ts": self.db.ts(ts)}
        if self.db.dialect == "postgresql":
            with self.db.transaction():
                row = self.db.query_one(self._merge_counted_sql, params)
            assert row is not None
            inserted = int(row["inserted"])
            return MergeResult(inserted=inserted, updated=int(row["written"]) - inserted)
        with self.db.transaction():
            existing = int(self.db.query_value(self._existing_sql, params))
            written = self.db.execute(self._merge_sql, params)
        return MergeResult(inserted=written - existing, updated=existing)

    def staged(self, lo: int, hi: int) -> list[tuple]:
        """The staged rows ``lo <= seq < hi`` as ``(seq, row_number, key, *values)``."""
        cols = ", ".join(self._stage_cols)
        return [
            tuple(r.values())
            for r in self.db.query(
                f"SELECT {cols} FROM {self._stage} WHERE seq >= %s AND seq < %s ORDER BY seq",
                (lo, hi),
            )
        ]

    def close(self) -> None:
        if not self.db.closed:
            try:
                self.db.execute(f"DROP TABLE IF EXISTS {self._stage}")
            except StoreError:
                log.debug("could not drop the staging table", exc_info=True)
