"""The doctor's source checks: the file or the Google credentials, then the header row."""

from __future__ import annotations

import json
from pathlib import Path

from buyersync import wiring
from buyersync.cli.doctor.report import FAILED, OK, SKIPPED, Report
from buyersync.errors import BuyersyncError
from buyersync.rules.normalize import map_headers
from buyersync.settings import Settings
from buyersync.sources.gsheets import SCOPES, SCOPES_READ_WRITE, GoogleSheetsSource, _is_loopback
from buyersync.sources.gsheets_write import SheetsWriter

#: The values of ``sheet_feedback`` that write to the sheet (docs/sheet-feedback.md).
WRITING_FEEDBACK = ("notes", "tab")


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
        _write_scope(report, s)
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
    # The reader asks for the read-only scope; sheet feedback's writer for read-write.
    scope = ", ".join(SCOPES_READ_WRITE if s.sheet_feedback in WRITING_FEEDBACK else SCOPES)
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


def _write_scope(report: Report, s: Settings) -> None:
    """With sheet_feedback writing, a token with the read-write scope is asked for, as
    the writer asks for it: refused (a policy or delegation that does not list it, gcloud
    credentials consented without it) or not granted, the write-back would fail."""
    if s.sheet_feedback not in WRITING_FEEDBACK:
        return
    wanted = SCOPES_READ_WRITE[0]
    grant = (
        f"grant the scope {wanted} (domain-wide delegation or an organisation policy "
        f"that lists scopes: add it; gcloud credentials: gcloud auth application-default "
        f"login --scopes={wanted},https://www.googleapis.com/auth/cloud-platform), share "
        'the sheet as Editor, or set sheet_feedback = "off" (docs/sheet-feedback.md)'
    )
    try:
        source = wiring.open_source(s)
        if not isinstance(source, GoogleSheetsSource):
            return
        writer = SheetsWriter.like(source, credentials_file=s.google_credentials)
        try:
            if writer._credentials is None:
                report.add(
                    "source",
                    "write scope",
                    SKIPPED,
                    f"the Sheets API at {s.sheets_api_url} is local: no token is asked for",
                )
                return
            writer._auth_headers()
        finally:
            writer.close()
            source.close()
    except BuyersyncError as exc:
        report.add(
            "source",
            "write scope",
            FAILED,
            f"sheet_feedback = {s.sheet_feedback!r} needs a token with the read-write "
            f"scope {wanted}; asking for one failed: {exc.message}",
            grant,
        )
        return
    granted = getattr(writer._credentials, "granted_scopes", None)
    if granted is not None and wanted not in granted:
        report.add(
            "source",
            "write scope",
            FAILED,
            f"sheet_feedback = {s.sheet_feedback!r} needs the scope {wanted}; the token "
            f"was granted only {', '.join(sorted(granted)) or 'no scope'}",
            grant,
        )
        return
    report.add(
        "source",
        "write scope",
        OK,
        f"sheet_feedback = {s.sheet_feedback!r}: a token with the read-write scope {wanted} "
        "was granted (the sheet must be shared with the account as Editor)",
    )


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
