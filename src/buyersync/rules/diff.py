"""Exact key difference between the sheet and the database (requirement 2.2, properties 2, 23).

"The counts differ" is never the answer on its own: :func:`diff_keys` returns the
exact set difference of normalized buyer numbers both ways. Callers normalize keys
with :func:`buyersync.rules.normalize.normalize_key` before they get here, so the
comparison is the same one the sync makes when it upserts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass


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
    db_set: set[str] = set()
    for key in db_keys:
        if key:
            db_set.add(key)
    missing = sorted(
        ((key, row) for key, row in sheet_keys.items() if key and key not in db_set),
        key=lambda item: (item[1], item[0]),
    )
    sheet_count = sum(1 for key in sheet_keys if key)
    extra = sorted(key for key in db_set if key not in sheet_keys)
    return KeyDiff(
        missing=tuple(missing),
        extra=tuple(extra),
        sheet_count=sheet_count,
        database_count=len(db_set),
    )
