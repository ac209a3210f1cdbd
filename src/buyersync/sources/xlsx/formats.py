"""Number formats of a workbook's cell styles: is a stored number a date, a duration,
a number whose format changes what it reads as, or a plain number (``xl/styles.xml``).

Only the formats that change a value's *identity* are rendered as Excel shows them
(:func:`digits_text`): digit placeholders with zero padding (``000000`` on 7123 shows
``007123``) and quoted or escaped literals (``"C"0000`` on 42 shows ``C0042``).
Decimals, thousands separators, percentages, currency, fractions and scientific
formats only change how a number looks, not which buyer it names: such cells keep
the plain number (``1234.5``), as before.
"""

from __future__ import annotations

import enum
import re
import zipfile
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from xml.etree import ElementTree as ET

from buyersync.sources.xlsx.workbook import MAIN_NS


class FormatKind(enum.Enum):
    """What a number format makes of the number stored in a cell."""

    GENERAL = "general"  # a plain number (General, 0.00, percentages, currency…)
    DATE = "date"  # a date serial shown as a date, a time or both
    DURATION = "duration"  # elapsed time ([h]:mm:ss): days shown as total hours
    DIGITS = "digits"  # zero padding or literals around the digits: 000000, "C"0000


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


_COLOR = re.compile(r"\[(?:black|blue|cyan|green|magenta|red|white|yellow|color ?\d{1,2})\]", re.I)
_PLACEHOLDERS = frozenset("0#?")
#: Characters Excel shows as themselves in a number format without quoting them.
_PLAIN_LITERALS = frozenset(" -()+:$")


def _sections(code: str) -> list[str]:
    """The ``;``-separated sections of a format code (a ``;`` inside quotes is text)."""
    out, cur, quoted, escaped = [], [], False, False
    for ch in code:
        if escaped:
            cur.append(ch)
            escaped = False
        elif ch == "\\" and not quoted:
            cur.append(ch)
            escaped = True
        elif ch == '"':
            cur.append(ch)
            quoted = not quoted
        elif ch == ";" and not quoted:
            out.append("".join(cur))
            cur = []
        else:
            cur.append(ch)
    out.append("".join(cur))
    return out


def _tokens(section: str) -> list[tuple[str, str]] | None:
    """``[("digit", "0"|"#"|"?"), ("text", "C")…]`` for a section of the digits subset,
    None for anything else (decimals, grouping, percent, dates, text @, fill…)."""
    section = _COLOR.sub("", section)
    tokens: list[tuple[str, str]] = []
    i = 0
    while i < len(section):
        ch = section[i]
        if ch == '"':
            end = section.find('"', i + 1)
            if end < 0:
                return None
            tokens.append(("text", section[i + 1 : end]))
            i = end + 1
            continue
        if ch == "\\" and i + 1 < len(section):
            tokens.append(("text", section[i + 1]))
            i += 2
            continue
        if ch in _PLACEHOLDERS:
            tokens.append(("digit", ch))
        elif ch in _PLAIN_LITERALS:
            tokens.append(("text", ch))
        else:
            return None
        i += 1
    if not any(kind == "digit" for kind, _ in tokens):
        return None
    return tokens


def _is_digits_format(code: str) -> bool:
    """Whether the code is in the subset and changes what an integer reads as."""
    sections = _sections(code)
    if len(sections) > 4:
        return False
    first = _tokens(sections[0])
    if first is None or any(s and _tokens(s) is None for s in sections[1:3]):
        return False
    zeros = sum(1 for kind, ch in first if kind == "digit" and ch == "0")
    literal = any(kind == "text" for kind, _ in first)
    return zeros >= 2 or literal


def _apply(tokens: list[tuple[str, str]], digits: str) -> str:
    """Fill the placeholders from the right; extra leading digits go to the first one."""
    slots = [i for i, (kind, _) in enumerate(tokens) if kind == "digit"]
    out = [text for _, text in tokens]
    rest = digits.lstrip("0")
    for n, i in enumerate(reversed(slots)):
        placeholder = tokens[i][1]
        if rest:
            out[i] = rest[-1]
            rest = rest[:-1]
        else:
            out[i] = {"0": "0", "#": "", "?": " "}[placeholder]
        if n == len(slots) - 1 and rest:
            out[i] = rest + out[i]
    return "".join(out)


def digits_text(value: float, code: str) -> str | None:
    """What Excel shows for ``value`` in a digits format (:data:`FormatKind.DIGITS`):
    ``digits_text(7123, "000000") == "007123"``, ``digits_text(42, '"C"0000') == "C0042"``.

    The number is rounded to a whole number, half away from zero, as Excel rounds it
    for a format without decimals. None when the section that applies is outside the
    subset (the caller then shows the plain number).
    """
    sections = _sections(code)
    sign = ""
    if value < 0 and len(sections) >= 2 and sections[1]:
        section = sections[1]
    elif value == 0 and len(sections) >= 3 and sections[2]:
        section = sections[2]
    else:
        section = sections[0]
        sign = "-" if value < 0 else ""
    tokens = _tokens(section)
    if tokens is None:
        return None
    whole = int(Decimal(repr(abs(value))).quantize(Decimal(1), rounding=ROUND_HALF_UP))
    if whole == 0:
        sign = ""
    return sign + _apply(tokens, str(whole))


def format_kind(code: str) -> FormatKind:
    """What a custom number format code shows (only its first, positive section counts)."""
    if _is_digits_format(code):
        return FormatKind.DIGITS
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
    root = ET.fromstring(zf.read(part))  # its size was checked when the workbook opened
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


__all__ = [
    "GENERAL",
    "FormatKind",
    "NumberFormat",
    "digits_text",
    "format_kind",
    "load_number_formats",
]
