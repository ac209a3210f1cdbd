"""``sync_error_log``: every failed row, one entry per failure (requirement 3)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from buyersync.records import ErrorEntry, ErrorQuery, RowFailure
from buyersync.rules.problems import subject_of
from buyersync.store.db import Database, utcnow

_COLUMNS = (
    "run_id, buyer_number, row_number, error_type, error_message, details, operation, "
    "retryable, created_at, subject"
)
#: Read back besides the written columns: set when the entry's problem is resolved.
_RESOLUTION = "resolved_at, resolved_by_run"


def _storable(value: Any) -> Any:
    """``value`` with NUL characters spelled ``\\x00``, in strings nested anywhere.

    PostgreSQL text and jsonb cannot hold NUL, and a row refused *because* of a NUL
    (in its buyer number, say) must still get its entry; SQLite is treated the same
    so both databases log the same text.
    """
    if isinstance(value, str):
        return value.replace("\x00", "\\x00") if "\x00" in value else value
    if isinstance(value, dict):
        return {_storable(k): _storable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_storable(v) for v in value]
    return value


#: For other tables that keep failure text (problems): the same spelling of NUL.
storable = _storable


def log_failures(
    db: Database, failures: Sequence[RowFailure], run_id: str | None, *, at: datetime | None = None
) -> None:
    """Write one entry per failure (in one transaction)."""
    if not failures:
        return
    when = db.ts(at or utcnow())
    rows = [
        (
            run_id,
            _storable(f.buyer_number) or None,
            f.row_number,
            str(f.category),
            _storable(f.message),
            db.json(_storable(f.details)),
            f.operation,
            bool(f.retryable),
            when,
            _storable(subject_of(f.category, f.buyer_number, f.row_number)[1]),
        )
        for f in failures
    ]
    with db.transaction():
        db.executemany(_INSERT, rows)


_INSERT = f"INSERT INTO sync_error_log ({_COLUMNS}) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"


def log_run_failure(
    db: Database,
    *,
    run_id: str,
    subject: str,
    category: str,
    message: str,
    operation: str,
    retryable: bool,
    details: dict[str, Any],
    at: datetime,
) -> None:
    """One entry for a run that could not go on (no buyer, no row)."""
    db.execute(
        _INSERT,
        (
            run_id,
            None,
            None,
            category,
            _storable(message),
            db.json(_storable(details)),
            operation,
            bool(retryable),
            db.ts(at),
            subject,
        ),
    )


def _where(db: Database, q: ErrorQuery) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    params: list[Any] = []
    if q.error_type:
        clauses.append("error_type = %s")
        params.append(q.error_type)
    if q.buyer_number:
        clauses.append("buyer_number = %s")
        params.append(q.buyer_number)
    if q.run_id:
        clauses.append("run_id = %s")
        params.append(q.run_id)
    if q.since:
        clauses.append("created_at >= %s")
        params.append(db.ts(q.since))
    if q.until:
        clauses.append("created_at < %s")
        params.append(db.ts(q.until))
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", params


def query(db: Database, q: ErrorQuery) -> list[ErrorEntry]:
    """Entries matching every filter of ``q``, newest first (property 8)."""
    where, params = _where(db, q)
    limit = ""
    if q.limit is not None:
        limit = " LIMIT %s OFFSET %s"
        params.extend((int(q.limit), int(q.offset)))
    rows = db.query(
        f"SELECT id, {_COLUMNS}, {_RESOLUTION} FROM sync_error_log{where} ORDER BY created_at DESC, id DESC{limit}",
        params,
    )
    return [
        ErrorEntry(
            id=int(r["id"]),
            buyer_number=r["buyer_number"],
            row_number=r["row_number"],
            error_type=r["error_type"],
            error_message=r["error_message"],
            details=db.read_json(r["details"]) or {},
            operation=r["operation"],
            run_id=r["run_id"],
            retryable=bool(r["retryable"]),
            created_at=db.read_ts(r["created_at"]),  # type: ignore[arg-type]
            resolved_at=db.read_ts(r["resolved_at"]),
            resolved_by_run=r["resolved_by_run"],
        )
        for r in rows
    ]


def counts_by_type(db: Database, q: ErrorQuery | None = None) -> dict[str, int]:
    """Number of entries per error type, for the same filters (limit ignored)."""
    where, params = _where(db, q or ErrorQuery())
    rows = db.query(
        f"SELECT error_type, count(*) AS n FROM sync_error_log{where} "
        "GROUP BY error_type ORDER BY error_type",
        params,
    )
    return {r["error_type"]: int(r["n"]) for r in rows}
