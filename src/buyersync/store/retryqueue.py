"""``retry_queue``: retryable failures waiting for another attempt (requirement 4).

An entry's life: a sync queues it ``pending`` (:func:`enqueue`); a retry worker
*claims* due entries (:func:`claim`) — status ``processing``, ``attempt_count`` + 1,
its own name in ``claimed_by`` and a lease — then, after the attempt, settles each
one (:func:`settle`): removed (written, gone from the sheet, or no longer
retryable), back to ``pending`` at a later time, or ``permanently_failed``. Every
settled attempt leaves a row in ``retry_attempts``, so a successful retry stays
visible after its entry is gone.

Concurrency: on PostgreSQL the claim selects ``FOR UPDATE SKIP LOCKED`` inside a
short transaction, so concurrent workers take disjoint entries; on SQLite the claim
is one ``BEGIN IMMEDIATE`` transaction (one writer at a time). Counting the attempt
at claim time means a worker that dies mid-attempt has still used it: when its lease
runs out the entry is due again, and an entry can never be attempted more than the
maximum by crashing. Settling only touches entries still claimed by the same
worker, so a worker whose lease was taken over cannot overwrite the new owner.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from buyersync.records import RowFailure
from buyersync.rules.backoff import Verdict
from buyersync.store.db import Database
from buyersync.store.keyset import key_table


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


_ENTRY_COLUMNS = (
    "id, buyer_number, row_number, status, attempt_count, max_attempts, next_retry_at, "
    "error_type, last_error, error_info, run_id, created_at, updated_at, claimed_by, "
    "lease_expires_at"
)

# Which entries a claim may take. Pending ones when due (or any time with --all);
# processing ones whose worker's lease ran out, unless that used their last attempt;
# permanently failed ones only when a person asks; optionally one buyer only.
_CLAIMABLE = (
    "SELECT "
    + _ENTRY_COLUMNS
    + """
    FROM retry_queue
    WHERE (
        (status = 'pending' AND (%(any_time)s = 1 OR next_retry_at <= %(now)s))
        OR (status = 'processing' AND lease_expires_at <= %(now)s
            AND (attempt_count < max_attempts OR %(permanent)s = 1))
        OR (status = 'permanently_failed' AND %(permanent)s = 1)
    )
    AND (%(buyer)s = '' OR buyer_number = %(buyer)s)
    ORDER BY next_retry_at, id
    LIMIT %(limit)s
"""
)
_CLAIM_ONE = """
    UPDATE retry_queue SET status = 'processing', attempt_count = attempt_count + 1,
        claimed_by = %s, lease_expires_at = %s, updated_at = %s
    WHERE id = %s
"""
_DELETE_CLAIMED = """
    DELETE FROM retry_queue
    WHERE buyer_number = %s AND status = 'processing' AND claimed_by = %s
"""
_RESCHEDULE = """
    UPDATE retry_queue SET status = %s, next_retry_at = coalesce(%s, next_retry_at),
        error_type = coalesce(%s, error_type), last_error = coalesce(%s, last_error),
        error_info = coalesce(%s, error_info), run_id = coalesce(%s, run_id),
        max_attempts = coalesce(%s, max_attempts), attempt_count = attempt_count - %s,
        claimed_by = NULL, lease_expires_at = NULL, updated_at = %s
    WHERE buyer_number = %s AND status = 'processing' AND claimed_by = %s
"""
_INSERT_ATTEMPT = """
    INSERT INTO retry_attempts (buyer_number, attempt, outcome, manual, run_id, worker,
        error_type, message, next_retry_at, created_at)
    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
"""
_ATTEMPT_COLUMNS = (
    "buyer_number, attempt, outcome, manual, run_id, worker, error_type, message, "
    "next_retry_at, created_at"
)


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
        (
            f.buyer_number,
            f.row_number,
            str(QueueStatus.PENDING),
            max_attempts,
            db.ts(next_retry_at),
            str(f.category),
            f.message,
            db.json(f.details),
            run_id,
            db.ts(now),
            db.ts(now),
        )
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


def _entry(db: Database, r: dict[str, Any], prior: str | None = None) -> QueueEntry:
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


def claim(
    db: Database,
    *,
    worker: str,
    now: datetime,
    lease_until: datetime,
    limit: int,
    any_time: bool = False,
    permanent: bool = False,
    buyer_number: str | None = None,
) -> list[QueueEntry]:
    """Take up to ``limit`` claimable entries for ``worker``; count the attempt now.

    Due pending entries (any pending entry with ``any_time``), entries whose worker's
    lease ran out, and — only with ``permanent`` — permanently failed ones;
    ``buyer_number`` restricts the claim to that buyer. Entries another worker holds
    are skipped, never waited for. Returned entries show the claimed state, with
    ``prior_status`` the status they had before.
    """
    params = {
        "now": db.ts(now),
        "any_time": int(any_time),
        "permanent": int(permanent),
        "buyer": buyer_number or "",
        "limit": int(limit),
    }
    select = _CLAIMABLE + db.sql.claim_lock
    with db.transaction():
        rows = db.query(select, params)
        if rows:
            db.executemany(
                _CLAIM_ONE, [(worker, db.ts(lease_until), db.ts(now), r["id"]) for r in rows]
            )
    return [
        dataclasses.replace(
            _entry(db, r, r["status"]),
            status=QueueStatus.PROCESSING,
            attempt_count=int(r["attempt_count"]) + 1,
            claimed_by=worker,
            lease_expires_at=lease_until,
            updated_at=now,
        )
        for r in rows
    ]


def settle(db: Database, settlements: Sequence[Settlement], *, worker: str, now: datetime) -> int:
    """Apply the outcome of each attempt and record it in ``retry_attempts``.

    Removing verdicts delete the entry; RESCHEDULED returns it to ``pending`` at
    ``next_retry_at``; PERMANENTLY_FAILED parks it; RELEASED gives it back untouched
    (status as before the claim, the attempt not counted). Only entries still claimed
    by ``worker`` change; returns how many did (fewer means a lease was lost).
    """
    if not settlements:
        return 0
    changed = 0
    attempts = []
    with db.transaction():
        for s in settlements:
            if s.verdict in (Verdict.SUCCEEDED, Verdict.GONE, Verdict.NOT_RETRYABLE):
                n = db.execute(_DELETE_CLAIMED, (s.buyer_number, worker))
            else:
                status = {
                    Verdict.RESCHEDULED: QueueStatus.PENDING,
                    Verdict.PERMANENTLY_FAILED: QueueStatus.PERMANENTLY_FAILED,
                }.get(s.verdict, s.prior_status)
                released = s.verdict is Verdict.RELEASED
                n = db.execute(
                    _RESCHEDULE,
                    (
                        str(status),
                        db.ts(s.next_retry_at),
                        s.error_type,
                        s.message if not released else None,
                        db.json(s.details) if s.details and not released else None,
                        s.run_id if not released else None,
                        s.max_attempts,
                        1 if released else 0,
                        db.ts(now),
                        s.buyer_number,
                        worker,
                    ),
                )
            changed += max(n, 0)
            if n > 0 and s.verdict is not Verdict.RELEASED:
                attempts.append(
                    (
                        s.buyer_number,
                        s.attempt,
                        str(s.verdict),
                        bool(s.manual),
                        s.run_id,
                        worker,
                        s.error_type,
                        s.message,
                        db.ts(s.next_retry_at),
                        db.ts(now),
                    )
                )
        if attempts:
            db.executemany(_INSERT_ATTEMPT, attempts)
    return changed


def expire_stale(db: Database, *, now: datetime) -> list[str]:
    """Park entries whose worker died during their last allowed attempt.

    Such an entry's lease has run out and it has no attempts left, so no claim takes
    it again; it becomes permanently failed (and alerts like any other). Returns the
    buyer numbers.
    """
    with db.transaction():
        rows = db.query(
            "SELECT buyer_number FROM retry_queue WHERE status = 'processing' "
            "AND lease_expires_at <= %s AND attempt_count >= max_attempts",
            (db.ts(now),),
        )
        keys = [r["buyer_number"] for r in rows]
        if keys:
            db.executemany(
                "UPDATE retry_queue SET status = 'permanently_failed', claimed_by = NULL, "
                "lease_expires_at = NULL, updated_at = %s, last_error = %s "
                "WHERE buyer_number = %s AND status = 'processing'",
                [
                    (
                        db.ts(now),
                        "the process retrying it stopped during its last allowed attempt",
                        k,
                    )
                    for k in keys
                ],
            )
    return keys


def mark_permanently_failed(db: Database, buyer_number: str, *, reason: str, now: datetime) -> bool:
    """Park one entry as permanently failed (by hand). Returns whether it existed."""
    n = db.execute(
        "UPDATE retry_queue SET status = 'permanently_failed', last_error = %s, "
        "claimed_by = NULL, lease_expires_at = NULL, updated_at = %s WHERE buyer_number = %s",
        (reason, db.ts(now), buyer_number),
    )
    return n > 0


def get(db: Database, buyer_number: str) -> QueueEntry | None:
    """The entry of one buyer, or None."""
    row = db.query_one(
        "SELECT " + _ENTRY_COLUMNS + " FROM retry_queue WHERE buyer_number = %s", (buyer_number,)
    )
    return _entry(db, row) if row else None


def list_entries(
    db: Database, *, status: QueueStatus | str | None = None, limit: int | None = None
) -> list[QueueEntry]:
    """Entries (optionally of one status), soonest due first; ``limit`` None: all."""
    rows = db.query(
        "SELECT " + _ENTRY_COLUMNS + " FROM retry_queue "
        "WHERE (%(status)s = '' OR status = %(status)s) "
        "ORDER BY next_retry_at, id LIMIT %(limit)s",
        {
            "status": str(status or ""),
            "limit": db.sql.no_limit if limit is None else limit,
        },
    )
    return [_entry(db, r) for r in rows]


def attempts(
    db: Database,
    *,
    buyer_number: str | None = None,
    run_id: str | None = None,
    limit: int | None = None,
) -> list[AttemptRecord]:
    """Settled retry attempts, newest first, optionally of one buyer or one retry run."""
    rows = db.query(
        "SELECT " + _ATTEMPT_COLUMNS + " FROM retry_attempts "
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


def resolve_synced(
    db: Database, synced: Iterable[str], *, run_id: str | None, now: datetime
) -> list[str]:
    """Remove the queue entries of buyers a sync has just written (retried or not).

    A full sync that lands a queued buyer is a successful retry: the entry is deleted
    and the success recorded in ``retry_attempts`` (worker ``sync``). Entries a retry
    worker holds right now (``processing``) are left to that worker. Set-based: the
    keys are loaded once and each table is touched by one statement, however many
    buyers were written. Returns the buyer numbers resolved.
    """
    if not db.query_value(
        "SELECT count(*) AS n FROM retry_queue WHERE status <> %s", (str(QueueStatus.PROCESSING),)
    ):
        return []
    with key_table(db, synced) as table, db.transaction():
        # DELETE … RETURNING says exactly which entries went: one a retry worker claimed
        # meanwhile is 'processing' and stays with that worker.
        rows = db.query(
            "DELETE FROM retry_queue WHERE status <> %s "
            f"AND buyer_number IN (SELECT k FROM {table}) RETURNING buyer_number, attempt_count",
            (str(QueueStatus.PROCESSING),),
        )
        if rows:
            # COPY where the database has it: one round trip for any number of attempts.
            db.bulk_load(
                "retry_attempts",
                [c.strip() for c in _ATTEMPT_COLUMNS.split(",")],
                (
                    (
                        r["buyer_number"],
                        int(r["attempt_count"] or 0),
                        str(Verdict.SUCCEEDED),
                        False,
                        run_id,
                        "sync",
                        None,
                        "written by a sync",
                        None,
                        db.ts(now),
                    )
                    for r in rows
                ),
            )
    return sorted(r["buyer_number"] for r in rows)
