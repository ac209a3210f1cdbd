"""SyncMonitor on both databases: health checks, alerts with cooldown and recovery,
performance metrics (property 22), dashboard numbers against direct SQL (property 16)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterator
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from buyersync.errors import ErrorCategory
from buyersync.records import RowFailure
from buyersync.rules.alerts import Condition, Thresholds
from buyersync.services import monitor as M
from buyersync.services.notify import Notification
from buyersync.services.sync import SyncEngine
from buyersync.settings import Settings
from buyersync.sources.csv_source import CsvSource
from buyersync.store import retryqueue
from buyersync.store.db import Database, utcnow
from tests.helpers import run_cli, write_csv

HEADER = ("buyer_number", "name", "city")


class Recorder:
    """An alert channel that keeps what it was asked to send."""

    name = "recorder"

    def __init__(self) -> None:
        self.sent: list[Notification] = []

    def send(self, note: Notification) -> None:
        self.sent.append(note)


def sheet(tmp_path: Path, n: int = 20, extra_rows: tuple[tuple[str, ...], ...] = ()) -> Path:
    rows = [(f"B{i:03d}", f"name {i}", "Osaka") for i in range(1, n + 1)]
    return write_csv(tmp_path / "buyers.csv", HEADER, [*rows, *extra_rows])


def synced(db: Database, path: Path) -> None:
    SyncEngine(db, CsvSource(path)).run()


def monitor(db: Database, path: Path | None, recorder: Recorder, **kw: object) -> M.SyncMonitor:
    return M.SyncMonitor(db, source=CsvSource(path) if path else None, channels=[recorder], **kw)  # type: ignore[arg-type]


def test_three_deleted_buyers_alert_once_then_recover_once(db: Database, tmp_path: Path) -> None:
    path = sheet(tmp_path)
    synced(db, path)
    rec = Recorder()
    first = monitor(db, path, rec).check_health()
    assert first.healthy and not rec.sent

    db.execute("DELETE FROM buyers WHERE buyer_number IN (%s, %s, %s)", ("B004", "B009", "B017"))
    report = monitor(db, path, rec).check_health()
    doc = report.to_json()
    assert not report.healthy
    assert doc["missing_count"] == 3 and doc["database_count"] == 17
    assert doc["spreadsheet_count"] == 20
    assert [a["condition"] for a in doc["alerts"]] == ["missing_buyers"]
    (note,) = rec.sent
    for key, row in (("B004", 5), ("B009", 10), ("B017", 18)):
        assert f"{key} (row {row})" in note.text
    assert "buyersync sync-missing" in note.text and "missing 3" in note.text

    # a second check within the cooldown stores the check but sends nothing
    again = monitor(db, path, rec).check_health()
    assert not again.healthy and len(rec.sent) == 1
    assert again.to_json()["alerts"][0]["sent"] is False
    stored = db.query("SELECT missing_count, healthy FROM sync_health_metrics ORDER BY id")
    assert [(r["missing_count"], bool(r["healthy"])) for r in stored] == [
        (0, True),
        (3, False),
        (3, False),
    ]

    # fixed: one recovery message, then silence
    synced(db, path)
    fixed = monitor(db, path, rec).check_health()
    assert fixed.healthy and len(rec.sent) == 2
    assert rec.sent[1].recoveries == ("recovered: missing buyers are back within the threshold",)
    monitor(db, path, rec).check_health()
    assert len(rec.sent) == 2


def test_reminder_after_cooldown_and_stale_sync(db: Database, tmp_path: Path) -> None:
    path = sheet(tmp_path, 5)
    synced(db, path)
    db.execute("DELETE FROM buyers WHERE buyer_number = %s", ("B002",))
    rec = Recorder()
    now = utcnow()
    clock = {"t": now}
    thresholds = Thresholds(cooldown_seconds=600, stale_seconds=3600)
    mon = monitor(db, path, rec, thresholds=thresholds, clock=lambda: clock["t"])
    mon.check_health()
    clock["t"] = now + timedelta(seconds=300)
    mon.check_health()
    assert len(rec.sent) == 1
    clock["t"] = now + timedelta(seconds=900)  # cooldown over: a reminder
    mon.check_health()
    assert len(rec.sent) == 2 and "B002 (row 3)" in rec.sent[1].text
    clock["t"] = now + timedelta(hours=2)  # and no successful sync since: stale
    report = mon.check_health()
    conditions = {a.condition for a in report.alerts}
    assert conditions == {Condition.MISSING_BUYERS, Condition.STALE_SYNC}
    assert "no sync has succeeded for 120 minutes" in rec.sent[-1].text
    assert report.to_json()["minutes_since_last_success"] == pytest.approx(120, abs=0.5)


def test_error_rate_and_permanent_failures(db: Database, tmp_path: Path) -> None:
    # 2 of 10 rows fail (a duplicate and a row without a buyer number): 20% > 5%
    path = sheet(tmp_path, 8, extra_rows=(("B003", "dup", "Kobe"), ("", "no key", "Nara")))
    synced(db, path)
    now = utcnow()
    failures = [
        RowFailure(
            ErrorCategory.TIMEOUT, f"lock timeout for B00{i}", i + 1, f"B00{i}", retryable=True
        )
        for i in (1, 2)
    ]
    retryqueue.enqueue(db, failures, run_id=None, now=now, next_retry_at=now, max_attempts=3)
    retryqueue.mark_permanently_failed(db, "B001", reason="gave up after 3 attempts", now=now)
    rec = Recorder()
    report = monitor(db, path, rec).check_health()
    doc = report.to_json()
    assert doc["error_rate"] == pytest.approx(0.2)
    assert doc["retry_queue_depth"] == 1 and doc["permanent_failures"] == 1
    by = {a["condition"]: a for a in doc["alerts"]}
    assert set(by) == {"error_rate", "permanent_failure"}
    assert "buyersync errors --run" in by["error_rate"]["command"]
    assert "row 10" in by["error_rate"]["message"] and "row 11" in by["error_rate"]["message"]
    assert by["permanent_failure"]["command"] == "buyersync retry --buyer B001"
    assert "B001 (row 2, timeout)" in by["permanent_failure"]["message"]
    assert len(rec.sent) == 1

    # a second permanent failure alerts even within the cooldown, naming only the new one
    retryqueue.mark_permanently_failed(db, "B002", reason="gave up", now=now)
    monitor(db, path, rec).check_health()
    assert len(rec.sent) == 2
    (perm,) = rec.sent[1].alerts
    assert perm["buyers"] == ["B002"]
    assert "Still active (already reported)" not in perm["message"]


def test_unreadable_sheet_still_completes(db: Database, tmp_path: Path) -> None:
    synced(db, sheet(tmp_path, 3))
    rec = Recorder()
    report = monitor(db, tmp_path / "gone.csv", rec).check_health()
    doc = report.to_json()
    assert not report.healthy and doc["spreadsheet_count"] is None
    assert doc["database_count"] == 3
    assert [a["condition"] for a in doc["alerts"]] == ["sheet_unreadable"]
    assert "gone.csv" in rec.sent[0].text
    row = db.query_one("SELECT spreadsheet_count, missing_count FROM sync_health_metrics")
    assert row == {"spreadsheet_count": None, "missing_count": None}


# -- property 22: every sync records duration and throughput --------------------------


@pytest.mark.parametrize("n", [1, 7, 250])
def test_sync_records_duration_and_throughput(
    db: Database, tmp_path: Path, n: int, caplog: pytest.LogCaptureFixture
) -> None:
    path = sheet(tmp_path, n)
    report = SyncEngine(db, CsvSource(path)).run()
    row = db.query_one(
        "SELECT rows_read, duration_s, rows_per_s FROM sync_runs WHERE run_id = %s",
        (report.run_id,),
    )
    assert row is not None and row["rows_read"] == n
    assert row["duration_s"] > 0
    assert row["rows_per_s"] == pytest.approx(n / row["duration_s"], rel=1e-9)
    settings = Settings(
        database_url="sqlite:///unused.db",
        alert_slow_sync_seconds=1e-9,
        alert_cooldown_seconds=3600,
    )
    with caplog.at_level(logging.INFO):
        M.after_sync(db, settings, report)
    text = caplog.text
    assert f"sync {report.run_id} performance: {n} buyers in" in text
    assert "buyers/s" in text
    # the slow-sync alert fires from the sync itself (on the console channel, the log)
    assert f"ALERT [slow_sync] sync {report.run_id} took" in text
    states = db.query("SELECT condition, active FROM alert_state")
    assert [(s["condition"], bool(s["active"])) for s in states] == [("slow_sync", True)]
    # the next fast sync announces the recovery once
    caplog.clear()
    fast = SyncEngine(db, CsvSource(path)).run()
    with caplog.at_level(logging.INFO):
        M.after_sync(db, Settings(alert_slow_sync_seconds=900), fast)
    assert "recovered: the last sync finished within the slow-sync limit" in caplog.text


def test_after_sync_never_raises(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from buyersync.store import open_database

    db = open_database(f"sqlite:///{tmp_path / 'x.db'}")
    report = SyncEngine(db, CsvSource(sheet(tmp_path, 2))).run()
    db.close()  # the database is gone by the time the hook runs
    with caplog.at_level(logging.INFO):
        M.after_sync(db, Settings(alert_slow_sync_seconds=1e-9), report)
    assert "post-sync monitoring step failed" in caplog.text


# -- property 16: dashboard numbers equal the stored data ------------------------------


def test_dashboard_numbers_equal_stored_data(db: Database, tmp_path: Path) -> None:
    path = sheet(
        tmp_path, 12, extra_rows=(("B005", "dup", "x"), ("", "nokey", "y"), ("B006", "dup", "z"))
    )
    synced(db, path)
    now = utcnow()
    failures = [
        RowFailure(ErrorCategory.DATABASE_CONNECTION, "lost", i + 1, f"B0{i:02d}", retryable=True)
        for i in range(1, 5)
    ]
    retryqueue.enqueue(db, failures, run_id=None, now=now, next_retry_at=now, max_attempts=3)
    retryqueue.mark_permanently_failed(db, "B001", reason="gave up", now=now)
    db.execute("DELETE FROM buyers WHERE buyer_number IN (%s, %s)", ("B010", "B011"))
    rec = Recorder()
    monitor(db, path, rec).check_health()
    monitor(db, path, rec).check_health()
    doc = M.get_dashboard_data(db, Settings())
    json.dumps(doc)  # the API serves it as is

    by_type = {
        r["error_type"]: int(r["n"])
        for r in db.query(
            "SELECT error_type, count(*) AS n FROM sync_error_log GROUP BY error_type"
        )
    }
    assert doc["errors"]["counts_by_type"] == by_type
    assert doc["errors"]["total"] == sum(by_type.values()) == 3
    by_status = {
        r["status"]: int(r["n"])
        for r in db.query("SELECT status, count(*) AS n FROM retry_queue GROUP BY status")
    }
    assert doc["retry_queue"]["by_status"] == by_status
    assert doc["retry_queue"]["permanent_failures"] == by_status["permanently_failed"] == 1
    assert doc["retry_queue"]["depth"] == by_status.get("pending", 0) + by_status.get(
        "processing", 0
    )
    latest = db.query_one("SELECT * FROM sync_health_metrics ORDER BY id DESC LIMIT 1")
    assert latest is not None
    for key in ("spreadsheet_count", "database_count", "missing_count", "extra_count"):
        assert doc["counts"][key] == latest[key]
    assert doc["counts"]["missing_count"] == 2
    assert doc["counts"]["buyers_now"] == db.query_value("SELECT count(*) FROM buyers")
    assert doc["current"]["error_rate"] == pytest.approx(latest["error_rate"])
    assert [m["buyer_number"] for m in doc["missing"]] == ["B010", "B011"]
    n_checks = db.query_value("SELECT count(*) FROM sync_health_metrics")
    assert len(doc["health_history"]) == n_checks == 2
    stored_runs = db.query(
        "SELECT run_id, rows_read, failed, duration_s, rows_per_s "
        "FROM sync_runs ORDER BY started_at DESC"
    )
    assert [(r["run_id"], r["rows_read"], r["failed"]) for r in doc["runs"]] == [
        (r["run_id"], r["rows_read"], r["failed"]) for r in stored_runs
    ]
    assert doc["runs"][0]["rows_per_s"] == pytest.approx(stored_runs[0]["rows_per_s"])
    perm = db.query("SELECT buyer_number FROM retry_queue WHERE status = 'permanently_failed'")
    assert [p["buyer_number"] for p in doc["permanent_failures"]] == [
        p["buyer_number"] for p in perm
    ]
    active = db.query(
        "SELECT condition FROM alert_state WHERE active = %s",
        (True if db.dialect == "postgresql" else 1,),
    )
    assert sorted(a["condition"] for a in doc["active_alerts"]) == sorted(
        a["condition"] for a in active
    )
    assert doc["healthy"] is False


# -- the command, end to end, with a real webhook receiver ------------------------------


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []
    handler = type("Hook", (_Hook,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hooks/T0K3N-secret-path", received
    finally:
        server.shutdown()
        server.server_close()


def test_health_command_end_to_end(
    db_url: str, tmp_path: Path, webhook: tuple[str, list[dict]]
) -> None:
    url, received = webhook
    path = sheet(tmp_path, 10)
    common = ["--db", db_url, "--source", str(path)]
    assert run_cli("sync", *common, "--json").returncode == 0
    env = {"BUYERSYNC_WEBHOOK_URL": url}
    ok = run_cli("health", *common, "--json", env=env)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["healthy"] is True and not received

    from buyersync.store import open_database

    with open_database(db_url) as db:
        db.execute(
            "DELETE FROM buyers WHERE buyer_number IN (%s, %s, %s)", ("B002", "B003", "B007")
        )
    bad = run_cli("health", *common, "--json", env=env)
    assert bad.returncode == 1, bad.stderr
    doc = json.loads(bad.stdout)
    for key in (
        "healthy",
        "spreadsheet_count",
        "database_count",
        "missing_count",
        "error_rate",
        "retry_queue_depth",
        "permanent_failures",
        "alerts",
    ):
        assert key in doc
    assert doc["healthy"] is False and doc["missing_count"] == 3
    assert len(received) == 1
    text = received[0]["text"]
    assert "B002 (row 3)" in text and "B003 (row 4)" in text and "B007 (row 8)" in text
    assert "buyersync sync-missing" in text
    assert "T0K3N" not in bad.stdout + bad.stderr

    again = run_cli("health", *common, env=env)  # the human dashboard
    assert again.returncode == 1
    assert "UNHEALTHY" in again.stdout and "suppressed: cooldown until" in again.stdout
    assert len(received) == 1, "a second run within the cooldown must not re-send"


def test_health_reads_only_the_key_column_of_a_google_sheet(db: Database) -> None:
    from buyersync.sources.gsheets import GoogleSheetsSource
    from buyersync.testing import SheetsServer

    rows = [["name", "Buyer Number", "city"]] + [
        [f"n{i}", f"K{i:03d}", "Kyoto"] for i in range(1, 41)
    ]
    rows[10] = ["", "", ""]  # a blank row in the middle is skipped, not the end
    with SheetsServer() as server:
        server.add_sheet("book", "Sheet1", rows)
        src = GoogleSheetsSource("book", api_url=server.url, backoff=0.05)
        SyncEngine(db, src).run()
        db.execute(
            "DELETE FROM buyers WHERE buyer_number IN (%s, %s, %s)", ("K005", "K020", "K040")
        )
        server.requests.clear()
        rec = Recorder()
        doc = M.SyncMonitor(db, source=src, channels=[rec]).check_health().to_json()
        ranges = [r.path.rsplit("/", 1)[-1] for r in server.value_requests()]
    assert doc["spreadsheet_count"] == 39 and doc["missing_count"] == 3
    assert [m["row_number"] for m in doc["missing"]] == [6, 21, 41]
    # header rows, then column B alone: never the whole width of the data rows
    data_ranges = [r for r in ranges if not r.split("!")[1].startswith("A1:")]
    assert data_ranges and all("!B" in r and ":B" in r for r in data_ranges), ranges
    assert "K005 (row 6)" in rec.sent[0].text


def test_two_checks_at_once_send_one_alert(db_url: str, tmp_path: Path) -> None:
    from buyersync.store import open_database

    path = sheet(tmp_path, 6)
    with open_database(db_url) as db:
        synced(db, path)
        db.execute("DELETE FROM buyers WHERE buyer_number = %s", ("B004",))
    rec = Recorder()
    errors: list[BaseException] = []
    start = threading.Barrier(4)

    def check() -> None:
        try:
            with open_database(db_url) as own:
                start.wait()
                monitor(own, path, rec).check_health()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=check) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(rec.sent) == 1 and "B004 (row 5)" in rec.sent[0].text
