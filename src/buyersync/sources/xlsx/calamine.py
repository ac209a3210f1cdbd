"""The python-calamine reader: the fastest we measured, but it holds the whole sheet
in memory, reads an Excel error cell (``#REF!`` …) and a formula without a saved value
as ``""``, and knows nothing of number formats other than dates — so those cells are
found first by a byte scan of the sheet XML (:func:`buyersync.sources.xlsx.scan.scan_sheet`)
and their text is set here from what the scan noted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import python_calamine

from buyersync.errors import SourceError
from buyersync.sources.xlsx.cells import (
    CellProblems,
    RawRow,
    cell_text,
    digits_lost,
    error_problem,
    number_cell_text,
    number_text,
    rounded_problem,
    uncached_problem,
)
from buyersync.sources.xlsx.formats import NumberFormat
from buyersync.sources.xlsx.scan import CellNote
from buyersync.sources.xlsx.workbook import not_a_workbook


def _noted(
    number: int, c: int, note: CellNote, value: object
) -> tuple[str, tuple[int, str] | None]:
    kind, detail = note
    if kind == "error":
        return "", error_problem(number, c, str(detail))
    if kind == "uncached":
        return "", uncached_problem(number, c)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        assert isinstance(detail, NumberFormat)
        if digits_lost(value):
            return number_text(float(value)), rounded_problem(number, c, number_text(float(value)))
        return number_cell_text(float(value), detail, date1904=False), None
    return cell_text(value), None


def calamine_rows(
    path: Path, name: str, notes: dict[tuple[int, int], CellNote]
) -> Iterator[RawRow]:
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
    by_row: dict[int, list[tuple[int, CellNote]]] = {}
    for (r, c), note in notes.items():
        by_row.setdefault(r, []).append((c, note))
    for offset, raw in enumerate(sheet.iter_rows()):
        number = first_row + offset
        # Most cells are text: skip the call for them (a fifth of the read at 100,000 rows).
        cells = lead + [v if type(v) is str else cell_text(v) for v in raw]
        found_problems: list[tuple[int, str]] = []
        found = by_row.get(number)
        if found:
            for c, note in found:
                value = raw[c - first_col] if 0 <= c - first_col < len(raw) else ""
                text, problem = _noted(number, c, note, value)
                if c < len(cells):
                    cells[c] = text
                if problem is not None:
                    found_problems.append(problem)
        if any(type(v) is float and abs(v) >= 1e15 for v in raw):
            noted = {c for c, _ in found or ()}
            for i, v in enumerate(raw):
                c = i + first_col
                if type(v) is float and digits_lost(v) and c not in noted:
                    found_problems.append(rounded_problem(number, c, cells[c]))
        problems: CellProblems = tuple(sorted(found_problems)) if found_problems else ()
        yield number, cells, problems
    if offset + 1 != expected_rows:
        raise SourceError(
            f"{path.name}: sheet {name!r}: the reader returned {offset + 1} rows for a range "
            f"ending on row {expected_rows}; row numbers cannot be trusted",
            hint="this python-calamine version behaves differently; report it",
        )


__all__ = ["calamine_rows"]
