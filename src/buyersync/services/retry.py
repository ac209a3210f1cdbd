"""The retry queue service (requirement 4): re-try retryable failures with backoff.

:class:`RetryManager` is the seed's RetryManager. A *pass* claims a chunk of due
entries (:func:`buyersync.store.retryqueue.claim`: disjoint between concurrent
workers, the attempt counted at claim time), re-reads the sheet **once** and runs
the sync engine for just those buyers (``operation="retry"``, no sync lock, failures
logged to ``sync_error_log`` but not queued again by the engine), then settles each
entry from the engine's report with :func:`buyersync.rules.backoff.decide`:

- written → the entry is removed; the attempt is recorded in ``retry_attempts``
  (``succeeded``) and logged, and the engine recorded a ``sync_runs`` row;
- gone from the sheet → removed, recorded as ``gone_from_sheet``;
- failed for a reason retrying cannot fix (the sheet was edited into bad data) →
  removed (requirement 4.5), the reason is in the error log;
- failed retryably → back to ``pending`` at the next backoff time, or
  ``permanently_failed`` once the attempts reach the maximum (the monitor alerts).

If the pass cannot run at all (the sheet is unreadable, the database went away
before the engine wrote anything), the claimed entries are released untouched and
the error is raised: an outage of the sheet does not use up attempts.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import random
import socket
import uuid
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any

from buyersync import wiring
from buyersync.errors import ConfigError, LockHeld, StoreError
from buyersync.records import RowFailure
from buyersync.rules import backoff
from buyersync.rules.backoff import BackoffPolicy, Decision, Verdict
from buyersync.rules.categories import is_retryable
from buyersync.rules.keys import DEFAULT_KEY_CASE, key_fold
from buyersync.rules.normalize import normalize_key
from buyersync.rules.problems import is_run_subject
from buyersync.rules.typed import ParseOptions
from buyersync.services.retryreport import EntryResult as EntryResult
from buyersync.services.retryreport import RetryReport as RetryReport
from buyersync.services.retryreport import log_result as _log_result
from buyersync.services.retryreport import resumed_note as _resumed_note
from buyersync.services.retryreport import verdict_note as _note
from buyersync.settings import Settings, parse_options
from buyersync.sources.base import Source
from buyersync.store import buyers, retryqueue
from buyersync.store.db import Database, utcnow
from buyersync.store.migrations import ensure_schema
from buyersync.store.retryqueue import QueueEntry, QueueStatus, Settlement
from buyersync.store.sql import SQL

log = logging.getLogger(__name__)

#: Entries claimed (and synced from one read of the sheet) per pass.
DEFAULT_CLAIM_SIZE = 500
#: How long a claim is exclusive; a worker that dies releases its entries after this.
DEFAULT_LEASE_SECONDS = 900.0


def worker_name() -> str:
    """``host:pid:random`` — unique per manager, readable in ``claimed_by``."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class RetryManager:
    """Queues retryable failures and retries them from the sheet with backoff.

    ``source`` is the sheet the buyers are re-read from (may be None when only
    queueing or marking). ``rand`` and ``clock`` are injected for tests.
    """

    def __init__(
        self,
        db: Database,
        source: Source | None,
        *,
        policy: BackoffPolicy | None = None,
        key_column: str = "buyer_number",
        mapping: dict[str, str] | None = None,
        batch_size: int = 100,
        claim_size: int = DEFAULT_CLAIM_SIZE,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        worker: str | None = None,
        rand: backoff.Random = random.random,
        clock: Callable[[], datetime] = utcnow,
        parse_options: ParseOptions | None = None,
        key_case: str = DEFAULT_KEY_CASE,
    ) -> None:
        if claim_size < 1:
            raise ConfigError("the claim size must be at least 1")
        self.db = db
        self.source = source
        self.policy = policy or BackoffPolicy()
        self.key_column = key_column
        self.key_case = key_case
        #: How buyer numbers compare (rules.keys): a queued b12 is retried from row B12.
        self.fold = key_fold(key_case)
        self.mapping = dict(mapping or {})
        self.batch_size = batch_size
        self.parse_options = parse_options
        self.claim_size = claim_size
        self.lease_seconds = lease_seconds
        self.worker = worker or worker_name()
        self.rand = rand
        self.clock = clock

    # -- the seed's four operations ------------------------------------------
    def calculate_next_retry_time(
        self, attempts_made: int, now: datetime | None = None
    ) -> datetime:
        """When the next retry is due after ``attempts_made`` failed retries (0: none yet)."""
        return backoff.next_retry_at(now or self.clock(), attempts_made + 1, self.policy, self.rand)

    def add_to_retry_queue(
        self, failures: Sequence[RowFailure], *, run_id: str | None = None
    ) -> int:
        """Queue the retryable failures (property 9); others are never queued (property 12).

        The one way into the queue: the sync engine (``sync``, ``sync-missing``, the
        scheduled sync) queues its failures here. Retryable is decided from the
        category alone (``rules.categories``). Returns the number of entries queued
        or refreshed.
        """
        ensure_schema(self.db)
        now = self.clock()
        chosen = [
            dataclasses.replace(f, retryable=True) for f in failures if is_retryable(f.category)
        ]
        return retryqueue.enqueue(
            self.db,
            chosen,
            run_id=run_id,
            now=now,
            next_retry_at=self.calculate_next_retry_time(0, now),
            max_attempts=self.policy.max_attempts,
        )

    def mark_as_permanently_failed(self, buyer_number: str, reason: str) -> bool:
        """Stop retrying one buyer automatically. Returns whether it was queued."""
        key = self._queued_spelling(normalize_key(buyer_number))
        done = retryqueue.mark_permanently_failed(self.db, key, reason=reason, now=self.clock())
        if done:
            log.warning("buyer %s marked permanently failed: %s", key, reason)
        return done

    def process_queue(
        self, *, any_time: bool = False, permanent: bool = False, limit: int | None = None
    ) -> RetryReport:
        """Retry every due entry, a chunk per pass, until none is due (or ``limit`` done).

        ``any_time`` ignores ``next_retry_at`` (``--all``); ``permanent`` also retries
        permanently failed entries (by hand). Raises the engine's run-level errors
        (sheet unreadable, database unreachable) after releasing the claimed entries.
        """
        ensure_schema(self.db)
        report = RetryReport()
        report.expired = retryqueue.expire_stale(self.db, now=self.clock())
        for key in report.expired:
            log.warning(
                "buyer %s permanently failed: the process retrying it stopped during its "
                "last allowed attempt; retry by hand: buyersync retry --buyer %s",
                key,
                key,
            )
        seen: set[str] = set()
        while limit is None or len(report.results) < limit:
            size = (
                self.claim_size
                if limit is None
                else min(self.claim_size, limit - len(report.results))
            )
            now = self.clock()
            entries = retryqueue.claim(
                self.db,
                worker=self.worker,
                now=now,
                lease_until=self._lease(now),
                limit=size,
                any_time=any_time,
                permanent=permanent,
            )
            # With --all a rescheduled entry is due again at once: one attempt per run.
            fresh = [e for e in entries if e.buyer_number not in seen]
            if len(fresh) < len(entries):
                self._release([e for e in entries if e.buyer_number in seen])
            if not fresh:
                break
            seen.update(e.buyer_number for e in fresh)
            self._attempt(fresh, report, manual=False)
        report.queue = retryqueue.depth(self.db)
        return report

    def retry_buyer(self, buyer_number: str) -> RetryReport:
        """Retry one buyer now, whatever its status — even permanently failed (4.4)."""
        ensure_schema(self.db)
        key = self._queued_spelling(normalize_key(buyer_number))
        report = RetryReport()
        now = self.clock()
        entries = retryqueue.claim(
            self.db,
            worker=self.worker,
            now=now,
            lease_until=self._lease(now),
            limit=1,
            any_time=True,
            permanent=True,
            buyer_number=key,
        )
        if entries:
            self._attempt(entries, report, manual=True)
        else:
            entry = retryqueue.get(self.db, key)
            if entry is None:
                report.not_in_queue.append(key)
            else:
                until = entry.lease_expires_at
                report.warnings.append(
                    f"buyer {key} is being retried by {entry.claimed_by} right now"
                    + (f" (until {until:%Y-%m-%d %H:%M:%S} UTC)" if until else "")
                    + "; try again later"
                )
        report.queue = retryqueue.depth(self.db)
        return report

    def _queued_spelling(self, key: str) -> str:
        """The retry queue's spelling of a buyer number given by hand (``--buyer b12``
        finds the queued ``B12``), or ``key`` itself."""
        if self.fold is None or retryqueue.get(self.db, key) is not None:
            return key
        fold = SQL(self.db.sql.key_fold)
        rows = self.db.query(
            SQL("SELECT buyer_number AS k FROM retry_queue WHERE {} = {} ORDER BY 1").format(
                fold.format(SQL("buyer_number")), SQL("%s")
            ),
            (self.fold(key),),
        )
        return str(rows[0]["k"]) if rows else key

    # -- one pass ---------------------------------------------------------------
    def _resume(self, entries: Sequence[QueueEntry], report: RetryReport, *, manual: bool) -> None:
        """Finish runs that stopped part way: one full sync (it takes the sync lock,
        re-reads the sheet and writes every row; rows written before are unchanged)."""
        from buyersync.services.sync import SyncEngine

        assert self.source is not None
        engine = SyncEngine(
            self.db,
            self.source,
            key_column=self.key_column,
            mapping=self.mapping,
            batch_size=self.batch_size,
            retry=self.policy,
            operation="sync",
            key_case=self.key_case,
        )
        try:
            sync = engine.run()
        except LockHeld:
            self._release(entries)
            report.warnings.append(
                "a sync is running now; it writes the rows the stopped run left, so the "
                "resume entry waits"
            )
            return
        except BaseException:
            self._release(entries)
            raise
        report.run_ids.append(sync.run_id)
        report.warnings.extend(sync.warnings)
        done = sync.not_written == 0
        now = self.clock()
        settlements = []
        for e in entries:
            decision = backoff.decide(
                attempts_made=e.attempt_count,
                succeeded=done,
                gone=False,
                retryable=True,
                now=now,
                policy=self.policy,
                rand=self.rand,
            )
            message = _resumed_note(sync)
            report.results.append(
                EntryResult(
                    buyer_number=e.buyer_number,
                    row_number=None,
                    attempt=e.attempt_count,
                    verdict=decision.verdict,
                    manual=manual,
                    error_type=None if done else e.error_type,
                    message=message,
                    next_retry_at=decision.retry_at,
                )
            )
            settlements.append(
                Settlement(
                    e.buyer_number,
                    decision.verdict,
                    e.attempt_count,
                    manual=manual,
                    run_id=sync.run_id,
                    error_type=None if done else e.error_type,
                    message=message,
                    next_retry_at=decision.retry_at,
                    max_attempts=self.policy.max_attempts,
                    prior_status=e.prior_status or QueueStatus.PENDING,
                )
            )
        retryqueue.settle(self.db, settlements, worker=self.worker, now=now)

    def _lease(self, now: datetime) -> datetime:
        return now + timedelta(seconds=self.lease_seconds)

    def _release(self, entries: Sequence[QueueEntry]) -> None:
        settlements = [
            Settlement(
                e.buyer_number,
                Verdict.RELEASED,
                e.attempt_count,
                prior_status=e.prior_status or QueueStatus.PENDING,
            )
            for e in entries
        ]
        try:
            retryqueue.settle(self.db, settlements, worker=self.worker, now=self.clock())
        except StoreError:
            # The database is gone: the leases run out and the entries become due again.
            log.warning(
                "could not release %d claimed retry entries; they become due again when "
                "their lease ends",
                len(entries),
                exc_info=True,
            )

    def _attempt(self, entries: Sequence[QueueEntry], report: RetryReport, *, manual: bool) -> None:
        """Sync the claimed buyers from one read of the sheet and settle every entry."""
        # Imported here: the engine queues its failures through this manager, so
        # services.sync imports this module.
        from buyersync.services.sync import SyncEngine

        if self.source is None:
            self._release(entries)
            raise ConfigError(
                "the retry queue has due entries but no sheet was given",
                hint="pass --source or set BUYERSYNC_SOURCE",
            )
        resumes = [e for e in entries if is_run_subject(e.buyer_number)]
        if resumes:
            self._resume(resumes, report, manual=manual)
            entries = [e for e in entries if not is_run_subject(e.buyer_number)]
            if not entries:
                return
        p = self.policy
        engine = SyncEngine(
            self.db,
            self.source,
            key_column=self.key_column,
            mapping=self.mapping,
            batch_size=self.batch_size,
            retry=p,
            select_keys={e.buyer_number for e in entries},
            operation="retry",
            lock_name=None,
            queue_failures=False,
            parse_options=self.parse_options,
            key_case=self.key_case,
        )
        # Concurrent passes never share the sync lock, but two of them creating the buyers
        # table at once would collide (42P07): the first creation is serialized.
        guard = (
            self.db.lock("retry-create-buyers", wait_seconds=self.lease_seconds)
            if not self.db.table_exists(buyers.TABLE)
            else contextlib.nullcontext()
        )
        try:
            with guard:
                sync = engine.run()
        except BaseException:
            self._release(entries)
            raise
        report.run_ids.append(sync.run_id)
        report.warnings.extend(sync.warnings)
        # The sheet may spell a queued buyer otherwise now (b12 for B12): one comparison.
        same = self.fold or str
        synced = {same(k) for k in sync.synced_keys}
        gone = {same(k) for k in sync.not_found}
        failures: dict[str, list[RowFailure]] = {}
        for f in sync.failures:
            if f.buyer_number:
                failures.setdefault(same(f.buyer_number), []).append(f)
        now = self.clock()
        settlements: list[Settlement] = []
        for e in entries:
            by_hand = manual or e.prior_status is QueueStatus.PERMANENTLY_FAILED
            key = same(e.buyer_number)
            fails = failures.get(key, [])
            if key not in synced | gone and not fails:
                # The engine neither wrote nor failed it (should not happen): give it back.
                log.warning(
                    "retry run %s did not account for buyer %s; released",
                    sync.run_id,
                    e.buyer_number,
                )
                decision = Decision(Verdict.RELEASED)
            else:
                decision = backoff.decide(
                    attempts_made=e.attempt_count,
                    succeeded=key in synced,
                    gone=key in gone,
                    retryable=any(is_retryable(f.category) for f in fails),
                    now=now,
                    policy=self.policy,
                    rand=self.rand,
                )
            first = fails[0] if fails else None
            result = EntryResult(
                buyer_number=e.buyer_number,
                row_number=first.row_number if first else e.row_number,
                attempt=e.attempt_count,
                verdict=decision.verdict,
                manual=by_hand,
                error_type=str(first.category) if first else None,
                message=first.message if first else _note(decision.verdict),
                next_retry_at=decision.retry_at,
            )
            report.results.append(result)
            settlements.append(
                Settlement(
                    e.buyer_number,
                    decision.verdict,
                    e.attempt_count,
                    manual=by_hand,
                    run_id=sync.run_id,
                    error_type=result.error_type,
                    message=result.message,
                    details=dict(first.details) if first else {},
                    next_retry_at=decision.retry_at,
                    max_attempts=p.max_attempts,
                    prior_status=e.prior_status or QueueStatus.PENDING,
                )
            )
            _log_result(result, e, sync.run_id)
        changed = retryqueue.settle(self.db, settlements, worker=self.worker, now=now)
        if changed < len(settlements):
            report.warnings.append(
                f"{len(settlements) - changed} retry entries were taken over by another worker "
                "after this one's lease ran out; their outcome here was not recorded "
                "(raise --lease-seconds if attempts take that long)"
            )


def process_due(db: Database, settings: Settings, *, source: Source | None = None) -> RetryReport:
    """One retry run as ``buyersync serve`` schedules it, configured from ``settings``.

    ``settings`` is the resolved :class:`buyersync.settings.Settings` (read at the edge
    by the caller). With no source and nothing due, nothing happens.
    """
    if source is None:
        source = wiring.optional_source(settings)
    return manager_for(db, settings, source).process_queue()


def manager_for(
    db: Database, settings: Settings, source: Source | None, **options: Any
) -> RetryManager:
    """A :class:`RetryManager` with the retry, key and batch settings of ``settings``."""
    s = settings
    return RetryManager(
        db,
        source,
        policy=BackoffPolicy.from_settings(s),
        key_column=s.key_column,
        key_case=s.key_case,
        mapping=dict(s.mapping),
        batch_size=s.batch_size,
        parse_options=parse_options(s),
        **options,
    )
