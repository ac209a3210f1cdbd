"""Alert channels against real servers: a local SMTP server (aiosmtpd, with login and
STARTTLS) and a local HTTP server receiving the webhook; channels that are down."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from buyersync.services import notify as N
from buyersync.services.monitor import SyncMonitor
from buyersync.services.sync import SyncEngine
from buyersync.settings import Settings
from buyersync.sources.csv_source import CsvSource
from buyersync.store.db import Database
from tests.helpers import write_csv

PASSWORD = "hunter2-very-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Inbox:
    port: int
    messages: list[Any] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    tls: list[bool] = field(default_factory=list)


class _Handler:
    def __init__(self, inbox: Inbox) -> None:
        self.inbox = inbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.inbox.messages.append(
            (envelope.rcpt_tos, message_from_bytes(envelope.content, policy=policy.default))
        )
        self.inbox.tls.append(session.ssl is not None)
        return "250 OK"


def _smtp_server(
    tls_context: ssl.SSLContext | None = None, *, implicit: bool = False
) -> Iterator[Inbox]:
    """A real SMTP server on 127.0.0.1: plain, STARTTLS (``tls_context``), or implicit
    TLS (``implicit``). ``logins`` records every AUTH it receives."""
    inbox = Inbox(port=free_port())

    def authenticator(
        server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if isinstance(data, LoginPassword):
            inbox.logins.append((data.login.decode(), data.password.decode()))
            return AuthResult(success=data.password.decode() == PASSWORD, handled=False)
        return AuthResult(success=False, handled=False)

    controller = Controller(
        _Handler(inbox),
        hostname="127.0.0.1",
        port=inbox.port,
        authenticator=authenticator,
        auth_require_tls=tls_context is not None and not implicit,
        tls_context=None if implicit else tls_context,
        require_starttls=tls_context is not None and not implicit,
        ssl_context=tls_context if implicit else None,
        # PLAIN only: after a refused login smtplib would try LOGIN next,
        # which aiosmtpd answers by waiting for the client's timeout.
        auth_exclude_mechanism=["LOGIN"],
    )
    controller.start()
    try:
        yield inbox
    finally:
        controller.stop()


@pytest.fixture
def smtp_server() -> Iterator[Inbox]:
    yield from _smtp_server()


def server_tls_context(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A self-signed certificate for 127.0.0.1 made with ``openssl req``, which the
    client (verifying as in production) trusts through SSL_CERT_FILE."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-keyout",
            str(key),
            "-out",
            str(cert),
            "-days",
            "1",
            "-subj",
            "/CN=127.0.0.1",
            "-addext",
            "subjectAltName=IP:127.0.0.1,DNS:localhost",
        ],
        check=True,
        capture_output=True,
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    # The client verifies the server as in production, trusting only this certificate.
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))
    return context


@pytest.fixture
def tls_smtp_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    yield from _smtp_server(server_tls_context(tmp_path, monkeypatch))


class _Hook(BaseHTTPRequestHandler):
    received: list[tuple[str, dict]] = []
    status = 200

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append((self.headers["Content-Type"], json.loads(body)))
        self.send_response(type(self).status)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _http_server(status: int) -> Iterator[tuple[str, list]]:
    received: list[tuple[str, dict]] = []
    handler = type("Hook", (_Hook,), {"received": received, "status": status})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/services/T000/B000/XyZsecretToken42", received
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def webhook() -> Iterator[tuple[str, list]]:
    yield from _http_server(200)


@pytest.fixture
def broken_webhook() -> Iterator[tuple[str, list]]:
    yield from _http_server(500)


NOTE = N.Notification(
    subject="buyersync: UNHEALTHY — 3 buyer(s) missing",
    text="3 buyer(s) missing.\nMissing: B1 (row 2), B2 (row 3), B3 (row 4).\n"
    "Fix: buyersync sync-missing",
    healthy=False,
    alerts=({"condition": "missing_buyers", "buyers": ["B1", "B2", "B3"]},),
)


def test_email_reaches_a_real_smtp_server_with_login(smtp_server: Inbox) -> None:
    channel = N.EmailChannel(
        host="127.0.0.1",
        port=smtp_server.port,
        sender="bs@example.org",
        recipients=["ops@example.org", "dev@example.org"],
        user="alerts",
        password=PASSWORD,
        starttls=False,
        allow_plaintext_auth=True,  # this server has no TLS: the operator opted in
        timeout=5,
    )
    (result,) = N.deliver(NOTE, [channel])
    assert result.ok, result.error
    ((rcpts, msg),) = smtp_server.messages
    assert rcpts == ["ops@example.org", "dev@example.org"]
    assert msg["Subject"] == NOTE.subject and msg["From"] == "bs@example.org"
    body = msg.get_content()
    assert "B2 (row 3)" in body and "buyersync sync-missing" in body
    assert smtp_server.logins == [("alerts", PASSWORD)]


def test_email_with_starttls(tls_smtp_server: Inbox) -> None:
    channel = N.EmailChannel(
        host="127.0.0.1",
        port=tls_smtp_server.port,
        sender="bs@example.org",
        recipients=["ops@example.org"],
        user="alerts",
        password=PASSWORD,
        starttls=True,
        timeout=5,
    )
    (result,) = N.deliver(NOTE, [channel])
    assert result.ok, result.error
    assert tls_smtp_server.tls == [True]
    assert tls_smtp_server.logins == [("alerts", PASSWORD)]


def test_wrong_password_is_reported_without_the_password(
    smtp_server: Inbox, caplog: pytest.LogCaptureFixture
) -> None:
    channel = N.EmailChannel(
        host="127.0.0.1",
        port=smtp_server.port,
        sender="a@b.c",
        recipients=["ops@example.org"],
        user="alerts",
        password="wrong-" + PASSWORD,
        starttls=False,
        allow_plaintext_auth=True,
        timeout=5,
    )
    with caplog.at_level(logging.ERROR):
        (result,) = N.deliver(NOTE, [channel])
    assert not result.ok and "SMTPAuthenticationError" in (result.error or "")
    assert not smtp_server.messages
    assert PASSWORD not in caplog.text and PASSWORD not in (result.error or "")


def test_webhook_posts_slack_compatible_json(webhook: tuple[str, list]) -> None:
    url, received = webhook
    (result,) = N.deliver(NOTE, [N.WebhookChannel(url, timeout=5)])
    assert result.ok, result.error
    ((content_type, body),) = received
    assert content_type == "application/json"
    assert body["text"].startswith(NOTE.subject) and "B3 (row 4)" in body["text"]
    assert body["healthy"] is False and body["alerts"][0]["buyers"] == ["B1", "B2", "B3"]


def test_webhook_error_hides_the_token(
    broken_webhook: tuple[str, list], caplog: pytest.LogCaptureFixture
) -> None:
    url, received = broken_webhook
    with caplog.at_level(logging.ERROR):
        (result,) = N.deliver(NOTE, [N.WebhookChannel(url, timeout=5)])
    assert len(received) == 1 and not result.ok
    assert "HTTP 500" in (result.error or "")
    assert "XyZsecretToken42" not in caplog.text + (result.error or "")
    assert "127.0.0.1" in caplog.text


def test_channels_from_settings() -> None:
    assert [c.name for c in N.channels_from_settings(Settings())] == ["console"]
    s = Settings(smtp_host="mail", smtp_to="a@b.c, d@e.f", webhook_url="https://h/x")
    chans = N.channels_from_settings(s)
    assert [c.name for c in chans] == ["console", "email", "webhook"]
    assert chans[1].recipients == ["a@b.c", "d@e.f"]  # type: ignore[attr-defined]
    assert "x" not in repr(chans[2]).replace("WebhookChannel", "")


def test_health_check_completes_with_smtp_port_closed(
    db: Database, tmp_path: Path, webhook: tuple[str, list], caplog: pytest.LogCaptureFixture
) -> None:
    """The mail server is down: the check still completes, is stored, the other channels
    still receive the alert, and the log names the failure without the password."""
    path = write_csv(
        tmp_path / "s.csv", ("buyer_number", "name"), [(f"B{i}", "n") for i in range(1, 6)]
    )
    SyncEngine(db, CsvSource(path)).run()
    db.execute("DELETE FROM buyers WHERE buyer_number = %s", ("B3",))
    url, received = webhook
    closed = free_port()  # nothing listens there
    settings = Settings(
        smtp_host="127.0.0.1",
        smtp_port=closed,
        smtp_user="alerts",
        smtp_password=PASSWORD,
        smtp_to="ops@example.org",
        webhook_url=url,
    )
    monitor = SyncMonitor.from_settings(db, settings, source=CsvSource(path))
    with caplog.at_level(logging.INFO):
        report = monitor.check_health()
    assert not report.healthy and report.record_id is not None
    by = {d.channel: d for d in report.deliveries}
    assert by["console"].ok and by["webhook"].ok and not by["email"].ok
    assert f"127.0.0.1:{closed}" in (by["email"].error or "")
    assert len(received) == 1 and "B3 (row 4)" in received[0][1]["text"]
    assert "could not send the alert by email" in caplog.text
    assert PASSWORD not in caplog.text
    assert "XyZsecretToken42" not in caplog.text
    stored = db.query_one("SELECT healthy, details FROM sync_health_metrics")
    assert stored is not None and not stored["healthy"]
    details = db.read_json(stored["details"])
    assert [d["ok"] for d in details["deliveries"]] == [True, False, True]
    assert PASSWORD not in json.dumps(details)
