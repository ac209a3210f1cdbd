"""`buyersync serve` end to end: the real command in a subprocess.

With short intervals it must sync, run a retry pass and a health check on schedule,
answer the API meanwhile, and stop on SIGTERM with exit 0 and no run left 'running'.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from buyersync.errors import ErrorCategory
from buyersync.records import RowFailure
from buyersync.store import migrations, open_database, retryqueue

pytestmark = pytest.mark.slow


def write_sheet(path: Path, rows: int) -> Path:
    lines = ["buyer_number,name,address"] + [
        f"B{i:05d},Buyer {i},Street {i}" for i in range(1, rows + 1)
    ]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def start_serve(
    args: list[str], log: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "buyersync", "serve", *args],
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
        env={**os.environ, **(env or {})},
    )


def wait_for_port(proc: subprocess.Popen[bytes], log: Path, timeout: float = 30) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(r"listening on http://[^:]+:(\d+)/", log.read_text(errors="replace"))
        if match:
            return int(match.group(1))
        if proc.poll() is not None:
            raise AssertionError(f"serve exited {proc.returncode}: {log.read_text()}")
        time.sleep(0.1)
    raise AssertionError(f"serve did not start: {log.read_text()}")


def poll(check, timeout: float = 60, every: float = 0.25):  # type: ignore[no-untyped-def]
    """Call ``check`` until it returns something truthy; fail with its last value."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"condition not met in {timeout}s; last: {last!r}")


def stop(proc: subprocess.Popen[bytes], log: Path) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        proc.kill()
        raise AssertionError(f"serve did not stop on SIGTERM: {log.read_text()}") from None


@pytest.fixture
def serve_db(db_url: str) -> Iterator[str]:
    """A migrated database (SQLite and PostgreSQL) with one due retry entry for B00002."""
    with open_database(db_url) as db:
        migrations.migrate(db)
        now = datetime.now(UTC)
        retryqueue.enqueue(
            db,
            [
                RowFailure(
                    ErrorCategory.DATABASE_CONNECTION,
                    "connection lost",
                    3,
                    "B00002",
                    retryable=True,
                )
            ],
            run_id=None,
            now=now,
            next_retry_at=now,
            max_attempts=5,
        )
    yield db_url


def test_jobs_run_on_schedule_and_sigterm_stops_cleanly(serve_db: str, tmp_path: Path) -> None:
    sheet = write_sheet(tmp_path / "buyers.csv", 2000)
    log = tmp_path / "serve.log"
    proc = start_serve(
        [
            "--port",
            "0",
            "--db",
            serve_db,
            "--source",
            str(sheet),
            "--sync-interval",
            "1",
            "--retry-interval",
            "1",
            "--health-interval",
            "1",
            "--verify-interval",
            "0",
            "--retry-base-seconds",
            "0",
        ],
        log,
    )
    try:
        port = wait_for_port(proc, log)
        base = f"http://127.0.0.1:{port}"
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"

        def jobs() -> dict[str, dict]:
            return {j["name"]: j for j in httpx.get(f"{base}/api/scheduler").json()["jobs"]}

        # Each job ran, succeeded, and the sync ran again one interval later.
        state = poll(
            lambda: (
                (j := jobs())
                and j["sync"]["runs"] >= 2
                and j["retry"]["runs"] >= 1
                and j["health"]["runs"] >= 1
                and j
            )
        )
        assert set(state) == {"sync", "retry", "health"}  # verify is off (interval 0)
        for name in ("sync", "retry", "health"):
            poll(lambda name=name: jobs()[name]["last_ok"] is True)

        with open_database(serve_db) as db:

            def stored() -> dict | None:
                syncs = db.query_value(
                    "SELECT count(*) FROM sync_runs WHERE operation = 'sync' "
                    "AND status = 'succeeded'"
                )
                checks = db.query_value("SELECT count(*) FROM sync_health_metrics")
                queued = db.query_value("SELECT count(*) FROM retry_queue")
                ok = syncs >= 2 and checks >= 1 and queued == 0
                return {"syncs": syncs, "checks": checks} if ok else None

            poll(stored)
            assert db.query_value("SELECT count(*) FROM buyers") == 2000
            # The retry pass wrote the queued buyer and removed its entry.
            assert db.query_value("SELECT count(*) FROM retry_queue") == 0

        dashboard = httpx.get(f"{base}/api/dashboard").json()
        assert dashboard["database_count"] == 2000
        assert dashboard["spreadsheet_count"] == 2000
    finally:
        code = stop(proc, log)
    assert code == 0, log.read_text()
    assert "stopped" in log.read_text()
    with open_database(serve_db) as db:
        running = db.query("SELECT run_id, operation FROM sync_runs WHERE status = 'running'")
        assert running == [], running


def test_sigterm_during_a_sync_leaves_no_running_run(sqlite_url: str, tmp_path: Path) -> None:
    """A big sheet and batch size 1: SIGTERM arrives mid-sync; the run is closed, not left."""
    sheet = write_sheet(tmp_path / "big.csv", 30000)
    log = tmp_path / "serve.log"
    proc = start_serve(
        [
            "--port",
            "0",
            "--db",
            sqlite_url,
            "--source",
            str(sheet),
            "--sync-interval",
            "1",
            "--retry-interval",
            "0",
            "--health-interval",
            "0",
            "--verify-interval",
            "0",
            "--batch-size",
            "1",
        ],
        log,
    )
    try:
        port = wait_for_port(proc, log)
        poll(
            lambda: httpx.get(f"http://127.0.0.1:{port}/api/scheduler").json()["jobs"][0]["running"]
        )
    finally:
        code = stop(proc, log)
    assert code == 0, log.read_text()
    with open_database(sqlite_url) as db:
        rows = db.query("SELECT status, message FROM sync_runs")
    assert rows, "the sync never started"
    assert all(r["status"] != "running" for r in rows), rows


def test_refuses_a_public_address_without_a_token(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "buyersync",
            "serve",
            "--host",
            "0.0.0.0",
            "--port",
            "0",
            "--db",
            f"sqlite:///{tmp_path / 'x.db'}",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if k != "BUYERSYNC_API_TOKEN"},
    )
    assert result.returncode == 2
    assert "without an API token" in result.stderr and "BUYERSYNC_API_TOKEN" in result.stderr
    assert "Traceback" not in result.stderr


def test_busy_port_is_a_clear_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        port = busy.getsockname()[1]
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "buyersync",
                "serve",
                "--port",
                str(port),
                "--db",
                f"sqlite:///{tmp_path / 'x.db'}",
            ],
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 3, result.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr


# -- the scheduler in-process ----------------------------------------------------------
def test_next_run_never_in_the_past_and_never_early() -> None:
    from datetime import timedelta

    from hypothesis import given
    from hypothesis import strategies as st

    from buyersync.services.scheduler import next_run_at

    start = datetime(2026, 1, 1, tzinfo=UTC)

    @given(st.floats(0.1, 1e5), st.floats(0, 2e5))
    def check(interval: float, elapsed: float) -> None:
        now = start + timedelta(seconds=elapsed)
        nxt = next_run_at(start, interval, now)
        assert nxt >= now  # never scheduled in the past: no catch-up bursts
        assert nxt >= start + timedelta(seconds=interval) or nxt == now
        assert nxt == max(now, start + timedelta(seconds=interval))

    check()


def test_a_failing_job_is_retried_and_never_overlaps_itself() -> None:
    import threading

    from buyersync.services.scheduler import Job, Scheduler

    active = 0
    most = 0
    calls = 0
    lock = threading.Lock()

    def flaky(stop: threading.Event) -> dict:
        nonlocal active, most, calls
        with lock:
            active += 1
            most = max(most, active)
            calls += 1
            n = calls
        try:
            stop.wait(0.05)  # longer than the interval: the next tick comes due while running
            if n % 2:
                raise RuntimeError(f"boom {n} password=hunter2")
            return {"n": n}
        finally:
            with lock:
                active -= 1

    scheduler = Scheduler([Job("flaky", 0.01, flaky), Job("off", 0, flaky)], secrets=["hunter2"])
    scheduler.start()
    poll(lambda: scheduler.status()[0]["runs"] >= 6, timeout=30, every=0.02)
    assert scheduler.stop(10)
    (state,) = scheduler.status()  # the job with interval 0 never ran
    assert most == 1
    assert state["failures"] >= 3 and state["runs"] - state["failures"] >= 3
    assert all("hunter2" not in str(v) for v in state.values())
