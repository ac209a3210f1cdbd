"""Writing ``buyers`` in two phases: stage rows in a temporary table, merge slices of it.

Rows are first *staged* into a temporary table (PostgreSQL COPY, SQLite
``executemany``) — fast, no constraints, nothing visible to readers. Then each slice
of the staging table is *merged* into ``buyers`` with one ``INSERT … SELECT … ON
CONFLICT (buyer_number) DO UPDATE`` in its own transaction. A slice that fails rolls
back alone; the caller splits it to find the failing rows. ``created_at`` is never in
the ``SET`` list, so it is preserved on update. :class:`Writer` and
:class:`MergeResult` are also importable from :mod:`buyersync.store.buyers`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from buyersync.errors import StoreError
from buyersync.rules.normalize import KEY_COLUMN
from buyersync.store.buyertable import (
    TABLE,
    TIMESTAMP_COLUMNS,
    count_unfolded,
    fold_sql,
    is_text,
    plain_text,
)
from buyersync.store.db import Database
from buyersync.store.sql import SQL, Composable, Identifier, Verbatim, identifiers

log = logging.getLogger(__name__)

_STAGE = "buyersync_stage"


@dataclass(frozen=True)
class MergeResult:
    """What one merge did. ``updated`` rows existed before: ``changed`` of them now
    hold other values, the rest were rewritten with the values they had."""

    inserted: int
    updated: int
    changed: int = 0

    @property
    def unchanged(self) -> int:
        return self.updated - self.changed


class Writer:
    """Stages rows in a temporary table and merges slices of it into ``buyers``.

    Staged rows are ``(seq, row_number, buyer_number, *values)`` where ``values``
    line up with ``columns``. ``None`` stands for an empty cell.
    """

    def __init__(self, db: Database, columns: Sequence[str], *, fold_keys: bool = False) -> None:
        self.db = db
        self.columns = tuple(columns)
        self._stage_cols = ["seq", "row_number", "buyer_number"] + [
            f"c{i}" for i in range(len(self.columns))
        ]
        targets = db.columns(TABLE)
        exprs: list[Composable] = []
        for i, column in enumerate(self.columns):
            declared = targets.get(column, "text").lower()
            if db.sql.enforces_column_types and not is_text(declared):
                # A legacy non-text column (integer, date …): cast explicitly so a value
                # that does not fit fails as a data error for its row. The type is the
                # catalog's own spelling, so it is used as it is.
                exprs.append(SQL(f"CAST(NULLIF(s.c{i}, '') AS ") + Verbatim(declared) + SQL(")"))
            else:
                exprs.append(SQL(f"s.c{i}"))
        key_type = targets.get(KEY_COLUMN, "text").lower()
        key_expr: Composable = SQL("s.buyer_number")
        if db.sql.enforces_column_types and not is_text(key_type):
            key_expr = SQL("CAST(s.buyer_number AS ") + Verbatim(key_type) + SQL(")")
        stamp = SQL("%(ts)s")
        slots = {
            "table": Identifier(TABLE),
            "key": Identifier(KEY_COLUMN),
            "key_expr": key_expr,
            "stage": SQL(db.sql.stage_table),
        }
        self._stage = db.sql.stage_table
        self._slots = slots
        #: Longest wait for a row another session has locked, per merge (None: forever).
        self.lock_timeout_ms: int | None = None
        self._merge_sql = SQL(
            "INSERT INTO {table} ({targets}) "
            "SELECT {select} FROM {stage} s WHERE s.seq >= %(lo)s AND s.seq < %(hi)s "
            "ORDER BY s.seq "
            "ON CONFLICT ({key}) DO UPDATE SET {updates}"
        ).format(
            targets=identifiers((KEY_COLUMN, *self.columns, *TIMESTAMP_COLUMNS)),
            select=[key_expr, *exprs, stamp, stamp, stamp],
            updates=[
                SQL("{c} = excluded.{c}").format(c=Identifier(c))
                for c in (*self.columns, "synced_at", "db_updated_at")
            ],
            **slots,
        )

        # Whether an existing row's stored values changed: the old value against the
        # value the merge stores (both in the column's type, so '1,0' vs '1.0' or a
        # re-rendered date do not count). Types without an equality operator (json)
        # compare as text.
        def differs(old: Composable, new: Composable, column: str) -> Composable:
            if is_text(targets.get(column, "text")):
                return SQL("{} IS DISTINCT FROM {}").format(old, new)
            return SQL("{}::text IS DISTINCT FROM {}::text").format(old, new)

        # PostgreSQL counts inserts, updates and changes in the merge itself: a row that
        # was inserted has xmax = 0, an updated one has the locking transaction's id;
        # the outer SELECT reads buyers in the statement's snapshot, i.e. the values
        # before the merge, and compares them with what RETURNING says was stored.
        # That saves a separate join of the slice with buyers before the merge.
        changed_pg: Composable = SQL("false")
        if self.columns:
            changed_pg = SQL(" OR ").join(
                differs(
                    SQL("b.{}").format(Identifier(c)),
                    SQL(f"w.v{i}"),
                    c,
                )
                for i, c in enumerate(self.columns)
            )
        returning = [SQL("(xmax = 0) AS ins"), SQL("{} AS k").format(Identifier(KEY_COLUMN))] + [
            SQL(f"{{}} AS v{i}").format(Identifier(c)) for i, c in enumerate(self.columns)
        ]
        self._merge_counted_sql = (
            SQL("WITH w AS (")
            + self._merge_sql
            + SQL(" RETURNING {returning}) ").format(returning=returning)
            + SQL(
                "SELECT count(*) FILTER (WHERE w.ins) AS inserted, count(*) AS written, "
                "count(*) FILTER (WHERE NOT w.ins AND ({changed})) AS changed "
                "FROM w LEFT JOIN {table} b ON b.{key} = w.k"
            ).format(changed=changed_pg, **slots)
        )
        # SQLite counts before the merge, in the same transaction. Comparing a stored
        # value with the staged text applies the column's affinity to the text, exactly
        # as storing it does ('5' equals 5 in an INTEGER column).
        changed_lite: Composable = SQL("0")
        if self.columns:
            changed_lite = SQL(" OR ").join(
                SQL("b.{} IS NOT {}").format(Identifier(c), e)
                for c, e in zip(self.columns, exprs, strict=True)
            )
        self._existing_sql = SQL(
            "SELECT count(*) AS n, coalesce(sum({changed}), 0) AS changed "
            "FROM {stage} s JOIN {table} b "
            "ON b.{key} = {key_expr} WHERE s.seq >= %(lo)s AND s.seq < %(hi)s"
        ).format(changed=changed_lite, **slots)
        # Both dialects: staged keys buyers already holds (the wrong-sheet guard).
        self._known_sql = SQL(
            "SELECT count(*) AS n FROM {stage} s JOIN {table} b "
            "ON b.{key} = {key_expr} WHERE s.seq >= %(lo)s AND s.seq < %(hi)s"
        ).format(**slots)
        # A dry run counts what the merge would: the old values against the values it
        # would store, each in the column's type. Where the merge counts in itself
        # (RETURNING), the value stored is the staged text cast to the column's type.
        if db.sql.merge_counts_inserts:
            after = [
                e
                if not is_text(targets.get(c, "text")) or plain_text(targets.get(c, "text"))
                else SQL(f"CAST(s.c{i} AS ") + Verbatim(targets[c].lower()) + SQL(")")
                for i, (c, e) in enumerate(zip(self.columns, exprs, strict=True))
            ]
            changed_dry: Composable = SQL("false")
            if self.columns:
                changed_dry = SQL(" OR ").join(
                    differs(SQL("b.{}").format(Identifier(c)), e, c)
                    for c, e in zip(self.columns, after, strict=True)
                )
            # Every staged row's values are cast, as the merge casts them, inserted rows
            # too: a value the column's type refuses fails here as it would there.
            self._counts_sql = SQL(
                "SELECT count(b.{key}) AS n, "
                "count(*) FILTER (WHERE b.{key} IS NOT NULL AND ({changed})) AS changed, "
                "count(ROW({casts}, 0)) AS cast_rows "
                "FROM {stage} s LEFT JOIN {table} b "
                "ON b.{key} = {key_expr} WHERE s.seq >= %(lo)s AND s.seq < %(hi)s"
            ).format(changed=changed_dry, casts=[key_expr, *after], **slots)
        else:
            self._counts_sql = self._existing_sql
        # Staged keys take the spelling of the buyer they fold like (see module doc).
        self.fold_keys = fold_keys and is_text(key_type)
        # Two statements, neither needing an index on the fold: (1) a staged key that
        # is not its own fold takes its fold where buyers holds exactly that (b12 over
        # B12: the primary key finds it); (2) where buyers holds numbers that are not
        # their own fold (b12, rare), a staged key that folds alike takes that spelling.
        staged_fold = fold_sql(db, SQL("s.buyer_number"))
        stored_fold = fold_sql(db, SQL("b.{}").format(Identifier(KEY_COLUMN)))
        self._adopt_sql = (
            SQL(
                "UPDATE {stage} AS s SET buyer_number = {sf} WHERE s.buyer_number <> {sf} "
                "AND EXISTS (SELECT 1 FROM {table} b WHERE b.{key} = {sf})"
            ).format(sf=staged_fold, **slots),
            SQL(
                "UPDATE {stage} AS s SET buyer_number = b.{key} FROM {table} AS b "
                "WHERE b.{key} <> {bf} AND {bf} = {sf} AND b.{key} <> s.buyer_number"
            ).format(bf=stored_fold, sf=staged_fold, **slots),
        )
        self._create_stage()

    def _create_stage(self) -> None:
        db = self.db
        cols = ", ".join(
            [db.sql.stage_seq_column, "row_number integer", "buyer_number text"]
            + [f"c{i} text" for i in range(len(self.columns))]
        )
        db.execute(f"DROP TABLE IF EXISTS {self._stage}")
        db.execute(f"CREATE TEMP TABLE {_STAGE} ({cols})")

    def stage(self, rows: Iterable[Sequence[object]]) -> None:
        """Append rows to the staging table (one round trip per chunk)."""
        self.db.bulk_load(_STAGE, self._stage_cols, rows)

    def finish_staging(self) -> None:
        """Prepare the staging table for slice reads (after the bulk load: faster)."""
        for statement in self.db.sql.finish_staging:
            self.db.execute(statement)

    def adopt_stored_keys(self, unfolded: int | None = None) -> int:
        """Give each staged key that folds like a stored buyer number that number's
        spelling (after :meth:`finish_staging`; only with ``fold_keys``). Returns how
        many staged keys were respelled. Stored numbers must not collide (see
        :func:`key_collisions`); ``unfolded`` is :func:`count_unfolded`, if known."""
        if not self.fold_keys:
            return 0
        respelled = self.db.execute(self._adopt_sql[0])
        if count_unfolded(self.db) if unfolded is None else unfolded:
            respelled += self.db.execute(self._adopt_sql[1])
        return respelled

    def counts(self, lo: int, hi: int) -> MergeResult:
        """What merging staged rows ``lo <= seq < hi`` would do, without writing:
        inserted, updated and changed exactly as :meth:`merge` would count them.
        Raises :class:`StoreError` when a staged value does not fit its column."""
        row = self.db.query_one(self._counts_sql, {"lo": lo, "hi": hi})
        assert row is not None
        existing = int(row["n"])
        return MergeResult(
            inserted=(hi - lo) - existing, updated=existing, changed=int(row["changed"] or 0)
        )

    def merge(self, lo: int, hi: int, ts: datetime) -> MergeResult:
        """Merge staged rows ``lo <= seq < hi`` into ``buyers`` in one transaction.

        Raises :class:`buyersync.errors.StoreError` (a :class:`RowRejected` when a row's
        data was refused); nothing of the slice is written then.
        """
        params = {"lo": lo, "hi": hi, "ts": self.db.ts(ts)}
        if self.db.sql.merge_counts_inserts:
            with self.db.transaction():
                self._limit_lock_wait()
                row = self.db.query_one(self._merge_counted_sql, params)
            assert row is not None
            inserted = int(row["inserted"])
            return MergeResult(
                inserted=inserted,
                updated=int(row["written"]) - inserted,
                changed=int(row["changed"]),
            )
        with self.db.transaction():
            self._limit_lock_wait()
            before = self.db.query_one(self._existing_sql, params)
            assert before is not None
            existing = int(before["n"])
            written = self.db.execute(self._merge_sql, params)
        return MergeResult(
            inserted=written - existing, updated=existing, changed=int(before["changed"])
        )

    def _limit_lock_wait(self) -> None:
        # Where one writer locks the whole file the wait is the connection's busy
        # timeout; elsewhere it is per transaction, for row locks of other sessions.
        if self.lock_timeout_ms and not self.db.sql.locks_whole_file:
            self.db.execute(self.db.sql.set_lock_timeout.format(ms=int(self.lock_timeout_ms)))

    def locked_seqs(self, lo: int, hi: int) -> list[int]:
        """Staged rows ``lo <= seq < hi`` whose buyers row another session holds locked.

        Takes the free ones with ``FOR UPDATE SKIP LOCKED`` (released at once): the rest
        of the slice's existing buyers are the locked ones. Only where rows lock alone.
        """
        params = {"lo": lo, "hi": hi}
        with self.db.transaction():
            existing = self.db.query(
                SQL(
                    "SELECT s.seq AS seq, b.{key} AS k FROM {stage} s JOIN {table} b "
                    "ON b.{key} = {key_expr} WHERE s.seq >= %(lo)s AND s.seq < %(hi)s"
                ).format(**self._slots),
                params,
            )
            free = {
                r["k"]
                for r in self.db.query(
                    SQL(
                        "SELECT b.{key} AS k FROM {table} b WHERE b.{key} IN "
                        "(SELECT {key_expr} FROM {stage} s WHERE s.seq >= %(lo)s "
                        "AND s.seq < %(hi)s) FOR UPDATE SKIP LOCKED"
                    ).format(**self._slots),
                    params,
                )
            }
        return sorted(int(r["seq"]) for r in existing if r["k"] not in free)

    def count_known(self, staged: int) -> int:
        """How many of the ``staged`` rows' buyer numbers ``buyers`` already holds: one
        indexed join in the database, so neither key set is loaded here (staged keys
        are unique)."""
        return int(self.db.query_value(self._known_sql, {"lo": 0, "hi": staged}))

    def staged(self, lo: int, hi: int) -> list[tuple[Any, ...]]:
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
