"""The sync's guards: what makes it refuse a sheet before anything is written.

:class:`GuardSteps` is the part of :class:`buyersync.services.sync.SyncEngine` that
refuses: stored buyer numbers that collide under ``key_case``, an empty or sharply
shrunken sheet, a column the last sync fed that is no longer fed (the header
contract), a sheet that shares too few buyers or columns with the database (another
sheet), and, for a dry run, the verdict of all of them. Importable from
:mod:`buyersync.services.sync` too.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from buyersync.errors import ErrorCategory, SyncRefused
from buyersync.rules import headers as header_rules
from buyersync.rules.keys import Fold, collisions_message
from buyersync.rules.normalize import KEY_COLUMN, ColumnMap
from buyersync.services.syncreport import SyncReport
from buyersync.store import buyers
from buyersync.store import headers as header_store
from buyersync.store.db import Database

log = logging.getLogger("buyersync.services.sync")


class GuardSteps:
    """The engine's guards (mixed into ``SyncEngine``, which sets these)."""

    db: Database
    fold: Fold
    select_keys: set[str] | None
    max_shrink_ratio: float
    min_key_share: float
    min_header_share: float
    accept_header_change: bool
    _unfolded: int | None

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
