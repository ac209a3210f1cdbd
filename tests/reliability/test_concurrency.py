"""Three syncs and two retry workers started at once.

No interleaving (sync runs never overlap in time), no duplicates, no spurious
errors, and every queued entry is settled by exactly one worker.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from buyersync.errors import ErrorCategory
from buyersync.rules.rows import failure
from buyersync.store import retryqueue
from tests.reliability.conftest import (
    assert_converged,
    cli,
    json_of,
    opened,
    sheet_keys,
    spawn,
    write_sheet,
)

pytestmark = pytest.mark.reliability

ROWS = 20_000
QUEUED = 300


def test_three_syncs_and_two_retry_workers_at_once(tmp_path: Path, url: str) -> None:
    sheet = write_sheet(tmp_path / "s.csv", ROWS)
    seed = cli("migrate", "--db", url)
    assert seed.returncode == 0, seed.stderr
    # Give the workers real work: entries for buyers the syncs are also writing.
    with opened(url) as db:
        now = datetime.now(UTC)
        retryqueue.enqueue(
            db,
            [
                failure(ErrorCategory.DATABASE_CONNECTION, "lost (test)", 2 + i, f"B{i:07d}")
                for i in range(QUEUED)
            ],
            run_id=None,
            now=now,
            next_retry_at=now,
            max_attempts=5,
        )
    syncs = [
        spawn("sync", "--source", str(sheet), "--db", url, "--json", "--lock-wait", "120")
        for _ in range(3)
    ]
    workers = [
        spawn("retry", "--all", "--source", str(sheet), "--db", url, "--json") for _ in range(2)
    ]
    results = [p.communicate(timeout=300) for p in syncs + workers]
    for p, (_, err) in zip(syncs + workers, results, strict=True):
        assert p.returncode == 0, err
        assert "Traceback" not in err
    sync_docs = [json_of(r) for r in results[:3]]
    retry_docs = [json_of(r) for r in results[3:]]
    assert all(d["failed"] == 0 for d in sync_docs)
    # Each buyer inserted once overall: by a sync, or first by a retry worker.
    assert ROWS - QUEUED <= sum(d["inserted"] for d in sync_docs) <= ROWS
    with opened(url) as db:
        # Each queued entry is resolved exactly once: by a retry worker, or by a sync
        # that wrote the buyer first (recorded with worker 'sync').
        outcomes = db.query("SELECT buyer_number, outcome, worker FROM retry_attempts")
        assert sorted(o["buyer_number"] for o in outcomes) == [f"B{i:07d}" for i in range(QUEUED)]
        assert {o["outcome"] for o in outcomes} == {"succeeded"}
        by_workers = sum(1 for o in outcomes if o["worker"] != "sync")
        assert sum(d["processed"] for d in retry_docs) == by_workers
        assert sum(d["succeeded"] for d in retry_docs) == by_workers
        assert_converged(db, sheet_keys(ROWS))
        assert db.query_value("SELECT count(*) FROM sync_error_log") == 0  # nothing spurious
        assert db.query_value("SELECT count(*) FROM retry_queue") == 0
        runs = db.query(
            "SELECT run_id, status, started_at, finished_at FROM sync_runs "
            "WHERE operation = 'sync' ORDER BY started_at"
        )
        assert [r["status"] for r in runs] == ["succeeded"] * 3
        spans = [(db.read_ts(r["started_at"]), db.read_ts(r["finished_at"])) for r in runs]
        for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
            assert end is not None and start is not None and end <= start, (
                "two syncs did their work at the same time"
            )


def test_second_sync_without_lock_wait_exits_3_and_writes_nothing(
    tmp_path: Path, url: str, big_sheet: Path
) -> None:
    first = spawn("sync", "--source", str(big_sheet), "--db", url)
    import time

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and first.poll() is None:
        with opened(url) as db:
            if db.table_exists("sync_runs") and db.query_value(
                "SELECT count(*) FROM sync_runs WHERE status = 'running'"
            ):
                break
        time.sleep(0.05)
    second = cli("sync", "--source", str(big_sheet), "--db", url)
    first.communicate(timeout=120)
    if first.returncode == 0 and second.returncode == 0:
        pytest.skip("the first sync finished before the second started")
    assert first.returncode == 0
    assert second.returncode == 3, second.stderr
    assert "another buyersync sync is running" in second.stderr
    with opened(url) as db:
        assert db.query_value("SELECT count(*) FROM sync_runs") == 1  # the loser left no run
