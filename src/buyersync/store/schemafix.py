"""Apply Migration 050: make every length-limited column of ``buyers`` TEXT, safely.

Order of work (requirements 1.1–1.4):

1. back up ``buyers`` to ``buyers_backup_YYYYMMDD[_HHMMSS]`` (a plain copy of every row
   with the original types — the way back, see docs/migration-050.md);
2. in one transaction: take the table lock with a short ``lock_timeout`` (PostgreSQL)
   or busy timeout (SQLite), fingerprint the table, set dependents aside, convert,
   restore dependents, fingerprint again — a different row count or content rolls
   everything back;
3. re-read the catalog and report every column with its type.

A busy table is not waited on for long: a lock that does not come within
``lock_timeout`` fails the attempt, which is retried with backoff, and after the last
attempt the migration stops with :class:`SchemaFixError` naming the sessions that
hold the table. Columns PostgreSQL refuses to convert (a rule, policy or trigger that
uses them) are reported with the reason; the others are still converted.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from buyersync.errors import LockNotAvailable, SchemaFixBusy, SchemaFixError, StoreError
from buyersync.retrying import Failure, Retrying
from buyersync.rules import schema as rules
from buyersync.rules.backoff import BackoffPolicy
from buyersync.store import catalog
from buyersync.store.db import Database, utcnow
from buyersync.store.sql import SQL, Identifier, Verbatim, identifiers

log = logging.getLogger(__name__)

TABLE = catalog.TABLE


@dataclass(frozen=True)
class Fingerprint:
    """Row count and an order-independent hash of every row's values as text."""

    rows: int
    digest: str


@dataclass
class FixResult:
    """What ``schema fix --apply`` did; ``ok`` when nothing is left length-limited."""

    dialect: str
    nothing_to_do: bool = False
    backup_table: str | None = None
    backup_rows: int | None = None
    backup_identical: bool | None = None
    converted: list[dict[str, Any]] = field(default_factory=list)
    not_converted: list[dict[str, Any]] = field(default_factory=list)
    #: pure length CHECK constraints dropped: ``{constraint, column, limit, unit}``
    dropped_constraints: list[dict[str, Any]] = field(default_factory=list)
    #: CHECKs that limit a length with other conditions: left in place, reported
    kept_constraints: list[rules.MixedCheck] = field(default_factory=list)
    dependents: list[str] = field(default_factory=list)
    added_columns: list[str] = field(default_factory=list)
    attempts: int = 0
    before: Fingerprint | None = None
    after: Fingerprint | None = None
    columns_after: dict[str, str] = field(default_factory=dict)
    limited_after: list[rules.LimitedColumn] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def identical(self) -> bool:
        return self.before == self.after

    @property
    def ok(self) -> bool:
        return (
            not self.limited_after
            and not self.not_converted
            and not self.kept_constraints
            and self.identical
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "applied": not self.nothing_to_do,
            "nothing_to_do": self.nothing_to_do,
            "backup_table": self.backup_table,
            "backup_rows": self.backup_rows,
            "backup_identical": self.backup_identical,
            "converted": self.converted,
            "not_converted": self.not_converted,
            "dropped_constraints": self.dropped_constraints,
            "kept_constraints": [m.to_json() for m in self.kept_constraints],
            "dependents_recreated": self.dependents,
            "added_columns": self.added_columns,
            "attempts": self.attempts,
            "verification": {
                "rows_before": self.before.rows if self.before else None,
                "rows_after": self.after.rows if self.after else None,
                "checksum_before": self.before.digest if self.before else None,
                "checksum_after": self.after.digest if self.after else None,
                "identical": self.identical,
                "columns": [{"column": c, "type": t} for c, t in self.columns_after.items()],
                "length_limited": [c.to_json() for c in self.limited_after],
            },
            "notes": self.notes,
        }


def fingerprint(
    db: Database, table: str = TABLE, columns: Sequence[str] | None = None
) -> Fingerprint:
    """Fingerprint ``table``: equal before and after the conversion when no value changed.

    PostgreSQL compares values as text (``char(n)`` padding is not content: it is
    dropped by the cast, exactly as when the column becomes text); SQLite compares
    the stored values with their storage classes. ``columns`` defaults to all of them
    (pass the original ones to ignore columns added since).
    """
    cols = list(columns) if columns is not None else list(db.columns(table))
    if db.sql.hashes_in_sql:
        r = db.query_one(
            SQL(
                "SELECT count(*) AS n, coalesce(sum(('x' || substr(md5(ROW({row})::text), 1, 15))"
                "::bit(60)::bigint), 0)::text AS h FROM {table}"
            ).format(
                row=[SQL("{}::text").format(Identifier(c)) for c in cols], table=Identifier(table)
            )
        )
        assert r is not None
        return Fingerprint(int(r["n"]), str(r["h"]))
    total, n = 0, 0
    select = SQL("SELECT {} FROM {}").format(identifiers(cols), Identifier(table))
    for values in db.iterate(select):
        n += 1
        total += int.from_bytes(
            hashlib.md5(repr(tuple(values)).encode(), usedforsecurity=False).digest()[:8], "big"
        )
    return Fingerprint(n, str(total))


def build_plan(
    db: Database, *, add_columns: Sequence[str] = (), now: datetime | None = None
) -> tuple[rules.FixPlan, list[rules.LimitedColumn]]:
    """The Migration 050 plan for this database as it is now, and the columns it fixes."""
    limited = catalog.limited_columns(db)
    mixed = catalog.mixed_checks(db)
    backup = rules.backup_table_name(now or utcnow(), catalog.table_names(db, f"{TABLE}_backup_"))
    if db.sql.alters_column_types:
        plan = rules.postgres_plan_sql(
            quote=db.quote,
            table=TABLE,
            columns=limited,
            # dropping a CHECK does not disturb views: only columns whose type changes
            dependents=catalog.pg_dependents(db, [c.column for c in limited if c.type_limited]),
            backup_table=backup,
            add_columns=add_columns,
            current_user=catalog.current_user(db),
            mixed=mixed,
        )
    else:
        plan = rules.sqlite_plan_sql(
            quote=db.quote,
            table=TABLE,
            create_sql=catalog.sqlite_create_sql(db),
            column_names=list(db.columns(TABLE)),
            columns=limited,
            objects=catalog.sqlite_objects(db),
            backup_table=backup,
            add_columns=add_columns,
            mixed=mixed,
        )
    return plan, limited


@dataclass(frozen=True)
class _Locking:
    """How Migration 050 waits for the table lock: each try's timeout, how many tries,
    the first wait between them (doubling) and how to wait."""

    timeout_s: float
    attempts: int
    backoff_s: float
    sleep: Callable[[float], None]


def apply(
    db: Database,
    *,
    add_columns: Sequence[str] = (),
    lock_timeout_s: float = 2.0,
    attempts: int = 5,
    backoff_s: float = 0.5,
    now: datetime | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> FixResult:
    """Back up, convert and verify (see the module docstring); idempotent.

    Raises :class:`SchemaFixError` when the table lock never came (after ``attempts``
    tries of ``lock_timeout_s`` each) or when the conversion failed and was rolled
    back; :class:`buyersync.errors.LockHeld` when a sync is running. The backup table
    is kept in every case.
    """
    if not db.table_exists(TABLE):
        raise SchemaFixError(
            "there is no buyers table to convert",
            hint="run buyersync sync first: it creates buyers with TEXT columns",
        )
    result = FixResult(dialect=db.dialect)
    locking = _Locking(lock_timeout_s, attempts, backoff_s, sleep)
    with db.lock("sync", wait_seconds=lock_timeout_s * max(1, attempts)):
        limited = catalog.limited_columns(db)
        add = [c for c in add_columns if c not in db.columns(TABLE)]
        if not limited and not add:
            result.nothing_to_do = True
            result.before = result.after = fingerprint(db)
            _verify(db, result)
            return result
        if limited:
            result.backup_table = _backup(db, now, locking, result)
        if db.sql.alters_column_types:
            _convert_in_place(db, add, locking, result)
        else:
            _convert_by_rebuild(db, add, locking, result)
        result.added_columns = add
        if result.backup_table and result.before is not None:
            result.backup_identical = fingerprint(db, result.backup_table) == result.before
        _verify(db, result)
    log.info(
        "migration 050: converted %d column(s), %d not converted, backup %s",
        len(result.converted),
        len(result.not_converted),
        result.backup_table,
    )
    return result


def _verify(db: Database, result: FixResult) -> None:
    result.columns_after = catalog.columns(db)
    result.limited_after = catalog.limited_columns(db)
    result.kept_constraints = catalog.mixed_checks(db)


def _retrying(
    db: Database,
    what: str,
    step: Callable[[], None],
    locking: _Locking,
    result: FixResult,
) -> None:
    """Run ``step`` (one transaction); retry it while the table lock is not available."""

    def busy(failure: Failure) -> None:
        result.attempts = max(result.attempts, failure.attempt)
        log.warning(
            "migration 050: buyers is busy (attempt %d of %d, lock timeout %.1fs)",
            failure.attempt,
            locking.attempts,
            locking.timeout_s,
        )

    # Waits of backoff_s, doubling; no jitter: one migration runs at a time.
    policy = BackoffPolicy(
        max_attempts=max(1, locking.attempts) - 1,
        base_seconds=locking.backoff_s,
        max_seconds=60.0,
        jitter=0.0,
    )
    retrying = Retrying(policy, retry_on=LockNotAvailable, on_failure=busy, sleep=locking.sleep)
    try:
        retrying.call(step)
    except LockNotAvailable as exc:
        holders = _lock_holders(db)
        raise SchemaFixBusy(
            f"Migration 050 could not lock the buyers table while {what}: it stayed busy for "
            f"{locking.attempts} attempt(s) of {locking.timeout_s:g}s each{holders}; nothing was changed",
            hint="end or wait for the long-running transactions on buyers, then run buyersync "
            "schema fix --apply again (or pass a larger --lock-timeout / --attempts)",
        ) from exc
    except StoreError as exc:
        raise SchemaFixError(
            f"Migration 050 failed while {what} and was rolled back; nothing changed: "
            f"{exc.message}",
            hint="fix the cause named here and run buyersync schema fix --apply again "
            "(the backup table, if taken, is kept)",
            details={"sqlstate": exc.sqlstate},
        ) from exc
    finally:
        # The most tries any step needed: the backup and the conversion each retry
        # on their own, and a lock released during the backup must still show.
        result.attempts = max(result.attempts, retrying.attempts)


def _lock_holders(db: Database) -> str:
    """``: held by pid 123 (psql, idle in transaction for 42s)`` — never the query text."""
    if db.sql.lock_holders is None:
        return ": another process is writing to the database file"
    try:
        rows = db.query(db.sql.lock_holders, (db.quote(TABLE),))
    except StoreError:
        return ""
    if not rows:
        return ""
    shown = ", ".join(
        f"pid {r['pid']} ({r['app'] or 'unnamed'}, {r['state']}"
        + (f" for {r['age']}s" if r["age"] is not None else "")
        + ")"
        for r in rows[:5]
    )
    return f": held by {shown}"


def _set_timeout(db: Database, lock_timeout_s: float) -> None:
    ms = max(1, int(lock_timeout_s * 1000))
    db.execute(db.sql.set_lock_timeout.format(ms=ms))


def _backup(
    db: Database,
    now: datetime | None,
    locking: _Locking,
    result: FixResult,
) -> str:
    plan, _ = build_plan(db, now=now)

    def step() -> None:
        # a whole-file lock is waited for by BEGIN itself; a table lock inside the transaction
        if db.sql.locks_whole_file:
            _set_timeout(db, locking.timeout_s)
        with db.transaction():
            if not db.sql.locks_whole_file:
                _set_timeout(db, locking.timeout_s)
            for statement in plan.backup:
                db.execute(Verbatim(statement))

    _retrying(db, "backing up buyers", step, locking, result)
    result.backup_rows = int(
        db.query_value(SQL("SELECT count(*) AS n FROM {}").format(Identifier(plan.backup_table)))
    )
    log.info("migration 050: backed up %d rows to %s", result.backup_rows, plan.backup_table)
    return plan.backup_table


def _convert_in_place(
    db: Database, add: Sequence[str], locking: _Locking, result: FixResult
) -> None:
    def step() -> None:
        converted: list[dict[str, Any]] = []
        refused: list[dict[str, Any]] = []
        with db.transaction():
            _set_timeout(db, locking.timeout_s)
            db.execute(SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(Identifier(TABLE)))
            # Plan again under the lock: the dependents are now exactly what we see.
            plan, limited = build_plan(db, add_columns=add)
            types = {c.column: c.type for c in limited}
            original = list(db.columns(TABLE))
            before = fingerprint(db)
            for statement in (*plan.before, *plan.drop_checks):
                db.execute(Verbatim(statement))
            dropped = [
                {"constraint": k.name, "column": c.column, "limit": k.limit, "unit": str(k.unit)}
                for c in limited
                for k in c.checks
                if k.name
            ]
            for alter in plan.alters:
                column = alter.column
                try:
                    with db.transaction():
                        db.execute(Verbatim(alter.sql))
                    converted.append({"column": column, "from_type": types[column]})
                except LockNotAvailable:
                    raise
                except StoreError as exc:
                    refused.append(
                        {
                            "column": column,
                            "type": types[column],
                            "reason": exc.message,
                            "what_to_do": "drop or change the object named in the reason (rule, "
                            "policy, trigger), run schema fix --apply again, then "
                            "recreate it",
                        }
                    )
            for statement in plan.after:
                db.execute(Verbatim(statement))
            after = fingerprint(db, columns=original)
            if after != before:
                raise SchemaFixError(
                    f"Migration 050 rolled back: the table changed during conversion "
                    f"(rows {before.rows} → {after.rows}, checksum differs)",
                    hint="nothing was changed; report this with the output of --debug",
                )
        result.before, result.after = before, after
        result.converted, result.not_converted = converted, refused
        result.dropped_constraints = dropped
        result.dependents = list(plan.dependents)
        result.notes = list(plan.notes)

    _retrying(db, "converting columns", step, locking, result)


def _convert_by_rebuild(
    db: Database, add: Sequence[str], locking: _Locking, result: FixResult
) -> None:
    def step() -> None:
        _set_timeout(db, locking.timeout_s)
        db.execute("PRAGMA foreign_keys = OFF")  # only outside a transaction (SQLite docs)
        try:
            with db.transaction():
                plan, limited = build_plan(db, add_columns=add)
                original = list(db.columns(TABLE))
                before = fingerprint(db)
                for statement in (*plan.before, *plan.after):
                    db.execute(Verbatim(statement))
                problems = db.query(SQL("PRAGMA foreign_key_check({})").format(Identifier(TABLE)))
                if problems:
                    raise SchemaFixError(
                        f"Migration 050 rolled back: {len(problems)} foreign key problem(s) "
                        "after rebuilding buyers",
                        hint="run PRAGMA foreign_key_check to see them",
                    )
                after = fingerprint(db, columns=original)
                if after != before:
                    raise SchemaFixError(
                        f"Migration 050 rolled back: rows or content differ after the rebuild "
                        f"(rows {before.rows} → {after.rows})",
                        hint="nothing was changed; report this with the output of --debug",
                    )
                left = {c.column: c for c in catalog.limited_columns(db)}
        finally:
            db.execute("PRAGMA foreign_keys = ON")
            db.execute("PRAGMA busy_timeout = 10000")
        result.before, result.after = before, after
        result.converted = [
            {"column": c.column, "from_type": c.type}
            for c in limited
            if c.column not in left and c.type_limited
        ]
        result.dropped_constraints = [
            {"constraint": k.name, "column": c.column, "limit": k.limit, "unit": str(k.unit)}
            for c in limited
            if c.column not in left
            for k in c.checks
        ]
        result.not_converted = [
            {
                "column": c.column,
                "type": c.type,
                "reason": "its length limit is part of a constraint buyersync cannot rewrite "
                "safely (for example a CHECK combining several conditions)",
                "what_to_do": "rebuild the table by hand without that constraint (see "
                "docs/migration-050.md), then run buyersync schema check",
            }
            for c in left.values()
        ]
        result.dependents = list(plan.dependents)

    _retrying(db, "rebuilding buyers", step, locking, result)
