"""``problems``: what is wrong now — one row per failing buyer, sheet row or run.

A failure *opens* (or refreshes) the problem of its subject
(:func:`buyersync.rules.problems.subject_of`); a later successful write of that
buyer — by sync, sync-missing or retry — *resolves* it, recording when and by which
run, and so does a full sync in which it did not recur. The error log keeps the
history: each entry names its problem's subject and is resolved with it
(``resolved_at``, ``resolved_by_run``). A problem that fails again is reopened.

Resolution is set-based: the written keys are loaded into a temporary table once
(:mod:`buyersync.store.keyset`) and each table is updated by one statement.

:func:`groups` is what ``buyersync problems``, the page and the API read: the open
problems grouped by cause (category and column), with counts, first and last seen,
an example and the fix (:func:`buyersync.rules.problems.fix_for`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from buyersync.records import RowFailure
from buyersync.rules.problems import (
    Fix,
    Kind,
    buyer_subject,
    column_of,
    example_of,
    fix_for,
    subject_of,
)
from buyersync.store.db import Database
from buyersync.store.errorlog import storable
from buyersync.store.keyset import key_table

TABLE = "problems"

_COLUMNS = (
    "id, subject, kind, buyer_number, row_number, category, column_name, message, example, "
    "operation, first_run_id, last_run_id, opened_at, last_seen_at, occurrences, not_written, "
    "resolved_at, resolved_by_run, acknowledged_at, acknowledged_note"
)

_UPSERT = """
INSERT INTO problems (subject, kind, buyer_number, row_number, category, column_name, message,
    example, operation, first_run_id, last_run_id, opened_at, last_seen_at, occurrences,
    not_written)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 1, %s)
ON CONFLICT (subject) DO UPDATE SET
    kind = excluded.kind,
    buyer_number = excluded.buyer_number,
    row_number = excluded.row_number,
    column_name = excluded.column_name,
    message = excluded.message,
    example = excluded.example,
    operation = excluded.operation,
    last_run_id = excluded.last_run_id,
    last_seen_at = excluded.last_seen_at,
    not_written = excluded.not_written,
    occurrences = problems.occurrences + 1,
    opened_at = CASE WHEN problems.resolved_at IS NULL THEN problems.opened_at
                     ELSE excluded.opened_at END,
    first_run_id = CASE WHEN problems.resolved_at IS NULL THEN problems.first_run_id
                        ELSE excluded.first_run_id END,
    acknowledged_at = CASE WHEN problems.resolved_at IS NULL
                            AND problems.category = excluded.category
                           THEN problems.acknowledged_at END,
    acknowledged_note = CASE WHEN problems.resolved_at IS NULL
                              AND problems.category = excluded.category
                             THEN problems.acknowledged_note END,
    category = excluded.category,
    resolved_at = NULL,
    resolved_by_run = NULL
"""


@dataclass(frozen=True)
class Problem:
    """One ``problems`` row as read back."""

    id: int
    subject: str
    kind: str
    buyer_number: str | None
    row_number: int | None
    category: str
    column: str | None
    message: str
    example: str | None
    operation: str
    first_run_id: str | None
    last_run_id: str | None
    opened_at: datetime
    last_seen_at: datetime
    occurrences: int
    not_written: int
    resolved_at: datetime | None
    resolved_by_run: str | None
    acknowledged_at: datetime | None
    acknowledged_note: str | None

    @property
    def open(self) -> bool:
        return self.resolved_at is None

    @property
    def fix(self) -> Fix:
        return fix_for(self.category, self.kind)

    def to_json(self) -> dict[str, Any]:
        def iso(v: datetime | None) -> str | None:
            return v.isoformat() if v else None

        return {
            "id": self.id,
            "subject": self.subject,
            "kind": self.kind,
            "buyer_number": self.buyer_number,
            "row_number": self.row_number,
            "category": self.category,
            "column": self.column,
            "message": self.message,
            "example": self.example,
            "operation": self.operation,
            "first_run_id": self.first_run_id,
            "last_run_id": self.last_run_id,
            "opened_at": iso(self.opened_at),
            "last_seen_at": iso(self.last_seen_at),
            "occurrences": self.occurrences,
            "not_written": self.not_written,
            "open": self.open,
            "resolved_at": iso(self.resolved_at),
            "resolved_by_run": self.resolved_by_run,
            "acknowledged": self.acknowledged_at is not None,
            "acknowledged_at": iso(self.acknowledged_at),
            "acknowledged_note": self.acknowledged_note,
            "fix": self.fix.to_json(),
        }


@dataclass(frozen=True)
class ProblemGroup:
    """Problems of one cause (category and column), open or resolved."""

    category: str
    column: str | None
    kind: str
    open: bool
    count: int
    buyers: int
    acknowledged: int
    first_seen: datetime
    last_seen: datetime
    example: Problem

    @property
    def fix(self) -> Fix:
        return fix_for(self.category, self.kind)

    def to_json(self) -> dict[str, Any]:
        return {
            "category": self.category,
            "column": self.column,
            "kind": self.kind,
            "open": self.open,
            "count": self.count,
            "buyers": self.buyers,
            "acknowledged": self.acknowledged,
            "first_seen": self.first_seen.isoformat(),
            "last_seen": self.last_seen.isoformat(),
            "example": self.example.to_json(),
            "fix": self.fix.to_json(),
        }


def _problem(db: Database, r: dict[str, Any]) -> Problem:
    return Problem(
        id=int(r["id"]),
        subject=r["subject"],
        kind=r["kind"],
        buyer_number=r["buyer_number"],
        row_number=r["row_number"],
        category=r["category"],
        column=r["column_name"],
        message=r["message"],
        example=r["example"],
        operation=r["operation"],
        first_run_id=r["first_run_id"],
        last_run_id=r["last_run_id"],
        opened_at=db.read_ts(r["opened_at"]),  # type: ignore[arg-type]
        last_seen_at=db.read_ts(r["last_seen_at"]),  # type: ignore[arg-type]
        occurrences=int(r["occurrences"] or 0),
        not_written=int(r["not_written"] or 0),
        resolved_at=db.read_ts(r["resolved_at"]),
        resolved_by_run=r["resolved_by_run"],
        acknowledged_at=db.read_ts(r["acknowledged_at"]),
        acknowledged_note=r["acknowledged_note"],
    )


# -- opening ------------------------------------------------------------------------


def record_failures(
    db: Database, failures: Sequence[RowFailure], run_id: str | None, *, at: datetime
) -> int:
    """Open or refresh the problem of each failure's subject (the last failure of a
    subject wins). Returns the number of subjects."""
    by_subject: dict[str, tuple[Any, ...]] = {}
    when = db.ts(at)
    for f in failures:
        kind, subject = subject_of(f.category, f.buyer_number, f.row_number)
        # NUL spelled \x00 as in the error log (PostgreSQL text cannot hold it), so the
        # subjects of both tables match.
        subject = storable(subject)
        by_subject[subject] = (
            subject,
            str(kind),
            storable(f.buyer_number) or None,
            f.row_number,
            str(f.category),
            storable(column_of(f.details)),
            storable(f.message[:2000]),
            storable(example_of(f.category, f.row_number, f.details, f.message)),
            f.operation,
            run_id,
            run_id,
            when,
            when,
            0,
        )
    if by_subject:
        with db.transaction():
            db.executemany(_UPSERT, list(by_subject.values()))
    return len(by_subject)


def record_run_failure(
    db: Database,
    *,
    subject: str,
    category: str,
    message: str,
    operation: str,
    run_id: str,
    at: datetime,
    not_written: int = 0,
) -> None:
    """Open or refresh the one problem of a run that could not go on."""
    when = db.ts(at)
    with db.transaction():
        db.execute(
            _UPSERT,
            (
                subject,
                str(Kind.RUN),
                None,
                None,
                category,
                None,
                storable(message[:2000]),
                storable(
                    (f"{not_written} rows not written: " if not_written else "") + message[:150]
                ),
                operation,
                run_id,
                run_id,
                when,
                when,
                not_written,
            ),
        )


# -- resolving ----------------------------------------------------------------------


def _resolve_where(
    db: Database, condition: str, params: Sequence[Any], run_id: str | None, at: datetime
) -> int:
    """Resolve the open problems matching ``condition`` and their log entries."""
    when = db.ts(at)
    with db.transaction():
        db.execute(
            "UPDATE sync_error_log SET resolved_at = %s, resolved_by_run = %s "
            "WHERE resolved_at IS NULL AND subject IN "
            f"(SELECT subject FROM problems WHERE resolved_at IS NULL AND {condition})",
            [when, run_id, *params],
        )
        return db.execute(
            "UPDATE problems SET resolved_at = %s, resolved_by_run = %s "
            f"WHERE resolved_at IS NULL AND {condition}",
            [when, run_id, *params],
        )


def resolve_written(db: Database, keys: Iterable[str], *, run_id: str | None, at: datetime) -> int:
    """Resolve the problems of buyers just written (one statement per table)."""
    if not has_open(db):
        return 0
    with key_table(db, (buyer_subject(k) for k in keys)) as table:
        return _resolve_where(db, f"subject IN (SELECT k FROM {table})", (), run_id, at)


def resolve_subjects(
    db: Database, subjects: Iterable[str], *, run_id: str | None, at: datetime
) -> int:
    """Resolve the problems of the given subjects (for example ``run:sync``)."""
    chosen = list(subjects)
    if not chosen:
        return 0
    marks = ", ".join(["%s"] * len(chosen))
    return _resolve_where(db, f"subject IN ({marks})", chosen, run_id, at)


def resolve_not_recurred(db: Database, *, run_id: str, at: datetime) -> int:
    """After a full sync that read the whole sheet: every problem it did not see again
    is gone (written, fixed, or no longer in the sheet). Entries logged before
    problems existed and not of this run are settled with them."""
    n = _resolve_where(db, "(last_run_id IS NULL OR last_run_id <> %s)", (run_id,), run_id, at)
    # What is open now recurred in this run; any other unresolved entry (logged before
    # problems were kept, so without a problem row) is settled as well.
    db.execute(
        "UPDATE sync_error_log SET resolved_at = %s, resolved_by_run = %s "
        "WHERE resolved_at IS NULL AND (run_id IS NULL OR run_id <> %s) "
        "AND (subject IS NULL OR subject NOT IN "
        "(SELECT subject FROM problems WHERE resolved_at IS NULL))",
        (db.ts(at), run_id, run_id),
    )
    return n


# -- reading --------------------------------------------------------------------------


def has_open(db: Database) -> bool:
    return bool(db.query_value("SELECT count(*) AS n FROM problems WHERE resolved_at IS NULL"))


def open_count(db: Database, *, include_acknowledged: bool = True) -> int:
    where = "" if include_acknowledged else " AND acknowledged_at IS NULL"
    return int(
        db.query_value(f"SELECT count(*) AS n FROM problems WHERE resolved_at IS NULL{where}")
    )


def list_problems(
    db: Database,
    *,
    include_resolved: bool = False,
    ids: Sequence[int] = (),
    limit: int | None = None,
) -> list[Problem]:
    """Problems, open first, then by category, column and row."""
    clauses, params = [], []  # type: tuple[list[str], list[Any]]
    if not include_resolved:
        clauses.append("resolved_at IS NULL")
    if ids:
        clauses.append(f"id IN ({', '.join(['%s'] * len(ids))})")
        params.extend(int(i) for i in ids)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    sql = (
        f"SELECT {_COLUMNS} FROM problems{where} ORDER BY "
        "CASE WHEN resolved_at IS NULL THEN 0 ELSE 1 END, category, column_name, "
        "row_number, id"
    )
    if limit is not None:
        sql += " LIMIT %s"
        params.append(int(limit))
    return [_problem(db, r) for r in db.query(sql, params)]


def groups(db: Database, *, include_resolved: bool = False) -> list[ProblemGroup]:
    """Problems grouped by cause (category, column, open or resolved), biggest first,
    each with counts, first and last seen, an example row and the fix."""
    where = "" if include_resolved else " WHERE resolved_at IS NULL"
    rows = db.query(
        "SELECT category, column_name, kind, "
        "CASE WHEN resolved_at IS NULL THEN 1 ELSE 0 END AS is_open, count(*) AS n, "
        "count(buyer_number) AS buyers, count(acknowledged_at) AS acked, "
        "min(opened_at) AS first_seen, max(last_seen_at) AS last_seen, min(id) AS example_id "
        f"FROM problems{where} "
        "GROUP BY category, column_name, kind, CASE WHEN resolved_at IS NULL THEN 1 ELSE 0 END "
        "ORDER BY is_open DESC, n DESC, category, column_name"
    )
    examples = (
        {
            p.id: p
            for p in list_problems(db, include_resolved=True, ids=[r["example_id"] for r in rows])
        }
        if rows
        else {}
    )
    return [
        ProblemGroup(
            category=r["category"],
            column=r["column_name"],
            kind=r["kind"],
            open=bool(r["is_open"]),
            count=int(r["n"]),
            buyers=int(r["buyers"]),
            acknowledged=int(r["acked"]),
            first_seen=db.read_ts(r["first_seen"]),  # type: ignore[arg-type]
            last_seen=db.read_ts(r["last_seen"]),  # type: ignore[arg-type]
            example=examples[int(r["example_id"])],
        )
        for r in rows
    ]


def open_for_run(
    db: Database, run_id: str
) -> tuple[int, dict[str, int], list[tuple[str | None, int | None]]]:
    """Row problems a run logged that are still open and not acknowledged: their
    number, the number per category, and ``(buyer, row)`` of the first ones."""
    rows = db.query(
        "SELECT category, buyer_number, row_number FROM problems "
        "WHERE resolved_at IS NULL AND acknowledged_at IS NULL AND kind <> %s "
        "AND subject IN (SELECT subject FROM sync_error_log WHERE run_id = %s) "
        "ORDER BY row_number, id",
        (str(Kind.RUN), run_id),
    )
    by_category: dict[str, int] = {}
    for r in rows:
        by_category[r["category"]] = by_category.get(r["category"], 0) + 1
    first = [(r["buyer_number"], r["row_number"]) for r in rows[:10]]
    return len(rows), dict(sorted(by_category.items())), first


def acknowledged_buyers(db: Database) -> frozenset[str]:
    """Buyers whose open problem an operator acknowledged (no alert for them)."""
    rows = db.query(
        "SELECT buyer_number FROM problems WHERE resolved_at IS NULL "
        "AND acknowledged_at IS NOT NULL AND buyer_number IS NOT NULL"
    )
    return frozenset(r["buyer_number"] for r in rows)


def open_by_buyer(db: Database, keys: Sequence[str]) -> dict[str, str]:
    """Category of the open problem of each given buyer that has one."""
    if not keys:
        return {}
    with key_table(db, (buyer_subject(k) for k in keys)) as table:
        rows = db.query(
            "SELECT buyer_number, category FROM problems WHERE resolved_at IS NULL "
            f"AND subject IN (SELECT k FROM {table})"
        )
    return {r["buyer_number"]: r["category"] for r in rows}


# -- operator actions ---------------------------------------------------------------------


def acknowledge(
    db: Database, ids: Sequence[int], *, at: datetime | None, note: str | None = None
) -> list[int]:
    """Acknowledge (``at`` a time) or un-acknowledge (``at`` None) open problems.

    An acknowledged problem stays open but no longer alerts. Returns the ids changed.
    """
    if not ids:
        return []
    marks = ", ".join(["%s"] * len(ids))
    found = [
        int(r["id"])
        for r in db.query(
            f"SELECT id FROM problems WHERE resolved_at IS NULL AND id IN ({marks})",
            [int(i) for i in ids],
        )
    ]
    if found:
        marks = ", ".join(["%s"] * len(found))
        db.execute(
            "UPDATE problems SET acknowledged_at = %s, acknowledged_note = %s "
            f"WHERE id IN ({marks})",
            [db.ts(at), note if at else None, *found],
        )
    return sorted(found)


def prune(db: Database, *, resolved_before: datetime) -> tuple[int, int]:
    """Delete problems and error-log entries resolved before the cutoff (retention).

    Open problems and unresolved entries are never pruned. Returns (problems, entries).
    """
    cutoff = db.ts(resolved_before)
    with db.transaction():
        entries = db.execute(
            "DELETE FROM sync_error_log WHERE resolved_at IS NOT NULL AND resolved_at < %s",
            (cutoff,),
        )
        problems = db.execute(
            "DELETE FROM problems WHERE resolved_at IS NOT NULL AND resolved_at < %s", (cutoff,)
        )
    return problems, entries
