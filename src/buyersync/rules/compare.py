"""Field-by-field comparison of a sheet row with its database row (properties 24, 25).

The comparison uses exactly the normalization the sync applies when it writes: cell
text is stored as read (no trimming, no number or date conversion) and an empty cell
is stored as NULL. So ``""`` and ``None`` are equal here, and anything else must match
character for character. Buyer numbers are compared after
:func:`buyersync.rules.normalize.normalize_key`, as the sync stores them.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Mismatch:
    """One field whose database value differs from the sheet's."""

    buyer_number: str  # normalized buyer number
    row_number: int  # the buyer's sheet row (first occurrence)
    column: str  # the buyers column (mapped from the sheet header)
    sheet_value: str | None  # the value the sync would store (None: empty cell)
    db_value: str | None  # the value in the database, as text (None: NULL)

    def to_json(self) -> dict[str, Any]:
        return {
            "buyer_number": self.buyer_number,
            "row_number": self.row_number,
            "column": self.column,
            "sheet_value": self.sheet_value,
            "db_value": self.db_value,
        }


def sheet_text(value: str | None) -> str | None:
    """The value the sync stores for a sheet cell: the text as read, ``None`` when empty."""
    return value or None


def db_text(value: object) -> str | None:
    """A database value as comparable text.

    TEXT columns come back as ``str``; a legacy typed column (integer, date…) is shown
    with ``str()`` so that, e.g., a lost leading zero is reported rather than hidden.
    """
    if value is None:
        return None
    if isinstance(value, str):
        return value or None
    return str(value)


def sheet_fingerprint(values: Sequence[str | None]) -> int:
    """A hash of a row's stored values, equal to :func:`db_fingerprint` of equal values.

    Used only to skip rows that certainly match; rows whose fingerprints differ are
    compared field by field with :func:`compare_row`. Python's keyed string hash makes
    an accidental collision about 2**-64 per row within one process.
    """
    return hash(tuple([v or None for v in values]))


def db_fingerprint(values: tuple[object, ...]) -> int:
    """The fingerprint of a database row's values (see :func:`sheet_fingerprint`).

    Hashes the values as they come: the sync stores an empty cell as NULL and text as
    ``str``, so equal rows hash equal without converting each value. A row that hashes
    differently only for its representation (``""`` instead of NULL, a legacy integer
    column) is merely sent to :func:`compare_row`, which decides with :func:`db_text`.
    """
    return hash(values)


def compare_row(
    buyer_number: str,
    row_number: int,
    columns: Sequence[str],
    sheet_values: Sequence[str | None],
    db_values: Sequence[object],
) -> list[Mismatch]:
    """Every column whose stored sheet value differs from the database value, in column order.

    ``sheet_values`` and ``db_values`` line up with ``columns``.
    """
    if not len(columns) == len(sheet_values) == len(db_values):
        raise ValueError("columns, sheet_values and db_values must have the same length")
    found: list[Mismatch] = []
    for column, raw, stored in zip(columns, sheet_values, db_values, strict=True):
        expected = sheet_text(raw)
        actual = db_text(stored)
        if expected != actual:
            found.append(Mismatch(buyer_number, row_number, column, expected, actual))
    return found


class Reservoir(Generic[T]):
    """A uniform random sample of at most ``size`` items from a stream of unknown length.

    Algorithm R: with the same ``rng`` seed and the same stream, the same sample. Holds
    only ``size`` items, so a sample of 100 from a million rows costs 100 rows of memory.
    """

    def __init__(self, size: int, rng: random.Random) -> None:
        if size < 0:
            raise ValueError("sample size must not be negative")
        self.size = size
        self.rng = rng
        self.seen = 0
        self.items: list[T] = []

    def offer(self, item: T) -> None:
        """Consider one more item of the stream."""
        self.seen += 1
        if self.size == 0:
            return
        if len(self.items) < self.size:
            self.items.append(item)
            return
        slot = self.rng.randrange(self.seen)
        if slot < self.size:
            self.items[slot] = item
