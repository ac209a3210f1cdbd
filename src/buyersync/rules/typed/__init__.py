"""Sheet text → the value a typed column stores, the same way on every backend.

:func:`parse` is total: every string gives either a value or a :class:`Problem`, and it
never raises. The value is what the database should store: ``None`` (an empty cell),
``int``, ``decimal.Decimal``, ``float``, ``bool``, ``datetime.date``, a naive
``datetime.datetime`` (TIMESTAMP), one in UTC (TIMESTAMPTZ) or ``str`` (TEXT, OTHER).
Where it accepts text, PostgreSQL's own cast of the same value agrees (a property test
checks it), so SQLite, which would store anything, gets PostgreSQL's decisions.

The rules are documented in docs/sources.md ("Typed columns"); in short:

* numbers use the separators of :attr:`ParseOptions.number_format`, in groups of three,
  with no currency or percent signs; an integer column takes no fraction (PostgreSQL
  refuses ``'1.0'::integer`` too); a number out of the column's range is a problem;
* booleans are yes/no, true/false, y/n, t/f, on/off, 1/0 in any case;
* dates are ISO (2024-12-31) always, and day/month/year orders only per
  :attr:`ParseOptions.date_order` — never guessed;
* timestamps are a date, then ``T`` or a space, then a time; a TIMESTAMPTZ value without
  an offset is in :attr:`ParseOptions.timezone`.
"""

from __future__ import annotations

from collections.abc import Callable

from buyersync.rules.coltypes import ColumnType, Kind
from buyersync.rules.typed.booleans import parse_boolean
from buyersync.rules.typed.numbers import parse_integer, parse_numeric, parse_real
from buyersync.rules.typed.options import (
    DATE_ORDERS,
    NUMBER_FORMATS,
    ParseOptions,
    Problem,
    ProblemCode,
    Value,
    zone,
)
from buyersync.rules.typed.times import parse_date, parse_timestamp


def parse(text: str, column: ColumnType, options: ParseOptions | None = None) -> Value | Problem:
    """The value ``text`` stands for in ``column``, or the :class:`Problem` with it.

    An empty or whitespace-only cell is ``None`` in a typed column; TEXT and OTHER columns
    get the text unchanged (``""`` is ``None``). Never raises.
    """
    options = options or ParseOptions()
    if not column.typed:
        return text or None
    stripped = text.strip()
    if not stripped:
        return None
    return _PARSERS[column.kind](stripped, column, options)


_PARSERS: dict[Kind, Callable[[str, ColumnType, ParseOptions], Value | Problem]] = {
    Kind.INTEGER: parse_integer,
    Kind.NUMERIC: parse_numeric,
    Kind.REAL: parse_real,
    Kind.BOOLEAN: parse_boolean,
    Kind.DATE: parse_date,
    Kind.TIMESTAMP: parse_timestamp,
    Kind.TIMESTAMPTZ: parse_timestamp,
}


__all__ = [
    "DATE_ORDERS",
    "NUMBER_FORMATS",
    "ParseOptions",
    "Problem",
    "ProblemCode",
    "Value",
    "parse",
    "zone",
]
