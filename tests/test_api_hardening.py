"""Hostile requests against the real app served by uvicorn on 127.0.0.1 (issue 17, cases
6 and 8), on SQLite and PostgreSQL: foreign Host headers (DNS rebinding), security
headers, parameters that are too large, out of range, or hold a NUL."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn

from buyersync.api import create_app
from buyersync.api.app import MAX_PAGE, host_name
from buyersync.errors import ErrorCategory
from buyersync.records import RowFailure
from buyersync.settings import Settings
from buyersync.store import errorlog, migrations, open_database

#: More than one page, so "everything at once" and paging can be told apart.
ROWS = MAX_PAGE + 250


class Served:
    def __init__(self, base: str) -> None:
        self.base = base

    def get(self, path: str, **kwargs: object) -> httpx.Response:
        return httpx.get(self.base + path, timeout=30, **kwargs)  # type: ignore[arg-type]


def serve_app(settings: Settings) -> Iterator[Served]:
    """The app of ``settings`` in a real uvicorn on a free 127.0.0.1 port."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    config = uvicorn.Config(
        create_app(settings), log_level="warning", lifespan="off", log_config=None
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.05)
    try:
        yield Served(f"http://127.0.0.1:{sock.getsockname()[1]}")
    finally:
        server.should_exit = True
        thread.join(15)
        sock.close()


@pytest.fixture
def logged(db_url: str) -> str:
    """A database whose error log holds ROWS entries."""
    with open_database(db_url) as db:
        migrations.migrate(db)
        failures = [
            RowFailure(ErrorCategory.DATA_FORMAT, f"bad {i}", i + 2, f"B{i:05d}")
            for i in range(ROWS)
        ]
        errorlog.log_failures(db, failures, "run-1", at=datetime.now(UTC) - timedelta(hours=1))
    return db_url


@pytest.fixture
def api(logged: str) -> Iterator[Served]:
    yield from serve_app(Settings(database_url=logged))


def _is_json_error(response: httpx.Response, *statuses: int) -> None:
    assert response.status_code in statuses, (response.status_code, response.text[:300])
    assert response.headers["content-type"].startswith("application/json")
    assert "detail" in response.json()


def test_limit_is_capped_and_offset_pages_through_everything(api: Served) -> None:
    _is_json_error(api.get("/api/errors?limit=0"), 422)
    _is_json_error(api.get(f"/api/errors?limit={MAX_PAGE + 1}"), 422)
    seen: list[str] = []
    offset: int | None = 0
    while offset is not None:
        page = api.get(f"/api/errors?limit={MAX_PAGE}&offset={offset}")
        assert page.status_code == 200, page.text
        doc = page.json()
        assert len(doc["errors"]) <= MAX_PAGE and doc["total"] == ROWS
        seen += [e["buyer_number"] for e in doc["errors"]]
        offset = doc["next_offset"]
    assert len(seen) == ROWS and len(set(seen)) == ROWS


BAD_QUERIES = [
    "since=99999999d",
    "until=99999999999999999999w",
    "since=yesterday",
    "limit=99999999999999999999999",
    "offset=99999999999999999999999",
    "offset=-1",
    "limit=abc",
    "type=nonsense",
    "buyer=B%00001",
    "run=%00",
    "since=2026-01-01%00",
    "buyer=" + "x" * 600,
]


def test_every_bad_parameter_is_a_4xx_with_a_json_body(api: Served) -> None:
    for query in BAD_QUERIES:
        _is_json_error(api.get("/api/errors?" + query), 400, 422)


def test_bad_parameters_elsewhere(api: Served) -> None:
    _is_json_error(api.get("/api/retry-queue?status=%00"), 400)
    _is_json_error(api.get("/api/retry-queue?status=nonsense"), 422)
    _is_json_error(api.get("/api/retry-queue?limit=99999999999999999999999"), 422)
    _is_json_error(api.get("/api/runs?limit=0"), 422)
    _is_json_error(api.get("/api/health?limit=-5"), 422)


def test_foreign_host_header_is_refused(api: Served) -> None:
    _is_json_error(api.get("/api/errors", headers={"Host": "attacker.example"}), 400)
    _is_json_error(api.get("/", headers={"Host": "attacker.example:8000"}), 400)
    _is_json_error(api.get("/api/errors", headers={"Host": "127.0.0.1.attacker.example"}), 400)
    for host in ("localhost", "localhost:8000", "127.0.0.1:1", "[::1]", "[::1]:8000"):
        response = api.get("/api/errors?limit=1", headers={"Host": host})
        assert response.status_code == 200, (host, response.text)
    # Liveness probes address the process by IP: /healthz reveals nothing.
    assert api.get("/healthz", headers={"Host": "10.1.2.3:8000"}).status_code == 200


def test_allowed_host_names_more(logged: str) -> None:
    settings = Settings(database_url=logged, allowed_hosts="dash.example.org,Other.Example:9")
    for served in serve_app(settings):
        for host in ("dash.example.org", "dash.example.org:443", "other.example"):
            assert served.get("/api/runs", headers={"Host": host}).status_code == 200
        assert served.get("/api/runs", headers={"Host": "attacker.example"}).status_code == 400


def test_security_headers_on_every_response(api: Served) -> None:
    for path, headers in [
        ("/", {}),
        ("/static/dashboard.js", {}),
        ("/api/errors?limit=1", {}),
        ("/api/errors?limit=0", {}),
        ("/nowhere", {}),
        ("/api/runs", {"Host": "attacker.example"}),
    ]:
        response = api.get(path, headers=headers)
        csp = response.headers.get("content-security-policy", "")
        assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp, path
        assert "unsafe-inline" not in csp
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "no-referrer"


def test_the_page_has_no_inline_script_or_style(api: Served) -> None:
    html = api.get("/").text
    assert "<script src=" in html
    assert "<script>" not in html and "<style" not in html and " style=" not in html
    assert " onload=" not in html and " onclick=" not in html


def test_host_name() -> None:
    assert host_name("LocalHost:8000") == "localhost"
    assert host_name("[::1]:80") == "[::1]"
    assert host_name("[::1]x") is None
    assert host_name("a:b") is None
    assert host_name(None) is None


def test_the_cli_refuses_the_same_inputs_with_exit_2(logged: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUYERSYNC_")}
    for args in (
        ["--since", "99999999d"],
        ["--until", "99999999999999999999w"],
        ["--limit", "99999999999999999999999"],
        ["--limit", "-1"],
    ):
        result = subprocess.run(
            [sys.executable, "-m", "buyersync", "errors", "--db", logged, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 2, (args, result.stderr)
        assert "internal error" not in result.stderr and "Traceback" not in result.stderr
    ok = subprocess.run(
        [sys.executable, "-m", "buyersync", "errors", "--json", "--db", logged, "--limit", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert ok.returncode == 0 and len(json.loads(ok.stdout)["errors"]) == ROWS


@pytest.mark.slow
def test_real_serve_checks_the_host_header(sqlite_url: str, tmp_path: Path) -> None:
    from tests.test_serve import start_serve, stop, wait_for_port

    log = tmp_path / "serve.log"
    proc = start_serve(
        [
            "--port",
            "0",
            "--db",
            sqlite_url,
            "--sync-interval",
            "0",
            "--allowed-host",
            "dash.example.org",
            "--allowed-host",
            "other.example:8443",
        ],
        log,
    )
    try:
        port = wait_for_port(proc, log)
        url = f"http://127.0.0.1:{port}/api/runs"
        for host, status in [
            ("attacker.example", 400),
            (f"attacker.example:{port}", 400),
            ("dash.example.org", 200),
            ("other.example", 200),
            (f"localhost:{port}", 200),
        ]:
            response = httpx.get(url, headers={"Host": host}, timeout=10)
            assert response.status_code == status, (host, response.text)
            assert response.headers["x-frame-options"] == "DENY"
    finally:
        stop(proc, log)
