"""A local stand-in for the Google Sheets API v4, for tests, benchmarks and the demo.

It serves what buyersync uses: ``POST /token`` (the service-account JWT exchange and
the ``refresh_token`` grant of ``authorized_user`` credentials),
``GET /v4/spreadsheets/{id}`` (sheet properties, merges and named ranges in Google's
format, honouring ``fields``), ``GET .../values/{range}`` (an A1 range or the name of a
named range) and
``GET .../values:batchGet``, ``GET /v4/spreadsheets/{id}?includeGridData=true`` (cell
notes) and ``POST /v4/spreadsheets/{id}:batchUpdate`` (notes, a tab: see
:mod:`buyersync.testing.sheets_writes`, which also checks the token's scope), with
Google's behaviour where it matters: ranges in A1
notation with quoted titles, ragged rows (trailing empty cells and rows omitted, an
empty row in the middle as ``[]``), no ``values`` key for an empty range, a 400 for a
range beyond the grid, and Google's 404 body for an unknown spreadsheet.

Faults can be injected for the next requests to the values/metadata endpoints:
:meth:`SheetsServer.fail_next` (429 with ``Retry-After``, 500, 503),
:meth:`~SheetsServer.delay_next` (a slow answer, to trigger client timeouts),
:meth:`~SheetsServer.truncate_next` (JSON cut in the middle),
:meth:`~SheetsServer.partial_next` (a range shorter than asked) and
:meth:`~SheetsServer.blank_next` (rows in the middle of an answer emptied, the range
intact: a stale replica or a misbehaving proxy). ``requests`` logs
every request (path, query, whether it carried a bearer token) so tests can count them.

:meth:`SheetsServer.load_cassette` replays a recorded gspread VCR cassette
(``shared/realdata/sheets-api/*.json``): it loads the recorded sheet properties and
values, and the server then answers any range over them.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from buyersync.sources.a1 import column_index, column_name, quote_title, split_range
from buyersync.testing.credentials import write_authorized_user, write_service_account
from buyersync.testing.sheets_model import (
    Sheet,
    Spreadsheet,
    error_body,
    grid_range,
    metadata_answer,
    parse_cells,
    values_answer,
)
from buyersync.testing.sheets_writes import WrittenCells, grid_answer, scopes_of, write_answer


@dataclass
class LoggedRequest:
    """One request the server received."""

    method: str
    path: str
    query: dict[str, list[str]]
    authorized: bool


class SheetsServer(WrittenCells):
    """The stand-in server; use it as a context manager (``with SheetsServer() as s:``).

    ``require_auth=True`` makes API calls without a bearer token issued by ``/token``
    answer 401, as Google does.
    """

    def __init__(self, *, require_auth: bool = False, host: str = "127.0.0.1") -> None:
        self.require_auth = require_auth
        self.host = host
        #: Answer value reads without the ``range`` field, as a minimal stand-in might.
        self.omit_range = False
        #: Send sheet metadata without gridProperties (and so enforce no grid limits).
        self.omit_grid = False
        #: Answer every write 403 PERMISSION_DENIED, as for an account shared as Viewer.
        self.refuse_writes = False
        #: Scopes the token endpoint will not grant (an organisation policy or domain-wide
        #: delegation that does not list them; gcloud credentials consented without them).
        self.refused_scopes: set[str] = set()
        self.spreadsheets: dict[str, Spreadsheet] = {}
        self.requests: list[LoggedRequest] = []
        self.tokens: set[str] = set()
        #: The scopes each issued token was asked for (from the JWT or the refresh form).
        self.token_scopes: dict[str, frozenset[str]] = {}
        self.token_requests = 0
        self._faults: list[tuple[str, Any]] = []
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> SheetsServer:
        handler = type("_Handler", (_Handler,), {"owner": self})
        self._httpd = ThreadingHTTPServer((self.host, 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, daemon=True, name="sheets-stand-in"
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> SheetsServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL to pass as ``api_url`` (``http://127.0.0.1:PORT``)."""
        assert self._httpd is not None, "the server is not started"
        return f"http://{self.host}:{self._httpd.server_address[1]}"

    @property
    def token_uri(self) -> str:
        return self.url + "/token"

    # ------------------------------------------------------------------ content

    def add_sheet(
        self,
        spreadsheet_id: str,
        title: str,
        rows: list[list[str]],
        *,
        hidden: bool = False,
        sheet_id: int | None = None,
        row_count: int | None = None,
        column_count: int | None = None,
        merges: list[str] | None = None,
    ) -> int:
        """Add a sheet (a tab) to a spreadsheet, creating the spreadsheet if needed.

        Returns the sheet's ``sheetId`` (the ``gid`` in its URL). The grid is sized
        like Google's: at least 1000 rows and 26 columns, or the data's size.
        ``merges`` are A1 ranges (``"A5:D5"``); only their top-left cell should hold a
        value, as in Google Sheets.
        """
        with self._lock:
            book = self.spreadsheets.setdefault(
                spreadsheet_id, Spreadsheet(spreadsheet_id, f"Spreadsheet {spreadsheet_id}")
            )
            sid = (
                sheet_id
                if sheet_id is not None
                else (len(book.sheets) and 1000 + len(book.sheets) * 7919)
            )
            width = max((len(r) for r in rows), default=0)
            book.sheets.append(
                Sheet(
                    title,
                    [[str(c) for c in r] for r in rows],
                    sid,
                    hidden,
                    row_count if row_count is not None else max(1000, len(rows)),
                    column_count if column_count is not None else max(26, width),
                    [grid_range(m) for m in merges or ()],
                )
            )
            return sid

    def add_named_range(self, spreadsheet_id: str, name: str, title: str, cells: str) -> None:
        """Name the range ``cells`` (A1, e.g. ``"B3:E20"`` or ``"A:C"``) of tab ``title``."""
        with self._lock:
            book = self.spreadsheets[spreadsheet_id]
            sheet = next(s for s in book.sheets if s.title == title)
            grid = grid_range(cells)
            grid["sheetId"] = sheet.sheet_id
            book.named_ranges.append(
                {"namedRangeId": secrets.token_hex(6), "name": name, "range": grid}
            )

    def clear(self) -> None:
        with self._lock:
            self.spreadsheets.clear()
            self.requests.clear()
            self._faults.clear()

    def load_cassette(self, path: str | Path) -> list[str]:
        """Load the spreadsheets recorded in a gspread VCR cassette; returns their ids.

        Only ``GET https://sheets.googleapis.com/v4/spreadsheets/...`` interactions are
        used (the Drive and write calls are ignored). Sheet properties come from the
        recorded ``spreadsheets.get`` answers, cells from the recorded ``values``
        answers placed at the ranges Google said they cover.
        """
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        loaded: list[str] = []
        grids: dict[tuple[str, str], dict[tuple[int, int], str]] = {}
        metas: dict[str, dict[str, Any]] = {}
        for it in data.get("interactions", []):
            req, resp = it["request"], it["response"]
            parts = urlsplit(req["uri"])
            if req["method"] != "GET" or parts.netloc != "sheets.googleapis.com":
                continue
            if resp["status"]["code"] != 200:
                continue
            body = resp["body"]["string"]
            payload = json.loads(body if isinstance(body, str) else body.decode("utf-8"))
            segs = parts.path.split("/")  # ['', 'v4', 'spreadsheets', id, ...]
            sid = segs[3].split(":")[0]
            if len(segs) == 4 and ":" not in segs[3]:
                metas[sid] = payload
                continue
            ranges = payload.get("valueRanges") or [payload]
            query = parse_qs(parts.query)
            if query.get("valueRenderOption", ["FORMATTED_VALUE"])[0] != "FORMATTED_VALUE":
                continue  # the unformatted renderings would overwrite what a person sees
            for vr in ranges:
                title, cells = split_range(vr.get("range", ""))
                (r0, c0), _ = parse_cells(cells) if cells else ((0, 0), (None, None))
                grid = grids.setdefault((sid, title or ""), {})
                for i, row in enumerate(vr.get("values", [])):
                    for j, value in enumerate(row):
                        grid[(r0 + i, c0 + j)] = str(value)

        def sheet_meta(meta: dict[str, Any], title: str) -> dict[str, Any]:
            return next(s for s in meta["sheets"] if s["properties"]["title"] == title)

        def rows_of(grid: dict[tuple[int, int], str]) -> list[list[str]]:
            nrows = max((r for r, _ in grid), default=-1) + 1
            ncols = max((c for _, c in grid), default=-1) + 1
            return [[grid.get((r, c), "") for c in range(ncols)] for r in range(nrows)]

        for sid, meta in metas.items():
            titles = set()
            for props in (s["properties"] for s in meta.get("sheets", [])):
                titles.add(props["title"])
                gp = props.get("gridProperties", {})
                self.add_sheet(
                    sid,
                    props["title"],
                    rows_of(grids.get((sid, props["title"]), {})),
                    hidden=bool(props.get("hidden")),
                    sheet_id=props.get("sheetId", 0),
                    row_count=gp.get("rowCount"),
                    column_count=gp.get("columnCount"),
                )
                self.spreadsheets[sid].sheets[-1].merges = [
                    dict(m) for m in sheet_meta(meta, props["title"]).get("merges", [])
                ]
            # Tabs added after the recorded spreadsheets.get call exist only in values.
            for (gsid, title), grid in grids.items():
                if gsid == sid and title not in titles:
                    self.add_sheet(sid, title, rows_of(grid))
            self.spreadsheets[sid].title = meta.get("properties", {}).get("title", sid)
            self.spreadsheets[sid].named_ranges = [dict(n) for n in meta.get("namedRanges", [])]
            loaded.append(sid)
        return loaded

    # ------------------------------------------------------------------ faults

    def fail_next(self, n: int = 1, status: int = 429, retry_after: float | None = None) -> None:
        """Answer the next ``n`` API requests with ``status`` (and ``Retry-After``)."""
        with self._lock:
            self._faults.extend([("status", (status, retry_after))] * n)

    def delay_next(self, seconds: float, n: int = 1) -> None:
        """Wait ``seconds`` before answering the next ``n`` API requests."""
        with self._lock:
            self._faults.extend([("delay", seconds)] * n)

    def truncate_next(self, n: int = 1) -> None:
        """Cut the JSON body of the next ``n`` API answers in half."""
        with self._lock:
            self._faults.extend([("truncate", None)] * n)

    def partial_next(self, n: int = 1) -> None:
        """Answer the next ``n`` values requests with half the rows and a shorter range."""
        with self._lock:
            self._faults.extend([("partial", None)] * n)

    def blank_next(self, n: int = 1) -> None:
        """Answer the next ``n`` values requests with their middle rows emptied (``[]``)
        but the range and row count intact, as a stale replica or a bad proxy might."""
        with self._lock:
            self._faults.extend([("blank", None)] * n)

    def _next_fault(self) -> tuple[str, Any] | None:
        with self._lock:
            return self._faults.pop(0) if self._faults else None

    def value_requests(self) -> list[LoggedRequest]:
        """The values / values:batchGet requests received so far."""
        return [r for r in self.requests if "/values" in r.path]

    def metadata_requests(self) -> list[LoggedRequest]:
        return [r for r in self.requests if r.path.startswith("/v4/") and "/values" not in r.path]

    # ------------------------------------------------------------------ answers

    def values(
        self, book: Spreadsheet, a1: str, partial: bool = False, blank: bool = False
    ) -> tuple[int, dict[str, Any]]:
        """The ``ValueRange`` for ``a1`` as this server is set to answer it."""
        return values_answer(
            book,
            a1,
            partial=partial,
            blank=blank,
            omit_grid=self.omit_grid,
            omit_range=self.omit_range,
        )


class _Handler(BaseHTTPRequestHandler):
    owner: SheetsServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: tests read .requests instead

    def _send(
        self, status: int, body: dict[str, Any] | bytes, headers: dict[str, str] | None = None
    ) -> None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        try:
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client gave up (a timeout test): nothing to do

    def _refused(self, fault: tuple[str, Any] | None, authorized: bool) -> bool:
        """Answer an injected status fault, or a missing token when one is required."""
        if fault and fault[0] == "status":
            status, retry_after = fault[1]
            headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
            reason = {429: "RESOURCE_EXHAUSTED", 500: "INTERNAL", 503: "UNAVAILABLE"}
            self._send(
                status, error_body(status, "injected failure", reason.get(status, "ERROR")), headers
            )
            return True
        if self.owner.require_auth and not authorized:
            self._send(
                401,
                error_body(
                    401, "Request is missing required authentication credential.", "UNAUTHENTICATED"
                ),
            )
            return True
        return False

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        path = unquote(urlsplit(self.path).path)
        if path.startswith("/v4/spreadsheets/") and path.endswith(":batchUpdate"):
            self._batch_update(path, raw)
            return
        form = parse_qs(raw.decode("utf-8"))
        if path != "/token":
            self._send(404, error_body(404, "Not found", "NOT_FOUND"))
            return
        grant = form.get("grant_type", [""])[0]
        if grant == "urn:ietf:params:oauth:grant-type:token-exchange":  # external_account
            if not form.get("subject_token"):
                self._send(400, {"error": "invalid_grant", "error_description": "bad request"})
                return
        elif grant == "refresh_token":
            # authorized_user credentials (gcloud auth application-default login).
            if not form.get("refresh_token") or not form.get("client_id"):
                self._send(400, {"error": "invalid_grant", "error_description": "bad request"})
                return
        elif grant != "urn:ietf:params:oauth:grant-type:jwt-bearer" or not form.get("assertion"):
            self._send(400, {"error": "invalid_grant", "error_description": "bad request"})
            return
        scopes = scopes_of(form, grant)
        if scopes & self.owner.refused_scopes:
            # Google's answers: a refresh token not consented for the scope, or a client
            # whose delegation does not list it.
            error = "invalid_scope" if grant == "refresh_token" else "unauthorized_client"
            self._send(400, {"error": error, "error_description": "scope not granted"})
            return
        token = "stand-in-" + secrets.token_hex(16)
        with self.owner._lock:
            self.owner.tokens.add(token)
            self.owner.token_scopes[token] = scopes
            self.owner.token_requests += 1
        self._send(200, {"access_token": token, "expires_in": 3600, "token_type": "Bearer"})

    def do_GET(self) -> None:
        owner = self.owner
        parts = urlsplit(self.path)
        path = unquote(parts.path)
        query = parse_qs(parts.query)
        auth = self.headers.get("Authorization", "")
        authorized = auth.startswith("Bearer ") and auth[7:] in owner.tokens
        with owner._lock:
            owner.requests.append(LoggedRequest("GET", path, query, authorized))
        fault = owner._next_fault()
        if fault and fault[0] == "blank" and "/values" not in path:
            with owner._lock:  # meant for a values answer: keep it for the next one
                owner._faults.insert(0, fault)
            fault = None
        if fault and fault[0] == "delay":
            time.sleep(fault[1])
            fault = None
        if self._refused(fault, authorized):
            return
        segs = path.split("/")
        if len(segs) < 4 or segs[1] != "v4" or segs[2] != "spreadsheets":
            self._send(404, error_body(404, "Not found", "NOT_FOUND"))
            return
        sid, _, action = segs[3].partition(":")
        book = owner.spreadsheets.get(sid)
        if book is None:
            self._send(404, error_body(404, "Requested entity was not found.", "NOT_FOUND"))
            return
        partial = bool(fault and fault[0] == "partial")
        blank = bool(fault and fault[0] == "blank")
        if len(segs) == 4 and not action and query.get("includeGridData", [""])[0] == "true":
            status, body = grid_answer(
                book, query.get("ranges", []), query.get("fields", [None])[0]
            )
        elif len(segs) == 4 and not action:
            status, body = (
                200,
                metadata_answer(book, query.get("fields", [None])[0], omit_grid=owner.omit_grid),
            )
        elif len(segs) == 5 and segs[4] == "values:batchGet":
            ranges = query.get("ranges", [])
            answers = [owner.values(book, r, partial, blank) for r in ranges]
            bad = next((a for a in answers if a[0] != 200), None)
            if bad:
                status, body = bad
            else:
                status, body = 200, {"spreadsheetId": sid, "valueRanges": [a[1] for a in answers]}
        elif len(segs) >= 6 and segs[4] == "values":
            status, body = owner.values(book, "/".join(segs[5:]), partial, blank)
        else:
            status, body = 404, error_body(404, "Not found", "NOT_FOUND")
        if fault and fault[0] == "truncate":
            data = json.dumps(body).encode("utf-8")
            self._send(status, data[: len(data) // 2])
            return
        self._send(status, body)

    def _batch_update(self, path: str, raw: bytes) -> None:
        owner = self.owner
        auth = self.headers.get("Authorization", "")
        token = auth[7:] if auth.startswith("Bearer ") else None
        authorized = token is not None and token in owner.tokens
        with owner._lock:
            owner.requests.append(LoggedRequest("POST", path, {}, authorized))
        fault = owner._next_fault()
        if fault and fault[0] == "delay":
            time.sleep(fault[1])
            fault = None
        if self._refused(fault, authorized):
            return
        if owner.refuse_writes:
            status, body = (
                403,
                error_body(403, "The caller does not have permission", "PERMISSION_DENIED"),
            )
        else:
            with owner._lock:
                status, body = write_answer(
                    owner.spreadsheets, path, raw, owner.token_scopes, token
                )
        self._send(status, body)


def iter_cassettes(folder: str | Path) -> Iterator[Path]:
    """The gspread cassettes in ``folder``, sorted by name."""
    yield from sorted(Path(folder).glob("*.json"))


__all__ = [
    "LoggedRequest",
    "SheetsServer",
    "column_index",
    "column_name",
    "iter_cassettes",
    "quote_title",
    "split_range",
    "write_authorized_user",
    "write_service_account",
]
