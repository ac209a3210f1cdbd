"""IntegrityChecker: is every sheet buyer in the database, with the same values? (requirement 9)

Three depths, each one sheet read and one database pass:

- **completeness** — the exact key difference (missing and extra buyers, see
  :mod:`buyersync.services.missing` for what counts as a buyer);
- **sample** — completeness, plus a random sample of N buyers present in the database
  compared field by field (reservoir sampling while the sheet streams by; the seed is
  reported, so ``--seed`` reproduces the same sample on the same sheet);
- **full** — completeness, plus every buyer compared field by field. The database is
  read once into a fingerprint per buyer (key → 16 bytes of SHA-256 of its values,
  computed by PostgreSQL itself: see :mod:`buyersync.store.fingerprints`), each sheet
  row's fingerprint is computed as it streams by, and only rows whose fingerprints
  differ are fetched and compared column by column — memory is one dict entry per
  buyer (fingerprints in one blob), never the whole table; each database entry is
  dropped as its sheet buyer is matched (:class:`~buyersync.rules.diff.KeyMatch`).

On PostgreSQL the database is read in a worker thread while the sheet is read
(:class:`~buyersync.services.missing.Prefetch`), so its time is hidden behind the
sheet's. Sheet rows read before the fingerprints arrive wait, as joined text, up to
:data:`WAITING_CHARS` characters.

Values are compared as the sync stores them (:mod:`buyersync.rules.compare`): cell text
exactly as read, an empty cell as NULL. Only sheet columns that exist in ``buyers`` are
compared; the others are listed as ``unverified_columns``. Columns of ``buyers`` that no
sheet column feeds are listed as ``unfed_columns`` (their values are not checked); those
the last successful sync of this source still fed are ``no_longer_fed`` and fail the check:
their values go stale (a renamed or deleted sheet column, see docs/sources.md).
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from operator import itemgetter
from typing import Any

from buyersync.rules.coltypes import ColumnType
from buyersync.rules.compare import (
    SEPARATOR,
    Mismatch,
    Reservoir,
    compare_row,
    text_fingerprint,
)
from buyersync.rules.diff import KeyDiff, KeyMatch, KeyScan
from buyersync.rules.keys import DEFAULT_KEY_CASE, key_fold
from buyersync.rules.links import SheetCells
from buyersync.rules.normalize import KEY_COLUMN, ColumnMap
from buyersync.rules.typed import ParseOptions
from buyersync.rules.typedcells import canonical_cells
from buyersync.services.missing import AHEAD_ROWS, Prefetch, read_sheet
from buyersync.services.verifyprints import Fingerprints as _Fingerprints
from buyersync.services.verifyprints import Waiting as _Waiting
from buyersync.services.verifyprints import settle_waiting as _settle
from buyersync.services.verifyreport import VerifyMode as VerifyMode
from buyersync.services.verifyreport import VerifyReport as VerifyReport
from buyersync.sources.base import Source
from buyersync.store import fingerprints, problems
from buyersync.store.db import Database, utcnow

log = logging.getLogger(__name__)

#: Rows whose fingerprints differ are fetched and compared this many at a time.
FETCH_CHUNK = 2000
#: At most this many characters of sheet rows wait for the database's fingerprints
#: (32-64 MB); then the sheet read waits for the database instead. At 100,000 buyers
#: the database answers after about a third of the sheet.
WAITING_CHARS = 16_000_000


@dataclass
class _Plan:
    """What to compare: the mapped columns buyers has, and where they sit in a sheet row."""

    colmap: ColumnMap
    columns: tuple[str, ...]
    indexes: tuple[int, ...]
    unverified: tuple[str, ...]
    rows: Iterator[Any]
    is_blank: Any
    unfed: tuple[str, ...] = ()
    no_longer_fed: tuple[str, ...] = ()
    scan: KeyScan = field(default_factory=KeyScan)
    #: The typed columns among ``columns`` (compared as values, see rules.typedcells).
    types: Mapping[str, ColumnType] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # Sources pad every row to the header's width (sources.base.make_row), and every
        # index here is inside the header: the compared cells are picked in C.
        self.pick: Callable[[Sequence[str]], tuple[str, ...]] = _picker(self.indexes)
        self.typed = tuple(
            (i, self.types[c]) for i, c in enumerate(self.columns) if c in self.types
        )


def _picker(indexes: tuple[int, ...]) -> Callable[[Sequence[str]], tuple[str, ...]]:
    """A function returning ``tuple(values[i] for i in indexes)``."""
    if len(indexes) > 1:
        return itemgetter(*indexes)
    if indexes:
        only = indexes[0]
        return lambda values: (values[only],)
    return lambda values: ()


#: Declared types that certainly hold text (others are looked up in the catalog).
_TEXT_DECLARED = ("text", "character varying", "varchar", "character", "char", "bpchar", "")


def _text_declared(declared: str) -> bool:
    return declared.lower().split("(")[0].strip() in _TEXT_DECLARED


class IntegrityChecker:
    """Verifies the ``buyers`` table against the sheet. Read-only; create one per check.

    Each ``verify_*`` reads the sheet once. Raises ``SourceError``/``HeaderError`` when
    the sheet cannot be read or mapped, ``StoreError`` when the database cannot be read.
    """

    def __init__(
        self,
        db: Database,
        source: Source,
        *,
        key_column: str = "buyer_number",
        mapping: Mapping[str, str] | None = None,
        extra_is_finding: bool = True,
        fetch_chunk: int = FETCH_CHUNK,
        parse_options: ParseOptions | None = None,
        key_case: str = DEFAULT_KEY_CASE,
    ) -> None:
        if fetch_chunk < 1:
            raise ValueError("fetch_chunk must be at least 1")
        self.parse_options = parse_options or ParseOptions()
        #: How buyer numbers compare (rules.keys); the match of the check in progress.
        self.fold = key_fold(key_case)
        self._match: KeyMatch | None = None
        self._types: Mapping[str, ColumnType] = {}
        self.db = db
        self.source = source
        self.key_column = key_column
        self.mapping = dict(mapping or {})
        self.extra_is_finding = extra_is_finding
        #: Differing rows fetched and compared per query in ``verify_full``.
        self.fetch_chunk = fetch_chunk

    # -- public ----------------------------------------------------------------
    def verify(
        self, mode: VerifyMode, *, sample_size: int = 100, seed: int | None = None
    ) -> VerifyReport:
        """Run the check of ``mode`` (``sample_size``/``seed`` apply to SAMPLE)."""
        if mode is VerifyMode.FULL:
            return self.verify_full()
        if mode is VerifyMode.COMPLETENESS:
            return self.verify_completeness()
        return self.verify_sample_data(sample_size, seed=seed)

    def verify_completeness(self) -> VerifyReport:
        """Missing and extra buyers only (requirement 9.1, property 23)."""
        return self._sampled(0, None, VerifyMode.COMPLETENESS)

    def verify_sample_data(self, sample_size: int, *, seed: int | None = None) -> VerifyReport:
        """Completeness plus ``sample_size`` random buyers compared field by field.

        The sample is drawn uniformly from sheet buyers that are in the database. With
        ``seed`` None a seed is drawn and reported, so any run can be reproduced.
        """
        if seed is None:
            seed = random.SystemRandom().randrange(2**31)
        return self._sampled(sample_size, seed, VerifyMode.SAMPLE)

    def verify_full(self) -> VerifyReport:
        """Completeness plus every buyer compared field by field."""
        started, clock = utcnow(), time.perf_counter()
        plan = self._plan()
        width, pick, join = len(plan.columns), plan.pick, SEPARATOR.join  # join: joined()
        typed, options = plan.typed, self.parse_options
        add, is_blank, key_index = plan.scan.add, plan.is_blank, plan.colmap.key_index
        suspects: dict[str, tuple[int, tuple[str, ...]]] = {}
        mismatches: list[Mismatch] = []
        checked = 0
        # Rows read before the database's fingerprints arrive wait here, as their joined
        # text (a third of the memory of a tuple of cells); a bounded number of them.
        waiting: list[_Waiting] = []
        waiting_chars = 0
        # The database's fingerprints, once all in: each sheet buyer takes (and drops)
        # its own, so the two sides are not held in full at the same time.
        match: KeyMatch | None = None
        stored = _Fingerprints()
        stored_at = stored.fingerprint
        with Prefetch(
            self.db,
            lambda: fingerprints.iter_fingerprints(self.db, plan.columns, plan.types),
            stored,
        ) as prefetch:
            if prefetch.done():  # no worker (SQLite): read the database first
                match = self._matching(prefetch.result().index)
            for row in plan.rows:
                values = row.values
                raw = values[key_index]  # sources pad rows to the header's width
                # A key cell with a non-space character makes the row non-blank: the
                # whole-row blank check is needed only for rows without one.
                if not raw.strip() and is_blank(row):
                    continue
                key = add(row.row_number, raw)
                if key is None:
                    continue
                picked = pick(values)
                if typed:
                    # typed cells hash as their canonical text; the cells as written
                    # wait (a suspect is compared as the sheet wrote it)
                    text = join(canonical_cells(picked, typed, options))
                else:
                    text = join(picked)
                fingerprint = text_fingerprint(text, width)
                if match is None:
                    waiting.append(
                        (
                            key,
                            row.row_number,
                            fingerprint,
                            picked if fingerprint is None or typed else text,
                        )
                    )
                    waiting_chars += len(text)
                    if waiting_chars > WAITING_CHARS or (
                        len(waiting) % 1024 == 0 and prefetch.done()
                    ):
                        match = self._matching(prefetch.result().index)
                        checked += _settle(waiting, match, stored, width, suspects)
                        waiting.clear()
                    continue
                index = match.take(key, row.row_number)
                if index is None:
                    continue  # missing: the key diff reports it
                checked += 1
                if fingerprint is None or fingerprint != stored_at(index):
                    suspects[key] = (row.row_number, picked)
                    if len(suspects) >= self.fetch_chunk:
                        mismatches.extend(self._compare(plan.columns, suspects))
                        suspects.clear()
            if match is None:
                match = self._matching(prefetch.result().index)
                checked += _settle(waiting, match, stored, width, suspects)
            del waiting
        mismatches.extend(self._compare(plan.columns, suspects))
        diff = match.finish(len(plan.scan.first_row))
        return self._report(VerifyMode.FULL, plan, diff, mismatches, checked, started, clock)

    # -- steps -----------------------------------------------------------------
    def _matching(self, database: set[str] | dict[str, Any]) -> KeyMatch:
        """The key match of this check, under the ``key_case`` comparison."""
        self._match = KeyMatch(database, self.fold)
        return self._match

    def _plan(self) -> _Plan:
        colmap, rows, checker = read_sheet(
            self.source, key_column=self.key_column, mapping=self.mapping
        )
        table = fingerprints.TABLE
        existing = self.db.columns(table) if self.db.table_exists(table) else {}
        index_of = {c: i for i, c in enumerate(colmap.columns) if c is not None}
        data = colmap.data_columns
        columns = tuple(c for c in data if not existing or c in existing)
        unverified = tuple(c for c in data if existing and c not in existing)
        if not existing:
            columns = ()  # no table yet: every buyer is missing, nothing to compare
        types: dict[str, ColumnType] = {}
        if any(not _text_declared(existing[c]) for c in columns):
            # Imported here: only a table with typed columns needs the catalog.
            from buyersync.store.catalog import column_types

            types = {c: t for c, t in column_types(self.db).items() if c in columns and t.typed}
        self._types = types
        unfed, no_longer_fed = self._unfed(existing, colmap)
        return _Plan(
            colmap,
            columns,
            tuple(index_of[c] for c in columns),
            unverified,
            rows,
            checker.is_blank,
            unfed,
            no_longer_fed,
            scan=KeyScan(self.fold),
            types=types,
        )

    def _unfed(
        self, existing: Mapping[str, str], colmap: ColumnMap
    ) -> tuple[tuple[str, ...], tuple[str, ...]]:
        """buyers columns the sheet does not feed, and those the last sync did feed."""
        from buyersync.rules.headers import fed_columns
        from buyersync.store import headers
        from buyersync.store.buyers import TIMESTAMP_COLUMNS

        managed = {KEY_COLUMN, *TIMESTAMP_COLUMNS}
        mapped = set(colmap.columns)
        unfed = tuple(c for c in existing if c not in managed and c not in mapped)
        baseline = headers.baseline(self.db, self.source.description) if unfed else None
        was_fed = fed_columns(baseline) if baseline else {}
        return unfed, tuple(c for c in unfed if c in was_fed)

    def _sampled(self, size: int, seed: int | None, mode: VerifyMode) -> VerifyReport:
        started, clock = utcnow(), time.perf_counter()
        plan = self._plan()
        reservoir: Reservoir[tuple[str, int, tuple[str, ...]]] = Reservoir(
            size, random.Random(seed)
        )
        add, is_blank, key_index = plan.scan.add, plan.is_blank, plan.colmap.key_index
        match: KeyMatch | None = None
        with Prefetch(
            self.db, lambda: fingerprints.iter_text_keys(self.db), set[str]()
        ) as prefetch:
            # A sample is drawn from buyers in the database, so it needs the keys while
            # the sheet streams by; completeness needs them only once they are all in.
            if size or prefetch.done():
                match = self._matching(prefetch.result())
            rows = 0
            for row in plan.rows:
                raw = row.values[key_index]  # sources pad rows to the header's width
                if not raw.strip() and is_blank(row):
                    continue
                key = add(row.row_number, raw)
                rows += 1
                if match is not None:
                    if key is not None and match.take(key, row.row_number) is not None and size:
                        reservoir.offer((key, row.row_number, plan.pick(row.values)))
                elif rows % 1024 == 0 and (prefetch.done() or rows >= AHEAD_ROWS):
                    match = self._matching(prefetch.result())
                    match.take_all(plan.scan.first_row.items())
            if match is None:
                match = self._matching(prefetch.result())
                match.take_all(plan.scan.first_row.items())
        sample = {key: (row, values) for key, row, values in reservoir.items}
        mismatches = self._compare(plan.columns, sample) if sample else []
        diff = match.finish(len(plan.scan.first_row))
        report = self._report(mode, plan, diff, mismatches, len(sample), started, clock)
        if mode is VerifyMode.SAMPLE:
            report = replace(report, sample_size=size, seed=seed)
        return report

    def _compare(
        self, columns: tuple[str, ...], rows: Mapping[str, tuple[int, tuple[str, ...]]]
    ) -> list[Mismatch]:
        """Fetch these buyers' database values in one query per chunk and compare them."""
        if not rows:
            return []
        # Imported here: the buyers store (and the catalog it loads) is needed only
        # when something differs, and start-up is a visible part of a check's time.
        from buyersync.store import buyers

        # Matched sheet buyers are fetched by the database's spelling of their key.
        spelled = self._match.stored_key if self._match is not None else str
        stored = buyers.fetch(self.db, [spelled(k) for k in rows], columns)
        found: list[Mismatch] = []
        for key, (row_number, values) in rows.items():
            db_values = stored.get(spelled(key))
            if db_values is None:
                continue  # deleted since the first pass; the next check reports it missing
            found.extend(
                compare_row(
                    key,
                    row_number,
                    columns,
                    values,
                    db_values,
                    types=self._types,
                    options=self.parse_options,
                )
            )
        return found

    def _missing_causes(self, missing: Sequence[tuple[str, int]]) -> dict[str, int]:
        """Count the missing buyers by the category of their open problem."""
        if not missing or not self.db.table_exists(problems.TABLE):
            return {}
        causes: dict[str, int] = {}
        for category in problems.open_by_buyer(self.db, [k for k, _ in missing]).values():
            causes[category] = causes.get(category, 0) + 1
        return dict(sorted(causes.items()))

    def _report(
        self,
        mode: VerifyMode,
        plan: _Plan,
        diff: KeyDiff,
        mismatches: list[Mismatch],
        checked: int,
        started: datetime,
        clock: float,
    ) -> VerifyReport:
        mismatches.sort(key=lambda m: (m.row_number, plan.columns.index(m.column)))
        report = VerifyReport(
            mode=mode,
            source=self.source.description,
            started_at=started,
            duration_s=time.perf_counter() - clock,
            diff=diff,
            duplicates=tuple(plan.scan.duplicates),
            blank_key_rows=tuple(plan.scan.blank_key_rows),
            mismatches=tuple(mismatches),
            checked=checked,
            columns=plan.columns,
            unverified_columns=plan.unverified,
            unfed_columns=plan.unfed,
            no_longer_fed=plan.no_longer_fed,
            extra_is_finding=self.extra_is_finding,
            missing_causes=self._missing_causes(diff.missing),
            cells=SheetCells.of(self.source, plan.colmap.key_index, plan.columns, plan.indexes),
        )
        log.info(
            "verify %s: %d buyers in sheet, %d in database, %d missing, %d extra, "
            "%d mismatched fields in %d buyers checked (%.2fs)",
            mode,
            diff.sheet_count,
            diff.database_count,
            diff.missing_count,
            diff.extra_count,
            len(mismatches),
            checked,
            report.duration_s,
        )
        return report
