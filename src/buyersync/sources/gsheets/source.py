"""The Google Sheets reader: one tab (or named range) read page by page.

See :mod:`buyersync.sources.gsheets` for what is read and how.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from buyersync.errors import ConfigError, SourceError
from buyersync.outbound import HttpPolicy
from buyersync.records import SheetRow
from buyersync.retrying import Clock, Sleep
from buyersync.rules.backoff import Random
from buyersync.rules.normalize import normalize_header
from buyersync.sources.a1 import column_name, quote_title
from buyersync.sources.base import SheetData, Source, make_row
from buyersync.sources.cells import GOOGLE_ERROR_VALUES, error_problem
from buyersync.sources.gsheets.auth import SCOPES, load_credentials
from buyersync.sources.gsheets.client import SheetsClient, _BadAnswer
from buyersync.sources.gsheets.metadata import (
    METADATA_FIELDS,
    _other_merges,
    _section_rows,
    _Tab,
    choose_tab,
)
from buyersync.sources.gsheets.values import KeyDigest, _text, check_values

#: Rows per values request: at most one request per this many rows.
PAGE_ROWS = 10_000
#: Rows per request when only the key column is read (one short cell per row).
COLUMN_PAGE_ROWS = 100_000


class GoogleSheetsSource(SheetsClient, Source):
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
        self._credentials = load_credentials(
            credentials_file or os.environ.get("GOOGLE_APPLICATION_CREDENTIALS") or None,
            list(self.scopes),
            self.api_url,
        )
        self._client: httpx.Client | None = None

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
        tab = choose_tab(
            meta,
            spreadsheet_id=self.spreadsheet_id,
            sheet=self.sheet,
            gid=self.gid,
            header_row_given=self.header_row,
        )
        # where the read's cells are, for links to them (rules/links.py, store/sheettabs.py)
        self.read_tab = {"gid": tab.sheet_id, "title": tab.title, "first_column": tab.first_col}
        return tab

    def _values(
        self, title: str, first_row: int, last_row: int, first_col: int, last_col: int
    ) -> list[list[Any]]:
        """Rows ``first_row..last_row`` (1-based, inclusive) of one column span."""
        a1 = (
            f"{quote_title(title)}!{column_name(first_col)}{first_row}:"
            f"{column_name(last_col)}{last_row}"
        )

        def check(body: dict[str, Any]) -> None:
            check_values(body, a1, title, first_row, last_row)

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
        seen = KeyDigest()

        def row_of(number: int, cells: list[str]) -> SheetRow:
            if number in sections and sum(1 for c in cells if c.strip()) <= 1:
                return SheetRow(number, ("",) * width, (), next((c for c in cells if c), ""))
            if key_index is not None and key_index < len(cells) and cells[key_index].strip():
                seen.add(number, cells[key_index])
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
        self, tab: _Tab, key_index: int, sections: set[int], seen: KeyDigest
    ) -> None:
        """Read the key column alone and compare its buyer numbers with the rows read."""
        col = tab.first_col + key_index
        column = KeyDigest()
        if tab.header_row < tab.last_row:
            for start, page in self._pages(
                tab.title, tab.header_row + 1, tab.last_row, col, col, COLUMN_PAGE_ROWS
            ):
                for number, row in enumerate(page, start=start):
                    value = _text(row[0]) if row else ""
                    if value.strip() and number not in sections:
                        column.add(number, value)
        if column != seen:
            count = column.count
            letter = column_name(col)
            raise SourceError(
                f"Google Sheets answered inconsistently for sheet {tab.title!r}: the rows "
                f"returned hold {seen.count} buyer numbers but column {letter} read on its own "
                f"holds {count}"
                + (" (the same count, different rows or values)" if count == seen.count else "")
                + "; the sheet was not read whole (was it being edited?) and nothing was "
                "written",
                hint="run the sync again; if it keeps happening, check for a proxy between "
                "buyersync and Google",
                details={"rows_keys": seen.count, "column_keys": count},
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
