"""What ``retry_queue`` holds: an entry's status, the entry as read back, and the
settlement of one claimed entry after its attempt (see :mod:`buyersync.store.retryqueue`)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from buyersync.rules.backoff import Verdict
from buyersync.store.db import Database


class QueueStatus(enum.StrEnum):
    """State of a retry_queue entry."""

    PENDING = "pending"  # waiting for next_retry_at
    PROCESSING = "processing"  # taken by a retry worker right now (until lease_expires_at)
    PERMANENTLY_FAILED = "permanently_failed"  # reached max attempts; only a person retries it


@dataclass(frozen=True)
class QueueEntry:
    """A ``retry_queue`` row as read back (``prior_status``: its status before a claim)."""

    id: int
    buyer_number: str
    row_number: int | None
    status: QueueStatus
    attempt_count: int
    max_attempts: int
    next_retry_at: datetime
    error_type: str
    last_error: str | None
    error_info: dict[str, Any]
    run_id: str | None
    created_at: datetime
    updated_at: datetime
    claimed_by: str | None = None
    lease_expires_at: datetime | None = None
    prior_status: QueueStatus | None = None

    def to_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "buyer_number": self.buyer_number,
            "row_number": self.row_number,
            "status": str(self.status),
            "attempt_count": self.attempt_count,
            "max_attempts": self.max_attempts,
            "next_retry_at": iso(self.next_retry_at),
            "error_type": self.error_type,
            "last_error": self.last_error,
            "run_id": self.run_id,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "claimed_by": self.claimed_by,
            "lease_expires_at": iso(self.lease_expires_at),
        }


@dataclass(frozen=True)
class Settlement:
    """What to do with one claimed entry after its attempt (see :func:`settle`)."""

    buyer_number: str
    verdict: Verdict
    attempt: int  # the attempt number just made (the entry's attempt_count after the claim)
    manual: bool = False  # retried by hand
    run_id: str | None = None  # the retry's sync run
    error_type: str | None = None  # for failures: the category of this attempt
    message: str | None = None  # for failures: the reason; for others: what happened
    details: dict[str, Any] = field(default_factory=dict)
    next_retry_at: datetime | None = None  # for RESCHEDULED
    max_attempts: int | None = None  # the policy in force (stored on the entry)
    prior_status: QueueStatus = QueueStatus.PENDING  # for RELEASED: the status to return to


ENTRY_COLUMNS = (
    "id, buyer_number, row_number, status, attempt_count, max_attempts, next_retry_at, "
    "error_type, last_error, error_info, run_id, created_at, updated_at, claimed_by, "
    "lease_expires_at"
)


def read_entry(db: Database, r: dict[str, Any], prior: str | None = None) -> QueueEntry:
    return QueueEntry(
        id=int(r["id"]),
        buyer_number=r["buyer_number"],
        row_number=r["row_number"],
        status=QueueStatus(r["status"]),
        attempt_count=int(r["attempt_count"]),
        max_attempts=int(r["max_attempts"]),
        next_retry_at=db.read_ts(r["next_retry_at"]),  # type: ignore[arg-type]
        error_type=r["error_type"],
        last_error=r["last_error"],
        error_info=db.read_json(r["error_info"]) or {},
        run_id=r["run_id"],
        created_at=db.read_ts(r["created_at"]),  # type: ignore[arg-type]
        updated_at=db.read_ts(r["updated_at"]),  # type: ignore[arg-type]
        claimed_by=r.get("claimed_by"),
        lease_expires_at=db.read_ts(r.get("lease_expires_at")),
        prior_status=QueueStatus(prior) if prior else None,
    )
