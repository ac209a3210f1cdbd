"""``retry_queue``: retryable failures waiting for another attempt (requirement 4)."""

from __future__ import annotations

import enum
from collections.abc import Sequence
from datetime import datetime

from buyersync.records import RowFailure
from buyersync.store.db import Database


class QueueStatus(enum.StrEnum):
    """State of a retry_queue entry."""

    PENDING = "pending"  # waiting for next_retry_at
    PROCESSING = "processing"  # taken by a retry worker right now
    PERMANENTLY_FAILED = "permanently_failed"  # reached max attempts; only a person retries it


def enqueue(
    db: Database,
    failures: Sequence[RowFailure],
    *,
    run_id: str | None,
    now: datetime,
    next_retry_at: datetime,
    max_attempts: int,
) -> int:
    """Queue retryable failures (one entry per buyer: a newer failure refreshes it).

    Failures without a buyer number cannot be retried by key and are skipped; they
    stay in the error log. Returns the number of entries queued or refreshed.
    """
    rows = [
        (f.buyer_number, f.row_number, str(QueueStatus.PENDING), max_attempts,
         db.ts(next_retry_at), str(f.category), f.message, db.json(f.details), run_id,
         db.ts(now), db.ts(now))
        for f in failures
        if f.retryable and f.buyer_number
    ]
    if not rows:
        return 0
    with db.transaction():
        db.executemany(
            """
            INSERT INTO retry_queue (buyer_number, row_number, status, max_attempts,
                next_retry_at, error_type, last_error, error_info, run_id, created_at, updated_at)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
            ON CONFLICT (buyer_number) DO UPDATE SET
                row_number = excluded.row_number,
                error_type = excluded.error_type,
                last_error = excluded.last_error,
                error_info = excluded.error_info,
                run_id = excluded.run_id,
                updated_at = excluded.updated_at
            """,
            rows,
        )
    return len(rows)


def depth(db: Database) -> dict[str, int]:
    """Number of entries per status."""
    rows = db.query("SELECT status, count(*) AS n FROM retry_queue GROUP BY status")
    return {r["status"]: int(r["n"]) for r in rows}
