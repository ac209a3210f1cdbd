"""What a sync did (:class:`SyncReport`, the contract's ``sync --json``) and how a run is recorded.

:class:`RecordSteps` is the part of :class:`buyersync.services.sync.SyncEngine` that
settles and records a run: problems and retry entries its writes resolved, the
failures it logs and queues, the run's own failure, and the ``sync_runs`` row.
Every name here is importable from :mod:`buyersync.services.sync`.
"""

from __future__ import annotations

import logging
import time
from array import array
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from buyersync.errors import BuyersyncError, StoreError
from buyersync.records import RowFailure, RunStatus
from buyersync.rules import headers as header_rules
from buyersync.rules.backoff import BackoffPolicy
from buyersync.rules.categories import is_retryable
from buyersync.rules.problems import run_subject
from buyersync.rules.rows import Accepted
from buyersync.services.retry import RetryManager
from buyersync.store import errorlog, problems, retryqueue, runs
from buyersync.store.db import Database, utcnow

log = logging.getLogger("buyersync.services.sync")


@dataclass
class SyncReport:
    """What a sync did. ``to_json`` is the contract's ``sync --json`` document."""

    run_id: str
    status: RunStatus
    operation: str
    rows_read: int = 0
    inserted: int = 0
    #: Existing buyers written: ``changed`` (their stored values differ now) plus
    #: ``unchanged`` (rewritten with the values they had; synced_at still advances).
    updated: int = 0
    changed: int = 0
    unchanged: int = 0
    failed: int = 0
    #: Rows read but not written because the run stopped (one problem of the run).
    not_written: int = 0
    skipped_blank: int = 0
    #: Section rows (titles merged across the table) skipped, and their sheet rows.
    section_rows: int = 0
    section_row_numbers: list[int] = field(default_factory=list)
    queued_for_retry: int = 0
    duration_s: float = 0.0
    rows_per_s: float = 0.0
    batches: int = 0
    batch_size: int = 100
    dry_run: bool = False
    source: str = ""
    unmapped_sheet_columns: list[str] = field(default_factory=list)
    failures: list[RowFailure] = field(default_factory=list)
    #: With ``select_keys``: the selected buyers written, and those not in the sheet.
    synced_keys: list[str] = field(default_factory=list)
    not_found: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    message: str | None = None
    #: The sheet's headers against the baseline (None: not compared).
    header_change: header_rules.HeaderDiff | None = None
    header_change_accepted: bool = False
    #: How much of the sheet the database already knows (None: not measured).
    share: header_rules.Share | None = None
    #: Dry run: why a real sync would be refused (empty: it would not).
    would_refuse: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.failed == 0
            and self.not_written == 0
            and self.status in (RunStatus.SUCCEEDED, RunStatus.DRY_RUN)
        )

    def failures_by_type(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for f in self.failures:
            counts[str(f.category)] = counts.get(str(f.category), 0) + 1
        return dict(sorted(counts.items()))

    def to_json(self, *, max_failures: int = 1000) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": str(self.status),
            "operation": self.operation,
            "dry_run": self.dry_run,
            "source": self.source,
            "rows_read": self.rows_read,
            "inserted": self.inserted,
            "updated": self.updated,
            "changed": self.changed,
            "unchanged": self.unchanged,
            "failed": self.failed,
            "not_written": self.not_written,
            "skipped_blank": self.skipped_blank,
            "section_rows": self.section_rows,
            "queued_for_retry": self.queued_for_retry,
            "duration_s": round(self.duration_s, 3),
            "rows_per_s": round(self.rows_per_s, 1),
            "batch_size": self.batch_size,
            "batches": self.batches,
            "failures_by_type": self.failures_by_type(),
            "failures": [
                {
                    "row_number": f.row_number,
                    "buyer_number": f.buyer_number,
                    "error_type": str(f.category),
                    "error_message": f.message,
                    "retryable": f.retryable,
                    "details": f.details,
                }
                for f in self.failures[:max_failures]
            ],
            "unmapped_sheet_columns": self.unmapped_sheet_columns,
            "header_change": self.header_change.to_json() if self.header_change else None,
            "header_change_accepted": self.header_change_accepted,
            "share": self.share.to_json() if self.share else None,
            **self._verdict_json(),
            "warnings": self.warnings,
            "message": self.message,
        }

    def _verdict_json(self) -> dict[str, Any]:
        if not self.dry_run:
            return {}
        return {
            "verdict": {
                "would_refuse": bool(self.would_refuse),
                "reasons": self.would_refuse,
                "would_insert": self.inserted,
                "would_update": self.updated,
                "would_change": self.changed,
                "would_leave_unchanged": self.unchanged,
                "would_fail": self.failed,
            }
        }


@dataclass
class Staged:
    """Keys and row numbers of staged rows, by ``seq`` (compact: 1M rows ≈ 16 MB)."""

    keys: list[str] = field(default_factory=list)
    rows: array[int] = field(default_factory=lambda: array("q"))

    def stage_rows(self, accepted: Iterable[Accepted]) -> Iterator[tuple[Any, ...]]:
        """Record each row and yield it as the staging table's ``(seq, row, key, *values)``."""
        keys, rows = self.keys, self.rows
        for a in accepted:
            seq = len(keys)
            keys.append(a.key)
            rows.append(a.row_number)
            yield (seq, a.row_number, a.key, *a.values)

    def __len__(self) -> int:
        return len(self.keys)


#: Operations whose stopped runs a full sync finishes (it writes every row of the sheet).
RESUMED_BY_FULL_SYNC = ("sync", "sync-missing", "retry")


class RecordSteps:
    """The engine's recording steps (mixed into ``SyncEngine``, which sets these)."""

    db: Database
    operation: str
    queue_failures: bool
    retry: BackoffPolicy
    select_keys: set[str] | None
    lock_name: str | None
    problems_retention_days: float
    _abandoned_at: int | None

    def _settle_written(self, written: list[str], report: SyncReport) -> None:
        """Buyers this run wrote: their problems are resolved, and a queued one is a
        successful retry (its entry goes). Set-based, whatever the number."""
        now = utcnow()
        fixed = problems.resolve_written(self.db, written, run_id=report.run_id, at=now)
        if fixed:
            log.info(
                "%d problems resolved by this %s",
                fixed,
                self.operation,
                extra={"run_id": report.run_id},
            )
        if not self.queue_failures:
            return  # the retry service settles its own entries
        resolved = retryqueue.resolve_synced(self.db, written, run_id=report.run_id, now=now)
        if resolved:
            log.info(
                "%d retry-queue entries resolved by this sync",
                len(resolved),
                extra={"run_id": report.run_id},
            )

    def _settle_full_sync(self, report: SyncReport) -> None:
        """A full sync that read the whole sheet and ran to the end: problems it did
        not see again are gone, its operation's run problem is over, and history
        resolved longer ago than the retention is pruned."""
        if self._abandoned_at is not None:
            return
        now = utcnow()
        problems.resolve_subjects(
            self.db, [run_subject(self.operation)], run_id=report.run_id, at=now
        )
        if self.select_keys is not None or not self.lock_name:
            return
        # This run wrote every row: what a stopped run left is done, so its resume
        # entry goes (one a retry worker holds is settled by that worker).
        retryqueue.resolve_synced(
            self.db, [run_subject(op) for op in RESUMED_BY_FULL_SYNC], run_id=report.run_id, now=now
        )
        problems.resolve_not_recurred(self.db, run_id=report.run_id, at=now)
        if self.problems_retention_days > 0:
            cutoff = now - timedelta(days=self.problems_retention_days)
            pruned, entries = problems.prune(self.db, resolved_before=cutoff)
            if pruned or entries:
                log.info(
                    "pruned %d problems and %d error-log entries resolved before %s",
                    pruned,
                    entries,
                    cutoff.isoformat(timespec="seconds"),
                    extra={"run_id": report.run_id},
                )

    def _record_run_failure(self, report: SyncReport, exc: BuyersyncError) -> None:
        """A run that could not go on is one problem (and one log entry), not one per
        row. Never raises: the database may be what failed."""
        subject = run_subject(self.operation)
        now = utcnow()
        try:
            errorlog.log_run_failure(
                self.db,
                run_id=report.run_id,
                subject=subject,
                category=str(exc.category),
                message=f"{self.operation} run {report.run_id} stopped: {exc}",
                operation=self.operation,
                retryable=is_retryable(exc.category),
                details={"rows_read": report.rows_read},
                at=now,
            )
            problems.record_run_failure(
                self.db,
                subject=subject,
                category=str(exc.category),
                message=str(exc),
                operation=self.operation,
                run_id=report.run_id,
                at=now,
            )
        except StoreError as lost:
            log.warning("could not record the failure of run %s: %s", report.run_id, lost)

    def _log_failures(self, report: SyncReport) -> None:
        if not report.failures:
            return
        now = utcnow()
        errorlog.log_failures(self.db, report.failures, report.run_id, at=now)
        problems.record_failures(self.db, report.failures, report.run_id, at=now)
        if not self.queue_failures:
            return
        manager = RetryManager(self.db, None, policy=self.retry, clock=lambda: now)
        report.queued_for_retry += manager.add_to_retry_queue(report.failures, run_id=report.run_id)
        for f in report.failures[:20]:
            log.info(
                "row %s (buyer %s): %s: %s",
                f.row_number,
                f.buyer_number,
                f.category,
                f.message,
                extra={"run_id": report.run_id},
            )

    def _finish(self, report: SyncReport, clock: float) -> None:
        report.duration_s = time.perf_counter() - clock
        report.rows_per_s = report.rows_read / report.duration_s if report.duration_s > 0 else 0.0
        report.failed = len(report.failures)
        try:
            runs.finish(
                self.db,
                report.run_id,
                status=report.status,
                finished_at=utcnow(),
                rows_read=report.rows_read,
                inserted=report.inserted,
                updated=report.updated,
                changed=report.changed,
                unchanged=report.unchanged,
                failed=report.failed,
                not_written=report.not_written,
                skipped_blank=report.skipped_blank,
                queued_for_retry=report.queued_for_retry,
                duration_s=report.duration_s,
                rows_per_s=report.rows_per_s,
                batches=report.batches,
                message=report.message,
            )
        except StoreError as exc:
            # The database is gone; the run stays 'running' and the next sync marks it
            # incomplete. The caller still sees the original error. One line, no
            # traceback: the CLI promises a clear message on stderr (--debug shows more).
            log.warning("could not record the outcome of run %s: %s", report.run_id, exc)
            log.debug("outcome of run %s not recorded", report.run_id, exc_info=True)
