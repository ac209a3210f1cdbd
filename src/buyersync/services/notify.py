"""Alert channels: console/log (always), e-mail over SMTP, and a JSON webhook.

A :class:`Notification` is sent to every configured channel by :func:`deliver`. A
channel that is down is logged and reported in the returned :class:`Delivery` list;
it never raises into the caller (a health check or a sync must finish whatever the
mail server does), and its password or URL token never appears in a message:
errors are scrubbed of the secrets and the webhook is shown by scheme and host only.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import socket
import ssl
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import urlsplit

from buyersync.errors import NotificationFailed
from buyersync.outbound import Deadline, HttpPolicy, LimitExceeded
from buyersync.redact import redact
from buyersync.settings import Settings

log = logging.getLogger(__name__)

#: Seconds a channel may take in total before it counts as down (the default of
#: ``alert_timeout_seconds``).
DEFAULT_TIMEOUT = 10.0
#: The setting a channel's deadline comes from, for messages.
TIMEOUT_SETTING = "alert_timeout_seconds"


@dataclass(frozen=True)
class Notification:
    """One message about one check: its alerts and recoveries, already worded."""

    subject: str  # one line, e.g. "buyersync: UNHEALTHY — 3 buyers missing"
    text: str  # the whole message, plain text
    healthy: bool
    alerts: tuple[dict[str, Any], ...] = ()  # Alert.to_json() of each alert sent
    recoveries: tuple[str, ...] = ()  # the recovery lines
    database: str = ""  # the database, as safe to print


@dataclass(frozen=True)
class Delivery:
    """What happened to a notification on one channel."""

    channel: str  # "console", "email", "webhook"
    ok: bool
    error: str | None = None  # scrubbed: never a password or token

    def to_json(self) -> dict[str, Any]:
        return {"channel": self.channel, "ok": self.ok, "error": self.error}


class Channel(Protocol):
    name: str

    def send(self, note: Notification) -> None:
        """Send ``note``; raise on failure (the caller logs it)."""


class ConsoleChannel:
    """Writes alerts to the log (stderr for the CLI): always on."""

    name = "console"

    def send(self, note: Notification) -> None:
        level = logging.INFO if note.healthy and not note.alerts else logging.WARNING
        log.log(level, "%s\n%s", note.subject, note.text)


class SmtpSecurityError(NotificationFailed):
    """The connection to the mail server would not protect the password (not retried:
    the same connection would be refused again)."""

    retryable = False


#: The port of SMTP over implicit TLS (SMTPS, RFC 8314).
SMTPS_PORT = 465


@dataclass
class EmailChannel:
    """Sends the notification by SMTP over TLS: implicit TLS on port 465, STARTTLS
    (required, not opportunistic) elsewhere unless ``starttls`` is off. The password
    is never sent over a connection without TLS unless ``allow_plaintext_auth``."""

    host: str
    port: int
    sender: str
    recipients: Sequence[str]
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    starttls: bool = True
    timeout: float = DEFAULT_TIMEOUT
    name: str = "email"
    allow_plaintext_auth: bool = False
    implicit_tls: bool | None = None  # None: on port 465

    @property
    def uses_implicit_tls(self) -> bool:
        return self.port == SMTPS_PORT if self.implicit_tls is None else self.implicit_tls

    def send(self, note: Notification) -> None:
        msg = EmailMessage()
        msg["Subject"] = note.subject
        msg["From"] = self.sender
        msg["To"] = ", ".join(self.recipients)
        msg.set_content(note.text)
        with self.session() as smtp:
            smtp.send_message(msg)

    def check(self) -> None:
        """Connect, say EHLO, secure the connection and log in as configured, then
        quit without sending anything (``buyersync doctor``)."""
        with self.session() as smtp:
            smtp.noop()

    @contextlib.contextmanager
    def session(self) -> Iterator[smtplib.SMTP]:
        """A connection that is encrypted and logged in as configured; connecting,
        securing, logging in and what the caller does with it all run within one total
        deadline (``timeout``, the ``alert_timeout_seconds`` setting)."""
        encrypted = self.uses_implicit_tls or self.starttls
        if self.user and not encrypted and not self.allow_plaintext_auth:
            # Checked before connecting: the server never sees the login attempt.
            raise SmtpSecurityError(plaintext_auth_refusal())
        due = Deadline(self.timeout, TIMEOUT_SETTING)
        try:
            with self._connected(due) as smtp:
                yield smtp
        except (OSError, smtplib.SMTPException) as exc:
            if due.expired():
                raise NotificationFailed(
                    f"the mail server did not finish within {self.timeout:g} s in total "
                    f"(the {TIMEOUT_SETTING} limit)"
                ) from exc
            raise

    @contextlib.contextmanager
    def _connected(self, due: Deadline) -> Iterator[smtplib.SMTP]:
        """Connect, secure and log in within ``due``, then hand the connection over.

        smtplib's timeout is per socket operation, so a server that drips its replies
        a byte at a time never trips it: each step gets the time left as its socket
        timeout, and a watchdog shuts the socket down when the deadline passes (which
        wakes a read blocked in any step, the caller's included).
        """
        context = ssl.create_default_context()
        smtp: smtplib.SMTP
        if self.uses_implicit_tls:
            smtp = smtplib.SMTP_SSL(timeout=due.budget(None), context=context)
        else:
            smtp = smtplib.SMTP(timeout=due.budget(None))

        def cut() -> None:
            sock = smtp.sock
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass  # already closed

        watchdog = threading.Timer(max(due.remaining(), 0.0), cut)
        watchdog.daemon = True
        watchdog.start()

        def step() -> None:
            if due.expired():
                raise TimeoutError("total deadline passed")
            if smtp.sock is not None:
                smtp.sock.settimeout(due.budget(None))

        # Made unconnected so the watchdog runs from the first byte; smtplib takes the
        # name that TLS verifies the certificate against from the constructor only.
        smtp._host = self.host  # type: ignore[attr-defined]
        try:
            smtp.connect(self.host, self.port)
            with smtp:
                step()
                smtp.ehlo()
                if self.starttls and not self.uses_implicit_tls:
                    if not smtp.has_extn("starttls"):
                        raise SmtpSecurityError(
                            "the mail server does not offer STARTTLS, so the connection would "
                            "not be encrypted; use port 465 (implicit TLS), or "
                            "--no-smtp-starttls for a local relay without TLS"
                        )
                    step()
                    smtp.starttls(context=context)
                    step()
                    smtp.ehlo()
                if self.user:
                    step()
                    smtp.login(self.user, self.password or "")
                step()
                yield smtp
        finally:
            watchdog.cancel()
            smtp.close()

    @property
    def target(self) -> str:
        return f"smtp://{self.host}:{self.port}"


@dataclass
class WebhookChannel:
    """POSTs ``{"text": ..., "alerts": [...], ...}`` as JSON (Slack-compatible ``text``)."""

    url: str = field(repr=False)
    timeout: float = DEFAULT_TIMEOUT
    name: str = "webhook"

    def send(self, note: Notification) -> None:
        import httpx

        _hide_in_httpx_log(self.url)
        payload = {
            "text": f"{note.subject}\n{note.text}",
            "subject": note.subject,
            "healthy": note.healthy,
            "alerts": list(note.alerts),
            "recoveries": list(note.recoveries),
            "database": note.database,
        }
        from buyersync import outbound

        # The webhook's answer is not used: only its status and first few KB are read.
        policy = HttpPolicy(deadline_seconds=self.timeout, deadline_setting=TIMEOUT_SETTING)
        with outbound.client(policy) as http:
            request = http.build_request("POST", self.url, json=payload)
            try:
                answer = outbound.fetch(http, request, policy, "the webhook", body=False)
            except LimitExceeded as exc:
                raise NotificationFailed(str(exc)) from exc
            except httpx.TimeoutException as exc:
                raise NotificationFailed(
                    f"the webhook did not answer within {self.timeout:g} s"
                ) from exc
        if answer.status >= 300:
            raise NotificationFailed(f"the webhook answered HTTP {answer.status}")

    @property
    def target(self) -> str:
        return safe_url(self.url)


def safe_url(url: str) -> str:
    """Scheme and host of a URL: webhook paths carry their token (Slack's do)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    host = parts.hostname or "?"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}/…"


class _HideUrls(logging.Filter):
    """Rewrites httpx's request log lines, which carry the full URL (and so the token)."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if any(url in message for url in self.urls):
            for url in self.urls:
                message = message.replace(url, safe_url(url))
            record.msg, record.args = message, ()
        return True


_HIDE = _HideUrls()


def _hide_in_httpx_log(url: str) -> None:
    _HIDE.urls.add(url)
    httpx_log = logging.getLogger("httpx")
    if _HIDE not in httpx_log.filters:
        httpx_log.addFilter(_HIDE)


def plaintext_auth_refusal() -> str:
    return (
        "refusing to send the SMTP password over a connection without TLS: use port 465 "
        "(implicit TLS) or STARTTLS (--smtp-starttls, the default), or set "
        "smtp_allow_plaintext_auth (BUYERSYNC_SMTP_ALLOW_PLAINTEXT_AUTH=true) for a relay "
        "that cannot do TLS"
    )


def channels_from_settings(settings: Settings, *, timeout: float | None = None) -> list[Channel]:
    """Console always; e-mail when ``smtp_host`` and recipients are set; webhook when
    ``webhook_url`` is set. Each delivery is bounded by ``timeout`` seconds in total
    (default: ``alert_timeout_seconds``)."""
    if timeout is None:
        timeout = settings.alert_timeout_seconds
    channels: list[Channel] = [ConsoleChannel()]
    if settings.smtp_host and settings.smtp_recipients:
        channels.append(
            EmailChannel(
                host=settings.smtp_host,
                port=settings.smtp_port,
                sender=settings.smtp_from,
                recipients=settings.smtp_recipients,
                user=settings.smtp_user,
                password=settings.smtp_password,
                starttls=settings.smtp_starttls,
                allow_plaintext_auth=settings.smtp_allow_plaintext_auth,
                timeout=timeout,
            )
        )
    elif settings.smtp_host:
        log.warning(
            "smtp_host is set but smtp_to names no recipient: e-mail alerts are off "
            "(set BUYERSYNC_SMTP_TO)"
        )
    if settings.webhook_url:
        channels.append(WebhookChannel(settings.webhook_url, timeout=timeout))
    return channels


def deliver(
    note: Notification, channels: Sequence[Channel], *, secrets: Sequence[str] = ()
) -> list[Delivery]:
    """Send ``note`` on every channel; never raises. Returns one result per channel."""
    results: list[Delivery] = []
    for channel in channels:
        hidden = [*secrets, *_channel_secrets(channel)]
        try:
            channel.send(redact_note(note, hidden))
        except Exception as exc:  # a broken channel must not break the check
            where = getattr(channel, "target", channel.name)
            reason = redact(f"{type(exc).__name__}: {exc}", hidden).splitlines()[0][:300]
            log.error(
                "could not send the alert by %s (%s): %s; the check itself completed",
                channel.name,
                where,
                reason,
            )
            results.append(Delivery(channel.name, False, f"{where}: {reason}"))
        else:
            results.append(Delivery(channel.name, True))
    return results


def redact_note(note: Notification, secrets: Sequence[str] = ()) -> Notification:
    """``note`` with every secret redacted from its texts (alert texts quote errors)."""

    def clean(value: Any) -> Any:
        if isinstance(value, str):
            return redact(value, secrets)
        if isinstance(value, dict):
            return {k: clean(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(clean(v) for v in value)
        return value

    return Notification(
        subject=clean(note.subject),
        text=clean(note.text),
        healthy=note.healthy,
        alerts=clean(note.alerts),
        recoveries=clean(note.recoveries),
        database=clean(note.database),
    )


def _channel_secrets(channel: Channel) -> list[str]:
    found = []
    for attr in ("password", "url"):
        value = getattr(channel, attr, None)
        if value:
            found.append(str(value))
    url = getattr(channel, "url", None)
    if url:
        path = urlsplit(url).path
        found.extend(part for part in path.split("/") if len(part) >= 8)
    return found
