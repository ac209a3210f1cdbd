"""The doctor's alert checks: SMTP (connect, TLS, login, no mail) and the webhook."""

from __future__ import annotations

import smtplib
import socket
import ssl
from urllib.parse import urlsplit

from buyersync.cli.doctor.report import FAILED, OK, SKIPPED, Report, described
from buyersync.errors import BuyersyncError
from buyersync.services.notify import EmailChannel, Notification, WebhookChannel, safe_url
from buyersync.settings import Settings


def check_alerts(report: Report, s: Settings, *, send_test: bool) -> None:
    if not s.smtp_host and not s.webhook_url:
        report.add(
            "alerts",
            "channels",
            SKIPPED,
            "no alert channel configured: alerts only reach the console",
            "set BUYERSYNC_SMTP_HOST and BUYERSYNC_SMTP_TO, or BUYERSYNC_WEBHOOK_URL",
        )
        return
    if s.smtp_host:
        _smtp(report, s)
    if s.webhook_url:
        _webhook(report, s, send_test=send_test)


def _smtp(report: Report, s: Settings) -> None:
    target = f"{s.smtp_host}:{s.smtp_port}"
    if not s.smtp_recipients:
        report.add(
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
        report.add(
            "alerts",
            "e-mail",
            FAILED,
            f"{target} refused the login of {s.smtp_user} ({exc.smtp_code})",
            "check BUYERSYNC_SMTP_USER and the password (BUYERSYNC_SMTP_PASSWORD or "
            "BUYERSYNC_SMTP_PASSWORD_FILE)",
        )
        return
    except ssl.SSLError as exc:
        report.add(
            "alerts",
            "e-mail",
            FAILED,
            f"TLS with {target} failed: {exc.reason or exc}",
            "check that the server's certificate is valid for this host name "
            "(port 465: implicit TLS; other ports: STARTTLS)",
        )
        return
    except (OSError, smtplib.SMTPException, BuyersyncError) as exc:
        report.failed(
            "alerts",
            "e-mail",
            exc if isinstance(exc, BuyersyncError) else described(exc, target),
            "check --smtp-host and --smtp-port, and that the server accepts connections",
        )
        return
    security = (
        "implicit TLS" if channel.uses_implicit_tls else "STARTTLS" if s.smtp_starttls else "no TLS"
    )
    login = f", logged in as {s.smtp_user}" if s.smtp_user else ", no login configured"
    report.add(
        "alerts",
        "e-mail",
        OK,
        f"{target}: connected, EHLO, {security}{login}; no mail sent",
    )


def _webhook(report: Report, s: Settings, *, send_test: bool) -> None:
    url = s.webhook_url or ""
    shown = safe_url(url)
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        report.add(
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
        report.add(
            "alerts",
            "webhook",
            FAILED,
            f"cannot connect to {host}:{port} ({exc.strerror or type(exc).__name__})",
            "check BUYERSYNC_WEBHOOK_URL and that outgoing connections are allowed",
        )
        return
    if not send_test:
        report.add(
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
        database=s.database_display,
    )
    try:
        WebhookChannel(url).send(note)
    except Exception as exc:  # httpx errors and NotificationFailed alike
        report.failed(
            "alerts",
            "webhook",
            exc if isinstance(exc, BuyersyncError) else described(exc, shown),
            "check BUYERSYNC_WEBHOOK_URL (a wrong or revoked hook answers 4xx)",
        )
        return
    report.add("alerts", "webhook", OK, f"{shown}: the test message was accepted")
