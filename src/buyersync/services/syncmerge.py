"""Merging staged rows into ``buyers``: slices, retries, bisection, row locks, giving up.

:class:`MergeSteps` is the part of :class:`buyersync.services.sync.SyncEngine` that
merges: each slice in one transaction, a failing slice split into its batches and a
failing batch bisected until the bad rows are alone, rows another session holds
locked failed alone (and watched while waited for), and a database that went away
recorded as one problem of the run. Every name here is importable from
:mod:`buyersync.services.sync`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from buyersync.errors import (
    ConstraintViolation,
    ErrorCategory,
    LockNotAvailable,
    ResourceExhausted,
    StoreConnectionError,
    StoreError,
    StoreTimeout,
    TransactionConflict,
    ValueTooLong,
)
from buyersync.records import RowFailure
from buyersync.retrying import Retrying, Sleep
from buyersync.rules import batching
from buyersync.rules.backoff import BackoffPolicy
from buyersync.rules.lengths import excess
from buyersync.rules.problems import run_subject
from buyersync.rules.rows import failure
from buyersync.services.retry import RetryManager
from buyersync.services.syncreport import Staged as _Staged
from buyersync.services.syncreport import SyncReport
from buyersync.store import buyers, errorlog, problems
from buyersync.store.db import Database, utcnow

log = logging.getLogger("buyersync.services.sync")


#: progress(rows_done, rows_total) — called once with 0 before the first batch is merged,
#: then after every batch.
Progress = Callable[[int, int], None]


#: Retries of a slice whose merge timed out or lost a race: 0.2 s, then 0.4 s (no jitter:
#: one writer per database).
MERGE_BACKOFF = BackoffPolicy(max_attempts=2, base_seconds=0.2, max_seconds=5.0, jitter=0.0)


#: The lock watch's first look, then how often it repeats while the merge still waits.
LOCK_WATCH_FIRST_SECONDS = 1.0
LOCK_WATCH_EVERY_SECONDS = 10.0


def _describe_sessions(rows: Iterable[Mapping[str, Any]]) -> str:
    """Sessions as an operator finds them: pid, application, client — never a query."""
    return "; ".join(
        f"pid {r['pid']}"
        + (f", application {r['app']!r}" if r.get("app") else "")
        + (f", client {r['client']}" if r.get("client") else "")
        + (f", {r['state']}" if r.get("state") else "")
        + (f" for {r['age']} s" if r.get("age") is not None else "")
        for r in rows
    )


class _RowsLocked(Exception):
    """A merge timed out waiting for rows another session holds (not retried as is)."""

    def __init__(self, error: LockNotAvailable) -> None:
        super().__init__(str(error))
        self.error = error


#: Failures no row caused: the engine stops merging rather than bisect them.
_ABOUT_THE_DATABASE = (StoreConnectionError, StoreTimeout)


class MergeSteps:
    """The engine's merge steps (mixed into ``SyncEngine``, which sets these)."""

    db: Database
    operation: str
    progress: Progress | None
    batch_size: int
    slice_rows: int
    sleep: Sleep
    row_lock_timeout_seconds: float
    queue_failures: bool
    retry: BackoffPolicy
    _merge_failed: set[str]
    _abandoned_at: int | None

    def _merge_all(self, writer: buyers.Writer, staged: _Staged, report: SyncReport) -> None:
        total = len(staged)
        done = 0
        if self.progress:
            # Before the first slice: a caller that stops at batch boundaries (Ctrl-C,
            # a server shutting down) can stop before anything is merged.
            self.progress(0, total)
        for slice_batches in batching.slice_ranges(total, self.batch_size, self.slice_rows):
            lo, hi = slice_batches[0][0], slice_batches[-1][1]
            try:
                try:
                    self._merge_range(writer, lo, hi, report, retries=2)
                except _RowsLocked as locked:
                    self._merge_around_locks(writer, staged, lo, hi, report, locked.error)
            except ResourceExhausted:
                raise  # out of disk or memory: stop the run, retrying cannot help
            except _ABOUT_THE_DATABASE as exc:
                # A lost connection, or a lock wait or statement timeout that outlived
                # the retries, is about the database, not these rows: bisecting would
                # wait it out once per row (hours while another writer holds a SQLite
                # file). Stop: the rows merged so far stay; the rest are the run's
                # not_written rows, with one problem and one resume entry.
                self._abandon_rest(exc, staged, lo, total, report)
                return
            except StoreError as exc:
                log.info(
                    "slice %d-%d failed (%s); isolating the failing rows",
                    lo,
                    hi,
                    exc.category,
                    extra={"run_id": report.run_id},
                )
                for b_lo, b_hi in slice_batches:
                    try:
                        self._isolate(writer, staged, b_lo, b_hi, report)
                    except _ABOUT_THE_DATABASE as lost:
                        self._abandon_rest(lost, staged, b_lo, total, report)
                        return
            for b_lo, b_hi in slice_batches:
                report.batches += 1
                done += b_hi - b_lo
                log.debug(
                    "batch %d: rows %d-%d done",
                    report.batches,
                    b_lo,
                    b_hi,
                    extra={"run_id": report.run_id},
                )
                if self.progress:
                    self.progress(done, total)

    def _merge_range(
        self, writer: buyers.Writer, lo: int, hi: int, report: SyncReport, retries: int = 0
    ) -> None:
        """Merge staged rows ``[lo, hi)``, retrying a timeout or lost race ``retries`` times."""
        retrying = Retrying(
            replace(MERGE_BACKOFF, max_attempts=retries),
            retry_on=(StoreTimeout, TransactionConflict),
            sleep=self.sleep,
        )
        result = retrying.call(lambda: self._merge_once(writer, lo, hi))
        report.inserted += result.inserted
        report.updated += result.updated
        report.changed += result.changed
        report.unchanged += result.unchanged

    def _merge_once(self, writer: buyers.Writer, lo: int, hi: int) -> buyers.MergeResult:
        try:
            return writer.merge(lo, hi, utcnow())
        except LockNotAvailable as exc:
            if self._row_locks:
                # Another session holds some of these rows: find them rather than wait
                # again (retrying or bisecting would wait the timeout out many times).
                raise _RowsLocked(exc) from exc
            raise

    @property
    def _row_locks(self) -> bool:
        """Whether a lock timeout can be pinned on rows (not the whole file)."""
        return self.row_lock_timeout_seconds > 0 and not self.db.sql.locks_whole_file

    def _merge_around_locks(
        self,
        writer: buyers.Writer,
        staged: _Staged,
        lo: int,
        hi: int,
        report: SyncReport,
        exc: StoreTimeout,
    ) -> None:
        """Only the rows another session holds locked fail (retryably, queued); the
        rest of ``[lo, hi)`` is merged as usual. Raises ``exc`` when no buyers row of
        the range is locked (a table lock, say): then the wait is about the database."""
        locked = writer.locked_seqs(lo, hi)
        if not locked:
            raise exc
        holders = self._lock_holders()
        who = f" (held by {holders})" if holders else ""
        log.warning(
            "%d rows are locked by another session%s; they fail and are queued for retry, "
            "the others are written",
            len(locked),
            who,
            extra={"run_id": report.run_id},
        )
        for seq in locked:
            key, row_number = staged.keys[seq], int(staged.rows[seq])
            report.failures.append(
                failure(
                    exc.category,
                    f"row {row_number} (buyer {key}) was not written: another session "
                    f"held its row locked for over {self.row_lock_timeout_seconds:g} s{who}; "
                    "it is queued for retry",
                    row_number,
                    key,
                    {"sqlstate": exc.sqlstate, "locked_by": holders},
                    self.operation,
                )
            )
            self._merge_failed.add(key)
        start = lo
        for seq in [*locked, hi]:
            if start < seq:
                self._isolate(writer, staged, start, seq, report)
            start = seq + 1

    @contextlib.contextmanager
    def _lock_watch(self, report: SyncReport) -> Iterator[None]:
        """While the merge runs, say every few seconds which session it waits for
        (never silent on a lock): a second connection asks who blocks this one."""
        blocking, backend_pid = self.db.sql.blocking_sessions, self.db.sql.backend_pid
        if blocking is None or backend_pid is None or not self._row_locks:
            yield
            return
        try:
            pid = self.db.query_value(backend_pid)
            side = self.db.side_session()
        except StoreError as exc:
            log.debug("no lock watch: %s", exc)
            side = None
        if side is None:
            yield
            return
        stop = threading.Event()

        def watch() -> None:
            interval = LOCK_WATCH_FIRST_SECONDS
            while not stop.wait(interval):
                try:
                    rows = side.query(blocking, (pid,))
                except StoreError as exc:
                    # the watch is a courtesy: never fail the sync for it
                    log.debug("the lock watch stopped: %s", exc)
                    return
                if rows:
                    interval = LOCK_WATCH_EVERY_SECONDS
                    log.warning(
                        "waiting for rows of buyers locked by another session: %s "
                        "(gives up on them after %g s: --row-lock-timeout)",
                        _describe_sessions(rows),
                        self.row_lock_timeout_seconds,
                        extra={"run_id": report.run_id},
                    )

        thread = threading.Thread(target=watch, name="buyersync-lock-watch", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(timeout=5)
            side.close()

    def _lock_holders(self) -> str:
        """The sessions holding locks on buyers: pid, application, client — never a query."""
        sql = self.db.sql.lock_holders
        if sql is None:
            return ""
        try:
            rows = self.db.query(sql, (self.db.quote(buyers.TABLE),))
        except StoreError:
            return ""
        return _describe_sessions(rows)

    def _isolate(
        self, writer: buyers.Writer, staged: _Staged, lo: int, hi: int, report: SyncReport
    ) -> None:
        """Merge ``[lo, hi)``; on failure bisect until each failing row is alone."""
        pending = [(lo, hi)]
        while pending:
            a, b = pending.pop(0)
            try:
                self._merge_range(writer, a, b, report, retries=1)
            except _RowsLocked as locked:
                self._merge_around_locks(writer, staged, a, b, report, locked.error)
                continue
            except (ResourceExhausted, StoreConnectionError, StoreTimeout):
                raise  # not the rows' fault: see _merge_all
            except StoreError as exc:
                if b - a > 1:
                    pending[0:0] = batching.bisect(a, b)
                    continue
                report.failures.append(self._row_failure(writer, staged, a, exc))
                self._merge_failed.add(staged.keys[a])

    def _row_failure(
        self, writer: buyers.Writer, staged: _Staged, seq: int, exc: StoreError
    ) -> RowFailure:
        key, row_number = staged.keys[seq], int(staged.rows[seq])
        details: dict[str, Any] = dict(exc.details)
        if exc.sqlstate:
            details["sqlstate"] = exc.sqlstate
        category = exc.category
        hint = "correct the row in the sheet"
        if isinstance(exc, ValueTooLong | ConstraintViolation):
            # PostgreSQL's 22001 and a length CHECK do not name the column: measure.
            row = writer.staged(seq, seq + 1)
            limits = buyers.column_limits(self.db)
            if row:
                values = dict(zip(writer.columns, row[0][3:], strict=True))
                values["buyer_number"] = key
                over = [
                    e.to_json(c)
                    for c, v in values.items()
                    if v is not None and c in limits and (e := excess(v, limits[c])) is not None
                ]
                if over:
                    category = ErrorCategory.VALUE_TOO_LONG
                    details["columns"] = over
                    hint = "convert the columns to TEXT with: buyersync schema fix --apply"
        message = f"row {row_number} (buyer {key}) was rejected by the database: {exc.message}"
        if details.get("columns"):
            shown = ", ".join(
                f"{c['column']} is {c['length']} {c.get('unit', 'characters')} (limit {c['limit']})"
                for c in details["columns"]
            )
            message = f"row {row_number} (buyer {key}) does not fit the buyers table: {shown}"
        return failure(category, f"{message}; {hint}", row_number, key, details, self.operation)

    def _written(self, staged: _Staged) -> list[str]:
        """The staged keys the merge reached (all, unless it gave up part way)."""
        return staged.keys if self._abandoned_at is None else staged.keys[: self._abandoned_at]

    def _abandon_rest(
        self, exc: StoreError, staged: _Staged, from_seq: int, total: int, report: SyncReport
    ) -> None:
        """The database cannot take more rows now (connection lost, lock or statement
        timeout). That is one problem of the run, not one per row: the rows not yet
        merged are counted as ``not_written``, and one resume entry in the retry queue
        makes ``retry`` (or the next sync) finish the job. Nothing read is dropped
        silently: every row is in buyers, in the error log, or covered by them."""
        lost = isinstance(exc, StoreConnectionError)
        what = "the database connection was lost" if lost else "the database timed out"
        log.error(
            "%s at row %d of %d: %s",
            what,
            from_seq,
            total,
            exc.message,
            extra={"run_id": report.run_id},
        )
        self._abandoned_at = from_seq
        report.not_written = total - from_seq
        report.message = (
            f"{what} after {from_seq} of {total} rows; {report.not_written} rows not written "
            "— buyersync retry (or the next sync) writes them"
        )
        if lost:
            self._reconnect()
        self._record_abandoned(exc, report, first_row=int(staged.rows[from_seq]))

    def _record_abandoned(self, exc: StoreError, report: SyncReport, *, first_row: int) -> None:
        """The run's one error-log entry, its one problem and its one resume entry."""
        subject = run_subject(self.operation)
        now = utcnow()
        message = f"{self.operation} run {report.run_id} stopped: {report.message} ({exc.message})"
        details = {
            "not_written": report.not_written,
            "first_row_not_written": first_row,
            "sqlstate": exc.sqlstate,
            "operation": self.operation,
        }
        try:
            errorlog.log_run_failure(
                self.db,
                run_id=report.run_id,
                subject=subject,
                category=str(exc.category),
                message=message,
                operation=self.operation,
                retryable=True,
                details=details,
                at=now,
            )
            problems.record_run_failure(
                self.db,
                subject=subject,
                category=str(exc.category),
                message=message,
                operation=self.operation,
                run_id=report.run_id,
                at=now,
                not_written=report.not_written,
            )
            if self.queue_failures:
                resume = failure(exc.category, message, None, subject, details, self.operation)
                manager = RetryManager(self.db, None, policy=self.retry, clock=lambda: now)
                report.queued_for_retry += manager.add_to_retry_queue(
                    [resume], run_id=report.run_id
                )
        except StoreError as again:
            # Still unreachable: without its entry and resume entry the unwritten rows
            # would be nowhere, so the run fails with the error (exit 3); it stays
            # 'running' or 'failed' and the next sync writes every row again.
            log.warning("could not record the stop of run %s: %s", report.run_id, again)
            raise again from exc

    def _reconnect(self) -> None:
        self.db.reconnect()
