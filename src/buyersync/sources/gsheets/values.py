"""The cells of a values answer: what a page must be, and how a cell reads as text."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from buyersync.sources.a1 import split_range
from buyersync.sources.gsheets.client import _BadAnswer

_MASK = (1 << 64) - 1
#: What a cell of a values answer may be (FORMATTED_VALUE sends strings).
_CELL_TYPES = (str, int, float, bool, type(None))


@dataclass
class KeyDigest:
    """An order-free digest of ``(row, buyer number)`` of the rows read: compared with
    the key column read on its own, so the two reads must hold the same numbers."""

    count: int = 0
    digest: int = 0

    def add(self, number: int, value: str) -> None:
        self.count += 1
        self.digest = (self.digest + hash((number, value))) & _MASK


def _text(value: Any) -> str:
    """FORMATTED_VALUE cells are strings; anything else is shown as JSON would."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _rows_of(cells: str) -> tuple[int | None, int | None]:
    """First and last row of ``"A5:Z100"`` (``None`` when absent)."""
    first, _, second = cells.partition(":")
    a = "".join(ch for ch in first if ch.isdigit())
    b = "".join(ch for ch in (second or first) if ch.isdigit())
    return (int(a) if a else None, int(b) if b else None)


def check_values(body: dict[str, Any], a1: str, title: str, first_row: int, last_row: int) -> None:
    """Raise :class:`_BadAnswer` unless ``body`` is the whole answer for ``a1`` (rows
    ``first_row..last_row`` of tab ``title``): a partial answer is retried, never used."""
    asked = last_row - first_row + 1
    # Google always names the range it answers; a range that does not cover
    # what was asked is a partial answer. An answer that names none (some
    # stand-ins and proxies) cannot be checked that way and is taken as it is.
    if "range" in body:
        if not isinstance(body["range"], str):
            raise _BadAnswer(f"the answer for {a1} names no range as text")
        got_title, cells = split_range(body["range"])
        start, end = _rows_of(cells)
        if got_title != title or start != first_row or end is None or end < last_row:
            raise _BadAnswer(
                f"asked for {a1} but the answer covers {body.get('range')!r} (a partial range)"
            )
    values = body.get("values", [])
    if (
        not isinstance(values, list)
        or len(values) > asked
        or not all(isinstance(r, list) for r in values)
    ):
        raise _BadAnswer(f"the answer for {a1} is not a list of at most {asked} rows")
    if not all(isinstance(v, _CELL_TYPES) for r in values for v in r):
        raise _BadAnswer(f"the answer for {a1} has a cell that is an array or object")
