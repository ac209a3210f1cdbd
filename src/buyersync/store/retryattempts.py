"""``retry_attempts``: one row per settled retry attempt, so a successful retry stays
visible after its queue entry is gone."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from buyersync.store.db import Database

ATTEMPT_COLUMNS = (
    "buyer_number, attempt, outcome, manual, run_id, worker, error_type, message, "
    "next_retry_at, created_at"
)


@dataclass(frozen=True)
class AttemptRecord:
    """A ``retry_attempts`` row: one settled retry attempt."""

    buyer_number: str
    attempt: int
    outcome: str
    manual: bool
    run_id: str | None
    worker: str | None
    error_type: str | None
    message: str | None
    next_retry_at: datetime | None
    created_at: datetime

    def to_json(self) -> dict[str, Any]:
        return {
            "buyer_number": self.buyer_number,
            "attempt": self.attempt,
            "outcome": self.outcome,
            "manual": self.manual,
            "run_id": self.run_id,
            "worker": self.worker,
            "error_type": self.error_type,
            "message": self.message,
            "next_retry_at": self.next_retry_at.isoformat() if self.next_retry_at else None,
            "created_at": self.created_at.isoformat(),
        }


def attempt_row(
    db: Database,
    *,
    buyer_number: str,
    attempt: int,
    outcome: str,
    manual: bool,
    run_id: str | None,
    worker: str,
    error_type: str | None,
    message: str | None,
    next_retry_at: datetime | None,
    created_at: datetime,
) -> tuple[Any, ...]:
    """One ``retry_attempts`` row as the database takes it, in :data:`ATTEMPT_COLUMNS` order."""
    return (
        buyer_number,
        attempt,
        outcome,
        manual,
        run_id,
        worker,
        error_type,
        message,
        db.ts(next_retry_at),
        db.ts(created_at),
    )


def record(db: Database, rows: list[tuple[Any, ...]]) -> None:
    """Insert attempt rows made by :func:`attempt_row`."""
    db.executemany(
        "INSERT INTO retry_attempts (" + ATTEMPT_COLUMNS + ") "
        "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
        rows,
    )


def attempts(
    db: Database,
    *,
    buyer_number: str | None = None,
    run_id: str | None = None,
    limit: int | None = None,
) -> list[AttemptRecord]:
    """Settled retry attempts, newest first, optionally of one buyer or one retry run."""
    rows = db.query(
        "SELECT " + ATTEMPT_COLUMNS + " FROM retry_attempts "
        "WHERE (%(buyer)s = '' OR buyer_number = %(buyer)s) "
        "AND (%(run)s = '' OR run_id = %(run)s) "
        "ORDER BY created_at DESC, id DESC LIMIT %(limit)s",
        {
            "buyer": buyer_number or "",
            "run": run_id or "",
            "limit": db.sql.no_limit if limit is None else limit,
        },
    )
    return [
        AttemptRecord(
            buyer_number=r["buyer_number"],
            attempt=int(r["attempt"]),
            outcome=r["outcome"],
            manual=bool(r["manual"]),
            run_id=r["run_id"],
            worker=r["worker"],
            error_type=r["error_type"],
            message=r["message"],
            next_retry_at=db.read_ts(r["next_retry_at"]),
            created_at=db.read_ts(r["created_at"]),  # type: ignore[arg-type]
        )
        for r in rows
    ]
