"""What the Google Sheets stand-in holds, and the answers Google gives about it.

Pure functions over a :class:`Spreadsheet` — the ``ValueRange`` of a range, the
spreadsheet resource of a metadata request, Google's error body — so the HTTP side
(:mod:`buyersync.testing.sheets_server`) only routes requests and injects faults.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from buyersync.sources.a1 import _CELL, column_index, column_name, quote_title, split_range


@dataclass
class Sheet:
    """One tab: its cells as rows of text, and its grid."""

    title: str
    rows: list[list[str]]
    sheet_id: int
    hidden: bool = False
    row_count: int = 0
    column_count: int = 0
    #: Merged ranges as Google's GridRange objects (0-based, end exclusive).
    merges: list[dict[str, int]] = field(default_factory=list)
    #: Cell notes by ``(row, column)``, 0-based (written by ``batchUpdate``).
    notes: dict[tuple[int, int], str] = field(default_factory=dict)
    #: Formulas entered by ``batchUpdate`` by ``(row, column)``; ``rows`` holds what they show.
    formulas: dict[tuple[int, int], str] = field(default_factory=dict)


@dataclass
class Spreadsheet:
    """One spreadsheet: its tabs and named ranges."""

    spreadsheet_id: str
    title: str
    sheets: list[Sheet] = field(default_factory=list)
    #: Named ranges as Google's NamedRange objects.
    named_ranges: list[dict[str, Any]] = field(default_factory=list)


def find_sheet(book: Spreadsheet, title: str | None) -> Sheet | None:
    """The tab ``title`` of ``book`` (the first tab for no title), or None."""
    if title is None or title == "":
        return book.sheets[0] if book.sheets else None
    for sheet in book.sheets:
        if sheet.title == title:
            return sheet
    return None


def values_answer(
    book: Spreadsheet,
    a1: str,
    *,
    partial: bool = False,
    blank: bool = False,
    omit_grid: bool = False,
    omit_range: bool = False,
) -> tuple[int, dict[str, Any]]:
    """The ``ValueRange`` for ``a1`` (or a named range's name), or an error answer."""
    named = next((n for n in book.named_ranges if n.get("name") == a1), None)
    if named is not None:
        a1 = a1_of(book, named["range"])
    title, cells = split_range(a1)
    sheet = find_sheet(book, title)
    if sheet is None:
        # A bare "A1:B2" names the first sheet; a bare unknown word is a bad range.
        if title is not None and _CELL.match(title.split(":")[0]) and ":" in title:
            sheet, cells = book.sheets[0], title
        else:
            return 400, error_body(400, f"Unable to parse range: {a1}", "INVALID_ARGUMENT")
    try:
        (r0, c0), (r1, c1) = parse_cells(cells) if cells else ((0, 0), (None, None))
    except ValueError:
        return 400, error_body(400, f"Unable to parse range: {a1}", "INVALID_ARGUMENT")
    if not omit_grid and (
        (r1 is not None and r1 >= sheet.row_count) or (c1 is not None and c1 >= sheet.column_count)
    ):
        return 400, error_body(
            400,
            f"Range ({a1}) exceeds grid limits. Max rows: {sheet.row_count}, "
            f"max columns: {sheet.column_count}",
            "INVALID_ARGUMENT",
        )
    open_ended = r1 is None
    last_row = min(r1 if r1 is not None else sheet.row_count - 1, len(sheet.rows) - 1)
    last_col = c1 if c1 is not None else sheet.column_count - 1
    out: list[list[str]] = []
    for r in range(r0, last_row + 1):
        row = sheet.rows[r][c0 : last_col + 1]
        while row and row[-1] == "":
            row.pop()
        out.append(row)
    while out and not out[-1]:
        out.pop()
    if open_ended or c1 is None:
        # Google reports an open range clipped to the data it returned.
        width = max((len(r) for r in out), default=1)
        end_row = r0 + max(len(out), 1) - 1 if open_ended else r1
        end_col = c1 if c1 is not None else c0 + width - 1
    else:
        end_row, end_col = r1, c1
    assert end_row is not None
    if blank and len(out) > 2:
        out = [out[0]] + [[] for _ in out[1:-1]] + [out[-1]]
    if partial:
        keep = len(out) // 2
        out = out[:keep]
        end_row = r0 + max(keep, 1) - 1
    body: dict[str, Any] = {
        "range": f"{quote_title(sheet.title)}!{column_name(c0)}{r0 + 1}:"
        f"{column_name(end_col)}{end_row + 1}",
        "majorDimension": "ROWS",
    }
    if out:
        body["values"] = out
    if omit_range:
        del body["range"]
    return 200, body


def a1_of(book: Spreadsheet, grid: dict[str, Any]) -> str:
    """A GridRange of ``book`` in A1 notation with its quoted tab title."""
    sheet = next(s for s in book.sheets if s.sheet_id == grid.get("sheetId", 0))
    r0, c0 = grid.get("startRowIndex", 0), grid.get("startColumnIndex", 0)
    r1 = grid.get("endRowIndex", sheet.row_count)
    c1 = grid.get("endColumnIndex", sheet.column_count)
    return f"{quote_title(sheet.title)}!{column_name(c0)}{r0 + 1}:{column_name(c1 - 1)}{r1}"


def metadata_answer(
    book: Spreadsheet, fields: str | None = None, *, omit_grid: bool = False
) -> dict[str, Any]:
    """The spreadsheet resource. With ``fields`` (``sheets.properties,
    sheets.merges,namedRanges``) only those parts come back, as from Google;
    Google leaves out empty lists."""
    wanted = {f.strip() for f in fields.split(",")} if fields else None

    def want(name: str) -> bool:
        return wanted is None or name in wanted or name.split(".")[0] in wanted

    sheets = []
    for i, s in enumerate(book.sheets):
        entry: dict[str, Any] = {}
        if want("sheets.properties"):
            props: dict[str, Any] = {
                "sheetId": s.sheet_id,
                "title": s.title,
                "index": i,
                "sheetType": "GRID",
                "gridProperties": {"rowCount": s.row_count, "columnCount": s.column_count},
            }
            if omit_grid:
                del props["gridProperties"]
            if s.hidden:
                props["hidden"] = True
            entry["properties"] = props
        if want("sheets.merges") and s.merges:
            entry["merges"] = [dict(m) for m in s.merges]
        sheets.append(entry)
    body: dict[str, Any] = {"sheets": sheets}
    if wanted is None:
        body = {
            "spreadsheetId": book.spreadsheet_id,
            "properties": {"title": book.title, "locale": "en_US"},
            **body,
        }
    if want("namedRanges") and book.named_ranges:
        body["namedRanges"] = [dict(n) for n in book.named_ranges]
    return body


def grid_range(cells: str) -> dict[str, int]:
    """``"A5:D5"`` → Google's GridRange (0-based, end exclusive; open ends left out)."""
    (r0, c0), (r1, c1) = parse_cells(cells)
    grid = {"startRowIndex": r0, "startColumnIndex": c0}
    if r1 is not None:
        grid["endRowIndex"] = r1 + 1
    if c1 is not None:
        grid["endColumnIndex"] = c1 + 1
    return grid


def error_body(code: int, message: str, status: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


def parse_cells(cells: str) -> tuple[tuple[int, int], tuple[int | None, int | None]]:
    """``"B2:D"`` → ``((1, 1), (None, 3))`` (0-based; ``None`` = open-ended)."""
    first, _, second = cells.partition(":")
    m0, m1 = _CELL.match(first), _CELL.match(second or first)
    if not m0 or not m1 or not (m0.group(1) or m0.group(2)):
        raise ValueError(cells)
    r0 = int(m0.group(2)) - 1 if m0.group(2) else 0
    c0 = column_index(m0.group(1)) if m0.group(1) else 0
    r1 = int(m1.group(2)) - 1 if m1.group(2) else None
    c1 = column_index(m1.group(1)) if m1.group(1) else None
    if not second and m0.group(2) and m0.group(1):
        r1, c1 = r0, c0  # a single cell
    return (r0, c0), (r1, c1)
