"""Writing problems back to a Google Sheet: cell notes and a problems tab.

:class:`SheetsWriter` is the reader of :mod:`buyersync.sources.gsheets` with the
read-write scope (``https://www.googleapis.com/auth/spreadsheets``), and it writes
through ``spreadsheets.batchUpdate`` only:

- ``updateCells`` with ``fields: "note"`` — a cell's note and nothing else: the
  value, the format and the formula of the cell are not part of the request;
- ``addSheet`` / ``updateSheetProperties`` / ``updateCells`` with
  ``fields: "userEnteredValue"`` on the problems tab, and never on another tab.

Every request goes through the reader's retry loop and outbound policy (the same
deadline, byte caps and backoff as the reads; ``Retry-After`` honoured). Requests
are packed into as few ``batchUpdate`` calls as Google allows: each call counts once
against the write quota (60 per minute per user), whatever it holds, and Google
recommends at most 2 MB per request (:data:`MAX_BATCH_BYTES`); it refuses more than
10 MB.

Notes are read back with ``spreadsheets.get`` (``includeGridData`` and a field mask
of ``note`` only), so what buyersync decides to replace or remove is what is in the
sheet now, not what it remembers writing.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import quote

from buyersync.errors import SourceError, SourceUnavailable
from buyersync.outbound import Answer
from buyersync.sources.a1 import column_name, quote_title
from buyersync.sources.gsheets import (
    SCOPES_READ_WRITE,
    GoogleSheetsSource,
    _BadAnswer,
    _google_message,
    _Tab,
)

#: Google's recommended largest request body; a batch is split before it.
MAX_BATCH_BYTES = 2_000_000
_READ_TAIL = "; the sheet was not read whole and nothing from it may be used"
#: Rows of notes read back per request.
NOTE_PAGE_ROWS = 10_000
#: The field mask of a notes read: nothing of a cell but its note.
NOTES_FIELDS = "sheets(properties(sheetId,title),data(startRow,startColumn,rowData(values(note))))"

#: ``(row, column)``: the sheet's own 1-based row number and 0-based column index.
Cell = tuple[int, int]


class SheetsWriter(GoogleSheetsSource):
    """The tab ``sheet``/``gid`` of a spreadsheet, with the read-write scope."""

    scopes = tuple(SCOPES_READ_WRITE)

    @classmethod
    def like(cls, source: GoogleSheetsSource, *, credentials_file: str | None) -> SheetsWriter:
        """A writer for the same spreadsheet, tab and policy as ``source``."""
        return cls(
            source.spreadsheet_id,
            sheet=source.sheet,
            gid=source.gid,
            header_row=source.header_row,
            api_url=source.api_url,
            credentials_file=credentials_file,
            max_attempts=source.max_attempts,
            max_wait=source.max_wait,
            backoff=source.backoff,
            http=source.policy,
        )

    def _path(self, suffix: str = "") -> str:
        return f"/v4/spreadsheets/{quote(self.spreadsheet_id, safe='')}{suffix}"

    # ------------------------------------------------------------------ reading

    def locate(self) -> _Tab:
        """The synced tab: its title, sheetId, header row and bounds."""
        return self._tab()

    def header(self, tab: _Tab) -> list[str]:
        rows = self._values(tab.title, tab.header_row, tab.header_row, tab.first_col, tab.last_col)
        header = [str(v) if v is not None else "" for v in (rows[0] if rows else [])]
        while header and not header[-1].strip():
            header.pop()
        return header

    def tabs(self) -> list[dict[str, Any]]:
        """The properties of every tab (title, sheetId, gridProperties)."""
        meta = self._get(self._path(), {"fields": "sheets.properties"}, "metadata request")
        out = []
        for sheet in meta.get("sheets") or []:
            props = sheet.get("properties") if isinstance(sheet, dict) else None
            if isinstance(props, dict) and isinstance(props.get("title"), str):
                out.append(props)
        return out

    def read_notes(self, tab: _Tab, first_row: int, last_row: int, width: int) -> dict[Cell, str]:
        """Every note in rows ``first_row..last_row`` of the table's ``width`` columns."""
        found: dict[Cell, str] = {}
        last_col = tab.first_col + max(width, 1) - 1
        row = first_row
        while row <= last_row:
            end = min(row + NOTE_PAGE_ROWS - 1, last_row)
            a1 = (
                f"{quote_title(tab.title)}!{column_name(tab.first_col)}{row}:"
                f"{column_name(last_col)}{end}"
            )
            body = self._get(
                self._path(),
                {"ranges": a1, "includeGridData": "true", "fields": NOTES_FIELDS},
                f"notes read of {a1}",
                _check_grid,
            )
            for cell, note in _notes_of(body):
                found[cell] = note
            row = end + 1
        return found

    # ------------------------------------------------------------------ writing

    def batch_update(self, requests: Sequence[dict[str, Any]]) -> tuple[int, list[Any]]:
        """Send ``requests`` in order, in as few ``batchUpdate`` calls as the size
        allows; returns the number of calls and every reply."""
        replies: list[Any] = []
        calls = 0
        for chunk in split_batches(requests):
            try:
                body = self._get(
                    self._path(":batchUpdate"),
                    {},
                    "batchUpdate (writing problems back)",
                    _check_replies(len(chunk)),
                    payload={"requests": chunk},
                )
            except SourceError as exc:
                # The reader's words ("not read whole") do not fit a write; Google
                # applies a batchUpdate whole or not at all.
                exc.message = exc.message.replace(
                    _READ_TAIL, "; this batchUpdate was not applied (the next run writes it again)"
                )
                raise
            calls += 1
            replies.extend(body.get("replies") or [])
        return calls, replies

    def _final_error(self, status: int, response: Answer, what: str) -> SourceError:
        if status in (401, 403):
            email = getattr(self._credentials, "service_account_email", None)
            who = f"the service account {email}" if email else "the account buyersync uses"
            return SourceUnavailable(
                f"Google refused to write to spreadsheet {self.spreadsheet_id} "
                f"(HTTP {status}{_google_message(response)})",
                hint=f"share the sheet with {who} as Editor and grant the scope "
                f"{SCOPES_READ_WRITE[0]}, or set sheet_feedback = off",
            )
        return super()._final_error(status, response, what)


def split_batches(
    requests: Sequence[dict[str, Any]], max_bytes: int = MAX_BATCH_BYTES
) -> Iterator[list[dict[str, Any]]]:
    """``requests`` in order, cut into lists whose JSON body stays under ``max_bytes``."""
    chunk: list[dict[str, Any]] = []
    size = len('{"requests": []}')
    for request in requests:
        cost = len(json.dumps(request, ensure_ascii=False).encode("utf-8")) + 2
        if chunk and size + cost > max_bytes:
            yield chunk
            chunk, size = [], len('{"requests": []}')
        chunk.append(request)
        size += cost
    if chunk:
        yield chunk


def _check_replies(expected: int) -> Any:
    def check(body: dict[str, Any]) -> None:
        replies = body.get("replies", [])
        if not isinstance(replies, list) or len(replies) not in (0, expected):
            raise _BadAnswer(f"the batchUpdate answer holds {len(replies)} replies, not {expected}")

    return check


def _check_grid(body: dict[str, Any]) -> None:
    sheets = body.get("sheets")
    if not isinstance(sheets, list):
        raise _BadAnswer("the notes answer lists no sheets")


def _notes_of(body: dict[str, Any]) -> Iterator[tuple[Cell, str]]:
    """``((row, column), note)`` of every note in a ``spreadsheets.get`` grid answer."""
    for sheet in body.get("sheets") or []:
        for data in (sheet.get("data") or []) if isinstance(sheet, dict) else []:
            if not isinstance(data, dict):
                continue
            row0 = int(data.get("startRow") or 0)
            col0 = int(data.get("startColumn") or 0)
            for i, row in enumerate(data.get("rowData") or []):
                values = row.get("values") if isinstance(row, dict) else None
                for j, cell in enumerate(values or []):
                    note = cell.get("note") if isinstance(cell, dict) else None
                    if isinstance(note, str) and note:
                        yield (row0 + i + 1, col0 + j), note


# -- the requests ---------------------------------------------------------------------


def note_request(sheet_id: int, cell: Cell, note: str | None) -> dict[str, Any]:
    """Set (or with ``None`` remove) the note of one cell; nothing else of the cell."""
    row, col = cell
    value: dict[str, Any] = {"note": note} if note else {}
    return {
        "updateCells": {
            "range": {
                "sheetId": sheet_id,
                "startRowIndex": row - 1,
                "endRowIndex": row,
                "startColumnIndex": col,
                "endColumnIndex": col + 1,
            },
            "rows": [{"values": [value]}],
            "fields": "note",
        }
    }


class Formula(str):
    """A tab cell written as a formula; every other text is written as a string (a
    value from the sheet that starts with ``=`` never becomes a formula)."""


def _cell_value(text: str) -> dict[str, Any]:
    if isinstance(text, Formula):
        return {"userEnteredValue": {"formulaValue": str(text)}}
    return {"userEnteredValue": {"stringValue": text}}


def tab_requests(
    title: str,
    rows: Sequence[Sequence[str]],
    *,
    existing: dict[str, Any] | None,
    new_sheet_id: int,
) -> list[dict[str, Any]]:
    """Rewrite the problems tab with ``rows`` (the header first): add it when missing,
    grow it when short, clear its values and write the rows. Only that tab is named."""
    width = max((len(r) for r in rows), default=1)
    needed = max(len(rows), 1)
    requests: list[dict[str, Any]] = []
    if existing is None:
        sheet_id = new_sheet_id
        requests.append(
            {
                "addSheet": {
                    "properties": {
                        "sheetId": sheet_id,
                        "title": title,
                        "sheetType": "GRID",
                        "gridProperties": {
                            "rowCount": max(needed + 50, 100),
                            "columnCount": max(width, 6),
                            "frozenRowCount": 1,
                        },
                    }
                }
            }
        )
    else:
        sheet_id = int(existing.get("sheetId", 0))
        grid = existing.get("gridProperties") or {}
        rows_now, cols_now = int(grid.get("rowCount", 0)), int(grid.get("columnCount", 0))
        if rows_now < needed or cols_now < width:
            requests.append(
                {
                    "updateSheetProperties": {
                        "properties": {
                            "sheetId": sheet_id,
                            "gridProperties": {
                                "rowCount": max(rows_now, needed + 50),
                                "columnCount": max(cols_now, width),
                            },
                        },
                        "fields": "gridProperties.rowCount,gridProperties.columnCount",
                    }
                }
            )
        requests.append(
            {"updateCells": {"range": {"sheetId": sheet_id}, "fields": "userEnteredValue"}}
        )
    requests.append(
        {
            "updateCells": {
                "start": {"sheetId": sheet_id, "rowIndex": 0, "columnIndex": 0},
                "rows": [{"values": [_cell_value(v) for v in r]} for r in rows],
                "fields": "userEnteredValue",
            }
        }
    )
    return requests


def free_sheet_id(title: str, taken: Sequence[int]) -> int:
    """A sheetId for a new tab: stable for its title, unused in the spreadsheet."""
    import zlib

    sid = zlib.crc32(title.encode("utf-8")) & 0x3FFFFFFF or 1
    while sid in taken:
        sid = (sid * 31 + 7) & 0x3FFFFFFF or 1
    return sid
