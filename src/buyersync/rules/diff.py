"""Exact key difference between the sheet and the database (requirement 2.2, properties 2, 23).

"The counts differ" is never the answer on its own: :func:`diff_keys` returns the
exact set difference of normalized buyer numbers both ways. Callers normalize keys
with :func:`buyersync.rules.normalize.normalize_key` before they get here, so the
comparison is the same one the sync makes when it upserts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from buyersync.rules.normalize import normalize_key


@dataclass(frozen=True)
class KeyDiff:
    """The key difference between the sheet's valid buyers and the ``buyers`` table.

    ``missing`` holds ``(buyer_number, row_number)`` for keys in the sheet but not in the
    database, ordered by sheet row; ``extra`` holds keys in the database but no longer
    in the sheet, sorted. The counts are of distinct keys on each side.
    """

    missing: tuple[tuple[str, int], ...]  # in the sheet, not in the database (by row number)
    extra: tuple[str, ...]  # in the database, not in the sheet (sorted)
    sheet_count: int  # distinct normalized keys in the sheet
    database_count: int  # distinct keys in the database

    @property
    def missing_count(self) -> int:
        """How many sheet keys are not in the database."""
        return len(self.missing)

    @property
    def extra_count(self) -> int:
        """How many database keys are not in the sheet."""
        return len(self.extra)

    @property
    def missing_keys(self) -> frozenset[str]:
        """The missing buyer numbers as a set (for ``SyncEngine(select_keys=...)``)."""
        return frozenset(key for key, _ in self.missing)

    @property
    def in_step(self) -> bool:
        """True when neither side has a key the other lacks."""
        return not self.missing and not self.extra


def diff_keys(sheet_keys: Mapping[str, int], db_keys: Iterable[str]) -> KeyDiff:
    """Compare normalized sheet keys (key → first sheet row number) with database keys.

    ``db_keys`` is consumed once (it may be a stream from ``store.buyers.iter_keys``);
    duplicates in it are counted once. Runs in linear time: one set of database keys,
    one pass over the sheet keys. The blank key ``""`` is not a buyer and is ignored on
    both sides.
    """
    # Set operations and comprehensions: at 100,000 buyers the explicit Python loops
    # here were a tenth of `missing`'s time.
    db_set = {key for key in db_keys if key}
    missing = sorted(
        ((key, row) for key, row in sheet_keys.items() if key and key not in db_set),
        key=lambda item: (item[1], item[0]),
    )
    sheet_count = len(sheet_keys) - ("" in sheet_keys)
    extra = sorted(db_set.difference(sheet_keys))
    return KeyDiff(
        missing=tuple(missing),
        extra=tuple(extra),
        sheet_count=sheet_count,
        database_count=len(db_set),
    )


@dataclass(frozen=True)
class Duplicate:
    """A sheet row whose buyer number already appeared on an earlier row."""

    buyer_number: str  # the normalized buyer number
    row_number: int  # the later row (the sync logs it as duplicate_key)
    first_row: int  # the row that wins


class KeyScan:
    """Sheet keys in row order, decided exactly as the sync's ``RowChecker`` does.

    Feed it every non-blank row's raw key cell in sheet order; it keeps the first row of
    each normalized buyer number, the later rows that repeat one, and the rows with no
    buyer number. A *buyer* is a distinct normalized key: duplicate and keyless rows are
    not buyers of their own, so they are never "missing" (they are reported apart).
    """

    def __init__(self) -> None:
        self.first_row: dict[str, int] = {}
        self.duplicates: list[Duplicate] = []
        self.blank_key_rows: list[int] = []

    def add(self, row_number: int, raw_key: str | None) -> str | None:
        """Record one non-blank row; return its key when it is the buyer's first row."""
        # NFKC leaves ASCII unchanged: skip the call for the usual key (once per row).
        key = raw_key.strip() if raw_key and raw_key.isascii() else normalize_key(raw_key)
        if not key:
            self.blank_key_rows.append(row_number)
            return None
        first = self.first_row.get(key)
        if first is not None:
            self.duplicates.append(Duplicate(key, row_number, first))
            return None
        self.first_row[key] = row_number
        return key


def scan_keys(rows: Iterable[tuple[int, str | None]]) -> KeyScan:
    """A :class:`KeyScan` over ``(row_number, raw_key)`` pairs of non-blank rows."""
    scan = KeyScan()
    for row_number, raw in rows:
        scan.add(row_number, raw)
    return scan
