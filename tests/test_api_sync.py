"""``POST /api/sync`` against running ``buyersync serve`` processes (two replicas, one
database): bearer token only, 409 while a sync runs, 429 past the rate limit."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from buyersync.api.app import COOKIE, create_app
from buyersync.settings import load_settings
from buyersync.testing import SheetsServer
from tests.test_serve import poll, start_serve, stop, wait_for_port

pytestmark = pytest.mark.slow

TOKEN = "t0ken-for-the-apps-script-trigger-0123456789"
BOOK = "1editedBook"


@pytest.fixture
def sheets() -> Iterator[SheetsServer]:
    with SheetsServer() as s:
        s.add_sheet(
            BOOK, "Buyers", [["buyer_number", "name"], *[[f"B{i}", f"n{i}"] for i in range(50)]]
        )
        yield s


def _serve(db_url: str, sheets: SheetsServer, tmp_path: Path, name: str, interval: str):  # type: ignore[no-untyped-def]
    log = tmp_path / f"{name}.log"
    proc = start_serve(
        [
            "--port",
            "0",
            "--db",
            db_url,
            "--source",
            f"gsheets:{BOOK}",
            "--sheets-api-url",
            sheets.url,
            "--sync-interval",
            "0",
            "--retry-interval",
            "0",
            "--health-interval",
            "0",
            "--verify-interval",
            "0",
            "--api-sync-min-interval",
            interval,
        ],
        log,
        env={"BUYERSYNC_API_TOKEN": TOKEN},
    )
    return proc, log, f"http://127.0.0.1:{wait_for_port(proc, log)}"


def test_post_sync_refusals_hold_across_replicas(
    db_url: str, sheets: SheetsServer, tmp_path: Path
) -> None:
    a, a_log, a_url = _serve(db_url, sheets, tmp_path, "a", "0")
    b, b_log, b_url = _serve(db_url, sheets, tmp_path, "b", "60")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        assert httpx.post(f"{a_url}/api/sync").status_code == 401
        assert (
            httpx.post(f"{a_url}/api/sync", headers={"Authorization": "Bearer nope"}).status_code
            == 401
        )
        # The dashboard's cookie opens the page, but cannot start a sync.
        login = httpx.get(f"{a_url}/?token={TOKEN}", follow_redirects=False)
        assert login.status_code == 303 and login.cookies.get(COOKIE) == TOKEN
        page = httpx.get(f"{a_url}/api/runs", cookies={COOKIE: TOKEN})
        assert page.status_code == 200
        with_cookie = httpx.post(f"{a_url}/api/sync", cookies={COOKIE: TOKEN})
        assert with_cookie.status_code == 403, with_cookie.text

        sheets.delay_next(4)  # the sync's first request to Google: the run stays running
        started = httpx.post(f"{a_url}/api/sync", headers=auth)
        assert started.status_code == 202, started.text

        def running() -> str | None:
            runs = httpx.get(f"{a_url}/api/runs", headers=auth).json()["runs"]
            return next((r["run_id"] for r in runs if r["status"] == "running"), None)

        run_id = poll(running, timeout=30, every=0.1)
        for url in (a_url, b_url):  # either replica sees the sync the other runs
            busy = httpx.post(f"{url}/api/sync", headers=auth)
            assert busy.status_code == 409, busy.text
            assert busy.json()["run_id"] == run_id

        def finished() -> bool:
            runs = httpx.get(f"{a_url}/api/runs", headers=auth).json()["runs"]
            return any(r["run_id"] == run_id and r["status"] != "running" for r in runs)

        poll(finished, timeout=60)
        runs = httpx.get(f"{a_url}/api/runs", headers=auth).json()["runs"]
        assert [r["status"] for r in runs if r["run_id"] == run_id] == ["succeeded"]
        assert runs[0]["rows_read"] == 50

        # Replica B allows one sync a minute: replica A's start counts.
        limited = httpx.post(f"{b_url}/api/sync", headers=auth)
        assert limited.status_code == 429, limited.text
        wait = int(limited.headers["Retry-After"])
        assert 1 <= wait <= 60
        time.sleep(1.1)
        again = httpx.post(f"{b_url}/api/sync", headers=auth)
        assert again.status_code == 429 and int(again.headers["Retry-After"]) < wait + 1
        # Nothing else started a sync: one run in all.
        assert len(httpx.get(f"{a_url}/api/runs", headers=auth).json()["runs"]) == 1
    finally:
        assert stop(a, a_log) == 0, a_log.read_text()
        assert stop(b, b_log) == 0, b_log.read_text()


def test_post_sync_is_absent_without_a_token(sqlite_url: str) -> None:
    settings = load_settings({"database_url": sqlite_url, "source": "x.csv"}, env={})
    client = TestClient(create_app(settings), base_url="http://127.0.0.1")
    assert client.post("/api/sync").status_code == 404
    with_token = load_settings(
        {"database_url": sqlite_url, "source": "x.csv", "api_token": TOKEN}, env={}
    )
    client = TestClient(create_app(with_token), base_url="http://127.0.0.1")
    assert client.post("/api/sync").status_code == 401
