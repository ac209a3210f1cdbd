"""The streaming OOXML reader for very large sheets: it decompresses the sheet XML in
1 MiB chunks and keeps one chunk of rows in memory, so a 1,000,000-row sheet reads in
bounded memory. Rows and cells are found by byte patterns over each chunk; no XML
tree is built."""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from xml.etree import ElementTree as ET

from buyersync.sources.xlsx.cells import (
    RawRow,
    col_index,
    digits_lost,
    error_problem,
    number_cell_text,
    number_text,
    rounded_problem,
    uncached_problem,
    unescape,
    unescape_ooxml,
)
from buyersync.sources.xlsx.formats import GENERAL, FormatKind, NumberFormat, load_number_formats
from buyersync.sources.xlsx.limits import open_part
from buyersync.sources.xlsx.scan import ATTR, CELL, ROW, V_ELEM, row_segments, uncached
from buyersync.sources.xlsx.workbook import MAIN_NS, Workbook

_V_ELEM = V_ELEM

_INLINE_T = re.compile(rb"<(?:\w+:)?t\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?t>)", re.S)
_RPH = re.compile(rb"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", re.S)


def _si_text(si: ET.Element) -> str:
    """A shared string's text: its ``<t>`` or rich-text runs, never the phonetic ``<rPh>``."""
    parts: list[str] = []
    for child in si:
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "t":
            parts.append(child.text or "")
        elif tag == "r":
            for t in child:
                if t.tag.rsplit("}", 1)[-1] == "t":
                    parts.append(t.text or "")
    return unescape_ooxml("".join(parts))


def _load_shared_strings(zf: zipfile.ZipFile, part: str | None) -> list[str]:
    if part is None:
        return []
    strings: list[str] = []
    si_tag = f"{{{MAIN_NS}}}si"
    with zf.open(part) as fh:
        for _event, el in ET.iterparse(fh, events=("end",)):
            if el.tag == si_tag:
                strings.append(_si_text(el))
                el.clear()
    return strings


def _inline_text(body: bytes) -> str:
    parts = []
    for t in _INLINE_T.finditer(_RPH.sub(b"", body)):
        text = t.group(2) or b""
        # calamine trims inline text not marked xml:space="preserve"; so do we, so
        # that both readers give the same text.
        parts.append(text if b"preserve" in t.group(1) else text.strip())
    return unescape(b"".join(parts).decode("utf-8"))


class StreamingSheet:
    """Reads one sheet's XML in 1 MiB chunks; memory does not grow with the row count."""

    def __init__(self, book: Workbook, part: str) -> None:
        self.book = book
        self.zf = book.zip
        self.part = part
        self.date1904 = book.date1904
        self.formats = load_number_formats(self.zf, book.styles_part)
        self.strings = _load_shared_strings(self.zf, book.shared_strings_part)

    def _format(self, style: bytes | None) -> NumberFormat:
        """The number format of a cell's ``s=`` style index."""
        if style is None or not self.formats:
            return GENERAL
        idx = int(style)
        return self.formats[idx] if idx < len(self.formats) else GENERAL

    def _cell(
        self, number: int, col: int, attrs: dict[bytes, bytes], body: bytes | None
    ) -> tuple[str, tuple[int, str] | None]:
        """``(text, problem)`` of one ``<c>`` element."""
        kind = attrs.get(b"t", b"n")
        if not body:
            return "", None
        if uncached(body, kind):
            return "", uncached_problem(number, col)
        if kind == b"inlineStr":
            return _inline_text(body), None
        v = _V_ELEM.search(body)
        if v is None:
            return "", None
        raw = v.group(1).decode("utf-8")
        if kind == b"s":
            try:
                return self.strings[int(raw)], None
            except (ValueError, IndexError):
                return "", None
        if kind == b"str" or kind == b"d":
            return unescape(raw), None
        if kind == b"b":
            return ("TRUE" if raw.strip() in ("1", "true") else "FALSE"), None
        if kind == b"e":
            return "", error_problem(number, col, unescape(raw))
        try:
            value = float(raw)
        except ValueError:
            return unescape(raw), None
        fmt = self._format(attrs.get(b"s"))
        if digits_lost(value) and fmt.kind not in (FormatKind.DATE, FormatKind.DURATION):
            return number_text(value), rounded_problem(number, col, number_text(value))
        return number_cell_text(value, fmt, date1904=self.date1904), None

    def _row(self, number: int, body: bytes | None) -> RawRow:
        cells: list[str] = []
        problems: list[tuple[int, str]] = []
        if body:
            col = -1
            for c in CELL.finditer(body):
                cattrs = dict(ATTR.findall(c.group(1)))
                ref = cattrs.get(b"r")
                col = col_index(ref.decode()) if ref else col + 1
                text, problem = self._cell(number, col, cattrs, c.group(2))
                if col >= len(cells):
                    cells.extend([""] * (col - len(cells) + 1))
                cells[col] = text
                if problem is not None:
                    problems.append(problem)
        return number, cells, tuple(problems)

    def rows(self) -> Iterator[RawRow]:
        number = 0
        name = self.book.path.name
        with open_part(self.zf, name, self.part, self.book.limits, sheet=True) as fh:
            for seg in row_segments(fh, self.book.limits, f"{name}: sheet part {self.part}"):
                for m in ROW.finditer(seg):
                    r = dict(ATTR.findall(m.group(1))).get(b"r")
                    number = int(r) if r else number + 1
                    yield self._row(number, m.group(2))


__all__ = ["StreamingSheet"]
