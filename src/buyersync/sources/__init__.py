"""Sheet readers behind one interface (:class:`~buyersync.sources.base.Source`).

:func:`open_source` picks the reader from the ``--source`` value:
``*.csv`` → :mod:`~buyersync.sources.csv_source`, ``*.xlsx``/``*.xlsm`` →
:mod:`~buyersync.sources.xlsx_source`, a Google Sheets URL or ``gsheets:<ID>`` →
:mod:`~buyersync.sources.gsheets`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buyersync.errors import ConfigError
from buyersync.sources.base import SheetData, Source

if TYPE_CHECKING:
    from buyersync.outbound import HttpPolicy
    from buyersync.sources.xlsx.limits import XlsxLimits

_GSHEETS_URL = re.compile(r"^https?://docs\.google\.com/spreadsheets/d/([A-Za-z0-9_-]+)")


def open_source(
    spec: str | None,
    *,
    sheet: str | None = None,
    header_row: int = 1,
    encoding: str = "utf-8",
    sheets_api_url: str = "https://sheets.googleapis.com",
    google_credentials: str | None = None,
    xlsx_limits: XlsxLimits | None = None,
    xlsx_stream_threshold: int | None = None,
    delimiter: str | None = None,
    csv_max_field_lines: int | None = None,
    csv_max_field_chars: int | None = None,
    csv_max_line_chars: int | None = None,
    key_column: str | None = None,
    http_policy: HttpPolicy | None = None,
) -> Source:
    """The reader for ``spec``. Raises :class:`ConfigError` for an unusable spec."""
    if not spec:
        raise ConfigError(
            "no source given",
            hint="pass --source PATH_OR_URL or set BUYERSYNC_SOURCE (a .csv, .xlsx or Google Sheet)",
        )
    match = _GSHEETS_URL.match(spec)
    if match or spec.startswith("gsheets:"):
        from buyersync.sources.gsheets import GoogleSheetsSource

        spreadsheet_id = match.group(1) if match else spec.split(":", 1)[1].strip("/")
        gid = None
        gid_match = re.search(r"[#&?]gid=(\d+)", spec)
        if gid_match:
            gid = int(gid_match.group(1))
        return GoogleSheetsSource(
            spreadsheet_id,
            sheet=sheet,
            gid=gid,
            header_row=header_row,
            api_url=sheets_api_url,
            credentials_file=google_credentials,
            key_header=key_column,
            http=http_policy,
        )
    suffix = Path(spec).suffix.lower()
    if suffix in (".csv", ".tsv", ".txt"):
        from buyersync.sources.csv_source import CsvSource

        limits = {
            "max_field_lines": csv_max_field_lines,
            "max_field_chars": csv_max_field_chars,
            "max_line_chars": csv_max_line_chars,
        }
        return CsvSource(
            spec,
            encoding=encoding,
            header_row=header_row,
            delimiter=delimiter,
            key_header=key_column,
            **{k: v for k, v in limits.items() if v is not None},
        )
    if suffix in (".xlsx", ".xlsm"):
        from buyersync.sources.xlsx_source import XlsxSource

        extra: dict[str, Any] = {}
        if xlsx_limits is not None:
            extra["limits"] = xlsx_limits
        if xlsx_stream_threshold is not None:
            extra["stream_threshold"] = xlsx_stream_threshold
        return XlsxSource(spec, sheet=sheet, header_row=header_row, **extra)
    if suffix == ".xls":
        raise ConfigError(
            f"{spec}: the old binary .xls format is not supported",
            hint="save the workbook as .xlsx (or export the sheet as CSV)",
        )
    raise ConfigError(
        f"cannot tell what kind of source {spec!r} is",
        hint="use a .csv or .xlsx path, a https://docs.google.com/spreadsheets/d/<ID> URL, "
        "or gsheets:<ID>",
    )


__all__ = ["SheetData", "Source", "open_source"]
