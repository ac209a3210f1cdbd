"""Two ``buyersync serve`` replicas and a cron ``buyersync sync`` on one PostgreSQL
database take turns: each scheduled job runs once per interval among them.

The replicas are real processes with 2-second intervals, syncing a CSV and alerting a
local webhook on every health check (the sheet keeps one buyer the database refuses,
so every check is unhealthy, and the cooldown is 0). A cron-style sync reads the same
buyers from the Google Sheets stand-in, which answers slowly, so it holds the sync lock
across a turn of the replicas. Afterwards: no run failed; each sync turn ran in one
replica or was recorded as ``skipped`` (the one the cron sync held); one health check
and at most one alert per interval; the retry entries were each retried once.
"""

from __future__ import annotations

import csv
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from buyersync.errors import ErrorCategory
from buyersync.records import RowFailure
from buyersync.store import migrations, open_database, retryqueue
from buyersync.testing.sheets_server import SheetsServer
from tests.reliability.conftest import HEADER, cli_env, sheet_row

pytestmark = pytest.mark.reliability

INTERVAL = 2.0  # every job's interval, seconds
BUYERS = 300
BAD = 7  # the buyer whose row holds a NUL byte: refused, so it stays missing
SID = "replicas"
QUEUED = ("B0000010", "B0000020", "B0000030")


def _rows() -> list[list[str]]:
    rows = [sheet_row(i) for i in range(BUYERS)]
    rows[BAD][1] = "Buyer\x00 with a NUL"
    return rows


class Webhook:
    """A local webhook receiver: the time and JSON body of every POST."""

    def __init__(self) -> None:
        received: list[tuple[float, dict]] = []
        self.received = received

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                received.append((time.time(), json.loads(body or b"{}")))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook() -> Iterator[Webhook]:
    hook = Webhook()
    yield hook
    hook.close()


def _serve(args: list[str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "buyersync", "serve", *args],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        env=cli_env(),
    )


def _wait_listening(proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if re.search(r"listening on http://", log.read_text(errors="replace")):
            return
        assert proc.poll() is None, f"serve exited {proc.returncode}: {log.read_text()}"
        time.sleep(0.05)
    raise AssertionError(f"serve did not start: {log.read_text()}")


def _window(t: datetime | float) -> int:
    """The index of the interval ``t`` falls in (the grid the turns are cut on)."""
    seconds = t.timestamp() if isinstance(t, datetime) else t
    return int(seconds // INTERVAL)


def _until_boundary(offset: float) -> None:
    """Sleep until ``offset`` seconds after the next interval boundary."""
    now = time.time()
    time.sleep((_window(now) + 1) * INTERVAL + offset - now)


@pytest.mark.postgres
def test_replicas_and_a_cron_sync_run_each_turn_once(
    pg_url: str, tmp_path: Path, webhook: Webhook
) -> None:
    rows = _rows()
    sheet = tmp_path / "buyers.csv"
    with sheet.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([HEADER, *rows])
    with open_database(pg_url) as db:
        migrations.migrate(db)
        now = datetime.now(UTC)
        retryqueue.enqueue(
            db,
            [
                RowFailure(ErrorCategory.DATABASE_CONNECTION, "connection lost", 2, key)
                for key in QUEUED
            ],
            run_id=None,
            now=now,
            next_retry_at=now,
            max_attempts=5,
        )
    common = [
        "--db",
        pg_url,
        "--source",
        str(sheet),
        "--webhook-url",
        webhook.url,
        "--alert-cooldown-seconds",
        "0",
        "--alert-missing-threshold",
        "0",
        "--retry-base-seconds",
        "0",
    ]
    intervals = [
        "--sync-interval",
        str(INTERVAL),
        "--retry-interval",
        str(INTERVAL),
        "--health-interval",
        str(INTERVAL),
        "--verify-interval",
        "0",
    ]
    logs = [tmp_path / f"serve{i}.log" for i in (1, 2)]
    with SheetsServer() as sheets:
        sheets.add_sheet(SID, "Buyers", [HEADER, *rows])
        spawned = time.time()
        replicas = [_serve(["--port", "0", *common, *intervals], log) for log in logs]
        try:
            for proc, log in zip(replicas, logs, strict=True):
                _wait_listening(proc, log)
            begun = time.time()
            _until_boundary(0.3)
            # The cron sync: its sheet answers after 1.5 intervals, so it holds the
            # sync lock across the replicas' next sync turn.
            sheets.delay_next(1.5 * INTERVAL)
            cron = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "buyersync",
                    "sync",
                    "--db",
                    pg_url,
                    "--source",
                    f"gsheets:{SID}",
                    "--sheet",
                    "Buyers",
                    "--sheets-api-url",
                    sheets.url,
                    "--lock-wait",
                    "30",
                    "--json",
                ],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
                env=cli_env(),
            )
            cron_out, cron_err = cron.communicate(timeout=60)
            _until_boundary(0.9 * INTERVAL)
            ended = time.time()
        finally:
            for proc in replicas:
                proc.send_signal(signal.SIGTERM)
            codes = [proc.wait(timeout=60) for proc in replicas]
    assert codes == [0, 0], "\n".join(log.read_text() for log in logs)
    assert cron.returncode == 1, cron_err  # ran; the NUL row failed, as in every sync
    assert json.loads(cron_out)["rows_read"] == BUYERS

    pids = {proc.pid for proc in replicas}
    with open_database(pg_url) as db:
        syncs = db.query(
            "SELECT run_id, status, started_at, finished_at, pid, message FROM sync_runs "
            "WHERE operation = 'sync' ORDER BY started_at"
        )
        checks = [
            db.read_ts(r["check_time"])
            for r in db.query("SELECT check_time FROM sync_health_metrics ORDER BY check_time")
        ]
        queue = db.query_value("SELECT count(*) FROM retry_queue")
        retries = db.query(
            "SELECT status, rows_read, inserted + updated AS written FROM sync_runs "
            "WHERE operation = 'retry'"
        )
        turns_kept = (
            db.query("SELECT job, outcome FROM job_turns") if db.table_exists("job_turns") else []
        )
        outcomes = Counter((r["job"], r["outcome"]) for r in turns_kept)
    report = "\n".join(
        f"{r['started_at']} {r['status']} pid {r['pid']} {r['message'] or ''}" for r in syncs
    )

    # No run failed, none was left running.
    assert {r["status"] for r in syncs} <= {"completed_with_errors", "skipped"}, report
    cron_runs = [r for r in syncs if r["pid"] == cron.pid]
    scheduled = [r for r in syncs if r["pid"] in pids]
    assert len(cron_runs) == 1 and len(cron_runs) + len(scheduled) == len(syncs), report

    # Each interval's sync turn ran once among the replicas, or was skipped (recorded,
    # naming the cron sync's run) while the cron sync held the lock. (A run's start is
    # not its turn's: under load a turn's run may start in the next interval.)
    turns_spanned = _window(ended) - _window(spawned) + 1
    full = _window(ended) - _window(begun) - 1  # intervals both replicas lived through
    assert full - 1 <= len(scheduled) <= turns_spanned, report
    skipped = [r for r in scheduled if r["status"] == "skipped"]
    assert outcomes[("sync", "ran")] == len(scheduled) - len(skipped), (outcomes, report)
    assert outcomes[("sync", "skipped")] == len(skipped), (outcomes, report)
    assert {o for job, o in outcomes if job == "sync"} <= {"ran", "skipped"}, outcomes
    cron_run = cron_runs[0]
    held = [
        r
        for r in skipped
        if cron_run["started_at"] <= r["started_at"] <= cron_run["finished_at"]
        and cron_run["run_id"] in (r["message"] or "")
    ]
    assert held, report
    assert all("another buyersync sync is running" in (r["message"] or "") for r in skipped)

    # One health check per interval across both replicas, each with its one alert.
    assert full - 1 <= len(checks) <= turns_spanned, checks
    assert outcomes[("health", "ran")] == len(checks), outcomes
    assert {o for job, o in outcomes if job == "health"} == {"ran"}, outcomes
    # (counted per check: an alert of a slow check may arrive in the next interval)
    assert len(webhook.received) == len(checks), (webhook.received, checks)
    texts = [body.get("text", "") for _, body in webhook.received]
    assert all("missing" in t for t in texts), texts
    assert not any("skipped" in t or "another buyersync" in t for t in texts), texts

    # The queued buyers were settled (by a sync that wrote them, or a retry pass) once:
    # the queue is empty, and no retry pass took an entry another had.
    assert queue == 0
    assert {r["status"] for r in retries} <= {"succeeded"}, retries
    assert sum(int(r["rows_read"]) for r in retries) <= len(QUEUED), retries

    # Every replica's log shows no failed job and no traceback.
    for log in logs:
        text = log.read_text(errors="replace")
        assert "Traceback" not in text and " failed (next try" not in text, text


# -- the pieces, on both backends ------------------------------------------------------


def test_one_claim_per_turn_between_connections(url: str) -> None:
    from buyersync.services.scheduler import DatabaseTurns, Job, Scheduler
    from buyersync.settings import Settings
    from buyersync.store import turns

    with open_database(url) as db:
        migrations.migrate(db)
    settings = Settings(database_url=url)
    now = datetime.now(UTC)
    start = turns.turn_start(now, INTERVAL)
    assert start <= now < turns.next_turn_start(start, INTERVAL)
    assert start.timestamp() % INTERVAL == 0
    assert turns.turn_start(turns.next_turn_start(start, INTERVAL), INTERVAL) > start

    ran: list[str] = []
    schedulers = [
        Scheduler(
            [Job("health", INTERVAL, lambda stop, i=i: ran.append(f"s{i}") or {})],
            turns=DatabaseTurns(settings),
        )
        for i in (1, 2)
    ]
    threads = [
        threading.Thread(target=s.run_once, args=(s.jobs[0],), kwargs={"turn": start})
        for s in schedulers
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert len(ran) == 1, ran
    states = [s.status()[0] for s in schedulers]
    assert sorted((st["runs"], st["skipped"]) for st in states) == [(0, 1), (1, 0)], states
    loser = next(st for st in states if st["skipped"])
    assert f"pid {os.getpid()}" in loser["last_skipped"]
    with open_database(url) as db:
        (turn,) = turns.recent(db, "health")
        assert (turn.start, turn.outcome, turn.pid) == (start, "ran", os.getpid())
        # A turn in progress elsewhere is not finished until its claimant says so.
        assert turns.claim(db, "sync", start, INTERVAL) is None
        assert turns.claim(db, "sync", start, INTERVAL) is not None
        assert not turns.finished(db, "sync", start)
        turns.finish(db, "sync", start, turns.Outcome.RAN)
        assert turns.finished(db, "sync", start)


def test_a_scheduled_sync_that_finds_the_lock_held_is_recorded_skipped(
    url: str, tmp_path: Path
) -> None:
    from buyersync.services.scheduler import DatabaseTurns, Job, Scheduler, sync_job
    from buyersync.settings import Settings
    from buyersync.store import turns

    sheet = tmp_path / "buyers.csv"
    with sheet.open("w", encoding="utf-8", newline="") as fh:
        csv.writer(fh).writerows([HEADER, *(sheet_row(i) for i in range(5))])
    settings = Settings(database_url=url, source=str(sheet))
    with open_database(url) as holder:
        migrations.migrate(holder)
        scheduler = Scheduler(
            [Job("sync", INTERVAL, sync_job(settings))],
            turns=DatabaseTurns(settings),
        )
        start = turns.turn_start(datetime.now(UTC), INTERVAL)
        with holder.lock("sync"):  # a cron sync, say
            state = scheduler.run_once(scheduler.jobs[0], turn=start)
        rows = holder.query("SELECT status, message FROM sync_runs WHERE operation = 'sync'")
        (turn,) = turns.recent(holder, "sync")
    assert (state.last_ok, state.failures, state.skipped) == (True, 0, 1)
    assert [r["status"] for r in rows] == ["skipped"], rows
    assert "another buyersync sync is running" in rows[0]["message"]
    assert turn.outcome == "skipped"
