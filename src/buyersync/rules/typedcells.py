"""Typed cells between the parser and the database: the text a value is staged as,
the text it is compared as, and the one-line problem of a cell that does not parse.

:func:`buyersync.rules.typed.parse` decides what a cell means; this module says how
that value travels. A typed value is staged as *canonical text* — ISO dates, ``.``
decimals, ``true``/``false`` — which PostgreSQL's cast reads back exactly and which
SQLite stores with the column's affinity (``'1234.50'`` becomes the number 1234.5 in
a NUMERIC column, a date stays ISO text, a boolean is staged as ``1``/``0`` because
SQLite has no boolean storage class). Values never go to a driver as ``Decimal`` or
``date`` objects: sqlite3's default adapters for those are deprecated.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from buyersync.rules.coltypes import ColumnType
from buyersync.rules.normalize import column_letter
from buyersync.rules.typed import ParseOptions, Problem, Value, parse

#: How databases print typed values: '.' decimals, ISO dates, offsets on instants.
#: Reading a database value back through the parser with these options gives the
#: value a sheet cell is compared with.
CANONICAL = ParseOptions()
#: Longest cell value a message repeats (the error log keeps the whole value).
_SHOWN = 60


def canonical_text(value: Value, booleans: tuple[str, str] = ("true", "false")) -> str | None:
    """The text a parsed value is staged and compared as (``None`` for NULL)."""
    if value is None:
        return None
    if isinstance(value, bool):  # before int: bool is an int
        return booleans[0] if value else booleans[1]
    if isinstance(value, Decimal):
        return format(value, "f")
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, datetime):  # before date: datetime is a date
        return value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        return value or None
    return str(value)


def stored_value(value: object, column: ColumnType) -> Value | Problem:
    """A database value of a typed column as the parser's value, to compare with a
    sheet cell's: ``Decimal('1234.5')`` from SQLite's REAL, ``1`` as ``True`` …"""
    if value is None:
        return None
    text = value if isinstance(value, str) else canonical_text(value)  # type: ignore[arg-type]
    return parse(text or "", column, CANONICAL)


#: A row's typed cells: (position among the row's values, the column's type).
TypedSlots = Sequence[tuple[int, ColumnType]]


def canonical_cells(
    values: Sequence[str], typed: TypedSlots, options: ParseOptions
) -> tuple[str, ...]:
    """A sheet row's compared values with each typed cell as its canonical text (``""``
    for an empty one); a cell that does not parse stays as written, so it matches no
    stored value."""
    out = list(values)
    for pos, column in typed:
        parsed = parse(out[pos], column, options)
        if not isinstance(parsed, Problem):
            out[pos] = canonical_text(parsed) or ""
    return tuple(out)


def canonical_stored(values: Sequence[object], typed: TypedSlots) -> list[object]:
    """A database row's values with each typed value as its canonical text, so that it
    fingerprints as :func:`canonical_cells` of a sheet row holding the same values."""
    out = list(values)
    for pos, column in typed:
        value = out[pos]
        if value is not None:
            parsed = stored_value(value, column)
            if not isinstance(parsed, Problem):
                out[pos] = canonical_text(parsed)
    return out


def shown(value: str) -> str:
    """A cell value as a message quotes it: escaped, and cut when long."""
    cut = value if len(value) <= _SHOWN else value[: _SHOWN - 1] + "…"
    return repr(cut)


def cell_problem(
    column: str, index: int, row_number: int, value: str, problem: Problem
) -> dict[str, Any]:
    """The ``details`` entry of one cell that does not parse."""
    return {
        "column": column,
        "cell": f"{column_letter(index)}{row_number}",
        "value": value,
        "expected": problem.expected,
        "problem": str(problem.code),
        "message": problem.message,
    }


def problems_message(row_number: int, key: str, cells: Sequence[dict[str, Any]]) -> str:
    """``row 5 (buyer B3): cell C5 (credit_limit, numeric(12,2)) holds 'n/a': expected
    …; correct the cell in the sheet``."""
    parts = [
        f"cell {c['cell']} ({c['column']}, {c['expected']}) holds {shown(c['value'])}: "
        f"{c['message']}"
        for c in cells
    ]
    return f"row {row_number} (buyer {key}): {'; '.join(parts)}; correct the cell in the sheet"
