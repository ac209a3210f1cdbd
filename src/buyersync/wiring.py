"""Settings → the objects a run works with, assembled in one place.

The CLI, ``serve`` (its HTTP API and its scheduled jobs) and the retry pass all
open the database, the sheet and the alert channels from one resolved
:class:`~buyersync.settings.Settings`; they call these functions instead of
spelling out which setting goes to which argument.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

from buyersync.outbound import HttpPolicy
from buyersync.settings import Settings
from buyersync.sources import open_source as _open_source
from buyersync.sources.base import Source
from buyersync.sources.xlsx.limits import XlsxLimits
from buyersync.store import open_database as _open_database
from buyersync.store.db import Database

if TYPE_CHECKING:
    from buyersync.services.notify import Channel


def open_database(settings: Settings) -> Database:
    """Connect to ``database_url``. Raises ConfigError or StoreConnectionError.

    The caller closes it (or use :func:`database`)."""
    return _open_database(
        settings.database_url,
        connect_timeout=settings.connect_timeout_seconds,
        attempts=settings.connect_attempts,
    )


@contextlib.contextmanager
def database(settings: Settings) -> Iterator[Database]:
    """:func:`open_database`, closed when the block ends."""
    db = open_database(settings)
    try:
        yield db
    finally:
        db.close()


def open_source(settings: Settings) -> Source:
    """The sheet named by ``source`` (nothing is read yet). Raises ConfigError."""
    return _open_source(
        settings.source,
        sheet=settings.sheet_range or settings.sheet,
        header_row=settings.header_row,
        encoding=settings.encoding,
        sheets_api_url=settings.sheets_api_url,
        google_credentials=settings.google_credentials,
        xlsx_limits=XlsxLimits(
            max_part_bytes=settings.xlsx_max_part_mb << 20,
            max_sheet_bytes=settings.xlsx_max_sheet_mb << 20,
            max_ratio=settings.xlsx_max_compression_ratio,
        ),
        xlsx_stream_threshold=settings.xlsx_stream_threshold_mb << 20,
        delimiter=settings.delimiter,
        csv_max_field_lines=settings.csv_max_field_lines,
        csv_max_field_chars=settings.csv_max_field_chars,
        csv_max_line_chars=settings.csv_max_line_chars,
        key_column=settings.key_column,
        http_policy=http_policy(settings),
    )


def http_policy(settings: Settings) -> HttpPolicy:
    """The outbound policy of the Sheets reader (and its token refreshes)."""
    return HttpPolicy(
        deadline_seconds=settings.sheets_timeout_seconds,
        deadline_setting="sheets_timeout_seconds",
        max_body_bytes=settings.http_max_response_bytes,
        max_json_depth=settings.http_max_json_depth,
        max_json_values=settings.http_max_json_values,
    )


def optional_source(settings: Settings) -> Source | None:
    """:func:`open_source`, or None when no source is configured (the jobs and
    commands that can do without the sheet)."""
    return open_source(settings) if settings.source else None


def alert_channels(settings: Settings) -> list[Channel]:
    """Console always; e-mail and webhook when configured
    (:func:`buyersync.services.notify.channels_from_settings`)."""
    # Imported here: smtplib, ssl and email are a visible part of every command's
    # start-up, and only the commands that alert need them.
    from buyersync.services.notify import channels_from_settings

    return channels_from_settings(settings)


__all__ = ["alert_channels", "database", "open_database", "open_source", "optional_source"]
