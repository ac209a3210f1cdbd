"""The open problems as a workbook a sheet editor can open (for XLSX and CSV sources).

A Google Sheet gets its problems written back (``sheet_feedback``); a file cannot be
written while people edit it, so ``buyersync problems --format xlsx --output
problems.xlsx`` hands them a list instead: one row per problem with the cell to open
(``F4100``), the buyer number, the column, what is wrong and what to do — the same
words as the notes (:mod:`buyersync.rules.feedback_text`). Made with openpyxl.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from buyersync.errors import BuyersyncError, ConfigError
from buyersync.services.feedback import Located, column_map, locate
from buyersync.sources.a1 import column_name
from buyersync.sources.base import Source
from buyersync.store import problems as problem_store
from buyersync.store.db import Database

COLUMNS = ("cell", "row", "buyer number", "column", "what is wrong", "what to do", "since")
_WIDTHS = (10, 8, 16, 18, 60, 60, 20)


def _header_of(source: Source | None) -> list[str]:
    """The sheet's header row ([] without a source or when it cannot be read)."""
    if source is None:
        return []
    try:
        data = source.read()
    except BuyersyncError:
        return []
    try:
        return [str(h) for h in data.header]
    finally:
        close = getattr(data.rows, "close", None)
        if close is not None:
            close()


def rows_of(found: list[Located], key_index: int) -> list[list[Any]]:
    """One line per problem, by sheet row."""
    out = []
    ordered = sorted(
        found, key=lambda f: (f.problem.row_number is None, f.problem.row_number or 0, f.problem.id)
    )
    for f in ordered:
        p = f.problem
        index = key_index if f.index is None else f.index
        cell = f"{column_name(index)}{p.row_number}" if p.row_number is not None else ""
        out.append(
            [
                cell,
                p.row_number,
                p.buyer_number or "",
                f.label or "",
                f.advice.wrong,
                f.advice.todo,
                p.opened_at.strftime("%Y-%m-%d %H:%M UTC"),
            ]
        )
    return out


def write_workbook(
    db: Database,
    path: str | Path,
    *,
    source: Source | None,
    key_column: str,
    mapping: Any,
    problems: list[problem_store.Problem] | None = None,
) -> int:
    """Write the open problems (or ``problems``) to ``path``; returns the number of lines."""
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font

    header = _header_of(source)
    key_index, by_column = column_map(header, key_column, mapping) if header else (0, {})
    lines = rows_of(locate(db, header, by_column, problems), key_index)
    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "problems"
    sheet.append(list(COLUMNS))
    for cell in sheet[1]:
        cell.font = Font(bold=True)
    for line in lines:
        sheet.append(line)
    for row in sheet.iter_rows(min_row=2):
        for cell in row:
            # A value from the sheet (a buyer number "=1+1") stays text, never a formula.
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"
    for i, width in enumerate(_WIDTHS, start=1):
        sheet.column_dimensions[column_name(i - 1)].width = width
    for row in sheet.iter_rows(min_row=2, min_col=5, max_col=6):
        for cell in row:
            cell.alignment = Alignment(wrap_text=True, vertical="top")
    sheet.freeze_panes = "A2"
    sheet.auto_filter.ref = f"A1:{column_name(len(COLUMNS) - 1)}{len(lines) + 1}"
    try:
        book.save(str(path))
    except OSError as exc:
        raise ConfigError(
            f"cannot write {path}: {exc.strerror}", hint="choose another --output"
        ) from None
    return len(lines)
