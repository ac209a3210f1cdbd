"""One cell as the text a person sees, and the raw rows both readers yield."""

from __future__ import annotations

import datetime as dt
import html
import re
from typing import Any, TypeAlias

from buyersync.rules.normalize import column_letter
from buyersync.sources.xlsx.formats import FormatKind, NumberFormat, digits_text

#: ``(column, message)`` for every cell of a row that cannot be read as written
#: (column 0-based), as :class:`buyersync.records.SheetRow` carries them.
CellProblems: TypeAlias = tuple[tuple[int, str], ...]
#: One sheet row as a reader yields it: ``(row_number, cells, problems)``. A plain
#: tuple, not a class: a reader yields up to a million of them.
RawRow: TypeAlias = tuple[int, list[str], CellProblems]

_EPOCH_1900 = dt.datetime(1899, 12, 30)
_EPOCH_1904 = dt.datetime(1904, 1, 1)
_XESC = re.compile(r"_x([0-9A-Fa-f]{4})_")


def number_text(value: float) -> str:
    """A number as a person reads it: ``10001.0`` → ``"10001"``, else shortest repr."""
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def duration_text(value: dt.timedelta) -> str:
    """A duration as Excel's ``[h]:mm:ss`` shows it: total hours, e.g. ``"255:10:54"``."""
    seconds = round(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}"


def cell_text(value: Any) -> str:
    """The text a person sees for a value as python-calamine returns it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return number_text(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return duration_text(value)
    return "" if value is None else str(value)


def _serial_text(value: float, *, date1904: bool) -> str:
    """An Excel date serial as ISO 8601 (a date, a time of day, or both)."""
    ms = round(value * 86_400_000)
    if value < 1:  # a time of day without a date
        return (dt.datetime.min + dt.timedelta(milliseconds=ms)).time().isoformat()
    if not date1904 and value < 60:
        ms += 86_400_000  # Excel's 1900 leap-year bug: serials below 60 are one day off
    when = (_EPOCH_1904 if date1904 else _EPOCH_1900) + dt.timedelta(milliseconds=ms)
    if ms % 86_400_000 == 0:
        return when.date().isoformat()
    return when.isoformat()


def number_cell_text(value: float, fmt: NumberFormat, *, date1904: bool) -> str:
    """The text of a numeric cell, given the number format of its style.

    This is the one place that turns a stored number into what the cell shows.
    """
    try:
        if fmt.kind is FormatKind.DURATION:
            return duration_text(dt.timedelta(days=value))
        if fmt.kind is FormatKind.DATE:
            return _serial_text(value, date1904=date1904)
        if fmt.kind is FormatKind.DIGITS and fmt.code is not None:
            shown = digits_text(value, fmt.code)
            if shown is not None:
                return shown
    except (OverflowError, ValueError):
        pass  # a serial outside the calendar, or inf/nan: show the number
    return number_text(value)


#: Excel keeps 15 significant digits: a number of 16 or more integer digits has lost
#: the ones after the 15th (a 20-digit ID typed as a number), whatever it shows.
ROUNDED_ABOVE = 1e15


def digits_lost(value: float) -> bool:
    """Whether Excel has already rounded this number's digits (16 or more of them)."""
    return abs(value) >= ROUNDED_ABOVE


def rounded_problem(row: int, col: int, text: str) -> tuple[int, str]:
    """The problem a number with more digits than Excel keeps puts on its row."""
    return (
        col,
        f"cell {column_letter(col)}{row} holds the number {text}, which has more than 15 "
        "significant digits: Excel keeps only 15, so the digits after them are already "
        "lost in the file; format the column as Text in the sheet and enter the values "
        "again (or import them as text)",
    )


def uncached_problem(row: int, col: int) -> tuple[int, str]:
    """The problem a formula without a saved value puts on its row."""
    return (
        col,
        f"cell {column_letter(col)}{row} holds a formula with no saved value (the file "
        "was written by a program that does not calculate); open and save the file in "
        "Excel or LibreOffice",
    )


def unescape(text: str) -> str:
    """Undo XML entities and OOXML's ``_xHHHH_`` escapes (``_x000D_`` is a CR)."""
    if "&" in text:
        text = html.unescape(text)
    return unescape_ooxml(text)


def unescape_ooxml(text: str) -> str:
    """Undo OOXML's ``_xHHHH_`` escapes only (text an XML parser already decoded)."""
    if "_x" in text:
        text = _XESC.sub(lambda m: chr(int(m.group(1), 16)), text)
    return text


def col_index(ref: str) -> int:
    """0-based column of a cell reference such as ``"AB12"``."""
    n = 0
    for ch in ref:
        if "A" <= ch <= "Z":
            n = n * 26 + ord(ch) - 64
        elif "a" <= ch <= "z":
            n = n * 26 + ord(ch) - 96
        else:
            break
    return n - 1


def row_of(ref: str) -> int:
    """1-based row of a cell reference such as ``"AB12"`` (0 when it has none)."""
    digits = ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    return int(digits) if digits.isdigit() else 0


def error_problem(row: int, col: int, error: str) -> tuple[int, str]:
    """The problem an error cell (``#REF!`` …) puts on its row."""
    return (
        col,
        f"cell {column_letter(col)}{row} holds the error {error}; "
        "fix the formula or its inputs in the sheet",
    )


__all__ = [
    "CellProblems",
    "RawRow",
    "cell_text",
    "col_index",
    "digits_lost",
    "duration_text",
    "error_problem",
    "number_cell_text",
    "number_text",
    "rounded_problem",
    "row_of",
    "unescape",
    "uncached_problem",
    "unescape_ooxml",
]
