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

:class:`SyncEngine` is this flow; its steps are split by job: the guards that refuse
a sheet (:mod:`~buyersync.services.syncguards`), the merge and its bisection
(:mod:`~buyersync.services.syncmerge`), the report and the run's records
(:mod:`~buyersync.services.syncreport`). Every name of those is importable from here.
"""

from __future__ import annotations

import contextlib
import logging
import time
import uuid
from collections.abc import Collection, Iterable, Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from buyersync.errors import (
    BuyersyncError,
    ResourceExhausted,
    StoreConnectionError,
    StoreError,
    StoreTimeout,
    SyncRefused,
)
from buyersync.records import RunStatus
from buyersync.retrying import Sleep
from buyersync.rules import batching
from buyersync.rules import headers as header_rules
from buyersync.rules.backoff import BackoffPolicy
from buyersync.rules.keys import DEFAULT_KEY_CASE, FirstSeen, key_fold
from buyersync.rules.normalize import ColumnMap, column_letter, map_headers, normalize_key
from buyersync.rules.rows import Accepted, RowChecker
from buyersync.rules.typed import ParseOptions
from buyersync.services.syncguards import GuardSteps as GuardSteps
from buyersync.services.syncmerge import _ABOUT_THE_DATABASE as _ABOUT_THE_DATABASE
from buyersync.services.syncmerge import LOCK_WATCH_EVERY_SECONDS as LOCK_WATCH_EVERY_SECONDS
from buyersync.services.syncmerge import LOCK_WATCH_FIRST_SECONDS as LOCK_WATCH_FIRST_SECONDS
from buyersync.services.syncmerge import MERGE_BACKOFF as MERGE_BACKOFF
from buyersync.services.syncmerge import MergeSteps as MergeSteps
from buyersync.services.syncmerge import Progress as Progress
from buyersync.services.syncmerge import _describe_sessions as _describe_sessions
from buyersync.services.syncmerge import _RowsLocked as _RowsLocked
from buyersync.services.syncreport import RESUMED_BY_FULL_SYNC as RESUMED_BY_FULL_SYNC
from buyersync.services.syncreport import RecordSteps as RecordSteps
from buyersync.services.syncreport import Staged as _Staged
from buyersync.services.syncreport import SyncReport as SyncReport
from buyersync.sources.base import Source
from buyersync.store import buyers, runs, sheettabs
from buyersync.store import headers as header_store
from buyersync.store.db import Database, utcnow
from buyersync.store.migrations import ensure_schema

log = logging.getLogger(__name__)


class SyncEngine(GuardSteps, MergeSteps, RecordSteps):
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


#: Section rows named in the warning (the count is always whole).
_SHOWN_SECTION_ROWS = 50


def _new_run_id() -> str:
    """``20261128T090000-1a2b3c4d``: the UTC start time (like every stored time) and a nonce."""
    return f"{datetime.now(UTC).strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"


def sync(db: Database, source: Source, *, dry_run: bool = False, **options: Any) -> SyncReport:
    """Run one sync (see :class:`SyncEngine` for the options)."""
    return SyncEngine(db, source, **options).run(dry_run=dry_run)
