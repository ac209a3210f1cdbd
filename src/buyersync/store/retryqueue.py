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
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from buyersync.records import RowFailure
from buyersync.rules.backoff import Verdict
from buyersync.store.db import Database
from buyersync.store.keyset import key_table
from buyersync.store.retryattempts import (
    ATTEMPT_COLUMNS,
    AttemptRecord,
    attempt_row,
    attempts,
    record,
)
from buyersync.store.retryentries import (
    ENTRY_COLUMNS,
    QueueEntry,
    QueueStatus,
    Settlement,
    read_entry,
)

__all__ = [
    "AttemptRecord",
    "QueueEntry",
    "QueueStatus",
    "Settlement",
    "attempts",
    "claim",
    "depth",
    "enqueue",
    "expire_stale",
    "get",
    "list_entries",
    "mark_permanently_failed",
    "resolve_synced",
    "settle",
]


# Which entries a claim may take. Pending ones when due (or any time with --all);
# processing ones whose worker's lease ran out, unless that used their last attempt;
# permanently failed ones only when a person asks; optionally one buyer only.
_CLAIMABLE = (
    "SELECT "
    + ENTRY_COLUMNS
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
            read_entry(db, r, r["status"]),
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
    settled: list[tuple[Any, ...]] = []
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
                settled.append(
                    attempt_row(
                        db,
                        buyer_number=s.buyer_number,
                        attempt=s.attempt,
                        outcome=str(s.verdict),
                        manual=bool(s.manual),
                        run_id=s.run_id,
                        worker=worker,
                        error_type=s.error_type,
                        message=s.message,
                        next_retry_at=s.next_retry_at,
                        created_at=now,
                    )
                )
        if settled:
            record(db, settled)
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
        "SELECT " + ENTRY_COLUMNS + " FROM retry_queue WHERE buyer_number = %s", (buyer_number,)
    )
    return read_entry(db, row) if row else None


def list_entries(
    db: Database, *, status: QueueStatus | str | None = None, limit: int | None = None
) -> list[QueueEntry]:
    """Entries (optionally of one status), soonest due first; ``limit`` None: all."""
    rows = db.query(
        "SELECT " + ENTRY_COLUMNS + " FROM retry_queue "
        "WHERE (%(status)s = '' OR status = %(status)s) "
        "ORDER BY next_retry_at, id LIMIT %(limit)s",
        {
            "status": str(status or ""),
            "limit": db.sql.no_limit if limit is None else limit,
        },
    )
    return [read_entry(db, r) for r in rows]


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
                [c.strip() for c in ATTEMPT_COLUMNS.split(",")],
                (
                    attempt_row(
                        db,
                        buyer_number=r["buyer_number"],
                        attempt=int(r["attempt_count"] or 0),
                        outcome=str(Verdict.SUCCEEDED),
                        manual=False,
                        run_id=run_id,
                        worker="sync",
                        error_type=None,
                        message="written by a sync",
                        next_retry_at=None,
                        created_at=now,
                    )
                    for r in rows
                ),
            )
    return sorted(r["buyer_number"] for r in rows)
