"""SMTP never carries the password in clear (issue 17, case 7), against real servers.

A plain aiosmtpd server records every AUTH it receives: with the defaults it must
receive none. A STARTTLS server and an implicit-TLS server with a self-signed
certificate made in the test get the login over TLS, verified as in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from buyersync.cli.common import exit_code_for
from buyersync.errors import ConfigError
from buyersync.services import notify as N
from buyersync.settings import Settings, load_settings
from tests.test_notify import NOTE, PASSWORD, Inbox, _smtp_server, server_tls_context


@pytest.fixture
def plain_server() -> Iterator[Inbox]:
    yield from _smtp_server()


@pytest.fixture
def starttls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    yield from _smtp_server(server_tls_context(tmp_path, monkeypatch))


@pytest.fixture
def implicit_tls_server(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Inbox]:
    yield from _smtp_server(server_tls_context(tmp_path, monkeypatch), implicit=True)


def _channel(port: int, **extra: object) -> N.Channel:
    settings = Settings(
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_user="alerts",
        smtp_password=PASSWORD,
        smtp_to="ops@example.org",
        **extra,  # type: ignore[arg-type]
    )
    (_, channel) = N.channels_from_settings(settings, timeout=5)
    return channel


def test_default_settings_never_send_the_password_to_a_plain_server(
    plain_server: Inbox,
) -> None:
    (result,) = N.deliver(NOTE, [_channel(plain_server.port)])
    assert not result.ok
    assert "STARTTLS" in (result.error or "")
    assert PASSWORD not in (result.error or "")
    assert plain_server.logins == [] and plain_server.messages == []


def test_starttls_off_still_refuses_the_password_without_tls(plain_server: Inbox) -> None:
    channel = _channel(plain_server.port, smtp_starttls=False)
    (result,) = N.deliver(NOTE, [channel])
    assert not result.ok and "without TLS" in (result.error or "")
    assert "smtp_allow_plaintext_auth" in (result.error or "")
    assert plain_server.logins == [] and plain_server.messages == []


def test_plaintext_login_only_when_explicitly_allowed(plain_server: Inbox) -> None:
    channel = _channel(plain_server.port, smtp_starttls=False, smtp_allow_plaintext_auth=True)
    (result,) = N.deliver(NOTE, [channel])
    assert result.ok, result.error
    assert plain_server.logins == [("alerts", PASSWORD)]


def test_relay_without_login_needs_no_tls(plain_server: Inbox) -> None:
    settings = Settings(
        smtp_host="127.0.0.1", smtp_port=plain_server.port, smtp_to="a@b.c", smtp_starttls=False
    )
    (_, channel) = N.channels_from_settings(settings, timeout=5)
    (result,) = N.deliver(NOTE, [channel])
    assert result.ok, result.error
    assert len(plain_server.messages) == 1 and plain_server.logins == []


def test_starttls_is_the_default(starttls_server: Inbox) -> None:
    (result,) = N.deliver(NOTE, [_channel(starttls_server.port)])
    assert result.ok, result.error
    assert starttls_server.tls == [True]
    assert starttls_server.logins == [("alerts", PASSWORD)]


def test_implicit_tls(implicit_tls_server: Inbox) -> None:
    channel = _channel(implicit_tls_server.port)
    assert isinstance(channel, N.EmailChannel)
    channel.implicit_tls = True  # what port 465 means, on a port a test may bind
    (result,) = N.deliver(NOTE, [channel])
    # The client spoke TLS from the first byte and verified the certificate (aiosmtpd
    # marks only STARTTLS sessions as TLS, so the handshake is the proof here).
    assert result.ok, result.error
    assert implicit_tls_server.logins == [("alerts", PASSWORD)]


def test_port_465_means_implicit_tls() -> None:
    assert N.EmailChannel("h", 465, "a@b.c", ["d@e.f"]).uses_implicit_tls
    assert not N.EmailChannel("h", 587, "a@b.c", ["d@e.f"]).uses_implicit_tls


def test_plaintext_login_in_the_settings_is_exit_2() -> None:
    env = {"BUYERSYNC_SMTP_USER": "alerts", "BUYERSYNC_SMTP_STARTTLS": "false"}
    with pytest.raises(ConfigError, match="without TLS") as caught:
        load_settings({}, env=env)
    assert exit_code_for(caught.value) == 2
    allowed = load_settings({}, env={**env, "BUYERSYNC_SMTP_ALLOW_PLAINTEXT_AUTH": "true"})
    assert allowed.smtp_allow_plaintext_auth
    assert load_settings({}, env={"BUYERSYNC_SMTP_USER": "alerts"}).smtp_starttls
