"""Number formats of a workbook's cell styles: is a stored number a date, a duration
or a plain number (``xl/styles.xml``)."""

from __future__ import annotations

import enum
import re
import zipfile
from dataclasses import dataclass
from xml.etree import ElementTree as ET

from buyersync.sources.xlsx.workbook import MAIN_NS


class FormatKind(enum.Enum):
    """What a number format makes of the number stored in a cell."""

    GENERAL = "general"  # a plain number (General, 0.00, percentages, currency…)
    DATE = "date"  # a date serial shown as a date, a time or both
    DURATION = "duration"  # elapsed time ([h]:mm:ss): days shown as total hours


@dataclass(frozen=True)
class NumberFormat:
    """The number format of one cell style.

    ``code`` is the custom format code as written in the workbook; None for a
    built-in format (``format_id`` below 164 is one of Excel's own).
    """

    format_id: int
    kind: FormatKind
    code: str | None = None


GENERAL = NumberFormat(0, FormatKind.GENERAL)

_BUILTIN_DATE_FMTS = frozenset({14, 15, 16, 17, 18, 19, 20, 21, 22, 45, 47, *range(27, 37)})
_BUILTIN_DATE_FMTS |= frozenset(range(50, 59))
_BUILTIN_DURATION_FMTS = frozenset({46})
_FMT_NOISE = re.compile(r'"[^"]*"|\\.|_.|\*.')
_FMT_BRACKET = re.compile(r"\[([^\]]*)\]")


def format_kind(code: str) -> FormatKind:
    """What a custom number format code shows (only its first, positive section counts)."""
    code = _FMT_NOISE.sub("", code.split(";")[0])
    elapsed = False
    for inner in _FMT_BRACKET.findall(code):
        if inner.lower().strip("hms") == "" and inner:
            elapsed = True
    code = _FMT_BRACKET.sub("", code).lower()
    if elapsed:
        return FormatKind.DURATION
    if any(ch in code for ch in "dmyhse") and "general" not in code:
        return FormatKind.DATE
    return FormatKind.GENERAL


def _builtin(format_id: int) -> NumberFormat:
    if format_id in _BUILTIN_DATE_FMTS:
        return NumberFormat(format_id, FormatKind.DATE)
    if format_id in _BUILTIN_DURATION_FMTS:
        return NumberFormat(format_id, FormatKind.DURATION)
    return NumberFormat(format_id, FormatKind.GENERAL)


def load_number_formats(zf: zipfile.ZipFile, part: str | None) -> list[NumberFormat]:
    """The number format of every cell style, indexed by a cell's ``s=`` attribute."""
    if part is None:
        return []
    root = ET.fromstring(zf.read(part))
    custom: dict[int, NumberFormat] = {}
    fmts = root.find(f"{{{MAIN_NS}}}numFmts")
    for el in fmts if fmts is not None else []:
        fid = int(el.get("numFmtId", "0"))
        code = el.get("formatCode", "")
        custom[fid] = NumberFormat(fid, format_kind(code), code)
    found: list[NumberFormat] = []
    xfs = root.find(f"{{{MAIN_NS}}}cellXfs")
    for xf in xfs if xfs is not None else []:
        fid = int(xf.get("numFmtId", "0"))
        found.append(custom[fid] if fid in custom else _builtin(fid))
    return found


__all__ = ["GENERAL", "FormatKind", "NumberFormat", "format_kind", "load_number_formats"]
