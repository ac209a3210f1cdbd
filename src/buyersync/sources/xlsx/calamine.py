"""The python-calamine reader: the fastest we measured, but it holds the whole sheet
in memory and reads an Excel error cell (``#REF!`` …) as ``""`` — so the error cells
are found first by a byte scan of the sheet XML (:func:`scan_errors`)."""

from __future__ import annotations

import html
import re
import zipfile
from collections.abc import Iterator
from pathlib import Path

import python_calamine

from buyersync.errors import SourceError
from buyersync.sources.xlsx.cells import (
    CellProblems,
    RawRow,
    cell_text,
    col_index,
    error_problem,
    row_of,
)
from buyersync.sources.xlsx.workbook import not_a_workbook

#: ``{(row, col): "#REF!"}``: row 1-based, col 0-based.
ErrorCells = dict[tuple[int, int], str]

_ERR_CELL = re.compile(rb"<(?:\w+:)?c\b[^>]*\bt=\"e\"[^>]*>")
_REF_ATTR = re.compile(rb"\br=\"([A-Za-z]+[0-9]+)\"")
_V_ELEM = re.compile(rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")
_CELL_END = re.compile(rb"</(?:\w+:)?c>")
# Enough of a chunk's end to hold a whole error cell split across two chunks.
_OVERLAP = 4096


class _Unplaced(Exception):
    """An error cell without an ``r=`` reference: its position is implied by order."""


def _error_value(buf: bytes, pos: int) -> str:
    """The cached ``<v>`` of the error cell whose start tag ends at ``pos``."""
    close = _CELL_END.search(buf, pos)
    v = _V_ELEM.search(buf, pos, close.start() if close else len(buf))
    return html.unescape(v.group(1).decode("utf-8", "replace")) if v else "#N/A"


def _collect(buf: bytes, stop: int, found: ErrorCells) -> int:
    """Add the error cells of ``buf`` that start before ``stop``; return where the last
    one's start tag ends (0 when there was none). Raises :class:`_Unplaced`."""
    last = 0
    for m in _ERR_CELL.finditer(buf):
        if m.start() >= stop:
            break
        ref = _REF_ATTR.search(m.group(0))
        if not ref:
            raise _Unplaced
        r = ref.group(1).decode()
        found[(row_of(r), col_index(r))] = _error_value(buf, m.end())
        last = m.end()
    return last


def scan_errors(zf: zipfile.ZipFile, part: str) -> ErrorCells | None:
    """Error cells of a sheet as ``{(row, col): "#REF!"}`` (row 1-based, col 0-based).

    A byte search skips chunks without ``t="e"``, so a sheet without errors costs one
    decompression. Returns ``None`` when an error cell has no ``r=`` reference (its
    position is implied by order): the caller then uses the streaming reader.
    """
    found: ErrorCells = {}
    tail = b""
    try:
        with zf.open(part) as fh:
            while chunk := fh.read(1 << 20):
                buf = tail + chunk
                cut = max(0, len(buf) - _OVERLAP)
                if b't="e"' in buf:
                    cut = max(cut, _collect(buf, cut, found))
                tail = buf[cut:]
            _collect(tail, len(tail), found)
    except _Unplaced:
        return None
    return found


def calamine_rows(path: Path, name: str, errors: ErrorCells) -> Iterator[RawRow]:
    """``(row_number, cells, problems)`` for every row of the sheet's used range."""
    try:
        with python_calamine.CalamineWorkbook.from_path(str(path)) as book:
            sheet = book.get_sheet_by_name(name)
    except python_calamine.PasswordError:
        raise not_a_workbook(path) from None
    except Exception as exc:  # calamine raises several unrelated exception types
        raise SourceError(
            f"{path.name}: sheet {name!r} could not be read ({type(exc).__name__}: {exc})",
            hint="open the workbook in Excel or LibreOffice and save it again as .xlsx",
        ) from None
    start, end = sheet.start, sheet.end
    if start is None or end is None:
        return
    # Measured on python-calamine 0.9: the range starts at the first non-empty cell
    # (``start``), but iter_rows() yields rows from row 1 (A1's row) down to ``end``,
    # with columns from ``start``'s column. The count is checked at the end, so a
    # release that changes this fails loudly instead of shifting row numbers.
    first_row, first_col = 1, start[1]
    expected_rows = end[0] + 1
    lead = [""] * first_col
    offset = -1
    by_row: dict[int, list[tuple[int, str]]] = {}
    for (r, c), e in errors.items():
        by_row.setdefault(r, []).append((c, e))
    for offset, raw in enumerate(sheet.iter_rows()):
        number = first_row + offset
        # Most cells are text: skip the call for them (a fifth of the read at 100,000 rows).
        cells = lead + [v if type(v) is str else cell_text(v) for v in raw]
        problems: CellProblems = ()
        found = by_row.get(number)
        if found:
            for c, _error in found:
                if c < len(cells):
                    cells[c] = ""
            problems = tuple(error_problem(number, c, e) for c, e in sorted(found))
        yield number, cells, problems
    if offset + 1 != expected_rows:
        raise SourceError(
            f"{path.name}: sheet {name!r}: the reader returned {offset + 1} rows for a range "
            f"ending on row {expected_rows}; row numbers cannot be trusted",
            hint="this python-calamine version behaves differently; report it",
        )


__all__ = ["ErrorCells", "calamine_rows", "scan_errors"]
