"""Missing buyers: which sheet buyers are not in the database, and syncing only those.

Requirement 2. *Missing* is a set difference of normalized buyer numbers, never a
difference of counts: a buyer is a distinct normalized buyer number on a non-blank
sheet row (its first row, as in the sync). A buyer is missing when its number is not
in ``buyers`` — whatever the reason its row did not land (value_too_long, an error
cell, a NUL byte, a lost connection). Rows that are not buyers of their own — a later
row repeating a number, a row with no number — are never missing; they are reported
apart as ``duplicates`` and ``blank_key_rows``, so that the counts always add up:

    non-blank sheet rows = spreadsheet_count + duplicates + blank_key_rows
    spreadsheet_count - missing_count = database_count - extra_count
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from itertools import islice
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from buyersync.errors import ErrorCategory
from buyersync.records import RowFailure, SheetRow
from buyersync.rules.diff import Duplicate, KeyDiff, KeyMatch, KeyScan
from buyersync.rules.keys import DEFAULT_KEY_CASE, key_fold
from buyersync.rules.normalize import ColumnMap, map_headers
from buyersync.rules.rows import RowChecker
from buyersync.sources.base import Source
from buyersync.store import fingerprints, outcomes
from buyersync.store.db import Database
from buyersync.store.migrations import ensure_schema
from buyersync.store.outcomes import BuyerOutcome, Outcome

if TYPE_CHECKING:
    from buyersync.services.sync import SyncReport

log = logging.getLogger(__name__)

#: At most this many sheet rows are read before the sheet waits for the database's keys:
#: until then both sides are held in full (at 1,000,000 buyers, 260 rather than 220 MB
#: when the database was slow). Reading keys is fast: at 100,000 it never waits.
AHEAD_ROWS = 200_000


def read_sheet(
    source: Source, *, key_column: str, mapping: Mapping[str, str] | None
) -> tuple[ColumnMap, Iterator[SheetRow], RowChecker]:
    """Read the sheet's header, map it as the sync does, and return the lazy rows.

    The returned :class:`RowChecker` is used only for its ``is_blank`` decision, so
    blank rows are skipped exactly as the sync skips them. Raises ``HeaderError`` for
    headers the sync would refuse too.
    """
    data = source.read()
    colmap = map_headers(data.header, key_header=key_column, mapping=mapping)
    return colmap, data.rows, RowChecker(colmap, ())


def key_cell(row: SheetRow, key_index: int) -> str:
    """The raw buyer-number cell of a row (``""`` when the row is short)."""
    return row.values[key_index] if key_index < len(row.values) else ""


C = TypeVar("C", bound="_Collection")


class _Collection(Protocol):
    def update(self, items: Iterable[Any], /) -> None: ...


class Prefetch(Generic[C]):
    """Reads the database into a set or dict in a worker thread while the sheet is read.

    The sheet read is Python work and the database read mostly waiting (PostgreSQL
    computes, sends), so overlapping them hides the database. Only for a database in
    another process (``db.sql.client_server``): until :meth:`result` returns, the
    worker alone uses the connection — callers must not touch ``db`` in between. On
    SQLite the read happens in :meth:`result`: reading and hashing there is this
    process's own CPU work, and a worker thread measured slower (it contends for the GIL). Use as a context manager: leaving the block
    early stops the worker after its current chunk.
    """

    def __init__(self, db: Database, rows: Callable[[], Iterator[Any]], into: C) -> None:
        self._rows = rows
        self._into = into
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._future: Future[C] | None = None
        self._value: C | None = None
        if db.sql.client_server:
            self._pool = ThreadPoolExecutor(1, thread_name_prefix="buyersync-prefetch")
            self._future = self._pool.submit(self._load)

    def _load(self) -> C:
        rows = self._rows()
        try:
            while not self._stop.is_set():
                chunk = list(islice(rows, fingerprints.CHUNK))
                if not chunk:
                    break
                self._into.update(chunk)
        finally:
            close = getattr(rows, "close", None)
            if close is not None:
                close()  # ends the server-side cursor and its transaction
        return self._into

    def done(self) -> bool:
        """True when :meth:`result` would not wait (always, when there is no worker)."""
        return self._future is None or self._future.done()

    def result(self) -> C:
        """The filled set or dict; raises what the read raised (e.g. ``StoreError``)."""
        if self._value is None:
            self._value = self._future.result() if self._future is not None else self._load()
            self.close()
        return self._value

    def close(self) -> None:
        """Stop the worker (after its current chunk) and wait for it."""
        self._stop.set()
        if self._pool is not None:
            self._pool.shutdown(wait=True)

    def __enter__(self) -> Prefetch[C]:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass(frozen=True)
class MissingReport:
    """Sheet vs database by buyer number; ``to_json`` is the contract's ``missing --json``."""

    diff: KeyDiff
    duplicates: tuple[Duplicate, ...]
    blank_key_rows: tuple[int, ...]
    sheet_rows: int  # non-blank rows below the header
    source: str

    @property
    def ok(self) -> bool:
        """True when no sheet buyer is missing from the database."""
        return not self.diff.missing

    def to_json(self) -> dict[str, Any]:
        d = self.diff
        return {
            "ok": self.ok,
            "source": self.source,
            "spreadsheet_count": d.sheet_count,
            "database_count": d.database_count,
            "missing_count": d.missing_count,
            "extra_count": d.extra_count,
            "missing": [{"buyer_number": k, "row_number": r} for k, r in d.missing],
            "extra": list(d.extra),
            "sheet_rows": self.sheet_rows,
            "duplicate_count": len(self.duplicates),
            "duplicates": [
                {
                    "buyer_number": x.buyer_number,
                    "row_number": x.row_number,
                    "first_row": x.first_row,
                }
                for x in self.duplicates
            ],
            "blank_key_count": len(self.blank_key_rows),
            "blank_key_rows": list(self.blank_key_rows),
        }


def find_missing(
    db: Database,
    source: Source,
    *,
    key_column: str = "buyer_number",
    mapping: Mapping[str, str] | None = None,
    key_case: str = DEFAULT_KEY_CASE,
) -> MissingReport:
    """Compare the sheet's buyer numbers with the database's: one sheet read, one key pass.

    Read-only. Raises ``SourceError``/``HeaderError`` when the sheet cannot be read or
    mapped, ``StoreError`` when the database cannot be read.
    """
    colmap, rows, checker = read_sheet(source, key_column=key_column, mapping=mapping)
    fold = key_fold(key_case)
    scan = KeyScan(fold)
    add, is_blank, key_index = scan.add, checker.is_blank, colmap.key_index
    sheet_rows = 0
    # Once the database's keys are all in, each sheet buyer is matched as it comes by
    # and its database key dropped (KeyMatch): at 1,000,000 buyers holding both sides
    # in full was a third of the peak memory.
    match: KeyMatch | None = None
    with Prefetch(db, lambda: fingerprints.iter_text_keys(db), set[str]()) as db_keys:
        if db_keys.done():  # no worker (SQLite): read the database first
            match = KeyMatch(db_keys.result(), fold)
        for row in rows:
            raw = row.values[key_index]  # sources pad rows to the header's width
            # A key cell with a non-space character makes the row non-blank: the
            # whole-row blank check is needed only for rows without one.
            if not raw.strip() and is_blank(row):
                continue
            sheet_rows += 1
            key = add(row.row_number, raw)
            if match is not None:
                if key is not None:
                    match.take(key, row.row_number)
            elif sheet_rows % 1024 == 0 and (db_keys.done() or sheet_rows >= AHEAD_ROWS):
                match = KeyMatch(db_keys.result(), fold)
                match.take_all(scan.first_row.items())
        if match is None:
            match = KeyMatch(db_keys.result(), fold)
            match.take_all(scan.first_row.items())
    diff = match.finish(len(scan.first_row))
    log.info(
        "missing: sheet %d buyers, database %d, missing %d, extra %d",
        diff.sheet_count,
        diff.database_count,
        diff.missing_count,
        diff.extra_count,
    )
    return MissingReport(
        diff=diff,
        duplicates=tuple(scan.duplicates),
        blank_key_rows=tuple(scan.blank_key_rows),
        sheet_rows=sheet_rows,
        source=source.description,
    )


@dataclass(frozen=True)
class SyncMissingReport:
    """What ``sync-missing`` did: the scan before, the run, and each buyer's outcome."""

    before: MissingReport
    run: SyncReport | None  # None when nothing was missing (no run was started)
    outcomes: tuple[BuyerOutcome, ...]

    def count(self, outcome: Outcome) -> int:
        return sum(1 for o in self.outcomes if o.outcome is outcome)

    @property
    def ok(self) -> bool:
        """True when every attempted buyer was synced."""
        return all(o.outcome is Outcome.SYNCED for o in self.outcomes)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "run_id": self.run.run_id if self.run else None,
            "status": str(self.run.status) if self.run else None,
            "attempted": len(self.outcomes),
            "synced": self.count(Outcome.SYNCED),
            "failed": self.count(Outcome.FAILED),
            "not_found": self.count(Outcome.NOT_FOUND),
            "spreadsheet_count": self.before.diff.sheet_count,
            "database_count_before": self.before.diff.database_count,
            "results": [o.to_json() for o in self.outcomes],
            "warnings": list(self.run.warnings) if self.run else [],
        }


def sync_missing(
    db: Database,
    source: Source,
    *,
    key_column: str = "buyer_number",
    mapping: Mapping[str, str] | None = None,
    key_case: str = DEFAULT_KEY_CASE,
    **engine_options: Any,
) -> SyncMissingReport:
    """Sync only the missing buyers and record each one's outcome in ``sync_outcomes``.

    ``engine_options`` go to :class:`SyncEngine` (batch_size, retry, lock_wait_seconds…);
    the run takes the ``sync`` lock like a full sync. A buyer is reported ``synced`` only
    when the engine wrote it *and* it is in ``buyers`` afterwards. Run-level problems
    (lock held, sheet unreadable) raise as in the sync; nothing is recorded then beyond
    what the sync records.
    """
    # Imported here: `missing` and `verify` never sync, and the engine's imports are a
    # visible part of their start-up.
    from buyersync.services.sync import SyncEngine
    from buyersync.store import buyers

    before = find_missing(db, source, key_column=key_column, mapping=mapping, key_case=key_case)
    if not before.diff.missing:
        return SyncMissingReport(before=before, run=None, outcomes=())
    wanted = before.diff.missing_keys
    engine_options.setdefault("operation", "sync-missing")
    report = SyncEngine(
        db,
        source,
        key_column=key_column,
        mapping=mapping,
        select_keys=wanted,
        key_case=key_case,
        **engine_options,
    ).run()
    results = decide_outcomes(
        before.diff.missing, report, present=set(buyers.fetch(db, sorted(wanted), ()))
    )
    ensure_schema(db)
    outcomes.record(db, report.run_id, results)
    return SyncMissingReport(before=before, run=report, outcomes=tuple(results))


def decide_outcomes(
    missing: tuple[tuple[str, int], ...], report: SyncReport, *, present: set[str]
) -> list[BuyerOutcome]:
    """Each missing buyer's outcome from the run's failures and what is now in ``buyers``.

    A buyer's own failure is the one that is not a ``duplicate_key`` (a later row that
    repeats the number fails as a duplicate while the buyer's first row may well land).
    """
    own_failure: dict[str, RowFailure] = {}
    for f in report.failures:
        if f.buyer_number and f.category is not ErrorCategory.DUPLICATE_KEY:
            own_failure.setdefault(f.buyer_number, f)
    not_found = set(report.not_found)
    results: list[BuyerOutcome] = []
    for key, row in missing:
        failure = own_failure.get(key)
        if failure is not None:
            results.append(
                BuyerOutcome(
                    key,
                    failure.row_number or row,
                    Outcome.FAILED,
                    str(failure.category),
                    failure.message,
                    report.run_id,
                )
            )
        elif key in not_found:
            results.append(
                BuyerOutcome(
                    key,
                    row,
                    Outcome.NOT_FOUND,
                    None,
                    f"buyer {key} (row {row}) was no longer in the sheet when the sync read it",
                    report.run_id,
                )
            )
        elif key in present:
            results.append(BuyerOutcome(key, row, Outcome.SYNCED, run_id=report.run_id))
        else:
            # The engine reported no failure, yet the row is absent: say so rather
            # than claim success (see `buyersync errors --run`).
            results.append(
                BuyerOutcome(
                    key,
                    row,
                    Outcome.FAILED,
                    str(ErrorCategory.UNKNOWN),
                    f"buyer {key} (row {row}) is still not in the database after run "
                    f"{report.run_id}; run buyersync sync-missing again or see buyersync errors",
                    report.run_id,
                )
            )
    return results
