"""The dashboard page in Debian's headless Chromium: the numbers it shows are the stored data.

Runs `buyersync serve` (PostgreSQL), lets it sync and check health once, then brings
the database into a failure state from outside (a sync of a corrected sheet resolves
one problem, three buyers are deleted, a health check with --no-alerts), loads the
page with ``chromium --dump-dom`` and compares what it shows with SQL: what is wrong
now (open problems by cause with their cells, the alerts that hold now and what
happened to them), the sheet and database watched, the counts, and the history
(property 16 for open and resolved problems). A screenshot is written to
``test-artifacts/dashboard.png`` in the repository root.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import httpx
import pytest

from buyersync.redact import database_label
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
    """``id`` → ``data-value`` of every element that has both; the problem rows (by
    table), the alert items and the cell links."""

    def __init__(self) -> None:
        super().__init__()
        self.values: dict[str, str] = {}
        self.loaded = False
        self.table: str | None = None
        self.rows: dict[str, list[dict[str, str]]] = {}
        self.alerts: list[dict[str, str]] = []
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "body" and a.get("data-loaded") == "true":
            self.loaded = True
        if a.get("id") and "data-value" in a:
            self.values[a["id"]] = a["data-value"]
        if tag == "table":
            self.table = a.get("id")
        if tag == "tr" and "problem" in a.get("class", "").split() and self.table:
            self.rows.setdefault(self.table, []).append(a)
        if tag == "li" and "alert" in a.get("class", "").split():
            self.alerts.append(a)
        if tag == "span" and "delivery" in a.get("class", "").split() and self.alerts:
            self.alerts[-1]["delivery"] = a.get("data-value", "")
        if tag == "td" and "cell-link" in a.get("class", "").split() and a.get("data-value"):
            self.links.append(a["data-value"])


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUYERSYNC_")}
    return subprocess.run(
        [sys.executable, "-m", "buyersync", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _groups(db: object, open_: bool) -> list[dict[str, str]]:
    """Problems by cause, as the page shows them, computed here with SQL."""
    rows = db.query(  # type: ignore[attr-defined]
        "SELECT category, coalesce(column_name, '') AS col, count(*) AS n, "
        "count(buyer_number) AS buyers FROM problems WHERE "
        + ("resolved_at IS NULL" if open_ else "resolved_at IS NOT NULL")
        + " GROUP BY category, column_name"
    )
    return sorted(
        (
            {
                "category": r["category"],
                "column": r["col"],
                "count": str(r["n"]),
                "buyers": str(r["buyers"]),
            }
            for r in rows
        ),
        key=lambda g: (g["category"], g["column"]),
    )


def _shown(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    return sorted(
        (
            {
                "category": r["data-category"],
                "column": r["data-column"],
                "count": r["data-count"],
                "buyers": r["data-buyers"],
            }
            for r in rows
        ),
        key=lambda g: (g["category"], g["column"]),
    )


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
        # The failure state: the duplicate row (303) is corrected and a sync resolves
        # its problem; the blank key (302) stays open; three buyers are deleted and a
        # health check without alerts finds them missing.
        text = sheet.read_text(encoding="utf-8").replace("B00001,duplicate,row", "B00301,new,row")
        sheet.write_text(text, encoding="utf-8")
        assert run_cli("sync", "--db", pg_url, "--source", str(sheet)).returncode == 1
        with open_database(pg_url) as db:
            db.execute("DELETE FROM buyers WHERE buyer_number IN ('B00007', 'B00070', 'B00170')")
        checked = run_cli("health", "--no-alerts", "--db", pg_url, "--source", str(sheet))
        assert checked.returncode == 1, checked.stderr
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
        assert int(v["database-count"]) == db.query_value("SELECT count(*) FROM buyers") == 298
        assert int(v["spreadsheet-count"]) == latest["spreadsheet_count"] == 301
        assert int(v["missing-count"]) == latest["missing_count"] == 3
        # The error rate now: rows of the last full sync still failing / rows it read.
        last = db.query_one(
            "SELECT run_id, rows_read FROM sync_runs WHERE operation = 'sync' "
            "ORDER BY finished_at DESC LIMIT 1"
        )
        assert last is not None
        still = db.query_value(
            "SELECT count(*) FROM problems WHERE resolved_at IS NULL AND kind <> 'run' "
            "AND subject IN (SELECT subject FROM sync_error_log WHERE run_id = %s)",
            (last["run_id"],),
        )
        assert float(v["error-rate"]) == pytest.approx(still / last["rows_read"])
        assert float(v["error-rate"]) == pytest.approx(latest["error_rate"])
        assert v["state"] == str(bool(latest["healthy"])).lower() == "false"
        assert int(v["errors-total"]) == db.query_value("SELECT count(*) FROM sync_error_log") == 3
        # What is wrong now: open problems by cause, resolved ones in the history.
        assert _shown(page.rows["problems"]) == _groups(db, True)
        assert _shown(page.rows["resolved"]) == _groups(db, False)
        assert (
            int(v["open-problems"])
            == db.query_value("SELECT count(*) FROM problems WHERE resolved_at IS NULL")
            == 1
        )
        assert (
            int(v["resolved-problems"])
            == db.query_value("SELECT count(*) FROM problems WHERE resolved_at IS NOT NULL")
            == 1
        )
        # The alerts that hold now, each with what happened to it.
        delivered = db.query_one(
            "SELECT status FROM alert_deliveries WHERE condition = 'missing_buyers' "
            "ORDER BY id DESC LIMIT 1"
        )
        assert delivered is not None and delivered["status"] == "no_alerts"
        assert [(a["data-condition"], a["delivery"]) for a in page.alerts] == [
            ("missing_buyers", "no_alerts")
        ]
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
    # The latest errors list their sheet rows (302: the blank key; 303: the duplicate)
    # and cells; the open problem links to its cell (the key column A of row 302).
    table = re.search(r'<table id="latest-errors">.*?</table>', dom.stdout, re.S)
    assert table is not None
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", table.group(0))
    assert "302" in cells and "303" in cells and "buyers.csv!A302" in cells
    assert "A302" in page.links
    # The sheet and the database watched: host and database name, never user or URL.
    assert v["watch-sheet"] == "buyers.csv"
    assert v["watch-db"] == database_label(pg_url)["label"]
    assert "postgres@" not in dom.stdout and "postgresql://" not in dom.stdout
