"""PostgreSQL backends terminated (``pg_terminate_backend``) several times during a sync.

The sync either finishes, or stops as one problem of the run: the rows it did not
write are counted as ``not_written`` (never as failed rows), with one error-log entry,
one ``run:sync`` problem and one resume entry; ``retry --all`` and a rerun then
converge to the sheet exactly.
"""

from __future__ import annotations

import time
from pathlib import Path

import psycopg
import pytest

from tests.reliability.conftest import (
    BIG_ROWS,
    assert_converged,
    cli,
    json_of,
    opened,
    run_statuses,
    sheet_keys,
    spawn,
    wait_until_running,
)

pytestmark = [pytest.mark.reliability, pytest.mark.postgres]


def _terminate(admin_url: str, dbname: str) -> int:
    with psycopg.connect(admin_url, autocommit=True) as conn:
        return len(
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = %s AND application_name = 'buyersync' AND pid <> pg_backend_pid()",
                (dbname,),
            ).fetchall()
        )


@pytest.mark.parametrize("first_kill_after", [0.0, 0.5])
def test_terminated_backends_then_retry_and_rerun_converge(
    pg_url: str, pg_server: str, big_sheet: Path, first_kill_after: float
) -> None:
    dbname = pg_url.rsplit("/", 1)[1]
    base = ["--source", str(big_sheet), "--db", pg_url, "--json"]
    terminated = 0
    for _ in range(3):  # a fast machine may finish a sync before the first kill: go again
        proc = spawn("sync", *base, "--connect-attempts", "5")
        wait_until_running(pg_url, proc)
        time.sleep(first_kill_after)
        for _ in range(4):  # several times, while the sync is still alive
            if proc.poll() is not None:
                break
            terminated += _terminate(pg_server, dbname)
            time.sleep(0.4)
        stdout, stderr = proc.communicate(timeout=120)
        if terminated:
            break
    assert terminated, "every sync finished before any backend was terminated"
    assert "Traceback" not in stderr
    assert proc.returncode in (0, 1, 3), stderr
    with opened(pg_url) as db:
        if proc.returncode == 1:
            # Stopped mid-merge: one problem for the run, not one per unwritten row.
            doc = json_of((stdout, stderr))
            assert doc["failed"] == 0 and doc["failures_by_type"] == {}, doc["failures_by_type"]
            assert doc["not_written"] > 0 and doc["queued_for_retry"] == 1
            assert run_statuses(db)[doc["run_id"]] == "failed"
            run = db.query_one(
                "SELECT rows_read, not_written, failed FROM sync_runs WHERE run_id = %s",
                (doc["run_id"],),
            )
            assert run == {"rows_read": BIG_ROWS, "not_written": doc["not_written"], "failed": 0}
            entries = db.query(
                "SELECT error_type, buyer_number, subject FROM sync_error_log WHERE run_id = %s",
                (doc["run_id"],),
            )
            assert entries == [
                {"error_type": "database_connection", "buyer_number": None, "subject": "run:sync"}
            ]
            queue = db.query("SELECT buyer_number, error_type FROM retry_queue")
            assert queue == [{"buyer_number": "run:sync", "error_type": "database_connection"}]
            [problem] = db.query("SELECT kind, not_written FROM problems WHERE resolved_at IS NULL")
            assert problem == {"kind": "run", "not_written": doc["not_written"]}
            # Nothing lost: the run wrote the rows before the stop, the rest are covered
            # by not_written (the staged rows past the stop may include rows already
            # written by an earlier attempt of the same slice, never fewer).
            assert BIG_ROWS - doc["not_written"] <= len(
                set(sheet_keys(BIG_ROWS))
                & {r["buyer_number"] for r in db.query("SELECT buyer_number FROM buyers")}
            )
        elif proc.returncode == 3:
            # Lost before the merge (while staging or recording): a clear one-line error.
            assert stderr.strip().splitlines()[-1].startswith("buyersync: error:"), stderr
        queued = (
            {r["buyer_number"] for r in db.query("SELECT buyer_number FROM retry_queue")}
            if db.table_exists("retry_queue")
            else set()
        )  # lost while migrating
    if queued:
        retried = cli("retry", "--all", "--db", pg_url, "--source", str(big_sheet), "--json")
        assert retried.returncode == 0, retried.stderr
        with opened(pg_url) as db:
            assert db.query_value("SELECT count(*) FROM retry_queue") == 0
            # the resume entry finished the run: every sheet buyer is written
            assert_converged(db, sheet_keys(BIG_ROWS))
            assert db.query_value("SELECT count(*) FROM problems WHERE resolved_at IS NULL") == 0
    rerun = cli("sync", *base, "--lock-wait", "30")
    assert rerun.returncode == 0, rerun.stderr
    with opened(pg_url) as db:
        assert_converged(db, sheet_keys(BIG_ROWS))
        assert "running" not in run_statuses(db).values()
