"""Secrets in every spelling never reach output (issue 17, case 1).

The real commands in subprocesses: ``serve``'s startup line, ``health``'s alert on
stderr and in the webhook body, a malformed database URL, secrets read from files
(``_FILE`` variables, ``--api-token-file``), the warning for a secret given as a flag
to ``serve``, and the token length for a non-loopback bind. Plus every spelling the
one redaction function knows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from buyersync.cli.common import SafeFormatter
from buyersync.redact import redact, redact_url, url_problem, url_secrets
from buyersync.settings import load_settings
from buyersync.store import migrations, open_database
from tests.helpers import run_cli
from tests.test_notify import _http_server
from tests.test_serve import start_serve, stop, wait_for_port, write_sheet

QUERY_PASSWORD = "Qpw-9f3k2-never-shown"
MALFORMED_PASSWORD = "p@ss:w/rd"
TOKEN = "file-token-" + "k" * 32


def with_query_password(pg_url: str) -> str:
    """The test database's URL with the password in the query string (trust auth
    ignores it; what matters is that it is never printed)."""
    sep = "&" if "?" in pg_url else "?"
    return f"{pg_url}{sep}password={QUERY_PASSWORD}&sslpassword=Ssl-{QUERY_PASSWORD}"


@pytest.fixture
def webhook() -> Iterator[tuple[str, list]]:
    yield from _http_server(200)


@pytest.mark.postgres
@pytest.mark.slow
def test_query_string_password_is_never_printed_by_serve(pg_url: str, tmp_path: Path) -> None:
    url = with_query_password(pg_url)
    log = tmp_path / "serve.log"
    proc = start_serve(["--port", "0", "--db", url, "--sync-interval", "0"], log)
    try:
        port = wait_for_port(proc, log)
        assert httpx.get(f"http://127.0.0.1:{port}/api/runs", timeout=10).status_code == 200
    finally:
        stop(proc, log)
    text = log.read_text()
    assert "listening on" in text and "password=***" in text
    assert QUERY_PASSWORD not in text
    # given as a flag: the operator is told it shows in the process list
    assert "--db puts a secret on the command line" in text


@pytest.mark.postgres
def test_query_string_password_is_not_in_alerts(
    pg_url: str, tmp_path: Path, webhook: tuple[str, list]
) -> None:
    hook, received = webhook
    with open_database(pg_url) as db:
        migrations.migrate(db)
    sheet = write_sheet(tmp_path / "buyers.csv", 5)  # 5 buyers, none in the database
    url = with_query_password(pg_url)
    url_file = tmp_path / "db-url"
    url_file.write_text(url + "\n", encoding="utf-8")
    checked = run_cli(
        "health",
        "--source",
        str(sheet),
        "--webhook-url",
        hook,
        env={"BUYERSYNC_DATABASE_URL_FILE": str(url_file)},
    )
    assert checked.returncode == 1, checked.stderr  # unhealthy: 5 missing
    assert len(received) == 1
    body = str(received[0][1])
    assert "missing" in body.lower()
    for text in (checked.stdout, checked.stderr, body):
        assert QUERY_PASSWORD not in text


def test_malformed_url_says_to_percent_encode_and_prints_none_of_it(tmp_path: Path) -> None:
    url = f"postgresql://buyer:{MALFORMED_PASSWORD}@127.0.0.1:5432/buyers"
    for args, env in (
        (["errors", "--db", url], None),
        (["errors"], {"BUYERSYNC_DATABASE_URL": url}),
    ):
        result = run_cli(*args, env=env)
        assert result.returncode == 2, result.stderr
        out = result.stdout + result.stderr
        assert "percent-encode" in out and "%40" in out
        for piece in ("p@ss", "ss:w", "w/rd", "rd@", "@ss", "Servname"):
            assert piece not in out, out


def test_secrets_from_files(tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    smtp_file = tmp_path / "smtp"
    smtp_file.write_text("smtp-pw-from-file", encoding="utf-8")
    s = load_settings(
        {"api_token_file": str(token_file)},
        env={"BUYERSYNC_SMTP_PASSWORD_FILE": str(smtp_file)},
    )
    assert s.api_token == TOKEN and s.smtp_password == "smtp-pw-from-file"
    assert s.secret_flags == ()
    s = load_settings({}, env={"BUYERSYNC_API_TOKEN_FILE": str(token_file)})
    assert s.api_token == TOKEN
    assert load_settings({"api_token": TOKEN}, env={}).secret_flags == ("--api-token",)

    def refused(flags: dict[str, str], env: dict[str, str]) -> str:
        result = run_cli(
            "serve", *[a for k, v in flags.items() for a in (k, v)], "--port", "0", env=env
        )
        assert result.returncode == 2, result.stderr
        return result.stderr

    both = refused({}, {"BUYERSYNC_API_TOKEN": TOKEN, "BUYERSYNC_API_TOKEN_FILE": str(token_file)})
    assert "not both" in both and TOKEN not in both
    missing = refused({"--api-token-file": str(tmp_path / "nope")}, {})
    assert "not a regular file" in missing
    directory = refused({}, {"BUYERSYNC_API_TOKEN_FILE": str(tmp_path)})
    assert "not a regular file" in directory


@pytest.mark.slow
def test_token_file_guards_a_real_serve(sqlite_url: str, tmp_path: Path) -> None:
    token_file = tmp_path / "token"
    token_file.write_text(TOKEN + "\n", encoding="utf-8")
    log = tmp_path / "serve.log"
    proc = start_serve(
        ["--port", "0", "--db", sqlite_url, "--api-token-file", str(token_file)],
        log,
        env={"BUYERSYNC_SYNC_INTERVAL_SECONDS": "0"},
    )
    try:
        port = wait_for_port(proc, log)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/api/runs", timeout=10).status_code == 401
        auth = {"Authorization": f"Bearer {TOKEN}"}
        assert httpx.get(f"{base}/api/runs", headers=auth, timeout=10).status_code == 200
    finally:
        stop(proc, log)
    assert TOKEN not in log.read_text()
    assert "puts a secret on the command line" not in log.read_text()


def test_short_token_is_refused_for_a_non_loopback_bind(sqlite_url: str) -> None:
    result = run_cli("serve", "--host", "0.0.0.0", "--port", "0", "--db", sqlite_url,
                 env={"BUYERSYNC_API_TOKEN": "x"})  # fmt: skip
    assert result.returncode == 2
    assert "at least 32" in result.stderr and "1 characters" in result.stderr


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("postgresql://u:hunter22@db/x failed", "hunter22"),
        (f"postgresql://u:{MALFORMED_PASSWORD}@db/x: Servname not supported", "ss:w/rd"),
        ("postgresql://u@db/x?sslmode=require&password=qpw123", "qpw123"),
        ("host=db user=u password='two words' dbname=x", "two words"),
        ("host=db sslpassword=kpw456 passfile=/home/u/.pgpass", "kpw456"),
        ("host=db passfile=/home/u/.pgpass", "/home/u/.pgpass"),
        ('{"type": "service_account", "private_key_id": "abc123def"}', "abc123def"),
        (
            '{"private_key": "-----BEGIN PRIVATE KEY-----\\nMIIEvQ\\n-----END PRIVATE KEY-----\\n"}',
            "MIIEvQ",
        ),  # fmt: skip
        ("-----BEGIN RSA PRIVATE KEY-----\nMIIEvQsecret\n-----END RSA PRIVATE KEY-----", "MIIEvQ"),
        ("{'client_secret': 'cs-789'}", "cs-789"),
        ("Authorization: Bearer tok.en-abc", "tok.en-abc"),
        ("https://hooks.example/x?token=wh-tok-1", "wh-tok-1"),
    ],
)
def test_every_spelling_is_redacted(text: str, secret: str) -> None:
    assert secret not in redact(text)


def test_known_values_and_their_encodings() -> None:
    assert redact("login p@ss for p%40ss", ["p@ss"]) == "login *** for ***"
    assert url_secrets("postgresql://u:p%40ss@h/db") == ["p%40ss", "p@ss"]
    assert url_secrets("postgresql://u@h/db?password=a1b&passfile=/x/y") == ["a1b", "/x/y"]
    assert MALFORMED_PASSWORD in url_secrets(f"postgresql://u:{MALFORMED_PASSWORD}@h/db")


def test_redact_url() -> None:
    assert redact_url("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact_url("postgresql://u@h/db?password=x&sslmode=require") == (
        "postgresql://u@h/db?password=***&sslmode=require"
    )
    assert redact_url("sqlite:///data/buyers@2026.db") == "sqlite:///data/buyers@2026.db"
    assert redact_url(f"postgresql://u:{MALFORMED_PASSWORD}@h/db") == "<unreadable URL>"
    assert url_problem("postgresql://u:pa/ss@h/db") is not None
    assert url_problem("postgresql://u:pa%2Fss@h/db") is None


def test_log_lines_are_redacted() -> None:
    record = logging.LogRecord(
        "x", logging.WARNING, __file__, 1, "lost %s", ("postgresql://u:pw1234@h/db?password=z9",),
        None,
    )  # fmt: skip
    line = SafeFormatter("%(message)s").format(record)
    assert "pw1234" not in line and "z9" not in line and line.startswith("lost postgresql://u:***@")
