"""``buyersync doctor`` against real parts: PostgreSQL and SQLite, the Google Sheets
stand-in, an aiosmtpd server with STARTTLS and login, and a local webhook receiver;
and against the same parts broken (closed ports, an unshared sheet, a wrong password)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from buyersync.testing import SheetsServer, write_service_account
from tests.conftest import PG_ADMIN_URL
from tests.helpers import run_cli, write_csv
from tests.test_notify import PASSWORD, _http_server, _smtp_server, free_port, server_tls_context

HEADER = ["buyer_number", "name"]


def doctor(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli("doctor", *args, env=env, timeout=120, unset=("GOOGLE_APPLICATION_CREDENTIALS",))


def checks(out: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    doc = json.loads(out.stdout)
    assert doc["ok"] is (out.returncode == 0)
    assert doc["failed"] == sum(c["status"] == "failed" for c in doc["checks"])
    return {f"{c['area']}: {c['name']}": c for c in doc["checks"]}


@pytest.fixture
def sheet(tmp_path: Path) -> Path:
    return write_csv(tmp_path / "buyers.csv", HEADER, [["B1", "Ann"], ["B2", "Bob"]])


def test_all_ok_on_a_fresh_database(db_url: str, sheet: Path) -> None:
    out = doctor("--db", db_url, "--source", str(sheet), "--json")
    assert out.returncode == 0, out.stdout + out.stderr
    found = checks(out)
    for name in (
        "database: connect",
        "database: tables",
        "database: alter buyers",
        "database: sync lock",
        "source: file",
        "source: header",
    ):
        assert found[name]["status"] == "ok", found[name]
    assert "migration(s) not applied yet, and they can be" in found["database: tables"]["detail"]
    assert "key column 'buyer_number' found" in found["source: header"]["detail"]
    assert found["alerts: channels"]["status"] == "skipped"
    # Nothing was changed: no table was created.
    from buyersync.store import open_database

    db = open_database(db_url)
    try:
        assert not db.table_exists("buyersync_schema_version") and not db.table_exists("buyers")
    finally:
        db.close()
    text = doctor("--db", db_url, "--source", str(sheet))
    assert text.returncode == 0
    assert "OK       database: connect" in text.stdout and "6 ok, 0 failed" in text.stdout


def test_after_a_sync_the_tables_are_up_to_date(db_url: str, sheet: Path) -> None:
    sync = subprocess.run(
        [sys.executable, "-m", "buyersync", "sync", "--source", str(sheet), "--db", db_url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert sync.returncode == 0, sync.stderr
    found = checks(doctor("--db", db_url, "--source", str(sheet), "--json"))
    assert "up to date" in found["database: tables"]["detail"]
    assert found["database: alter buyers"]["detail"].startswith("buyers can be altered")


def test_source_problems_name_the_fix(tmp_path: Path, sqlite_url: str) -> None:
    out = doctor("--db", sqlite_url, "--source", str(tmp_path / "nope.csv"), "--json")
    assert out.returncode == 1
    found = checks(out)
    assert found["source: file"]["status"] == "failed"
    assert "does not exist" in found["source: file"]["detail"]
    assert found["source: header"]["status"] == "skipped"
    folder = tmp_path / "dir.csv"
    folder.mkdir()
    found = checks(doctor("--db", sqlite_url, "--source", str(folder), "--json"))
    assert "not a regular file" in found["source: file"]["detail"]
    wrong = write_csv(tmp_path / "w.csv", ["id", "name"], [["B1", "Ann"]])
    out = doctor("--db", sqlite_url, "--source", str(wrong), "--key", "buyer_number", "--json")
    assert out.returncode == 1
    header = checks(out)["source: header"]
    assert header["status"] == "failed" and "buyer_number" in header["detail"]
    assert header["fix"]
    # The text form shows each fix under its failure.
    text = doctor("--db", sqlite_url, "--source", str(wrong))
    assert text.returncode == 1 and "FAILED   source: header" in text.stdout
    assert "fix: " in text.stdout and "1 failed" in text.stdout


def test_a_closed_database_port_and_the_transaction_pooler(tmp_path: Path) -> None:
    url = f"postgresql://app:pw-never-shown@127.0.0.1:{free_port()}/app"
    out = doctor("--db", url, "--json", "--connect-timeout", "2")
    assert out.returncode == 1
    found = checks(out)
    assert found["database: connect"]["status"] == "failed"
    assert "Connection refused" in found["database: connect"]["detail"]
    assert found["database: tables"]["status"] == "skipped"
    assert "pw-never-shown" not in out.stdout + out.stderr
    pooled = checks(doctor("--db", "postgresql://app:pw@127.0.0.1:6543/app", "--json"))
    assert pooled["database: sync lock"]["status"] == "failed"
    assert "transaction pooler" in pooled["database: sync lock"]["detail"]
    assert "5432" in pooled["database: sync lock"]["fix"]


def test_bad_configuration_exits_2(tmp_path: Path) -> None:
    out = doctor("--db", "mysql://x@y/z", "--json")
    assert out.returncode == 2
    assert json.loads(out.stdout)["error"]["category"] == "validation"


@pytest.fixture
def restricted_pg(pg_url: str) -> Iterator[tuple[str, str]]:
    """A database whose buyers table belongs to postgres, and a login role that owns
    nothing and may not create tables in public (PostgreSQL 15+)."""
    role = f"doctor_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(pg_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE buyers (buyer_number TEXT PRIMARY KEY, name VARCHAR(10))")
        conn.execute(f'CREATE ROLE "{role}" LOGIN')
        conn.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        conn.execute(f'GRANT SELECT, INSERT, UPDATE ON buyers TO "{role}"')
    base, _, rest = pg_url.partition("://")
    user_url = f"{base}://{role}@{rest.split('@', 1)[1]}"
    try:
        yield pg_url, user_url
    finally:
        with psycopg.connect(pg_url, autocommit=True) as conn:
            conn.execute(f'DROP OWNED BY "{role}"')
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            # DROP OWNED ran in the test database; the role itself is cluster-wide.
            conn.execute(f'DROP ROLE IF EXISTS "{role}"')


@pytest.mark.postgres
def test_postgres_privileges_from_the_catalog(restricted_pg: tuple[str, str], sheet: Path) -> None:
    owner_url, user_url = restricted_pg
    out = doctor("--db", user_url, "--source", str(sheet), "--json")
    assert out.returncode == 1, out.stderr
    found = checks(out)
    assert found["database: connect"]["status"] == "ok"
    tables, alter = found["database: tables"], found["database: alter buyers"]
    assert (
        tables["status"] == "failed"
        and "may not create tables in schema public" in (tables["detail"])
    )
    assert "GRANT CREATE ON SCHEMA" in tables["fix"]
    assert alter["status"] == "failed" and "owned by postgres" in alter["detail"]
    assert "ALTER TABLE buyers OWNER TO" in alter["fix"]
    assert found["database: sync lock"]["status"] == "ok"
    # The owner may do both.
    found = checks(doctor("--db", owner_url, "--source", str(sheet), "--json"))
    assert found["database: alter buyers"]["status"] == "ok"
    # Nothing was changed by either run.
    with psycopg.connect(owner_url) as conn:
        owner = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'buyers'")
        assert owner.fetchone() == ("postgres",)


def test_sqlite_file_that_is_not_writable(tmp_path: Path, sheet: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("root may write any file")
    folder = tmp_path / "ro"
    folder.mkdir()
    url = f"sqlite:///{folder / 'b.db'}"
    assert subprocess.run(
        [sys.executable, "-m", "buyersync", "migrate", "--db", url], capture_output=True
    ).returncode in (0, 1)
    (folder / "b.db").chmod(0o444)
    folder.chmod(0o555)
    try:
        found = checks(doctor("--db", url, "--source", str(sheet), "--json"))
    finally:
        folder.chmod(0o755)
        (folder / "b.db").chmod(0o644)
    assert found["database: alter buyers"]["status"] == "failed"
    assert "not writable" in found["database: alter buyers"]["detail"]


# -- Google Sheets (the local stand-in) -----------------------------------------------


@pytest.fixture
def strict_sheets(tmp_path: Path) -> Iterator[tuple[SheetsServer, Path]]:
    with SheetsServer(require_auth=True) as server:
        server.add_sheet("book", "Buyers", [HEADER, ["B1", "Ann"], ["B2", "Bob"]])
        key = write_service_account(tmp_path / "sa.json", server.token_uri)
        yield server, key


def test_google_sheet_shared_and_credentials_named(
    strict_sheets: tuple[SheetsServer, Path], sqlite_url: str
) -> None:
    server, key = strict_sheets
    out = doctor(
        "--db", sqlite_url, "--source", "gsheets:book", "--sheets-api-url", server.url, "--json",
        env={"GOOGLE_APPLICATION_CREDENTIALS": str(key)},
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr
    found = checks(out)
    creds = found["source: credentials"]
    assert creds["status"] == "ok"
    assert (
        "service-account key for buyersync-test@stand-in.iam.gserviceaccount.com"
        in (creds["detail"])
    )
    assert "spreadsheets.readonly" in creds["detail"]
    assert "key column 'buyer_number' found" in found["source: header"]["detail"]
    assert "PRIVATE KEY" not in out.stdout and "private_key" not in out.stdout


@pytest.mark.parametrize(("status", "sid"), [(403, "book"), (404, "nobook")], ids=["403", "404"])
def test_google_sheet_not_shared_or_not_found(
    strict_sheets: tuple[SheetsServer, Path], sqlite_url: str, status: int, sid: str
) -> None:
    server, key = strict_sheets
    if status == 403:
        server.fail_next(5, status=403)  # what Google answers for a sheet not shared
    out = doctor(
        "--db", sqlite_url, "--source", f"gsheets:{sid}", "--google-credentials", str(key),
        "--sheets-api-url", server.url, "--json",
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    header = checks(out)["source: header"]
    assert header["status"] == "failed"
    if status == 403:
        assert f"HTTP {status}" in header["detail"]
        assert "share the sheet with the service account " in header["fix"]
        assert "buyersync-test@stand-in.iam.gserviceaccount.com" in header["fix"]
    else:
        assert "not found" in header["detail"] and "spreadsheet id" in header["fix"]


def test_google_credentials_missing_off_the_local_api(sqlite_url: str, tmp_path: Path) -> None:
    out = doctor("--db", sqlite_url, "--source", "gsheets:book", "--json")
    assert out.returncode == 1
    found = checks(out)
    assert found["source: credentials"]["status"] == "failed"
    assert "GOOGLE_APPLICATION_CREDENTIALS" in found["source: credentials"]["fix"]
    (tmp_path / "bad.json").write_text("{not json")
    found = checks(
        doctor(
            "--db",
            sqlite_url,
            "--source",
            "gsheets:book",
            "--google-credentials",
            str(tmp_path / "bad.json"),
            "--json",
        )  # fmt: skip
    )
    assert "cannot be read as JSON" in found["source: credentials"]["detail"]


READ_WRITE = "https://www.googleapis.com/auth/spreadsheets"


def test_sheet_feedback_checks_the_read_write_scope(
    strict_sheets: tuple[SheetsServer, Path], sqlite_url: str
) -> None:
    server, key = strict_sheets
    args = (
        "--db",
        sqlite_url,
        "--source",
        "gsheets:book",
        "--sheets-api-url",
        server.url,
        "--json",
    )
    reading = {"GOOGLE_APPLICATION_CREDENTIALS": str(key)}
    writing = {**reading, "BUYERSYNC_SHEET_FEEDBACK": "notes"}
    # Reading only: the read-only scope, and no write check.
    found = checks(doctor(*args, env=reading))
    assert "spreadsheets.readonly" in found["source: credentials"]["detail"]
    assert "source: write scope" not in found
    # notes: the writer's scope is asked for and granted.
    out = doctor(*args, env=writing)
    assert out.returncode == 0, out.stdout + out.stderr
    found = checks(out)
    assert found["source: credentials"]["detail"].endswith(f"scope {READ_WRITE}")
    assert found["source: write scope"]["status"] == "ok"
    assert READ_WRITE in found["source: write scope"]["detail"]
    # A token endpoint that does not grant it: reading still works, the write check fails
    # and says what to grant.
    server.refused_scopes.add(READ_WRITE)
    out = doctor(*args, env={**writing, "BUYERSYNC_SHEET_FEEDBACK": "tab"})
    assert out.returncode == 1, out.stdout + out.stderr
    found = checks(out)
    assert found["source: header"]["status"] == "ok"
    scope = found["source: write scope"]
    assert scope["status"] == "failed"
    assert f"needs a token with the read-write scope {READ_WRITE}" in scope["detail"]
    assert f"grant the scope {READ_WRITE} " in scope["fix"]
    assert "share the sheet as Editor" in scope["fix"]
    assert "PRIVATE KEY" not in out.stdout and "private_key" not in out.stdout


# -- alert channels ---------------------------------------------------------------------


@pytest.fixture
def tls_smtp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    yield from _smtp_server(server_tls_context(tmp_path, monkeypatch))


def smtp_args(port: int) -> list[str]:
    return [
        "--smtp-host", "127.0.0.1", "--smtp-port", str(port), "--smtp-to", "ops@example.com",
        "--smtp-user", "alerts",
    ]  # fmt: skip


def test_smtp_login_over_starttls_without_sending(
    tls_smtp: Any, sqlite_url: str, tmp_path: Path
) -> None:
    pw = tmp_path / "pw"
    pw.write_text(PASSWORD)
    out = doctor(
        "--db", sqlite_url, *smtp_args(tls_smtp.port), "--smtp-password-file", str(pw),
        "--json", env={"SSL_CERT_FILE": os.environ["SSL_CERT_FILE"]},
    )  # fmt: skip
    assert out.returncode == 0, out.stdout + out.stderr  # no source: skipped, not failed
    mail = checks(out)["alerts: e-mail"]
    assert mail["status"] == "ok", mail
    assert "STARTTLS, logged in as alerts; no mail sent" in mail["detail"]
    assert tls_smtp.logins == [("alerts", PASSWORD)] and tls_smtp.messages == []


def test_smtp_wrong_password_and_closed_port(
    tls_smtp: Any, sqlite_url: str, tmp_path: Path
) -> None:
    wrong = "wrong-password-not-shown"
    out = doctor(
        "--db", sqlite_url, *smtp_args(tls_smtp.port), "--json",
        env={"SSL_CERT_FILE": os.environ["SSL_CERT_FILE"], "BUYERSYNC_SMTP_PASSWORD": wrong},
    )  # fmt: skip
    mail = checks(out)["alerts: e-mail"]
    assert mail["status"] == "failed" and "refused the login of alerts" in mail["detail"]
    assert "BUYERSYNC_SMTP_PASSWORD" in mail["fix"]
    assert wrong not in out.stdout + out.stderr and tls_smtp.messages == []
    closed = doctor(
        "--db", sqlite_url, "--smtp-host", "127.0.0.1", "--smtp-port", str(free_port()),
        "--smtp-to", "ops@example.com", "--json",
    )  # fmt: skip
    mail = checks(closed)["alerts: e-mail"]
    assert mail["status"] == "failed" and "Connection refused" in mail["detail"]
    assert "--smtp-port" in mail["fix"]


def test_webhook_reachable_test_message_and_closed_port(sqlite_url: str, sheet: Path) -> None:
    for url, received in _http_server(200):
        out = doctor("--db", sqlite_url, "--source", str(sheet), "--webhook-url", url, "--json")
        assert out.returncode == 0, out.stdout
        hook = checks(out)["alerts: webhook"]
        assert "accepts connections" in hook["detail"] and received == []
        out = doctor(
            "--db", sqlite_url, "--source", str(sheet), "--webhook-url", url, "--send-test",
            "--json",
        )  # fmt: skip
        assert out.returncode == 0, out.stdout
        assert "test message was accepted" in checks(out)["alerts: webhook"]["detail"]
        assert len(received) == 1 and "buyersync doctor" in received[0][1]["text"]
        assert "XyZsecretToken42" not in out.stdout + out.stderr
    out = doctor(
        "--db", sqlite_url, "--webhook-url", f"http://127.0.0.1:{free_port()}/hook", "--json"
    )
    hook = checks(out)["alerts: webhook"]
    assert hook["status"] == "failed" and "cannot connect" in hook["detail"]
