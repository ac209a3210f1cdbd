"""One byte-level pass over a sheet's XML, independent of the reader that returns rows.

It finds what python-calamine cannot tell us (error cells, formulas without a cached
value, cells whose number format changes what the number reads as), the merged
ranges (written after the rows, so they must be known before the first row is
yielded), and which rows hold a value: the independent count that proves a reader
returned every row (:class:`SheetScan`).

Both readers split the XML the same way (:func:`row_segments`): at row boundaries
found by a backward search in each new chunk only, so the work stays linear however
long a row or a cell is.
"""

from __future__ import annotations

import re
import zipfile
from array import array
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO

from buyersync.rules.normalize import column_letter
from buyersync.sources.xlsx.cells import col_index, row_of, unescape
from buyersync.sources.xlsx.formats import FormatKind, NumberFormat
from buyersync.sources.xlsx.limits import LimitExceeded, XlsxLimits, open_part

CHUNK = 1 << 20

ROW = re.compile(rb"<(?:\w+:)?row\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?row>)", re.S)
CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
ATTR = re.compile(rb"\b([rts])=\"([^\"]*)\"")
V_ELEM = re.compile(rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")
_F_ELEM = re.compile(rb"<(?:\w+:)?f\b")
#: A row holds a value when a cell has a non-blank ``<v>`` or ``<t>``, or a formula.
_VALUE = re.compile(rb"<(?:\w+:)?[vt](?:\s[^>]*)?>\s*[^<\s]|<(?:\w+:)?f\b")
_MERGE = re.compile(
    rb"<(?:\w+:)?mergeCell\b[^>]*?\bref=\"([A-Za-z]+[0-9]+)(?::([A-Za-z]+[0-9]+))?\""
)
_BLANK_SI = re.compile(
    rb"<(?:\w+:)?si>\s*(?:<(?:\w+:)?t(?:\s[^>]*)?(?:/>|>\s*</(?:\w+:)?t>))?\s*"
    rb"(?:<(?:\w+:)?phoneticPr\b[^>]*/>)?\s*</(?:\w+:)?si>"
)
_SI_START = re.compile(rb"<(?:\w+:)?si>")
_TAG_END = b" \t\r\n>/"


def _boundary(chunk: bytes, tag: bytes) -> int:
    """Where the last ``<tag …`` start or ``</tag>`` close in ``chunk`` lets it be cut
    (everything before is whole elements); -1 when there is none."""
    end = len(chunk)
    n = len(tag)
    while (i := chunk.rfind(tag, 0, end)) > 0:
        end = i
        after = chunk[i + n : i + n + 1]
        j = i - 1
        if chunk[j : j + 1] == b":":  # a namespace prefix: go back to its "<" or "</"
            while j > 0 and (chunk[j - 1 : j].isalnum() or chunk[j - 1 : j] == b"_"):
                j -= 1
            j -= 1
        if j < 0:
            continue
        if chunk[j : j + 1] == b"<" and after and after in _TAG_END:
            return j  # a start tag: cut before it
        if chunk[j - 1 : j + 1] == b"</" and after == b">":
            return i + n + 1  # a close tag: cut after it
    return -1


def segments(
    fh: IO[bytes], tag: bytes, *, max_bytes: int, what: str, setting: str
) -> Iterator[bytes]:
    """The part's bytes in pieces that each hold whole ``tag`` elements.

    Every byte is copied a bounded number of times, so a row (or shared string) of
    any length costs linear time; one longer than ``max_bytes`` is refused.
    """
    pending: list[bytes] = []
    held = 0
    while chunk := fh.read(CHUNK):
        cut = _boundary(chunk, tag)
        if cut < 0:
            pending.append(chunk)
            held += len(chunk)
            if held > max_bytes:
                raise LimitExceeded(
                    f"{what} holds a single element of more than {max_bytes >> 20} MiB "
                    f"(the limit {setting}); nothing was read",
                    hint=f"if the workbook is genuine, raise --{setting.replace('_', '-')}",
                )
            continue
        pending.append(chunk[:cut])
        yield b"".join(pending)
        pending = [chunk[cut:]]
        held = len(pending[0])
    if pending:
        yield b"".join(pending)


def row_segments(fh: IO[bytes], limits: XlsxLimits, what: str) -> Iterator[bytes]:
    """A sheet's XML in pieces of whole rows."""
    return segments(
        fh, b"row", max_bytes=limits.max_part_bytes, what=what, setting="xlsx_max_part_mb"
    )


@dataclass(frozen=True)
class Merge:
    """A merged range: rows 1-based, columns 0-based, both inclusive."""

    first_row: int
    first_col: int
    last_row: int
    last_col: int

    @property
    def ref(self) -> str:
        start = f"{column_letter(self.first_col)}{self.first_row}"
        end = f"{column_letter(self.last_col)}{self.last_row}"
        return start if start == end else f"{start}:{end}"


#: What the scan learned about one cell for the calamine reader: an error value
#: (``("error", "#REF!")``), a formula without a cached value (``("uncached", "")``),
#: or a number format that changes the text (``("format", NumberFormat)``).
CellNote = tuple[str, object]


@dataclass
class SheetScan:
    """What one pass over the sheet XML found."""

    notes: dict[tuple[int, int], CellNote] = field(default_factory=dict)
    merges: list[Merge] = field(default_factory=list)
    #: Row numbers, in order, of the rows whose XML holds a value.
    value_rows: array[int] = field(default_factory=lambda: array("l"))


def uncached(body: bytes | None, kind: bytes) -> bool:
    """Whether a ``<c>`` body is a formula that was never calculated (a file written by a
    script): no cached ``<v>``, or an empty one on a cell that is not a string result."""
    if not body or _F_ELEM.search(body) is None:
        return False
    v = V_ELEM.search(body)
    if v is None:
        return b"<v" not in body or kind != b"str"
    return not v.group(1) and kind not in (b"str", b"inlineStr")


def scan_sheet(
    zf: zipfile.ZipFile,
    filename: str,
    part: str,
    limits: XlsxLimits,
    formats: list[NumberFormat],
    *,
    cells: bool,
    blank_strings: frozenset[int] = frozenset(),
) -> SheetScan:
    """Scan a sheet. With ``cells`` (the calamine reader), also note error cells,
    uncached formulas and cells with a digits format, by position. ``blank_strings``
    are the shared strings with no visible text: a cell showing one holds no value."""
    scan = SheetScan()
    special = {str(i).encode(): f for i, f in enumerate(formats) if f.kind is FormatKind.DIGITS}
    number = 0
    value_rows = scan.value_rows
    with open_part(zf, filename, part, limits, sheet=True) as fh:
        for seg in row_segments(fh, limits, f"{filename}: sheet part {part}"):
            for m in ROW.finditer(seg):
                r = dict(ATTR.findall(m.group(1))).get(b"r")
                number = int(r) if r else number + 1
                body = m.group(2)
                if not body:
                    continue
                if _VALUE.search(body) is not None and (
                    not blank_strings or _holds_value(body, blank_strings)
                ):
                    value_rows.append(number)
                if not cells:
                    continue
                if b'"e"' in body or b"<f" in body or b":f" in body or special:
                    _note_cells(number, body, special, scan)
            if b"mergeCell" in seg:
                for mm in _MERGE.finditer(seg):
                    a = mm.group(1).decode()
                    b = (mm.group(2) or mm.group(1)).decode()
                    scan.merges.append(Merge(row_of(a), col_index(a), row_of(b), col_index(b)))
    return scan


def _holds_value(body: bytes, blank_strings: frozenset[int]) -> bool:
    for c in CELL.finditer(body):
        inner = c.group(2)
        if not inner or _VALUE.search(inner) is None:
            continue
        if dict(ATTR.findall(c.group(1))).get(b"t") != b"s":
            return True
        v = V_ELEM.search(inner)
        if v is None or not v.group(1).strip().isdigit() or int(v.group(1)) not in blank_strings:
            return True
    return False


def _note_cells(
    number: int, body: bytes, special: dict[bytes, NumberFormat], scan: SheetScan
) -> None:
    col = -1
    for c in CELL.finditer(body):
        attrs = dict(ATTR.findall(c.group(1)))
        ref = attrs.get(b"r")
        col = col_index(ref.decode()) if ref else col + 1
        kind = attrs.get(b"t", b"n")
        inner = c.group(2)
        if kind == b"e":
            v = V_ELEM.search(inner or b"")
            scan.notes[(number, col)] = ("error", unescape(v.group(1).decode()) if v else "#N/A")
        elif uncached(inner, kind):
            scan.notes[(number, col)] = ("uncached", "")
        elif kind == b"n" and special:
            fmt = special.get(attrs.get(b"s", b""))
            if fmt is not None:
                scan.notes[(number, col)] = ("format", fmt)


def blank_shared_strings(
    zf: zipfile.ZipFile, filename: str, part: str | None, limits: XlsxLimits
) -> frozenset[int]:
    """Indices of shared strings with no visible text (a rare case, found without
    loading the strings: only blank ``<si>`` elements are matched)."""
    if part is None:
        return frozenset()
    found: set[int] = set()
    index = 0
    with open_part(zf, filename, part, limits) as fh:
        for seg in segments(
            fh,
            b"si",
            max_bytes=limits.max_part_bytes,
            what=f"{filename}: {part}",
            setting="xlsx_max_part_mb",
        ):
            last = 0
            for m in _BLANK_SI.finditer(seg):
                index += len(_SI_START.findall(seg, last, m.start()))
                found.add(index)
                index += 1
                last = m.end()
            index += len(_SI_START.findall(seg, last))
    return frozenset(found)


__all__ = [
    "ATTR",
    "CELL",
    "ROW",
    "V_ELEM",
    "CellNote",
    "Merge",
    "SheetScan",
    "blank_shared_strings",
    "row_segments",
    "scan_sheet",
    "segments",
    "uncached",
]
