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

The package is split by job: :mod:`~.auth` (credentials), :mod:`~.client` (requests
under the outbound policy, retries, errors), :mod:`~.metadata` (the tab, named ranges,
merges), :mod:`~.values` (what a values answer must be, cells as text) and
:mod:`~.source` (:class:`GoogleSheetsSource`). Every name is importable from here.
"""

from __future__ import annotations

from buyersync.sources.gsheets.auth import SCOPES, SCOPES_READ_WRITE
from buyersync.sources.gsheets.auth import _default_credentials as _default_credentials
from buyersync.sources.gsheets.auth import _is_loopback as _is_loopback
from buyersync.sources.gsheets.client import SheetsClient
from buyersync.sources.gsheets.client import _BadAnswer as _BadAnswer
from buyersync.sources.gsheets.client import _google_message as _google_message
from buyersync.sources.gsheets.metadata import (
    MAX_GRID_COLUMNS,
    MAX_GRID_ROWS,
    METADATA_FIELDS,
    UNKNOWN_COLUMNS,
    UNKNOWN_ROWS,
    Merge,
)
from buyersync.sources.gsheets.metadata import _Tab as _Tab
from buyersync.sources.gsheets.source import COLUMN_PAGE_ROWS, PAGE_ROWS, GoogleSheetsSource

__all__ = [
    "COLUMN_PAGE_ROWS",
    "MAX_GRID_COLUMNS",
    "MAX_GRID_ROWS",
    "METADATA_FIELDS",
    "PAGE_ROWS",
    "SCOPES",
    "SCOPES_READ_WRITE",
    "UNKNOWN_COLUMNS",
    "UNKNOWN_ROWS",
    "GoogleSheetsSource",
    "Merge",
    "SheetsClient",
]
