"""Which sheet rows the database would refuse under the current limits, with column,
limit and value length, before anything is written."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass

from buyersync.records import SheetRow
from buyersync.rules.lengths import ColumnLimit, Excess, Unit, excess
from buyersync.rules.normalize import KEY_COLUMN, ColumnMap, normalize_key


@dataclass(frozen=True)
class Overflow:
    """One value longer than its column allows."""

    column: str
    limit: int
    length: int
    unit: Unit = Unit.CHARACTERS
    constraint: str | None = None  # the CHECK constraint that refuses it, if not the type

    def to_json(self) -> dict[str, object]:
        out: dict[str, object] = {"column": self.column, "limit": self.limit, "length": self.length}
        if self.unit is not Unit.CHARACTERS:
            out["unit"] = str(self.unit)
        if self.constraint:
            out["constraint"] = self.constraint
        return out

    def describe(self) -> str:
        """``name is 60 characters (limit 50)`` — for messages."""
        return Excess(self.length, self.limit, self.unit, self.constraint).describe(self.column)


@dataclass(frozen=True)
class OverflowRow:
    """A sheet row that the database would reject under the current limits."""

    row_number: int
    buyer_number: str | None
    overflows: tuple[Overflow, ...]

    def to_json(self) -> dict[str, object]:
        return {
            "row_number": self.row_number,
            "buyer_number": self.buyer_number,
            "columns": [o.to_json() for o in self.overflows],
        }


Limits = Mapping[str, int | ColumnLimit]


def _overflow(column: str, value: str, limit: int | ColumnLimit) -> Overflow | None:
    e = excess(value, limit)
    return None if e is None else Overflow(column, e.limit, e.length, e.unit, e.constraint)


def row_overflows(values: Mapping[str, str | None], limits: Limits) -> tuple[Overflow, ...]:
    """The values of one row the database would refuse for their length
    (:func:`buyersync.rules.lengths.excess`: exactly as the database decides)."""
    found = (
        _overflow(column, value, limits[column])
        for column, value in values.items()
        if value is not None and column in limits
    )
    return tuple(o for o in found if o is not None)


def would_fail(
    rows: Iterable[SheetRow], colmap: ColumnMap, limits: Limits
) -> Iterator[OverflowRow]:
    """Yield every non-blank row with a value longer than its column's limit.

    The buyer number is measured after normalization, as it is stored. Values are
    measured exactly as the sync writes them, so this predicts the sync's
    ``value_too_long`` failures row for row.
    """
    if not limits:
        return
    pairs = [
        (i, c)
        for i, c in enumerate(colmap.columns)
        if c is not None and i != colmap.key_index and c in limits
    ]
    key_limit = limits.get(KEY_COLUMN)
    for row in rows:
        values = row.values
        if not any(v.strip() for v in values):
            continue
        key = normalize_key(values[colmap.key_index]) if colmap.key_index < len(values) else ""
        cells: dict[str, str | None] = {c: values[i] for i, c in pairs if i < len(values)}
        over = row_overflows(cells, limits)
        key_over = _overflow(KEY_COLUMN, key, key_limit) if key_limit is not None else None
        if key_over is not None:
            over = (key_over, *over)
        if over:
            yield OverflowRow(row.row_number, key or None, over)


__all__ = ["Limits", "Overflow", "OverflowRow", "row_overflows", "would_fail"]
