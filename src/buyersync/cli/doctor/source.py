"""The doctor's source checks: the file or the Google credentials, then the header row."""

from __future__ import annotations

import json
from pathlib import Path

from buyersync import wiring
from buyersync.cli.doctor.report import FAILED, OK, SKIPPED, Report
from buyersync.errors import BuyersyncError
from buyersync.rules.normalize import map_headers
from buyersync.settings import Settings
from buyersync.sources.gsheets import SCOPES, _is_loopback


def check_source(report: Report, s: Settings) -> None:
    if not s.source:
        report.add(
            "source",
            "sheet",
            SKIPPED,
            "no source configured",
            "sync needs one: --source PATH_OR_URL or BUYERSYNC_SOURCE",
        )
        return
    google = s.source.startswith("gsheets:") or "docs.google.com/spreadsheets" in s.source
    if google:
        if not _google_credentials(report, s):
            report.add("source", "header", SKIPPED, "needs credentials")
            return
    elif not _file(report, Path(s.source)):
        report.add("source", "header", SKIPPED, "needs a readable file")
        return
    _header(report, s)


def _file(report: Report, path: Path) -> bool:
    if not path.exists():
        report.add(
            "source",
            "file",
            FAILED,
            f"{path} does not exist",
            "check --source (a relative path is taken from the current folder)",
        )
        return False
    if not path.is_file():
        report.add(
            "source", "file", FAILED, f"{path} is not a regular file", "name the sheet's file"
        )
        return False
    try:
        with path.open("rb") as fh:
            fh.read(1)
    except OSError as exc:
        report.add(
            "source",
            "file",
            FAILED,
            f"{path} cannot be read: {exc.strerror}",
            "give this user read permission on the file",
        )
        return False
    report.add("source", "file", OK, f"{path} is a readable file")
    return True


def _google_credentials(report: Report, s: Settings) -> bool:
    path = s.google_credentials
    scope = ", ".join(SCOPES)
    if not path:
        if _is_loopback(s.sheets_api_url):
            report.add(
                "source",
                "credentials",
                SKIPPED,
                f"the Sheets API at {s.sheets_api_url} is local: no credentials needed",
            )
            return True
        report.add(
            "source",
            "credentials",
            FAILED,
            "no Google credentials configured",
            "set GOOGLE_APPLICATION_CREDENTIALS (or --google-credentials) to a "
            "service-account JSON file, and share the sheet with its e-mail address",
        )
        return False
    try:
        info = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        report.add(
            "source",
            "credentials",
            FAILED,
            f"Google credentials file {path} does not exist",
            "check GOOGLE_APPLICATION_CREDENTIALS",
        )
        return False
    except (OSError, ValueError) as exc:
        # Never the content: it holds the private key.
        report.add(
            "source",
            "credentials",
            FAILED,
            f"Google credentials file {path} cannot be read as JSON ({type(exc).__name__})",
            "download a key for a service account in the Cloud console "
            "(IAM > Service accounts > Keys)",
        )
        return False
    kind = info.get("type") if isinstance(info, dict) else None
    if kind == "service_account":
        who = info.get("client_email") or "(no client_email)"
        detail = f"service-account key for {who} ({path}); scope {scope}"
    else:
        detail = f"credentials of type {kind or 'unknown'} ({path}); scope {scope}"
    report.add("source", "credentials", OK, detail)
    return True


def _header(report: Report, s: Settings) -> None:
    try:
        source = wiring.open_source(s)
        try:
            data = source.read()
            colmap = map_headers(data.header, key_header=s.key_column, mapping=s.mapping)
        finally:
            close = getattr(source, "close", None)
            if close is not None:
                close()
    except BuyersyncError as exc:
        report.failed("source", "header", exc)
        return
    report.add(
        "source",
        "header",
        OK,
        f"{source.description}: header on row {s.header_row} with "
        f"{len(data.header)} columns; key column {s.key_column!r} found "
        f"({len(colmap.data_columns)} data columns)",
    )
