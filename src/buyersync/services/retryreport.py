"""What a retry run did: one :class:`EntryResult` per queue entry, the :class:`RetryReport`.

Also how each result is worded in the report and the log. Built by
:class:`buyersync.services.retry.RetryManager`; every name is importable from
:mod:`buyersync.services.retry` too.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from buyersync.rules.backoff import Verdict
from buyersync.store.retryqueue import QueueEntry

#: The retry service's log: these lines are its own.
log = logging.getLogger("buyersync.services.retry")


@dataclass(frozen=True)
class EntryResult:
    """What one attempt did to one queue entry."""

    buyer_number: str
    row_number: int | None
    attempt: int  # the attempt number just made (1 = first retry)
    verdict: Verdict
    manual: bool = False  # retried by hand (--buyer, --permanent)
    error_type: str | None = None
    message: str | None = None
    next_retry_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "buyer_number": self.buyer_number,
            "row_number": self.row_number,
            "attempt": self.attempt,
            "outcome": str(self.verdict),
            "manual": self.manual,
            "error_type": self.error_type,
            "message": self.message,
            "next_retry_at": self.next_retry_at.isoformat() if self.next_retry_at else None,
        }


@dataclass
class RetryReport:
    """What a retry run did. ``to_json`` is the contract's ``retry --json`` document."""

    results: list[EntryResult] = field(default_factory=list)
    run_ids: list[str] = field(default_factory=list)
    #: Entries whose worker died during their last allowed attempt, parked now.
    expired: list[str] = field(default_factory=list)
    #: ``--buyer`` named a buyer with no queue entry.
    not_in_queue: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    queue: dict[str, int] = field(default_factory=dict)

    def count(self, *verdicts: Verdict) -> int:
        return sum(1 for r in self.results if r.verdict in verdicts)

    @property
    def processed(self) -> int:
        """Entries attempted (released ones were not)."""
        return len(self.results) - self.count(Verdict.RELEASED)

    @property
    def succeeded(self) -> int:
        return self.count(Verdict.SUCCEEDED)

    @property
    def failed(self) -> int:
        """Attempts that did not write the buyer (rescheduled, permanent, not retryable)."""
        return self.count(Verdict.RESCHEDULED, Verdict.PERMANENTLY_FAILED, Verdict.NOT_RETRYABLE)

    @property
    def permanently_failed(self) -> int:
        """Entries that are permanently failed after this run's attempts."""
        return self.count(Verdict.PERMANENTLY_FAILED) + len(self.expired)

    @property
    def ok(self) -> bool:
        return (
            self.failed == 0
            and not self.expired
            and not self.not_in_queue
            and not self.count(Verdict.RELEASED)
        )

    def to_json(self, *, max_results: int = 1000) -> dict[str, Any]:
        return {
            "processed": self.processed,
            "succeeded": self.succeeded,
            "failed": self.failed,
            "permanently_failed": self.permanently_failed,
            "rescheduled": self.count(Verdict.RESCHEDULED),
            "gone_from_sheet": self.count(Verdict.GONE),
            "not_retryable": self.count(Verdict.NOT_RETRYABLE),
            "released": self.count(Verdict.RELEASED),
            "expired_leases": self.expired,
            "not_in_queue": self.not_in_queue,
            "run_ids": self.run_ids,
            "results": [r.to_json() for r in self.results[:max_results]],
            "queue": self.queue,
            "warnings": self.warnings,
        }


def resumed_note(sync: Any) -> str:
    if sync.not_written:
        return f"the resumed sync stopped again: {sync.message}"
    return f"resumed: a full sync wrote the rows ({sync.inserted} inserted, {sync.updated} updated)"


def verdict_note(verdict: Verdict) -> str | None:
    return {
        Verdict.SUCCEEDED: "written to buyers; removed from the retry queue",
        Verdict.GONE: "no longer in the sheet; removed from the retry queue",
        Verdict.RELEASED: "not attempted; back in the queue",
    }.get(verdict)


def log_result(r: EntryResult, e: QueueEntry, run_id: str) -> None:
    extra = {"run_id": run_id, "buyer_number": r.buyer_number, "row_number": r.row_number}
    if r.verdict is Verdict.SUCCEEDED:
        log.info(
            "retry of buyer %s succeeded on attempt %d; removed from the retry queue",
            r.buyer_number,
            r.attempt,
            extra=extra,
        )
    elif r.verdict is Verdict.GONE:
        log.info(
            "buyer %s is no longer in the sheet; removed from the retry queue",
            r.buyer_number,
            extra=extra,
        )
    elif r.verdict is Verdict.NOT_RETRYABLE:
        log.warning(
            "buyer %s (row %s) now fails with %s, which retrying cannot fix; removed from "
            "the retry queue — fix the row, see: buyersync errors --buyer %s",
            r.buyer_number,
            r.row_number,
            r.error_type,
            r.buyer_number,
            extra=extra,
        )
    elif r.verdict is Verdict.PERMANENTLY_FAILED:
        log.warning(
            "buyer %s (row %s) permanently failed after %d attempts (%s); retry by hand: "
            "buyersync retry --buyer %s",
            r.buyer_number,
            r.row_number,
            r.attempt,
            r.error_type,
            r.buyer_number,
            extra=extra,
        )
    elif r.verdict is Verdict.RESCHEDULED:
        log.info(
            "retry %d of buyer %s failed (%s); next attempt at %s",
            r.attempt,
            r.buyer_number,
            r.error_type,
            r.next_retry_at.isoformat() if r.next_retry_at else "?",
            extra=extra,
        )
