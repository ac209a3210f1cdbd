"""The write side of the Google Sheets stand-in: ``spreadsheets.batchUpdate`` and the
grid data of ``spreadsheets.get`` (``includeGridData``), as Google answers them.

Served: ``updateCells`` (``range`` or ``start``; ``fields`` ``note`` and/or
``userEnteredValue``), ``addSheet``, ``updateSheetProperties`` (grid size, hidden,
title) and ``deleteSheet``. As at Google a batch is atomic — one bad request and
nothing of the batch is applied — the replies come one per request (``{}`` or
``addSheet.properties``), a body over 10 MB is refused, and errors carry Google's
``{"error": {"code", "message", "status"}}`` shape (the recorded 404 of
``shared/realdata/sheets-api``). Write access needs a token with the read-write scope
(``https://www.googleapis.com/auth/spreadsheets``): a read-only token gets Google's 403
``PERMISSION_DENIED`` "Request had insufficient authentication scopes.".
"""

from __future__ import annotations

import base64
import copy
import json
import re
import threading
from typing import Any

from buyersync.sources.a1 import column_name, split_range
from buyersync.testing.sheets_model import Sheet, Spreadsheet, error_body, find_sheet, parse_cells

#: Google refuses a request body larger than this (``Request payload size exceeds …``).
MAX_PAYLOAD_BYTES = 10_485_760
WRITE_SCOPES = frozenset(
    {
        "https://www.googleapis.com/auth/spreadsheets",
        "https://www.googleapis.com/auth/drive",
        "https://www.googleapis.com/auth/drive.file",
    }
)
_FIELDS = frozenset({"note", "userEnteredValue"})
_HYPERLINK = re.compile(r'^=HYPERLINK\(\s*"((?:[^"]|"")*)"\s*,\s*"((?:[^"]|"")*)"\s*\)$', re.I)


class WrittenCells:
    """What tests read back from the stand-in (a base of ``SheetsServer``)."""

    spreadsheets: dict[str, Spreadsheet]
    requests: list[Any]
    _lock: threading.Lock

    def write_requests(self) -> list[Any]:
        """The batchUpdate requests received so far."""
        return [r for r in self.requests if r.method == "POST" and r.path.endswith(":batchUpdate")]

    def notes(self, spreadsheet_id: str, title: str) -> dict[str, str]:
        """The notes of tab ``title`` by A1 cell (``"C17"``)."""
        with self._lock:
            sheet = next(s for s in self.spreadsheets[spreadsheet_id].sheets if s.title == title)
            return {f"{column_name(c)}{r + 1}": n for (r, c), n in sorted(sheet.notes.items())}

    def set_note(self, spreadsheet_id: str, title: str, cell: str, note: str | None) -> None:
        """Put (or remove) a note as a person would, on cell ``cell`` (A1) of ``title``."""
        (r, c), _ = parse_cells(cell)
        with self._lock:
            sheet = next(s for s in self.spreadsheets[spreadsheet_id].sheets if s.title == title)
            if note:
                sheet.notes[(r, c)] = note
            else:
                sheet.notes.pop((r, c), None)

    def tab_rows(self, spreadsheet_id: str, title: str) -> list[list[str]] | None:
        """The cells of tab ``title`` as text (trailing empties dropped), or None."""
        with self._lock:
            book = self.spreadsheets[spreadsheet_id]
            sheet = next((s for s in book.sheets if s.title == title), None)
            if sheet is None:
                return None
            rows = [list(r) for r in sheet.rows]
        for row in rows:
            while row and row[-1] == "":
                row.pop()
        while rows and not rows[-1]:
            rows.pop()
        return rows


def write_answer(
    books: dict[str, Spreadsheet],
    path: str,
    raw: bytes,
    token_scopes: dict[str, frozenset[str]],
    token: str | None,
) -> tuple[int, dict[str, Any]]:
    """The answer to ``POST /v4/spreadsheets/{id}:batchUpdate`` (the token, if any,
    is one the stand-in issued)."""
    if token is not None and token in token_scopes and not token_scopes[token] & WRITE_SCOPES:
        return 403, insufficient_scope()
    book = books.get(path.split("/")[3].rsplit(":", 1)[0])
    if book is None:
        return 404, error_body(404, "Requested entity was not found.", "NOT_FOUND")
    try:
        payload = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return 400, error_body(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
    return batch_update(book, payload, len(raw))


class _Invalid(Exception):
    """A request Google would refuse with 400 INVALID_ARGUMENT."""


def insufficient_scope() -> dict[str, Any]:
    """Google's answer to a write with a token that lacks the write scope."""
    body = error_body(403, "Request had insufficient authentication scopes.", "PERMISSION_DENIED")
    body["error"]["details"] = [
        {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            "reason": "ACCESS_TOKEN_SCOPE_INSUFFICIENT",
            "domain": "googleapis.com",
            "metadata": {"service": "sheets.googleapis.com", "method": "BatchUpdateSpreadsheet"},
        }
    ]
    return body


def batch_update(book: Spreadsheet, payload: Any, size: int) -> tuple[int, dict[str, Any]]:
    """Apply a ``batchUpdate`` body to ``book`` (all or nothing); Google's answer."""
    if size > MAX_PAYLOAD_BYTES:
        return 400, error_body(
            400,
            f"Request payload size exceeds the limit: {MAX_PAYLOAD_BYTES} bytes.",
            "INVALID_ARGUMENT",
        )
    if not isinstance(payload, dict) or not isinstance(payload.get("requests"), list):
        return 400, error_body(
            400, "Invalid JSON payload received. 'requests' must be a list.", "INVALID_ARGUMENT"
        )
    unknown = set(payload) - {"requests", "includeSpreadsheetInResponse", "responseRanges"}
    if unknown:
        name = sorted(unknown)[0]
        return 400, error_body(
            400,
            f'Invalid JSON payload received. Unknown name "{name}": Cannot find field.',
            "INVALID_ARGUMENT",
        )
    if not payload["requests"]:
        return 400, error_body(400, "Must specify at least one request.", "INVALID_ARGUMENT")
    work = copy.deepcopy(book.sheets)
    replies: list[dict[str, Any]] = []
    for i, request in enumerate(payload["requests"]):
        where = f"requests[{i}]"
        if not isinstance(request, dict) or len(request) != 1:
            return 400, error_body(
                400,
                f"Invalid {where}: a request must set exactly one kind of request.",
                "INVALID_ARGUMENT",
            )
        kind, body = next(iter(request.items()))
        handler = _HANDLERS.get(kind)
        if handler is None:
            return 400, error_body(
                400,
                f"Invalid JSON payload received. Unknown name \"{kind}\" at '{where}': "
                "Cannot find field.",
                "INVALID_ARGUMENT",
            )
        try:
            replies.append(handler(work, body if isinstance(body, dict) else {}))
        except _Invalid as exc:
            return 400, error_body(400, f"Invalid {where}.{kind}: {exc}", "INVALID_ARGUMENT")
    book.sheets[:] = work
    return 200, {"spreadsheetId": book.spreadsheet_id, "replies": replies}


def _sheet_by_id(sheets: list[Sheet], sheet_id: Any) -> Sheet:
    sid = 0 if sheet_id is None else sheet_id
    found = next((s for s in sheets if s.sheet_id == sid), None)
    if found is None:
        raise _Invalid(f"No grid with id: {sid}")
    return found


def _fields(body: dict[str, Any]) -> set[str]:
    raw = body.get("fields")
    if not isinstance(raw, str) or not raw.strip():
        raise _Invalid("At least one field must be specified in 'fields'.")
    if raw.strip() == "*":
        return set(_FIELDS)
    fields = {f.strip() for f in raw.split(",")}
    roots = {f.split(".")[0] for f in fields}
    other = roots - _FIELDS
    if other:
        # Google takes many more; the stand-in serves what buyersync writes.
        raise _Invalid(f"the stand-in does not serve field {sorted(other)[0]!r}")
    return roots


def _set_value(sheet: Sheet, r: int, c: int, cell: dict[str, Any]) -> None:
    value = cell.get("userEnteredValue") if isinstance(cell, dict) else None
    if not value and (r >= len(sheet.rows) or c >= len(sheet.rows[r])):
        sheet.formulas.pop((r, c), None)
        return  # clearing a cell that holds nothing
    while len(sheet.rows) <= r:
        sheet.rows.append([])
    row = sheet.rows[r]
    while len(row) <= c:
        row.append("")
    sheet.formulas.pop((r, c), None)
    if not isinstance(value, dict) or not value:
        row[c] = ""
        return
    if "formulaValue" in value:
        formula = str(value["formulaValue"])
        sheet.formulas[(r, c)] = formula
        link = _HYPERLINK.match(formula)
        row[c] = link.group(2).replace('""', '"') if link else formula
    elif "stringValue" in value:
        row[c] = str(value["stringValue"])
    elif "numberValue" in value:
        number = value["numberValue"]
        row[c] = str(int(number)) if float(number).is_integer() else str(number)
    elif "boolValue" in value:
        row[c] = "TRUE" if value["boolValue"] else "FALSE"
    else:
        raise _Invalid("userEnteredValue must set one of stringValue, numberValue, ...")


def _update_cells(sheets: list[Sheet], body: dict[str, Any]) -> dict[str, Any]:
    fields = _fields(body)
    if ("range" in body) == ("start" in body):
        raise _Invalid("Exactly one of 'range' or 'start' must be set.")
    rows = body.get("rows") or []
    if not isinstance(rows, list):
        raise _Invalid("'rows' must be a list.")
    if "range" in body:
        grid = body["range"] if isinstance(body["range"], dict) else {}
        sheet = _sheet_by_id(sheets, grid.get("sheetId"))
        r0, c0 = int(grid.get("startRowIndex", 0)), int(grid.get("startColumnIndex", 0))
        r1 = int(grid.get("endRowIndex", sheet.row_count))
        c1 = int(grid.get("endColumnIndex", sheet.column_count))
    else:
        start = body["start"] if isinstance(body["start"], dict) else {}
        sheet = _sheet_by_id(sheets, start.get("sheetId"))
        r0, c0 = int(start.get("rowIndex", 0)), int(start.get("columnIndex", 0))
        r1 = r0 + len(rows)
        c1 = c0 + max((len((row or {}).get("values") or []) for row in rows), default=0)
    if r0 < 0 or c0 < 0 or r1 > sheet.row_count or c1 > sheet.column_count:
        raise _Invalid(
            f"Range ('{sheet.title}'!R{r0 + 1}C{c0 + 1}:R{r1}C{c1}) exceeds grid limits. "
            f"Max rows: {sheet.row_count}, max columns: {sheet.column_count}"
        )
    # With a range, cells of the range that ``rows`` leaves out are cleared (Google's
    # rule); with start, only the cells given are touched.
    for r in range(r0, r1):
        given = rows[r - r0] if r - r0 < len(rows) else None
        values = (given or {}).get("values") or [] if isinstance(given, dict) else []
        for c in range(c0, c1):
            if "start" in body and c - c0 >= len(values):
                continue
            cell = values[c - c0] if c - c0 < len(values) else {}
            cell = cell if isinstance(cell, dict) else {}
            if "note" in fields:
                note = cell.get("note")
                if note:
                    sheet.notes[(r, c)] = str(note)
                else:
                    sheet.notes.pop((r, c), None)
            if "userEnteredValue" in fields:
                _set_value(sheet, r, c, cell)
    return {}


def _add_sheet(sheets: list[Sheet], body: dict[str, Any]) -> dict[str, Any]:
    props = body.get("properties") or {}
    title = props.get("title") or f"Sheet{len(sheets) + 1}"
    if any(s.title == title for s in sheets):
        raise _Invalid(
            f'A sheet with the name "{title}" already exists. Please enter another name.'
        )
    sid = props.get("sheetId")
    if sid is None:
        sid = max((s.sheet_id for s in sheets), default=0) + 1
    elif any(s.sheet_id == sid for s in sheets):
        raise _Invalid(f"Sheet with id {sid} already exists.")
    grid = props.get("gridProperties") or {}
    sheet = Sheet(
        str(title),
        [],
        int(sid),
        bool(props.get("hidden", False)),
        int(grid.get("rowCount", 1000)),
        int(grid.get("columnCount", 26)),
    )
    sheets.append(sheet)
    return {
        "addSheet": {
            "properties": {
                "sheetId": sheet.sheet_id,
                "title": sheet.title,
                "index": len(sheets) - 1,
                "sheetType": "GRID",
                "gridProperties": {"rowCount": sheet.row_count, "columnCount": sheet.column_count},
            }
        }
    }


def _update_sheet_properties(sheets: list[Sheet], body: dict[str, Any]) -> dict[str, Any]:
    props = body.get("properties") or {}
    sheet = _sheet_by_id(sheets, props.get("sheetId"))
    fields = body.get("fields")
    if not isinstance(fields, str) or not fields.strip():
        raise _Invalid("At least one field must be specified in 'fields'.")
    grid = props.get("gridProperties") or {}
    for field in (f.strip().replace("/", ".") for f in fields.split(",")):
        if field in ("gridProperties.rowCount", "gridProperties"):
            sheet.row_count = int(grid.get("rowCount", sheet.row_count))
        if field in ("gridProperties.columnCount", "gridProperties"):
            sheet.column_count = int(grid.get("columnCount", sheet.column_count))
        if field == "hidden":
            sheet.hidden = bool(props.get("hidden"))
        if field == "title":
            sheet.title = str(props.get("title"))
    return {}


def _delete_sheet(sheets: list[Sheet], body: dict[str, Any]) -> dict[str, Any]:
    sheet = _sheet_by_id(sheets, body.get("sheetId"))
    if len(sheets) == 1:
        raise _Invalid("You can't remove all the sheets in a document.")
    sheets.remove(sheet)
    return {}


_HANDLERS = {
    "updateCells": _update_cells,
    "addSheet": _add_sheet,
    "updateSheetProperties": _update_sheet_properties,
    "deleteSheet": _delete_sheet,
}


def grid_answer(
    book: Spreadsheet, ranges: list[str], fields: str | None
) -> tuple[int, dict[str, Any]]:
    """``spreadsheets.get?includeGridData=true&ranges=…``: each range's rows of cells
    with their notes (and formatted values unless ``fields`` masks them out)."""
    with_values = not fields or "formattedValue" in fields
    out: dict[str, dict[str, Any]] = {}
    for a1 in ranges or [f"'{s.title}'" for s in book.sheets]:
        title, cells = split_range(a1)
        sheet = find_sheet(book, title)
        if sheet is None:
            return 400, error_body(400, f"Unable to parse range: {a1}", "INVALID_ARGUMENT")
        try:
            (r0, c0), (r1, c1) = parse_cells(cells) if cells else ((0, 0), (None, None))
        except ValueError:
            return 400, error_body(400, f"Unable to parse range: {a1}", "INVALID_ARGUMENT")
        last_r = sheet.row_count - 1 if r1 is None else r1
        last_c = sheet.column_count - 1 if c1 is None else c1
        if last_r >= sheet.row_count or last_c >= sheet.column_count:
            return 400, error_body(
                400,
                f"Range ({a1}) exceeds grid limits. Max rows: {sheet.row_count}, "
                f"max columns: {sheet.column_count}",
                "INVALID_ARGUMENT",
            )
        row_data: list[dict[str, Any]] = []
        for r in range(r0, last_r + 1):
            values: list[dict[str, Any]] = []
            for c in range(c0, last_c + 1):
                cell: dict[str, Any] = {}
                text = sheet.rows[r][c] if r < len(sheet.rows) and c < len(sheet.rows[r]) else ""
                if with_values and text:
                    cell["formattedValue"] = text
                if (r, c) in sheet.notes:
                    cell["note"] = sheet.notes[(r, c)]
                values.append(cell)
            while values and not values[-1]:
                values.pop()
            row_data.append({"values": values} if values else {})
        while row_data and not row_data[-1]:
            row_data.pop()
        data: dict[str, Any] = {}
        if r0:
            data["startRow"] = r0
        if c0:
            data["startColumn"] = c0
        if row_data:
            data["rowData"] = row_data
        entry = out.setdefault(
            sheet.title,
            {"properties": {"sheetId": sheet.sheet_id, "title": sheet.title}, "data": []},
        )
        entry["data"].append(data)
    return 200, {"sheets": list(out.values())}


def scopes_of(form: dict[str, list[str]], grant: str) -> frozenset[str]:
    """The scopes a token request asked for: the JWT's ``scope`` claim (not verified,
    as the stand-in does not check signatures) or the refresh form's ``scope``."""
    if grant == "refresh_token":
        return frozenset(" ".join(form.get("scope", [])).split())
    try:
        part = form["assertion"][0].split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
        return frozenset(str(claims.get("scope", "")).split())
    except (KeyError, IndexError, ValueError):
        return frozenset()
