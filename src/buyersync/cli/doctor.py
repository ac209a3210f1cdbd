"""``buyersync doctor``: try every configured part once and say what to fix.

Nothing is changed: the database is asked (catalog, a lock taken and released), the
sheet's header is read, the mail server is logged in to without sending, and the
webhook is only connected to unless ``--send-test``.
"""

from __future__ import annotations

import dataclasses
import json
import smtplib
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from buyersync import wiring
from buyersync.cli.common import (
    ALERT_SETTINGS,
    DB_SETTINGS,
    SOURCE_SETTINGS,
    Context,
    command_settings,
    emit_json,
)
from buyersync.cli.output import plain
from buyersync.errors import BuyersyncError
from buyersync.settings import Settings

OK, FAILED, SKIPPED = "ok", "failed", "skipped"
#: Supabase's (and PgBouncer's usual) transaction-pooling port: see docs/deployment.md.
TRANSACTION_POOLER_PORT = 6543


@dataclass
class Check:
    """One line of the check list."""

    area: str  # database, source, alerts
    name: str
    status: str
    detail: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Doctor:
    """Runs the checks for one set of settings; every text passes through ``scrub``."""

    def __init__(self, settings: Settings, *, scrub: Callable[[str], str], send_test: bool):
        self.settings = settings
        self.scrub = scrub
        self.send_test = send_test
        self.checks: list[Check] = []

    def add(self, area: str, name: str, status: str, detail: str, fix: str | None = None) -> Check:
        check = Check(
            area,
            name,
            status,
            plain(self.scrub(detail)),
            plain(self.scrub(fix)) if fix else None,
        )
        self.checks.append(check)
        return check

    def failed(self, area: str, name: str, exc: BaseException, fix: str | None = None) -> None:
        if isinstance(exc, BuyersyncError):
            self.add(area, name, FAILED, exc.message, fix or exc.hint)
        else:
            self.add(area, name, FAILED, f"{type(exc).__name__}: {exc}", fix)

    def run(self) -> list[Check]:
        self.database()
        self.source()
        self.alerts()
        return self.checks

    # -- database --------------------------------------------------------------
    def database(self) -> None:
        s = self.settings
        where = s.database_display
        later = ("tables", "alter buyers", "sync lock")
        try:
            # One attempt: the doctor reports, it does not wait out an outage.
            db = wiring.open_database(dataclasses.replace(s, connect_attempts=1))
        except BuyersyncError as exc:
            self.failed(
                "database",
                "connect",
                exc,
                exc.hint or "check the host, port, user and password in --db",
            )
            for name in later:
                if name != "sync lock" or not self._pooler():
                    self.add("database", name, SKIPPED, "needs a connection")
            return
        try:
            self.add("database", "connect", OK, f"connected to {where}")
            self._tables(db)
            self._alter_buyers(db)
            self._lock(db)
        finally:
            db.close()

    def _tables(self, db: Any) -> None:
        from buyersync.store import migrations, privileges

        try:
            pending = migrations.pending(db)
            if not pending:
                self.add(
                    "database",
                    "tables",
                    OK,
                    f"the tool's tables are up to date (schema version {migrations.LATEST})",
                )
                return
            answer = privileges.can_create_tables(db)
        except BuyersyncError as exc:
            self.failed("database", "tables", exc)
            return
        if answer.allowed:
            self.add(
                "database",
                "tables",
                OK,
                f"{len(pending)} migration(s) not applied yet, and they can be: "
                "buyersync migrate (or the next sync) applies them",
            )
        else:
            self.add(
                "database",
                "tables",
                FAILED,
                f"{len(pending)} migration(s) not applied, and {answer.reason}",
                answer.fix,
            )

    def _alter_buyers(self, db: Any) -> None:
        from buyersync.store import privileges

        try:
            if not db.table_exists("buyers"):
                answer = privileges.can_create_tables(db)
                if answer.allowed:
                    self.add(
                        "database",
                        "alter buyers",
                        OK,
                        "there is no buyers table yet; the first sync creates it",
                    )
                else:
                    self.add(
                        "database",
                        "alter buyers",
                        FAILED,
                        f"there is no buyers table yet, and {answer.reason}",
                        answer.fix,
                    )
                return
            answer = privileges.can_alter_buyers(db)
        except BuyersyncError as exc:
            self.failed("database", "alter buyers", exc)
            return
        if answer.allowed:
            self.add(
                "database",
                "alter buyers",
                OK,
                "buyers can be altered (schema fix --apply, new sheet columns)",
            )
        else:
            self.add("database", "alter buyers", FAILED, answer.reason, answer.fix)

    def _pooler(self) -> bool:
        """Report (and say True) when the URL names a transaction pooler's port."""
        url = self.settings.database_url
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return False
        if not parts.scheme.startswith("postgres") or port != TRANSACTION_POOLER_PORT:
            return False
        self.add(
            "database",
            "sync lock",
            FAILED,
            f"port {TRANSACTION_POOLER_PORT} is a transaction pooler: the session advisory "
            "lock that keeps two syncs apart (and the session's staging table) does not "
            "hold there",
            "use a direct connection, or the session pooler on port 5432 (docs/deployment.md)",
        )
        return True

    def _lock(self, db: Any) -> None:
        if self._pooler():
            return
        try:
            with db.lock("doctor"):
                pass
        except BuyersyncError as exc:
            self.failed("database", "sync lock", exc)
            return
        kind = "lock file" if db.sql.locks_whole_file else "advisory lock"
        self.add("database", "sync lock", OK, f"the {kind} can be taken and released")

    # -- source ------------------------------------------------------------------
    def source(self) -> None:
        s = self.settings
        if not s.source:
            self.add(
                "source",
                "sheet",
                SKIPPED,
                "no source configured",
                "sync needs one: --source PATH_OR_URL or BUYERSYNC_SOURCE",
            )
            return
        google = s.source.startswith("gsheets:") or "docs.google.com/spreadsheets" in s.source
        if google:
            if not self._google_credentials():
                self.add("source", "header", SKIPPED, "needs credentials")
                return
        elif not self._file(Path(s.source)):
            self.add("source", "header", SKIPPED, "needs a readable file")
            return
        self._header()

    def _file(self, path: Path) -> bool:
        if not path.exists():
            self.add(
                "source",
                "file",
                FAILED,
                f"{path} does not exist",
                "check --source (a relative path is taken from the current folder)",
            )
            return False
        if not path.is_file():
            self.add(
                "source", "file", FAILED, f"{path} is not a regular file", "name the sheet's file"
            )
            return False
        try:
            with path.open("rb") as fh:
                fh.read(1)
        except OSError as exc:
            self.add(
                "source",
                "file",
                FAILED,
                f"{path} cannot be read: {exc.strerror}",
                "give this user read permission on the file",
            )
            return False
        self.add("source", "file", OK, f"{path} is a readable file")
        return True

    def _google_credentials(self) -> bool:
        from buyersync.sources.gsheets import SCOPES, _is_loopback

        s = self.settings
        path = s.google_credentials
        scope = ", ".join(SCOPES)
        if not path:
            if _is_loopback(s.sheets_api_url):
                self.add(
                    "source",
                    "credentials",
                    SKIPPED,
                    f"the Sheets API at {s.sheets_api_url} is local: no credentials needed",
                )
                return True
            self.add(
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
            self.add(
                "source",
                "credentials",
                FAILED,
                f"Google credentials file {path} does not exist",
                "check GOOGLE_APPLICATION_CREDENTIALS",
            )
            return False
        except (OSError, ValueError) as exc:
            # Never the content: it holds the private key.
            self.add(
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
        self.add("source", "credentials", OK, detail)
        return True

    def _header(self) -> None:
        from buyersync.rules.normalize import map_headers

        s = self.settings
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
            self.failed("source", "header", exc)
            return
        self.add(
            "source",
            "header",
            OK,
            f"{source.description}: header on row {s.header_row} with "
            f"{len(data.header)} columns; key column {s.key_column!r} found "
            f"({len(colmap.data_columns)} data columns)",
        )

    # -- alerts ------------------------------------------------------------------
    def alerts(self) -> None:
        s = self.settings
        if not s.smtp_host and not s.webhook_url:
            self.add(
                "alerts",
                "channels",
                SKIPPED,
                "no alert channel configured: alerts only reach the console",
                "set BUYERSYNC_SMTP_HOST and BUYERSYNC_SMTP_TO, or BUYERSYNC_WEBHOOK_URL",
            )
            return
        if s.smtp_host:
            self._smtp()
        if s.webhook_url:
            self._webhook()

    def _smtp(self) -> None:
        from buyersync.services.notify import EmailChannel

        s = self.settings
        target = f"{s.smtp_host}:{s.smtp_port}"
        if not s.smtp_recipients:
            self.add(
                "alerts",
                "e-mail",
                FAILED,
                f"an SMTP server is set ({target}) but no recipient",
                "set BUYERSYNC_SMTP_TO (comma-separated addresses)",
            )
            return
        channel = EmailChannel(
            host=s.smtp_host or "",
            port=s.smtp_port,
            sender=s.smtp_from,
            recipients=s.smtp_recipients,
            user=s.smtp_user,
            password=s.smtp_password,
            starttls=s.smtp_starttls,
            allow_plaintext_auth=s.smtp_allow_plaintext_auth,
        )
        try:
            channel.check()
        except smtplib.SMTPAuthenticationError as exc:
            self.add(
                "alerts",
                "e-mail",
                FAILED,
                f"{target} refused the login of {s.smtp_user} ({exc.smtp_code})",
                "check BUYERSYNC_SMTP_USER and the password (BUYERSYNC_SMTP_PASSWORD or "
                "BUYERSYNC_SMTP_PASSWORD_FILE)",
            )
            return
        except ssl.SSLError as exc:
            self.add(
                "alerts",
                "e-mail",
                FAILED,
                f"TLS with {target} failed: {exc.reason or exc}",
                "check that the server's certificate is valid for this host name "
                "(port 465: implicit TLS; other ports: STARTTLS)",
            )
            return
        except (OSError, smtplib.SMTPException, BuyersyncError) as exc:
            self.failed(
                "alerts",
                "e-mail",
                exc if isinstance(exc, BuyersyncError) else _described(exc, target),
                "check --smtp-host and --smtp-port, and that the server accepts connections",
            )
            return
        security = (
            "implicit TLS"
            if channel.uses_implicit_tls
            else "STARTTLS"
            if s.smtp_starttls
            else "no TLS"
        )
        login = f", logged in as {s.smtp_user}" if s.smtp_user else ", no login configured"
        self.add(
            "alerts",
            "e-mail",
            OK,
            f"{target}: connected, EHLO, {security}{login}; no mail sent",
        )

    def _webhook(self) -> None:
        from buyersync.services.notify import Notification, WebhookChannel, safe_url

        url = self.settings.webhook_url or ""
        shown = safe_url(url)
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            self.add(
                "alerts",
                "webhook",
                FAILED,
                f"the webhook host {host} does not resolve ({exc})",
                "check BUYERSYNC_WEBHOOK_URL and the machine's DNS",
            )
            return
        try:
            with socket.create_connection((host, port), timeout=10):
                pass
        except OSError as exc:
            self.add(
                "alerts",
                "webhook",
                FAILED,
                f"cannot connect to {host}:{port} ({exc.strerror or type(exc).__name__})",
                "check BUYERSYNC_WEBHOOK_URL and that outgoing connections are allowed",
            )
            return
        if not self.send_test:
            self.add(
                "alerts",
                "webhook",
                OK,
                f"{shown}: {host} resolves ({len(infos)} address(es)) and port {port} "
                "accepts connections; --send-test posts a test message",
            )
            return
        note = Notification(
            subject="buyersync: test message from buyersync doctor",
            text="This is a test of the buyersync alert webhook. Nothing is wrong.",
            healthy=True,
            database=self.settings.database_display,
        )
        try:
            WebhookChannel(url).send(note)
        except Exception as exc:  # httpx errors and NotificationFailed alike
            self.failed(
                "alerts",
                "webhook",
                exc if isinstance(exc, BuyersyncError) else _described(exc, shown),
                "check BUYERSYNC_WEBHOOK_URL (a wrong or revoked hook answers 4xx)",
            )
            return
        self.add("alerts", "webhook", OK, f"{shown}: the test message was accepted")


def _described(exc: BaseException, target: str) -> BuyersyncError:
    """A network error as one line that names the target (never the credentials)."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return BuyersyncError(f"cannot reach {target}: {reason}")


def print_checks(checks: list[Check]) -> None:
    width = max(len(f"{c.area}: {c.name}") for c in checks)
    for c in checks:
        label = f"{c.area}: {c.name}".ljust(width)
        click.echo(f"{c.status.upper():8} {label}  {c.detail}")
        if c.fix and c.status != OK:
            click.echo(f"{'':8} {'':{width}}  fix: {c.fix}")
    failed = sum(c.status == FAILED for c in checks)
    passed = sum(c.status == OK for c in checks)
    skipped = sum(c.status == SKIPPED for c in checks)
    click.echo(
        f"{passed} ok, {failed} failed, {skipped} skipped"
        + (": fix the failed checks above and run buyersync doctor again" if failed else "")
    )


@click.command()
@click.option(
    "--send-test",
    is_flag=True,
    help="Post a test message to the webhook (otherwise it is only connected to).",
)
@command_settings(
    DB_SETTINGS,
    SOURCE_SETTINGS,
    ALERT_SETTINGS,
    "smtp_allow_plaintext_auth",
)
def doctor(ctx: Context, send_test: bool) -> int:
    """Check the configuration: database, sheet and alert channels, with the fix for each.

    Tries the database (connect; the tool's tables can be created or are there;
    buyers can be altered; the sync lock works), the source (file or Google
    credentials, sharing, header row and key column) and every configured alert
    channel (SMTP: connect, TLS and login without sending; webhook: DNS and TCP, or
    a test message with --send-test). Changes nothing. Exits 0 when every check
    that ran passed, 1 when any failed, 2 when the settings cannot be read.
    """
    checks = Doctor(ctx.settings, scrub=ctx.scrub, send_test=send_test).run()
    failed = [c for c in checks if c.status == FAILED]
    if ctx.json:
        emit_json(
            {
                "ok": not failed,
                "checks": [c.to_json() for c in checks],
                "passed": sum(c.status == OK for c in checks),
                "failed": len(failed),
                "skipped": sum(c.status == SKIPPED for c in checks),
            }
        )
    else:
        print_checks(checks)
    return 1 if failed else 0
