"""Field-by-field comparison of a sheet row with its database row (properties 24, 25).

The comparison uses exactly the normalization the sync applies when it writes: cell
text is stored as read (no trimming, no number or date conversion) and an empty cell
is stored as NULL. So ``""`` and ``None`` are equal here, and anything else must match
character for character. Buyer numbers are compared after
:func:`buyersync.rules.normalize.normalize_key`, as the sync stores them.

Row fingerprints let ``verify --full`` skip rows that certainly match: SHA-256 of the
row's values joined with :data:`SEPARATOR` (NULL and ``""`` alike), computed the same
way by PostgreSQL (:mod:`buyersync.store.fingerprints`) and here, so only
(buyer number, fingerprint) pairs cross the wire.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from hashlib import sha256
from typing import Any, Generic, TypeVar

from buyersync.rules.coltypes import ColumnType
from buyersync.rules.typed import ParseOptions, Problem, parse
from buyersync.rules.typedcells import stored_value

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


#: Joins a row's values before hashing. A value that holds it makes the join ambiguous
#: (``("a\x1f", "b")`` and ``("a", "\x1fb")`` join alike), see :func:`text_fingerprint`.
SEPARATOR = "\x1f"
#: The fingerprint of a database row that cannot be fingerprinted (a non-text value):
#: it equals no sheet fingerprint, so the row is always compared field by field.
NO_FINGERPRINT = b""


def _digest(text: str) -> bytes:
    # "surrogatepass": a lone surrogate from a sheet must not crash the check; no
    # database stores one, so such a row simply never matches and is compared.
    return sha256(text.encode("utf-8", "surrogatepass")).digest()[:16]


def joined(values: Sequence[str]) -> str:
    """A sheet row's values joined with :data:`SEPARATOR`, the text its fingerprint hashes.

    ``values`` are cells as read (``""`` for an empty cell: it hashes as NULL does).
    """
    return SEPARATOR.join(values)


def text_fingerprint(text: str, width: int) -> bytes | None:
    """The fingerprint of a :func:`joined` row of ``width`` values, when it can be trusted.

    ``None`` when a value holds :data:`SEPARATOR` (the join no longer says where values
    end): such a row must be compared field by field. Otherwise equal to
    :func:`db_fingerprint` of exactly the values the sync stores for the row, and
    unequal (but for a hash collision, odds 2**-128) to that of any other values.
    """
    if width == 0:
        return _digest("")
    if text.count(SEPARATOR) != width - 1:
        return None
    # _digest, inlined: this runs once per sheet row.
    return sha256(text.encode("utf-8", "surrogatepass")).digest()[:16]


def split_joined(text: str, width: int) -> tuple[str, ...]:
    """The values of a :func:`joined` row that :func:`text_fingerprint` trusted."""
    return tuple(text.split(SEPARATOR)) if width else ()


def sheet_fingerprint(values: Sequence[str | None]) -> bytes:
    """A hash of a row's stored values, equal to :func:`db_fingerprint` of equal values.

    An empty cell hashes as NULL. Used only to skip rows that certainly match (see
    :func:`text_fingerprint` for the one case where equal fingerprints prove nothing);
    rows whose fingerprints differ are compared field by field with :func:`compare_row`.
    """
    return _digest(SEPARATOR.join([v or "" for v in values]))


def db_fingerprint(values: Sequence[object]) -> bytes:
    """The fingerprint of a database row's values, byte for byte what PostgreSQL computes.

    The first 16 bytes of the SHA-256 of the UTF-8 text of the values joined with :data:`SEPARATOR`, NULL as ``""``:
    :func:`buyersync.store.fingerprints.fingerprint_sql` computes the same in the
    database. A row with a non-text value (a legacy typed column, an SQLite BLOB) gets
    :data:`NO_FINGERPRINT` and is compared with :func:`compare_row`, which decides with
    :func:`db_text`.
    """
    try:
        return _digest(SEPARATOR.join(values))  # type: ignore[arg-type]
    except TypeError:  # a NULL (common) or a non-text value (legacy)
        pass
    try:
        return _digest(SEPARATOR.join(["" if v is None else v for v in values]))  # type: ignore[misc]
    except TypeError:  # an integer, a date, a BLOB…: never "", even when falsy (0)
        return NO_FINGERPRINT


def compare_row(
    buyer_number: str,
    row_number: int,
    columns: Sequence[str],
    sheet_values: Sequence[str | None],
    db_values: Sequence[object],
    *,
    types: Mapping[str, ColumnType] | None = None,
    options: ParseOptions | None = None,
) -> list[Mismatch]:
    """Every column whose stored sheet value differs from the database value, in column order.

    ``sheet_values`` and ``db_values`` line up with ``columns``. A typed column (in
    ``types``) compares values: the sheet cell parsed with ``options`` against the
    database value read back, so ``1,234.50`` equals a stored ``1234.5``; a cell
    that does not parse matches nothing.
    """
    if not len(columns) == len(sheet_values) == len(db_values):
        raise ValueError("columns, sheet_values and db_values must have the same length")
    types = types or {}
    found: list[Mismatch] = []
    for column, raw, stored in zip(columns, sheet_values, db_values, strict=True):
        ctype = types.get(column)
        if ctype is not None and ctype.typed:
            sheet = parse(raw or "", ctype, options)
            held = stored_value(stored, ctype)
            if not isinstance(sheet, Problem) and not isinstance(held, Problem) and sheet == held:
                continue
        expected = sheet_text(raw)
        actual = db_text(stored)
        if ctype is not None and ctype.typed or expected != actual:
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
