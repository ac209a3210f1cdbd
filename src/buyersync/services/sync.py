"""The sync: read the sheet, check every row, write buyers in batches, log every failure.

This is the seed's ``syncAllWithErrorHandling``. The promise it keeps: every row read
either lands in ``buyers`` or has an entry in ``sync_error_log`` — never both, never
neither — and one bad row never takes others down.

Flow (see docs/flows.md):

1. take the ``sync`` lock (a second sync exits with a clear message, or waits);
2. read the header, map it to columns (bad headers stop here, nothing written);
3. check each row (blank, no key, duplicate, error cells, NUL, too long for the
   column) and stage the good ones in a temporary table;
4. refuse an empty or sharply shrunken sheet while the database has buyers;
5. merge staged slices into ``buyers`` (one transaction per slice); a failing slice
   is split into its batches and a failing batch bisected until the bad rows are
   alone; each bad row is logged with the database's reason;
6. log failures, queue the retryable ones, record the run in ``sync_runs``.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
import uuid
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from buyersync.errors import (
    BuyersyncError,
    ConstraintViolation,
    ErrorCategory,
    LockNotAvailable,
    ResourceExhausted,
    StoreConnectionError,
    StoreError,
    StoreTimeout,
    SyncRefused,
    TransactionConflict,
    ValueTooLong,
)
from buyersync.records import RowFailure, RunStatus
from buyersync.retrying import Retrying, Sleep
from buyersync.rules import batching
from buyersync.rules import headers as header_rules
from buyersync.rules.backoff import BackoffPolicy
from buyersync.rules.categories import is_retryable
from buyersync.rules.keys import DEFAULT_KEY_CASE, FirstSeen, collisions_message, key_fold
from buyersync.rules.lengths import excess
from buyersync.rules.normalize import (
    KEY_COLUMN,
    ColumnMap,
    column_letter,
    map_headers,
    normalize_key,
)
from buyersync.rules.problems import run_subject
from buyersync.rules.rows import Accepted, RowChecker, failure
from buyersync.rules.typed import ParseOptions
from buyersync.services.retry import RetryManager
from buyersync.sources.base import Source
from buyersync.store import buyers, errorlog, problems, retryqueue, runs, sheettabs
from buyersync.store import headers as header_store
from buyersync.store.db import Database, utcnow
from buyersync.store.migrations import ensure_schema

log = logging.getLogger(__name__)

#: progress(rows_done, rows_total) — called once with 0 before the first batch is merged,
#: then after every batch.
Progress = Callable[[int, int], None]


#: Retries of a slice whose merge timed out or lost a race: 0.2 s, then 0.4 s (no jitter:
#: one writer per database).
MERGE_BACKOFF = BackoffPolicy(max_attempts=2, base_seconds=0.2, max_seconds=5.0, jitter=0.0)


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
class _Staged:
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


class SyncEngine:
    """Runs one sync of ``source`` into ``db``. Create one per run."""

    def __init__(
        self,
        db: Database,
        source: Source,
        *,
        key_column: str = "buyer_number",
        mapping: Mapping[str, str] | None = None,
        batch_size: int = 100,
        max_shrink_ratio: float = 0.5,
        min_key_share: float = 0.5,
        min_header_share: float = 0.5,
        accept_header_change: bool = False,
        retry: BackoffPolicy | None = None,
        lock_wait_seconds: float = 0.0,
        progress: Progress | None = None,
        operation: str = "sync",
        select_keys: Collection[str] | None = None,
        slice_rows: int = batching.SLICE_TARGET_ROWS,
        lock_name: str | None = "sync",
        queue_failures: bool = True,
        problems_retention_days: float = 90.0,
        row_lock_timeout_seconds: float = 0.0,
        sleep: Sleep = time.sleep,
        parse_options: ParseOptions | None = None,
        key_case: str = DEFAULT_KEY_CASE,
    ) -> None:
        self.db = db
        self.source = source
        self.key_column = key_column
        self.mapping = dict(mapping or {})
        self.batch_size = batch_size
        self.max_shrink_ratio = max_shrink_ratio
        self.min_key_share = min_key_share
        self.min_header_share = min_header_share
        self.accept_header_change = accept_header_change
        self.retry = retry or BackoffPolicy()
        self.lock_wait_seconds = lock_wait_seconds
        self.progress = progress
        self.operation = operation
        self.select_keys = set(select_keys) if select_keys is not None else None
        #: How buyer numbers compare (rules.keys); the selected buyers under it.
        self.fold = key_fold(key_case)
        self._selected: FirstSeen | None = None
        #: Stored buyer numbers holding a letter a-z (counted once per run), if known.
        self._unfolded: int | None = None
        if self.select_keys is not None:
            self._selected = FirstSeen(self.fold)
            for key in sorted(self.select_keys):
                if self._selected.earlier(key) is None:
                    self._selected.add(key, 0)
        self.slice_rows = slice_rows
        self.lock_name = lock_name
        self._merge_failed: set[str] = set()
        #: The staged row from which the merge gave up (the database went away), if it did.
        self._abandoned_at: int | None = None
        self.queue_failures = queue_failures
        self.problems_retention_days = problems_retention_days
        self.row_lock_timeout_seconds = row_lock_timeout_seconds
        self.sleep = sleep
        #: The report of the run in progress (or just ended, also by an exception):
        #: what an interrupted caller reports as already merged.
        self.report: SyncReport | None = None
        self.parse_options = parse_options or ParseOptions()

    # -- public ----------------------------------------------------------------
    def run(self, *, dry_run: bool = False) -> SyncReport:
        """Run the sync. Raises only for run-level problems (see module docstring).

        Row-level problems never raise: they are in the report and the error log.
        """
        report = SyncReport(
            run_id=_new_run_id(),
            status=RunStatus.RUNNING,
            operation=self.operation,
            batch_size=self.batch_size,
            dry_run=dry_run,
            source=self.source.description,
        )
        self.report = report
        if dry_run:
            return self._dry_run(report)
        ensure_schema(self.db)
        lock = (
            self.db.lock(self.lock_name, wait_seconds=self.lock_wait_seconds)
            if self.lock_name
            else contextlib.nullcontext()
        )
        with lock:
            # Holding the lock, no other run of this operation is alive: a 'running'
            # row left behind belongs to a process that died.
            abandoned = runs.mark_abandoned(self.db, self.operation) if self.lock_name else 0
            if abandoned:
                report.warnings.append(
                    f"{abandoned} earlier {self.operation} run(s) had stopped before finishing; "
                    "marked incomplete"
                )
            started = utcnow()
            runs.start(
                self.db,
                report.run_id,
                self.operation,
                source=report.source,
                batch_size=self.batch_size,
                started_at=started,
            )
            clock = time.perf_counter()
            try:
                self._run(report)
            except BuyersyncError as exc:
                report.status = (
                    RunStatus.REFUSED if isinstance(exc, SyncRefused) else RunStatus.FAILED
                )
                report.message = str(exc)
                self._record_run_failure(report, exc)
                self._finish(report, clock)
                raise
            except BaseException as exc:  # KeyboardInterrupt, SIGTERM, bugs
                report.status = RunStatus.FAILED
                report.message = f"stopped: {type(exc).__name__}: {exc}"[:500]
                self._finish(report, clock)
                raise
            if report.not_written:
                report.status = RunStatus.FAILED  # stopped part way: not a completed sync
            else:
                report.status = (
                    RunStatus.SUCCEEDED if report.failed == 0 else RunStatus.COMPLETED_WITH_ERRORS
                )
            self._finish(report, clock)
        log.info(
            "sync %s finished: %s read, %s inserted, %s changed, %s unchanged, %s failed "
            "in %.2fs (%.0f rows/s)",
            report.run_id,
            report.rows_read,
            report.inserted,
            report.changed,
            report.unchanged,
            report.failed,
            report.duration_s,
            report.rows_per_s,
            extra={"run_id": report.run_id},
        )
        return report

    # -- steps -----------------------------------------------------------------
    def _checked_rows(
        self, rows: Iterator[Any], checker: RowChecker, report: SyncReport
    ) -> Iterator[Accepted]:
        """Yield the rows that pass the checks; collect the others in the report."""
        select = self._selected
        for row in rows:
            if checker.is_blank(row):
                if row.section is not None:
                    report.section_rows += 1
                    if len(report.section_row_numbers) < _SHOWN_SECTION_ROWS:
                        report.section_row_numbers.append(row.row_number)
                else:
                    report.skipped_blank += 1
                continue
            if select is not None:
                if normalize_key(row.values[checker.key_index]) not in select:
                    continue
            report.rows_read += 1
            outcome = checker.check(row)
            if isinstance(outcome, Accepted):
                yield outcome
            else:
                report.failures.append(outcome)

    def _read_rows(self, report: SyncReport) -> tuple[ColumnMap, Iterator[Any]]:
        """The header map and rows; the reader's warnings reach the report as they come."""
        data = self.source.read()
        colmap = map_headers(data.header, key_header=self.key_column, mapping=self.mapping)

        def rows() -> Iterator[Any]:
            if colmap.blank_ignored:
                yield from self._counting_blank_columns(data.rows, colmap, report)
            else:
                yield from data.rows
            report.warnings.extend(data.warnings)
            if report.section_rows:
                shown = ", ".join(str(n) for n in report.section_row_numbers)
                more = len(report.section_row_numbers) < report.section_rows
                report.warnings.append(
                    f"{report.section_rows} section row(s) skipped (a title merged across the "
                    f"table, not a buyer): rows {shown}{', …' if more else ''}"
                )

        return colmap, rows()

    @staticmethod
    def _counting_blank_columns(
        rows: Iterable[Any], colmap: ColumnMap, report: SyncReport
    ) -> Iterator[Any]:
        """The rows, counting the values under blank headers; warns once they are read.

        A blank header's column is not stored: the warning says how many values that
        leaves out, so a column that does hold data is never dropped without a word.
        """
        indexes = colmap.blank_ignored
        counts = dict.fromkeys(indexes, 0)
        for row in rows:
            values = row.values  # padded to the header's width by every reader
            for i in indexes:
                value = values[i]
                if value and not value.isspace():  # most spacer cells are "": no call
                    counts[i] += 1
            yield row
        for i, count in counts.items():
            letter = column_letter(i)
            held = f"{count} value(s) under it are not stored" if count else "it holds no values"
            report.warnings.append(
                f"column {letter} has a blank header and is ignored ({held}); to keep it, "
                f'name it in [mapping]: "#{letter}" = "name"; to silence this, "#{letter}" = ""'
            )

    def _run(self, report: SyncReport) -> None:
        db = self.db
        colmap, rows = self._read_rows(report)
        created = not db.table_exists(buyers.TABLE)
        missing = buyers.ensure_table(db, colmap.data_columns)
        self._guard_key_collisions()
        if missing:
            report.unmapped_sheet_columns = missing
            report.warnings.append(
                "sheet columns without a column in buyers are not stored: "
                + ", ".join(missing)
                + " — add them with: buyersync schema fix --apply --add-columns"
            )
        stored = [c for c in colmap.data_columns if c not in missing]
        header_map = header_rules.entries(colmap, stored)
        header_store.record(db, report.run_id, header_map)
        sheettabs.remember(db, self.source)  # the tab's sheetId, for links to cells
        self._guard_header_contract(report, header_map)
        limits = {} if created else buyers.column_limits(db)
        checker = self._checker(colmap, stored, limits, typed=not created)
        db_count_before = buyers.count(db)
        writer = buyers.Writer(db, stored, fold_keys=self.fold is not None)
        if self.row_lock_timeout_seconds > 0:
            writer.lock_timeout_ms = int(self.row_lock_timeout_seconds * 1000)
        staged = _Staged()
        try:
            writer.stage(staged.stage_rows(self._checked_rows(rows, checker, report)))
            writer.finish_staging()
            writer.adopt_stored_keys(self._unfolded)
            self._guard_shrink(report, db_count_before)
            rejected = self._rejected_keys(report)
            self._guard_wrong_sheet(
                report,
                db_count_before,
                header_map,
                lambda: writer.count_known(len(staged)) + self._count_in_db(rejected),
                len(staged) + len(rejected),
            )
            with self._lock_watch(report):
                self._merge_all(writer, staged, report)
        finally:
            writer.close()
        report.failed = len(report.failures)
        if self.select_keys is not None:
            # Only a failure of the staged row itself unsyncs a buyer: a later duplicate
            # row of the same buyer failing does not.
            report.synced_keys = [k for k in self._written(staged) if k not in self._merge_failed]
            report.not_found = self._not_found(checker)
        self._settle_written(
            [k for k in self._written(staged) if k not in self._merge_failed], report
        )
        self._log_failures(report)
        self._settle_full_sync(report)

    def _not_found(self, checker: RowChecker) -> list[str]:
        """The selected buyers the sheet no longer has (as the selection spells them)."""
        assert self.select_keys is not None
        return sorted(k for k in self.select_keys if checker.seen.earlier(k) is None)

    def _key_collisions(self) -> str | None:
        """Why the stored buyer numbers cannot be compared regardless of case, if so."""
        if self.fold is None:
            return None
        groups, total = buyers.key_collisions(self.db)
        if not total:
            return None
        message, hint = collisions_message(groups, total)
        return f"{message} ({hint})"

    def _guard_key_collisions(self) -> None:
        """Refuse to merge buyers whose stored numbers differ only in case."""
        if self.fold is None or not buyers.key_is_text(self.db):
            return
        self._unfolded = buyers.count_unfolded(self.db)
        groups, total = buyers.key_collisions(self.db, unfolded=self._unfolded)
        if total:
            message, hint = collisions_message(groups, total)
            raise SyncRefused(
                message, hint=hint, details={"key_collisions": groups, "groups": total}
            )

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

    def _checker(
        self, colmap: ColumnMap, stored: list[str], limits: Mapping[str, Any], *, typed: bool
    ) -> RowChecker:
        """The row checks, with the typed columns of ``buyers`` parsed (a table the sync
        creates has only text columns)."""
        return RowChecker(
            colmap,
            stored,
            limits=limits,
            operation=self.operation,
            types=buyers.column_types(self.db) if typed else None,
            parse_options=self.parse_options,
            booleans=self.db.sql.boolean_literals,
            fold=self.fold,
        )

    def _guard_shrink(self, report: SyncReport, db_count: int) -> None:
        if self.select_keys is not None or db_count == 0:
            return
        if report.rows_read == 0:
            raise SyncRefused(
                f"the sheet {report.source} has no buyers but the database has {db_count}; "
                "refusing to sync an empty sheet",
                hint="check that --source, --sheet and --header-row point at the right data",
            )
        ratio = report.rows_read / db_count
        if self.max_shrink_ratio > 0 and ratio < self.max_shrink_ratio:
            raise SyncRefused(
                f"the sheet has {report.rows_read} buyers but the database has {db_count} "
                f"({ratio:.0%}, below the {self.max_shrink_ratio:.0%} guard); refusing to sync "
                "what may be a partial sheet",
                hint="if the sheet really shrank, run again with --max-shrink-ratio 0",
            )

    def _guard_header_contract(
        self,
        report: SyncReport,
        header_map: tuple[header_rules.HeaderEntry, ...],
        *,
        dry_run: bool = False,
    ) -> None:
        """Refuse when a column the last successful sync of this source fed is no longer fed.

        ``accept_header_change`` lets exactly this difference through once and records it;
        this run's map is then the next run's baseline.
        """
        change = header_rules.diff(header_store.baseline(self.db, report.source), header_map)
        report.header_change = change
        if change.empty:
            return
        accepting = self.accept_header_change and self.select_keys is None
        if change.refuses and not accepting:
            message, hint = change.refusal()
            raise SyncRefused(message, hint=hint, details={"header_change": change.to_json()})
        if accepting and dry_run:
            report.warnings.append(f"--accept-header-change would accept: {change.describe()}")
        elif accepting:
            header_store.record_accepted(self.db, report.run_id, report.source, change)
            report.header_change_accepted = True
            report.warnings.append(
                f"header change accepted: {change.describe()}; this sync's headers are "
                "the new baseline"
            )
        else:
            log.info(
                "the sheet's headers changed: %s",
                change.describe(),
                extra={"run_id": report.run_id},
            )

    def _guard_wrong_sheet(
        self,
        report: SyncReport,
        db_count: int,
        header_map: tuple[header_rules.HeaderEntry, ...],
        count_known: Callable[[], int],
        sheet_keys: int,
    ) -> None:
        """Refuse a sheet that shares too few buyers or columns with the database."""
        if self.select_keys is not None or db_count == 0:
            return
        if self.min_key_share <= 0 and self.min_header_share <= 0:
            return
        share = self._share(header_map, count_known(), sheet_keys, db_count)
        report.share = share
        # A person who accepted the header change has seen which columns went: the
        # header share asks the same question again.
        min_header_share = 0.0 if self.accept_header_change else self.min_header_share
        problems = share.problems(self.min_key_share, min_header_share)
        if problems:
            message, hint = header_rules.wrong_sheet_refusal(problems)
            raise SyncRefused(message, hint=hint, details={"share": share.to_json()})

    @staticmethod
    def _rejected_keys(report: SyncReport) -> list[str]:
        """Buyer numbers of rows that were read but not staged (a bad cell): still the
        sheet's buyers, so the wrong-sheet guard counts them."""
        keys = {
            f.buyer_number
            for f in report.failures
            if f.buyer_number and f.category is not ErrorCategory.DUPLICATE_KEY
        }
        return sorted(keys)

    def _count_in_db(self, keys: list[str]) -> int:
        return buyers.count_matching(self.db, keys, fold_keys=self.fold is not None)

    def _share(
        self,
        header_map: tuple[header_rules.HeaderEntry, ...],
        shared_keys: int,
        sheet_keys: int,
        database_keys: int,
    ) -> header_rules.Share:
        """The shares the wrong-sheet guard measures; the fed columns are those the last
        successful full sync fed (of any source), else every data column of buyers."""
        previous = header_store.baseline(self.db, None)
        if previous is not None:
            fed = set(header_rules.fed_columns(previous))
        else:
            fed = set(self.db.columns(buyers.TABLE))
            fed -= set(buyers.TIMESTAMP_COLUMNS)
        fed.discard(KEY_COLUMN)
        now = {e.column for e in header_map if e.column}
        return header_rules.Share(
            shared_keys=shared_keys,
            sheet_keys=sheet_keys,
            shared_headers=len(fed & now),
            fed_columns=len(fed),
            database_keys=database_keys,
        )

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

    def _dry_verdict(
        self,
        report: SyncReport,
        colmap: ColumnMap,
        stored: list[str],
        db_count: int,
        known: Callable[[], int],
        staged: int,
    ) -> None:
        """Ask every guard a real sync would ask, in its order; collect the refusals."""
        header_map = header_rules.entries(colmap, stored)
        rejected = self._rejected_keys(report)
        collisions = self._key_collisions() if db_count else None
        if collisions:
            report.would_refuse.append(collisions)
        checks: list[Callable[[], None]] = [
            lambda: self._guard_header_contract(report, header_map, dry_run=True),
            lambda: self._guard_shrink(report, db_count),
            lambda: self._guard_wrong_sheet(
                report,
                db_count,
                header_map,
                lambda: known() + self._count_in_db(rejected),
                staged + len(rejected),
            ),
        ]
        for check in checks:
            try:
                check()
            except SyncRefused as exc:
                report.would_refuse.append(str(exc))

    def _dry_run(self, report: SyncReport) -> SyncReport:
        """Check every row and count what would happen; write nothing to the database.

        The rows are staged in a temporary table, as a real sync stages them, and
        compared with the stored buyers by the merge's own comparison, so the
        inserted / changed / unchanged counts are those a real sync would report.
        """
        clock = time.perf_counter()
        colmap, rows = self._read_rows(report)
        exists = self.db.table_exists(buyers.TABLE)
        columns = self.db.columns(buyers.TABLE) if exists else {}
        missing = [c for c in colmap.data_columns if exists and c not in columns]
        stored = [c for c in colmap.data_columns if c not in missing]
        limits = buyers.column_limits(self.db) if exists else {}
        db_count = buyers.count(self.db) if exists else 0
        checker = self._checker(colmap, stored, limits, typed=exists)
        checked = self._checked_rows(rows, checker, report)
        if not exists:
            # No table yet: every buyer would be inserted.
            staged_count = sum(1 for _ in checked)
            report.inserted = staged_count
            self._dry_verdict(report, colmap, stored, 0, lambda: 0, staged_count)
        else:
            # Stored numbers that collide are refused (below), not folded together.
            fold_keys = self.fold is not None and buyers.key_collisions(self.db)[1] == 0
            writer = buyers.Writer(self.db, stored, fold_keys=fold_keys)
            staged = _Staged()
            try:
                writer.stage(staged.stage_rows(checked))
                writer.finish_staging()
                writer.adopt_stored_keys()
                staged_count = len(staged)
                self._dry_counts(writer, staged, report)
                self._dry_verdict(
                    report,
                    colmap,
                    stored,
                    db_count,
                    lambda: writer.count_known(staged_count),
                    staged_count,
                )
            finally:
                writer.close()
        report.unmapped_sheet_columns = missing
        report.batches = len(batching.batch_ranges(staged_count, self.batch_size))
        report.failed = len(report.failures)
        report.queued_for_retry = sum(1 for f in report.failures if f.retryable and f.buyer_number)
        report.status = RunStatus.DRY_RUN
        report.duration_s = time.perf_counter() - clock
        report.rows_per_s = report.rows_read / report.duration_s if report.duration_s else 0.0
        report.message = "dry run: nothing was written"
        return report

    def _dry_counts(self, writer: buyers.Writer, staged: _Staged, report: SyncReport) -> None:
        """Count the staged rows as the merge would, without merging; a row whose value
        the database would refuse is the failure the real sync would log for it."""
        pending = [(0, len(staged))] if len(staged) else []
        while pending:
            lo, hi = pending.pop(0)
            try:
                result = writer.counts(lo, hi)
            except (ResourceExhausted, StoreConnectionError, StoreTimeout):
                raise
            except StoreError as exc:
                if hi - lo > 1:
                    pending[0:0] = batching.bisect(lo, hi)
                    continue
                report.failures.append(self._row_failure(writer, staged, lo, exc))
                continue
            report.inserted += result.inserted
            report.updated += result.updated
            report.changed += result.changed
            report.unchanged += result.unchanged


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


#: Operations whose stopped runs a full sync finishes (it writes every row of the sheet).
RESUMED_BY_FULL_SYNC = ("sync", "sync-missing", "retry")

#: Failures no row caused: the engine stops merging rather than bisect them.
_ABOUT_THE_DATABASE = (StoreConnectionError, StoreTimeout)

#: Section rows named in the warning (the count is always whole).
_SHOWN_SECTION_ROWS = 50


def _new_run_id() -> str:
    """``20261128T090000-1a2b3c4d``: the UTC start time (like every stored time) and a nonce."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def sync(db: Database, source: Source, *, dry_run: bool = False, **options: Any) -> SyncReport:
    """Run one sync (see :class:`SyncEngine` for the options)."""
    return SyncEngine(db, source, **options).run(dry_run=dry_run)
