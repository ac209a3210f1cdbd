"""Booleans: yes/no, true/false, y/n, t/f, on/off, 1/0 in any case."""

from __future__ import annotations

from buyersync.rules.coltypes import ColumnType
from buyersync.rules.typed.options import ParseOptions, Problem, ProblemCode, Value

_TRUE = frozenset({"true", "t", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "off", "0"})


def parse_boolean(text: str, column: ColumnType, options: ParseOptions) -> Value | Problem:
    word = text.lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    return Problem(
        ProblemCode.NOT_A_BOOLEAN,
        column.declared,
        "expected yes/no, true/false, y/n, t/f, on/off or 1/0 (a checkbox gives TRUE/FALSE)",
    )
