"""Google Sheets through the Sheets API v4 ``values`` endpoint.

The sheet is read as FORMATTED_VALUE (the text a person sees, leading zeros kept) in
pages of :data:`PAGE_ROWS` rows, one request per page, starting at the header row (a
title block above it is never fetched). Ragged rows are padded; an empty row in the
middle is yielded as a blank row.

A page is used only if the answer parses as JSON and its ``range`` covers exactly what
was asked; anything else (a cut body, a shorter range) is retried like a 5xx and then
fails the read, so a partial sheet is never mistaken for the whole sheet.

The metadata request also brings the tab's merges and the spreadsheet's named ranges:
``sheet`` may name a named range, which bounds the read to it; a row that is one merged
range across the table is a *section row* (a category title), yielded with its title in
``SheetRow.section`` and no values. Error values (``#N/A``, ``#REF!``…) are emptied and
reported as row problems naming the cell. With ``key_header``, the key column is read
again on its own after the last page, and the buyer numbers of both reads must agree.

Credentials: a JSON file named by ``credentials_file`` or
``GOOGLE_APPLICATION_CREDENTIALS`` (a service-account key, ``authorized_user`` or
``external_account``), else Application Default Credentials (``gcloud auth
application-default login``, the metadata server on Cloud Run/GKE/Compute Engine), as
``google.auth.default`` finds them. Only when ``api_url`` is a loopback address (the
local stand-in server in tests and benchmarks) may credentials be absent; requests then
carry no token. Tokens and keys are never logged or put in messages.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

from buyersync import outbound
from buyersync.errors import ConfigError, RateLimited, SourceError, SourceUnavailable
from buyersync.outbound import Answer, HttpPolicy, LimitExceeded
from buyersync.records import SheetRow
from buyersync.retrying import Clock, Retrying, Sleep
from buyersync.rules.backoff import BackoffPolicy, Random
from buyersync.rules.categories import error_class_for_http_status
from buyersync.rules.hosts import is_loopback
from buyersync.rules.normalize import normalize_header
from buyersync.sources.a1 import column_index, column_name, quote_title, split_range
from buyersync.sources.base import SheetData, Source, make_row
from buyersync.sources.cells import GOOGLE_ERROR_VALUES, error_problem

SCOPES = ["https://www.googleapis.com/auth/spreadsheets.readonly"]
#: The scope of :mod:`buyersync.sources.gsheets_write` (sheet_feedback on): notes and a tab.
SCOPES_READ_WRITE = ["https://www.googleapis.com/auth/spreadsheets"]
#: Rows per values request: at most one request per this many rows.
PAGE_ROWS = 10_000
#: Bounds used when the metadata does not say how big the grid is.
UNKNOWN_ROWS = 1_000_000
UNKNOWN_COLUMNS = 702  # A..ZZ
#: Rows per request when only the key column is read (one short cell per row).
COLUMN_PAGE_ROWS = 100_000
_RETRYABLE = frozenset({429, 500, 502, 503, 504, 408})


class _BadAnswer(Exception):
    """An answer that cannot be used (bad JSON, short range); retried like a 5xx."""


class _Transient(Exception):
    """One request failed in a way another try may not: what to raise if none succeeds."""

    def __init__(
        self,
        reason: str,
        error: type[SourceUnavailable] = SourceUnavailable,
        *,
        retry_after: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.error = error
        self.retry_after = retry_after


#: The metadata the reader needs: tabs, their merges, and the named ranges.
METADATA_FIELDS = "sheets.properties,sheets.merges,namedRanges"


@dataclass
class _Tab:
    """What is read: a tab, or the part of it a named range covers (1-based rows,
    0-based columns, inclusive)."""

    title: str
    header_row: int
    last_row: int
    first_col: int
    last_col: int
    #: ``(first_row, last_row, first_col, last_col)`` of each merge, same convention.
    merges: list[tuple[int, int, int, int]] = field(default_factory=list)
    #: The tab's ``sheetId`` (the ``#gid=`` of its URL).
    sheet_id: int = 0


class GoogleSheetsSource(Source):
    """One tab of a Google Sheet.

    The tab is picked by ``sheet`` (title), else ``gid`` (the ``#gid=`` of its URL),
    else the first visible tab. ``max_attempts`` / ``max_wait`` bound the retries of
    429, 5xx, timeouts and unusable answers (``max_wait`` is the total seconds slept).
    Every request (and token refresh) is made under ``http``, the outbound policy
    (:mod:`buyersync.outbound`); without one, ``timeout`` is its total deadline.
    """

    #: The OAuth scopes asked for: read-only (the writer asks for read-write).
    scopes: tuple[str, ...] = tuple(SCOPES)

    def __init__(
        self,
        spreadsheet_id: str,
        *,
        sheet: str | None = None,
        gid: int | None = None,
        header_row: int = 1,
        api_url: str = "https://sheets.googleapis.com",
        credentials_file: str | None = None,
        timeout: float = 30.0,
        max_attempts: int = 5,
        max_wait: float = 60.0,
        backoff: float = 0.5,
        key_header: str | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = lambda: datetime.now(UTC),
        rand: Random = random.random,
        http: HttpPolicy | None = None,
    ) -> None:
        if header_row < 1:
            raise ConfigError(f"header row must be 1 or more, not {header_row}")
        self.spreadsheet_id = spreadsheet_id
        self.sheet = sheet
        self.gid = gid
        self.header_row = header_row
        self.api_url = api_url.rstrip("/")
        self.policy = http if http is not None else HttpPolicy(deadline_seconds=timeout)
        self.timeout = self.policy.deadline_seconds
        self.max_attempts = max_attempts
        self.max_wait = max_wait
        self.backoff = backoff
        self._sleep, self._clock, self._rand = sleep, clock, rand
        self.key_header = key_header
        self.description = f"gsheets:{spreadsheet_id}" + (
            f"[{sheet}]" if sheet else f"#gid={gid}" if gid is not None else ""
        )
        self._credentials = self._load_credentials(
            credentials_file or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or None
        )
        self._client: httpx.Client | None = None

    # ------------------------------------------------------------------ auth

    def _load_credentials(self, path: str | None) -> Any:
        scopes = list(self.scopes)
        if path:
            return _credentials_from_file(path, scopes)
        adc = _adc_file()
        if adc.is_file():
            # gcloud auth application-default login: read as google.auth.default would,
            # but keeping a token_uri the file names (a private OAuth endpoint).
            return _credentials_from_file(str(adc), scopes)
        if _is_loopback(self.api_url):
            return None  # the local stand-in server: no token needed
        return _default_credentials(scopes)

    def _auth_headers(self) -> dict[str, str]:
        creds = self._credentials
        if creds is None:
            return {}
        if not creds.valid:
            from google.auth.exceptions import GoogleAuthError, TransportError

            request = outbound.GoogleAuthRequest(self.policy)
            try:
                creds.refresh(request)
            except TransportError as exc:
                if isinstance(exc.__cause__, LimitExceeded) and not exc.__cause__.retryable:
                    raise _limit_error(exc.__cause__) from exc
                raise SourceUnavailable(
                    f"cannot reach the Google token endpoint ({type(exc).__name__})",
                    hint="check the network; the sync will retry",
                ) from exc
            except GoogleAuthError as exc:
                raise SourceUnavailable(
                    f"Google refused the credentials: {_first_line(exc)}",
                    hint="check that the key in GOOGLE_APPLICATION_CREDENTIALS is current "
                    "and not deleted, or run: gcloud auth application-default login",
                ) from exc
            finally:
                request.close()
        return {"Authorization": f"Bearer {creds.token}"}

    # ------------------------------------------------------------------ HTTP

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = outbound.client(self.policy)
        return self._client

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def _fetch(self, url: str, params: dict[str, str], what: str, payload: Any = None) -> Answer:
        """GET ``url`` within the policy: the status, headers and (bounded) body.

        The body of a 200 is returned apart from httpx's Response: the Response and its
        stream refer to each other, so a kept response (with a 15 MB page body) lives
        until the cyclic collector's rare full pass.
        """
        client = self._http()
        if payload is not None:  # a write (buyersync.sources.gsheets_write)
            request = client.build_request(
                "POST", url, params=params, json=payload, headers=self._auth_headers()
            )
        else:
            request = client.build_request("GET", url, params=params, headers=self._auth_headers())
        return outbound.fetch(client, request, self.policy, f"the answer to the {what}")

    def _get(
        self, path: str, params: dict[str, str], what: str, check: Any = None, payload: Any = None
    ) -> dict[str, Any]:
        """GET with retries; returns parsed JSON that ``check`` accepted.

        429/5xx/408, timeouts, connection errors and unusable answers are retried with
        exponential backoff (``Retry-After`` honoured) up to ``max_attempts`` tries and
        ``max_wait`` seconds of sleep; then :class:`SourceUnavailable` (or its
        :class:`RateLimited` / :class:`SourceTimeout`) is raised.
        """
        url = f"{self.api_url}{path}"
        # Several readers may hit the same quota at once: a quarter of jitter spreads them.
        policy = BackoffPolicy(
            max_attempts=max(1, self.max_attempts) - 1,
            base_seconds=self.backoff,
            max_seconds=max(self.max_wait, self.backoff),
            jitter=0.25,
        )
        retrying = Retrying(
            policy,
            retry_on=_Transient,
            retry_after=lambda exc: exc.retry_after if isinstance(exc, _Transient) else None,
            max_wait=self.max_wait,
            sleep=self._sleep,
            clock=self._clock,
            rand=self._rand,
        )
        try:
            return retrying.call(lambda: self._get_once(url, params, what, check, payload))
        except _Transient as exc:
            kind = "rate limit (HTTP 429)" if exc.error is RateLimited else "failure"
            raise exc.error(
                f"Google Sheets {what} of spreadsheet {self.spreadsheet_id} failed after "
                f"{retrying.attempts} attempts and {retrying.waited:.1f} s of waiting: "
                f"{exc}; the sheet was not read whole and nothing from it may be used",
                hint="the read quota resets every minute; the run will be retried"
                if exc.error is RateLimited
                else f"Google's {kind} may be temporary; the run will be retried",
                details={
                    "attempts": retrying.attempts,
                    "waited_seconds": round(retrying.waited, 1),
                },
            ) from exc

    def _get_once(
        self, url: str, params: dict[str, str], what: str, check: Any, payload: Any = None
    ) -> dict[str, Any]:
        """One request (a GET, or a POST of ``payload``): the accepted JSON, or
        :class:`_Transient` (try again), or a final error."""
        try:
            response = self._fetch(url, params, what, payload)
        except LimitExceeded as exc:
            if exc.retryable:  # silent until the deadline: another try may be answered
                raise _Transient(f"no answer within {self.timeout:g} s") from exc
            raise _limit_error(
                exc, f"Google Sheets {what} of spreadsheet {self.spreadsheet_id}"
            ) from exc
        except httpx.TimeoutException as exc:
            raise _Transient(f"no answer within {self.timeout:g} s") from exc
        except httpx.TransportError as exc:
            raise _Transient(f"connection failed ({type(exc).__name__})") from exc
        status = response.status
        if status in _RETRYABLE:
            raise _Transient(
                f"HTTP {status}{_google_message(response)}",
                error_class_for_http_status(status),
                retry_after=response.headers.get("Retry-After"),
            )
        if status != 200:
            raise self._final_error(status, response, what)
        try:
            body = outbound.parse_json(response.body, self.policy, f"the answer to the {what}")
            if not isinstance(body, dict):
                raise _BadAnswer("the answer is not a JSON object")
            if check is not None:
                check(body)
            return body
        except LimitExceeded as exc:
            raise _limit_error(
                exc, f"Google Sheets {what} of spreadsheet {self.spreadsheet_id}"
            ) from None
        except ValueError as exc:  # JSONDecodeError, UnicodeDecodeError
            raise _Transient("the answer was not complete JSON (cut off?)") from exc
        except _BadAnswer as exc:
            raise _Transient(str(exc)) from exc

    def _final_error(self, status: int, response: Answer, what: str) -> SourceError:
        msg = _google_message(response)
        sid = self.spreadsheet_id
        if status == 404:
            return SourceUnavailable(
                f"spreadsheet {sid} was not found (HTTP 404{msg})",
                hint="check the spreadsheet id in --source (the part after /d/ in its URL)",
            )
        if status in (401, 403):
            email = getattr(self._credentials, "service_account_email", None)
            who = f"the service account {email}" if email else "the service account"
            return SourceUnavailable(
                f"Google refused access to spreadsheet {sid} (HTTP {status}{msg})",
                hint=f"share the sheet with {who} (Viewer is enough) and check that the "
                "Sheets API is enabled for its project",
            )
        return SourceError(
            f"Google Sheets {what} of spreadsheet {sid} was refused (HTTP {status}{msg})",
            hint="check --sheet, --header-row and the spreadsheet id",
        )

    # ------------------------------------------------------------------ sheet

    def _tab(self) -> _Tab:
        """The tab to read (or the named range), its bounds and its merges."""

        def check(body: dict[str, Any]) -> None:
            if not isinstance(body.get("sheets"), list):
                raise _BadAnswer("the spreadsheet answer lists no sheets")

        meta = self._get(
            f"/v4/spreadsheets/{quote(self.spreadsheet_id, safe='')}",
            {"fields": METADATA_FIELDS},
            "metadata request",
            check,
        )
        _check_metadata(meta)
        tabs = [s for s in meta["sheets"] if isinstance(s, dict)]
        grid = [s for s in tabs if s.get("properties", {}).get("sheetType", "GRID") == "GRID"]
        chosen: dict[str, Any] | None = None
        bounds: dict[str, Any] | None = None
        if self.sheet is not None:
            chosen = next((t for t in grid if t["properties"].get("title") == self.sheet), None)
            if chosen is None:
                named = [n for n in meta.get("namedRanges") or [] if isinstance(n, dict)]
                found = next((n for n in named if n.get("name") == self.sheet), None)
                if found is not None:
                    grid_range = found.get("range")
                    bounds = grid_range if isinstance(grid_range, dict) else {}
                    sheet_id = _index(bounds, "sheetId")
                    chosen = next(
                        (t for t in grid if _index(t["properties"], "sheetId") == sheet_id), None
                    )
                if chosen is None and "!" in self.sheet:
                    # An A1 range, 'Buyers'!A1:F: the named tab, bounded like a named range.
                    title, cells = split_range(self.sheet)
                    chosen = next((t for t in grid if t["properties"].get("title") == title), None)
                    if chosen is not None:
                        bounds = _grid_range(cells, self.sheet)
                if chosen is None:
                    names = ", ".join(repr(t["properties"].get("title")) for t in grid) or "none"
                    ranges = ", ".join(repr(n.get("name")) for n in named)
                    raise ConfigError(
                        f"spreadsheet {self.spreadsheet_id} has no sheet or named range "
                        f"{self.sheet!r}; its sheets are: {names}"
                        + (f"; its named ranges: {ranges}" if ranges else ""),
                        hint="pass --sheet (or --range) with one of those names, or an A1 "
                        "range such as 'Sheet1!A1:F'",
                    )
        elif self.gid is not None:
            chosen = next((t for t in grid if t["properties"].get("sheetId") == self.gid), None)
            if chosen is None:
                gids = ", ".join(
                    f"{t['properties'].get('sheetId')} ({t['properties'].get('title')!r})"
                    for t in grid
                )
                raise ConfigError(
                    f"spreadsheet {self.spreadsheet_id} has no sheet with gid "
                    f"{self.gid}; its sheets are: {gids}",
                    hint="copy the URL of the tab again, or use --sheet NAME",
                )
        else:
            chosen = next((t for t in grid if not t["properties"].get("hidden")), None)
            if chosen is None:
                raise SourceError(
                    f"spreadsheet {self.spreadsheet_id} has no visible sheet",
                    hint="unhide a sheet, or name one with --sheet",
                )
        props = chosen["properties"]
        title = str(props.get("title", ""))
        # Google always sends the grid's size; a stand-in that does not gets generous
        # bounds rather than a read cut at column Z (trailing empty cells cost nothing).
        gp = props.get("gridProperties", {})
        row_count = gp.get("rowCount", UNKNOWN_ROWS)
        col_count = max(1, gp.get("columnCount", UNKNOWN_COLUMNS))
        merges = []
        for m in chosen.get("merges") or []:
            if isinstance(m, dict):
                r0, r1 = _index(m, "startRowIndex"), _index(m, "endRowIndex", row_count)
                c0, c1 = _index(m, "startColumnIndex"), _index(m, "endColumnIndex", col_count)
                if r1 > r0 and c1 > c0:
                    merges.append((r0 + 1, r1, c0, c1 - 1))
        if bounds is None:
            header_row, last_row, first_col, last_col = self.header_row, row_count, 0, col_count - 1
        else:
            # GridRange: 0-based, end exclusive, an absent index is 0 or unbounded.
            header_row = _index(bounds, "startRowIndex") + self.header_row
            last_row = min(_index(bounds, "endRowIndex", row_count), row_count)
            first_col = _index(bounds, "startColumnIndex")
            last_col = min(_index(bounds, "endColumnIndex", col_count), col_count) - 1
        if header_row > last_row:
            where = f"range {self.sheet!r}" if bounds is not None else f"sheet {title!r}"
            raise SourceError(
                f"{where} has {last_row} rows; there is no header row on row {header_row}",
                hint="check --header-row",
            )
        sheet_id = props.get("sheetId", 0)
        self.read_tab = {"gid": _index(props, "sheetId"), "title": title, "first_column": first_col}
        return _Tab(title, header_row, last_row, first_col, last_col, merges, sheet_id)

    def _values(
        self, title: str, first_row: int, last_row: int, first_col: int, last_col: int
    ) -> list[list[Any]]:
        """Rows ``first_row..last_row`` (1-based, inclusive) of one column span."""
        a1 = (
            f"{quote_title(title)}!{column_name(first_col)}{first_row}:"
            f"{column_name(last_col)}{last_row}"
        )
        asked = last_row - first_row + 1

        def check(body: dict[str, Any]) -> None:
            # Google always names the range it answers; a range that does not cover
            # what was asked is a partial answer. An answer that names none (some
            # stand-ins and proxies) cannot be checked that way and is taken as it is.
            if "range" in body:
                if not isinstance(body["range"], str):
                    raise _BadAnswer(f"the answer for {a1} names no range as text")
                got_title, cells = split_range(body["range"])
                start, end = _rows_of(cells)
                if got_title != title or start != first_row or end is None or end < last_row:
                    raise _BadAnswer(
                        f"asked for {a1} but the answer covers "
                        f"{body.get('range')!r} (a partial range)"
                    )
            values = body.get("values", [])
            if (
                not isinstance(values, list)
                or len(values) > asked
                or not all(isinstance(r, list) for r in values)
            ):
                raise _BadAnswer(f"the answer for {a1} is not a list of at most {asked} rows")
            if not all(isinstance(v, _CELL_TYPES) for r in values for v in r):
                raise _BadAnswer(f"the answer for {a1} has a cell that is an array or object")

        body = self._get(
            f"/v4/spreadsheets/{quote(self.spreadsheet_id, safe='')}/values/{quote(a1, safe='')}",
            {"valueRenderOption": "FORMATTED_VALUE", "majorDimension": "ROWS"},
            f"read of {a1}",
            check,
        )
        return list(body.get("values", []))

    def _pages(
        self, title: str, start: int, row_count: int, first_col: int, last_col: int, page: int
    ) -> Iterator[tuple[int, list[list[Any]]]]:
        """``(first_row, rows)`` pages from ``start`` to the end of the data.

        Pages run to the grid's last row (``row_count``), except that after a page comes
        back shorter than asked (the data ended, or blank rows trail it) the rest of the
        grid is asked for in one request, so blank rows across a page boundary never end
        the read early and a large empty grid costs one request.
        """
        row = start
        while row <= row_count:
            end = min(row + page - 1, row_count)
            values = self._values(title, row, end, first_col, last_col)
            got = len(values)
            yield row, values
            del values  # not held while the next page is fetched
            if got < end - row + 1 and end < row_count:
                rest = self._values(title, end + 1, row_count, first_col, last_col)
                if not rest:
                    return
                yield end + 1, rest
                return
            row = end + 1

    def read(self) -> SheetData:
        tab = self._tab()
        title, first_col = tab.title, tab.first_col
        pages = self._pages(title, tab.header_row, tab.last_row, first_col, tab.last_col, PAGE_ROWS)
        first_row, first = next(pages)
        if not first:
            raise SourceError(
                f"sheet {title!r} of spreadsheet {self.spreadsheet_id} has no header row on "
                f"row {tab.header_row} (the sheet is empty from there on)",
                hint="check --sheet and --header-row",
            )
        header = [_text(v) for v in first[0]]
        while header and not header[-1].strip():
            header.pop()
        width = len(header)
        header_row = tab.header_row
        sections = _section_rows(tab, width)
        warnings: list[str] = []
        other = _other_merges(tab, width, sections)
        if other:
            shown = ", ".join(other[:10]) + (", …" if len(other) > 10 else "")
            warnings.append(
                f"sheet {title!r} has {len(other)} merged range(s) inside the table ({shown}): "
                "only the top-left cell of each holds a value, the others read as empty"
            )
        key_index = self._key_index(header)
        # An order-free digest of (row, buyer number) of every row: compared with the
        # key column read on its own once the last page is in.
        seen = [0, 0]

        def row_of(number: int, cells: list[str]) -> SheetRow:
            if number in sections and sum(1 for c in cells if c.strip()) <= 1:
                return SheetRow(number, ("",) * width, (), next((c for c in cells if c), ""))
            if key_index is not None and key_index < len(cells) and cells[key_index].strip():
                seen[0] += 1
                seen[1] = (seen[1] + hash((number, cells[key_index]))) & _MASK
            if "#" in "".join(cells):
                problems = []
                for i, value in enumerate(cells[:width]):
                    if value in GOOGLE_ERROR_VALUES:
                        problems.append((i, error_problem(number, first_col + i, value)[1]))
                        cells[i] = ""
                if problems:
                    return make_row(number, cells, width, tuple(problems))
            return make_row(number, cells, width)

        def rows() -> Iterator[SheetRow]:
            nonlocal first
            try:
                # Take the first page from read()'s frame so it is freed once read,
                # not held (10,000 rows) until the last page.
                head, first = first, []
                number = header_row
                for offset, row in enumerate(head[1:], start=first_row + 1):
                    number = offset
                    yield row_of(number, [_text(v) for v in row])
                del head
                for page_start, values in pages:
                    # Rows between the last row seen and this page are blank rows.
                    for offset, row in enumerate(values, start=page_start):
                        while number + 1 < offset:
                            number += 1
                            yield make_row(number, (), width)
                        number = offset
                        yield row_of(number, [_text(v) for v in row])
                    del values  # freed before the next page is fetched, not after
                if key_index is not None:
                    self._check_key_column(tab, key_index, sections, seen)
            finally:
                self.close()

        return SheetData(tuple(header), header_row, rows(), self.description, warnings)

    def _key_index(self, header: list[str]) -> int | None:
        if not self.key_header:
            return None
        for i, h in enumerate(header):
            if h.strip() == self.key_header.strip():
                return i
        wanted = normalize_header(self.key_header)
        return next((i for i, h in enumerate(header) if normalize_header(h) == wanted), None)

    def _check_key_column(
        self, tab: _Tab, key_index: int, sections: set[int], seen: list[int]
    ) -> None:
        """Read the key column alone and compare its buyer numbers with the rows read."""
        col = tab.first_col + key_index
        count, digest = 0, 0
        if tab.header_row < tab.last_row:
            for start, page in self._pages(
                tab.title, tab.header_row + 1, tab.last_row, col, col, COLUMN_PAGE_ROWS
            ):
                for number, row in enumerate(page, start=start):
                    value = _text(row[0]) if row else ""
                    if value.strip() and number not in sections:
                        count += 1
                        digest = (digest + hash((number, value))) & _MASK
        if (count, digest) != (seen[0], seen[1]):
            letter = column_name(col)
            raise SourceError(
                f"Google Sheets answered inconsistently for sheet {tab.title!r}: the rows "
                f"returned hold {seen[0]} buyer numbers but column {letter} read on its own "
                f"holds {count}"
                + (" (the same count, different rows or values)" if count == seen[0] else "")
                + "; the sheet was not read whole (was it being edited?) and nothing was "
                "written",
                hint="run the sync again; if it keeps happening, check for a proxy between "
                "buyersync and Google",
                details={"rows_keys": seen[0], "column_keys": count},
            )

    def read_column(self, header_index: int) -> tuple[tuple[str, ...], Iterator[tuple[int, str]]]:
        """The header and ``(row_number, value)`` of one column, fetched alone.

        Costs the metadata request plus one request per :data:`COLUMN_PAGE_ROWS` rows
        (the header row is part of the first); blank cells, error values and section
        rows are skipped.
        """
        tab = self._tab()
        # The header itself is needed whole (to name the column); it is one row.
        head = self._values(tab.title, tab.header_row, tab.header_row, tab.first_col, tab.last_col)
        header = [_text(v) for v in head[0]] if head else []
        while header and not header[-1].strip():
            header.pop()
        sections = _section_rows(tab, len(header))
        col = tab.first_col + header_index
        pages = (
            self._pages(tab.title, tab.header_row + 1, tab.last_row, col, col, COLUMN_PAGE_ROWS)
            if tab.header_row < tab.last_row
            else iter(())
        )

        def values() -> Iterator[tuple[int, str]]:
            try:
                for start, page in pages:
                    for number, row in enumerate(page, start=start):
                        value = _text(row[0]) if row else ""
                        if (
                            value.strip()
                            and value not in GOOGLE_ERROR_VALUES
                            and number not in sections
                        ):
                            yield number, value
            finally:
                self.close()

        return tuple(header), values()


_MASK = (1 << 64) - 1
#: What a cell of a values answer may be (FORMATTED_VALUE sends strings).
_CELL_TYPES = (str, int, float, bool, type(None))


_A1_CELL = re.compile(r"^([A-Za-z]{0,3})(\d*)$")


def _grid_range(cells: str, spec: str) -> dict[str, Any]:
    """An A1 range (``A1:F``, ``B3:G200``, ``A:F``) as a GridRange (0-based, end
    exclusive, an absent index unbounded), or a ConfigError naming it."""
    start, _, end = cells.partition(":")
    first, last = _A1_CELL.match(start.strip()), _A1_CELL.match((end or start).strip())
    if not cells.strip() or first is None or last is None:
        raise ConfigError(
            f"--range {spec!r} is not an A1 range",
            hint="write it as Sheet!A1:F, Sheet!B3:G200 or Sheet!A:F",
        )
    bounds: dict[str, Any] = {}
    if first.group(1):
        bounds["startColumnIndex"] = column_index(first.group(1))
    if first.group(2):
        bounds["startRowIndex"] = int(first.group(2)) - 1
    if last.group(1):
        bounds["endColumnIndex"] = column_index(last.group(1)) + 1
    if last.group(2):
        bounds["endRowIndex"] = int(last.group(2))
    return bounds


def _index(obj: dict[str, Any], key: str, default: int = 0) -> int:
    """A GridRange index: absent means ``default``; anything but an integer is refused."""
    value = obj.get(key, default)
    if type(value) is not int or value < 0:
        raise _bad_metadata(key, value, "a whole number of 0 or more")
    return value


#: The largest grid Google Sheets allows (10 million cells; columns up to ZZZ).
MAX_GRID_ROWS = 10_000_000
MAX_GRID_COLUMNS = 18_278

# What the reader uses of the metadata, and what each field must be: (type, required).
_SHEET_FIELDS: dict[str, tuple[type, bool]] = {
    "title": (str, True),
    "sheetId": (int, False),
    "sheetType": (str, False),
    "hidden": (bool, False),
    "gridProperties": (dict, False),
}


def _bad_metadata(path: str, value: Any, expected: str) -> SourceError:
    shown = repr(value) if isinstance(value, int | float | bool) or value is None else None
    if isinstance(value, str):
        shown = repr(value[:40]) + ("…" if len(value) > 40 else "")
    what = shown or f"a JSON {_json_type(value)}"
    return SourceError(
        f"Google Sheets metadata has a bad {path}: {what}, expected {expected}; the sheet "
        "was not read",
        hint="run the sync again; if it keeps happening, check what answers at "
        "--sheets-api-url (a proxy?)",
        details={"field": path},
    )


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _check_metadata(meta: dict[str, Any]) -> None:
    """Every field of the metadata the reader uses has its type and range, or the read
    stops with an error naming the field (never a ValueError or KeyError later)."""
    for i, sheet in enumerate(meta["sheets"]):
        where = f"sheets[{i}]"
        if not isinstance(sheet, dict):
            raise _bad_metadata(where, sheet, "an object")
        props = sheet.get("properties")
        if not isinstance(props, dict):
            raise _bad_metadata(f"{where}.properties", props, "an object")
        for key, (kind, required) in _SHEET_FIELDS.items():
            if key not in props and not required:
                continue
            value = props.get(key)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                expected = {str: "a string", int: "a whole number", bool: "true or false"}
                raise _bad_metadata(
                    f"{where}.properties.{key}", value, expected.get(kind, "an object")
                )
        grid = props.get("gridProperties", {})
        for key, top in (("rowCount", MAX_GRID_ROWS), ("columnCount", MAX_GRID_COLUMNS)):
            if key in grid:
                value = grid[key]
                if type(value) is not int or not 0 <= value <= top:
                    raise _bad_metadata(
                        f"{where}.properties.gridProperties.{key}",
                        value,
                        f"a whole number from 0 to {top:,}",
                    )
        merges = sheet.get("merges")
        if merges is not None and not isinstance(merges, list):
            raise _bad_metadata(f"{where}.merges", merges, "an array")
    named = meta.get("namedRanges")
    if named is not None:
        if not isinstance(named, list):
            raise _bad_metadata("namedRanges", named, "an array")
        for i, item in enumerate(named):
            if isinstance(item, dict) and not isinstance(item.get("name", ""), str):
                raise _bad_metadata(f"namedRanges[{i}].name", item.get("name"), "a string")


def _section_rows(tab: _Tab, width: int) -> set[int]:
    """Rows below the header whose cells are one merged range across the whole table."""
    if width < 2:
        return set()
    first, last = tab.first_col, tab.first_col + width - 1
    return {
        r0
        for r0, _r1, c0, c1 in tab.merges
        if r0 > tab.header_row and r0 <= tab.last_row and c0 <= first and c1 >= last
    }


def _other_merges(tab: _Tab, width: int, sections: set[int]) -> list[str]:
    """A1 names of the merges inside the table that are not section rows."""
    first, last = tab.first_col, tab.first_col + width - 1
    found = []
    for r0, r1, c0, c1 in sorted(tab.merges):
        if r1 <= tab.header_row or r0 > tab.last_row or c1 < first or c0 > last:
            continue
        if r0 in sections and c0 <= first and c1 >= last:
            continue
        found.append(f"{column_name(c0)}{r0}:{column_name(c1)}{r1}")
    return found


def _adc_file() -> Path:
    """Where ``gcloud auth application-default login`` writes its credentials."""
    from google.auth import _cloud_sdk

    return Path(_cloud_sdk.get_application_default_credentials_path())


def _credentials_from_file(path: str, scopes: list[str] = SCOPES) -> Any:
    """Credentials from a JSON file of any type google-auth knows."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    try:
        with open(path, encoding="utf-8") as fh:
            info = json.load(fh)
        kind = info.get("type")
    except FileNotFoundError:
        raise ConfigError(
            f"Google credentials file {path} does not exist",
            hint="check GOOGLE_APPLICATION_CREDENTIALS / --google-credentials",
        ) from None
    except (OSError, ValueError, AttributeError) as exc:
        raise ConfigError(
            f"Google credentials file {path} is not a credentials JSON ({type(exc).__name__})",
            hint="use a service-account key, or the file written by "
            "gcloud auth application-default login",
        ) from None
    try:
        if kind == "service_account":
            from google.oauth2 import service_account

            return service_account.Credentials.from_service_account_file(path, scopes=scopes)
        if kind == "authorized_user":
            from google.oauth2.credentials import Credentials as UserCredentials

            user = UserCredentials.from_authorized_user_info(info, scopes=scopes)
            # google-auth always sets Google's endpoint here; a token_uri in the file
            # (a Private Service Connect endpoint, the local stand-in) is kept.
            token_uri = info.get("token_uri")
            return user.with_token_uri(token_uri) if isinstance(token_uri, str) else user
        # external_account: google-auth looks the project up (cloudresourcemanager)
        # while loading; the reader needs no project, so that lookup is not made.
        request = _NoProjectLookup()
        try:
            credentials, _project = google.auth.load_credentials_from_file(
                path, scopes=scopes, request=request
            )
        finally:
            request.close()
        return credentials
    except (ValueError, KeyError, DefaultCredentialsError) as exc:
        # The message names the type and the exception, never the key material.
        raise ConfigError(
            f"Google credentials file {path} (type {kind!r}) cannot be used ({type(exc).__name__})",
            hint="use a service-account key (IAM > Service accounts > Keys), an "
            "authorized_user file from gcloud auth application-default login, or an "
            "external_account file for workload identity federation",
        ) from None


class _NoProjectLookup:
    """A google-auth transport that answers the project lookup of ``external_account``
    credentials with "not found" instead of asking cloudresourcemanager (which a
    deployment may not reach), and makes every other request (the token exchange)."""

    def __init__(self) -> None:
        self._inner: outbound.GoogleAuthRequest | None = None

    def __call__(self, url: str, method: str = "GET", **kwargs: Any) -> Any:
        if urlsplit(url).hostname == "cloudresourcemanager.googleapis.com":
            return _NotFound()
        if self._inner is None:
            self._inner = outbound.GoogleAuthRequest(HttpPolicy())
        return self._inner(url, method, **kwargs)

    def close(self) -> None:
        if self._inner is not None:
            self._inner.close()


class _NotFound:
    status = 404
    headers: dict[str, str] = {}
    data = b"{}"


def _default_credentials(scopes: list[str] = SCOPES) -> Any:
    """Application Default Credentials, or an error saying what was tried."""
    import google.auth
    from google.auth.exceptions import DefaultCredentialsError

    quiet = logging.getLogger("google.auth._default")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # "No project ID could be determined": not needed here
    try:
        request = _NoProjectLookup()
        try:
            # a google.auth.transport.Request in all but its base class (imported lazily)
            credentials, _project = google.auth.default(scopes=scopes, request=request)  # type: ignore[arg-type]
        finally:
            request.close()
        return credentials
    except DefaultCredentialsError:
        tried = (
            "GOOGLE_APPLICATION_CREDENTIALS (not set), "
            f"the gcloud application-default credentials file {_adc_file()} (absent), "
            "the metadata server of Cloud Run / GKE / Compute Engine (not reachable)"
        )
        raise ConfigError(
            f"no Google credentials found; tried: {tried}",
            hint="run gcloud auth application-default login, set "
            "GOOGLE_APPLICATION_CREDENTIALS (or --google-credentials) to a service-account "
            "key or external_account file, or run on Google Cloud with a service account; "
            "then share the sheet with that account",
        ) from None
    finally:
        quiet.setLevel(level)


def _text(value: Any) -> str:
    """FORMATTED_VALUE cells are strings; anything else is shown as JSON would."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _rows_of(cells: str) -> tuple[int | None, int | None]:
    """First and last row of ``"A5:Z100"`` (``None`` when absent)."""
    first, _, second = cells.partition(":")
    a = "".join(ch for ch in first if ch.isdigit())
    b = "".join(ch for ch in (second or first) if ch.isdigit())
    return (int(a) if a else None, int(b) if b else None)


def _google_message(response: Answer) -> str:
    """Google's one-line reason from an error answer (its first few KB only)."""
    try:
        answer = outbound.parse_json(response.body, outbound.HttpPolicy(), "an error answer")
        err = answer.get("error", {}) if isinstance(answer, dict) else None
        message = err.get("message") if isinstance(err, dict) else None
    except (ValueError, LimitExceeded):
        message = None
    return f": {str(message)[:200]}" if isinstance(message, str) and message else ""


#: The flag of each setting a limit names, for the hint.
_LIMIT_FLAGS = {
    "sheets_timeout_seconds": "--sheets-timeout",
    "http_max_response_bytes": "--http-max-response-bytes",
    "http_max_json_depth": "--http-max-json-depth",
    "http_max_json_values": "--http-max-json-values",
}


def _limit_error(exc: LimitExceeded, who: str = "Google") -> SourceError:
    """A request stopped at a limit of the outbound policy: not retried (the peer
    would do it again), the read fails whole."""
    flag = _LIMIT_FLAGS.get(exc.setting)
    return SourceError(
        f"{who} stopped at the {exc.limit} limit: {exc}; the sheet was not read whole "
        "and nothing from it may be used",
        hint=f"if the sheet really needs more, raise {exc.setting}"
        + (f" ({flag})" if flag else "")
        + "; otherwise check what answers at --sheets-api-url (a proxy?)",
        details={"limit": exc.limit, "setting": exc.setting},
    )


def _first_line(exc: Exception) -> str:
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    return text[:200]


def _is_loopback(url: str) -> bool:
    return is_loopback(urlsplit(url).hostname or "")


__all__ = ["COLUMN_PAGE_ROWS", "PAGE_ROWS", "SCOPES", "SCOPES_READ_WRITE", "GoogleSheetsSource"]
