"""The dashboard page in Debian's headless Chromium: the numbers it shows are the stored data.

Runs `buyersync serve` (PostgreSQL), lets it sync and check health once, loads the
page with ``chromium --dump-dom`` and compares the numbers in the DOM with SQL.
A screenshot is written to ``test-artifacts/dashboard.png`` in the repository root.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from buyersync.store import open_database
from tests.test_serve import poll, start_serve, stop, wait_for_port, write_sheet

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.postgres]

CHROMIUM = shutil.which("chromium") or (
    "/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None
)
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"


@pytest.fixture
def chromium() -> str:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (apt-get install chromium); CI must run this")
        pytest.skip("Debian's chromium is not installed: apt-get install -y chromium")
    return CHROMIUM


def chromium_args(binary: str, profile: Path) -> list[str]:
    return [
        binary,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        "--virtual-time-budget=8000",
    ]


class Values(HTMLParser):
    """``id`` → ``data-value`` (and text) of every element that has both."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.loaded = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "body" and a.get("data-loaded") == "true":
            self.loaded = True
        if a.get("id") and "data-value" in a:
            self.values[a["id"] or ""] = a["data-value"] or ""


def test_page_shows_the_stored_numbers(chromium: str, pg_url: str, tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "buyers.csv", 300)
    # Two rows the database must reject, so errors show up on the page.
    with sheet.open("a", encoding="utf-8") as fh:
        fh.write(",no key,here\nB00001,duplicate,row\n")
    log = tmp_path / "serve.log"
    proc = start_serve(
        [
            "--port",
            "0",
            "--db",
            pg_url,
            "--source",
            str(sheet),
            "--sync-interval",
            "3600",
            "--retry-interval",
            "0",
            "--health-interval",
            "3600",
            "--verify-interval",
            "0",
        ],
        log,
    )
    try:
        port = wait_for_port(proc, log)
        url = f"http://127.0.0.1:{port}/"
        poll(lambda: all(j["runs"] >= 1 for j in httpx.get(url + "api/scheduler").json()["jobs"]))
        profile = tmp_path / "profile"
        dom = subprocess.run(
            [*chromium_args(chromium, profile), "--dump-dom", url],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert dom.returncode == 0, dom.stderr[-2000:]
        ARTIFACTS.mkdir(exist_ok=True)
        shot = ARTIFACTS / "dashboard.png"
        shot.unlink(missing_ok=True)
        subprocess.run(
            [
                *chromium_args(chromium, tmp_path / "profile2"),
                f"--screenshot={shot}",
                "--window-size=1280,900",
                url,
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert shot.exists() and shot.stat().st_size > 10_000
    finally:
        assert stop(proc, log) == 0

    page = Values()
    page.feed(dom.stdout)
    assert page.loaded, "the page script did not render the data"
    v = page.values
    with open_database(pg_url) as db:
        latest = db.query_one(
            "SELECT * FROM sync_health_metrics ORDER BY check_time DESC, id DESC LIMIT 1"
        )
        assert latest is not None
        assert int(v["database-count"]) == db.query_value("SELECT count(*) FROM buyers") == 300
        assert int(v["spreadsheet-count"]) == latest["spreadsheet_count"] == 300
        assert int(v["missing-count"]) == latest["missing_count"] == 0
        assert float(v["error-rate"]) == pytest.approx(latest["error_rate"])
        assert v["state"] == str(bool(latest["healthy"])).lower()
        assert int(v["errors-total"]) == db.query_value("SELECT count(*) FROM sync_error_log") == 2
        assert int(v["queue-depth"]) == db.query_value(
            "SELECT count(*) FROM retry_queue WHERE status <> 'permanently_failed'"
        )
        assert int(v["permanent-failures"]) == db.query_value(
            "SELECT count(*) FROM retry_queue WHERE status = 'permanently_failed'"
        )
        last_run = db.query_value(
            "SELECT run_id FROM sync_runs WHERE operation = 'sync' "
            "ORDER BY finished_at DESC LIMIT 1"
        )
        assert v["last-sync"] == last_run
    # The latest errors list their sheet rows (302: the blank key; 303: the duplicate).
    table = re.search(r'<table id="latest-errors">.*?</table>', dom.stdout, re.S)
    assert table is not None
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table.group(0))
    assert "302" in cells and "303" in cells
