"""Property: a problem is open iff its buyer's latest attempt failed.

Hypothesis drives sequences of full syncs, sync-missing and retry passes over a few
buyers whose rows break (a NUL character: data_format; on PostgreSQL also a transient
serialization failure raised by a trigger, which is queued and retried) and get fixed
again, through the production paths, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from buyersync.rules.backoff import BackoffPolicy
from buyersync.services.missing import sync_missing
from buyersync.services.retry import RetryManager
from buyersync.services.sync import SyncEngine
from buyersync.sources.csv_source import CsvSource
from buyersync.store.db import Database
from tests.helpers import write_csv

KEYS = ("B1", "B2", "B3", "B4")
_counter = itertools.count()

#: One step: the operation, and the state of each buyer's row before it.
STATES = st.sampled_from(["ok", "ok", "nul", "transient"])
STEP = st.tuples(st.sampled_from(["sync", "sync-missing", "retry"]), st.tuples(*[STATES] * 4))


def _reset(db: Database) -> None:
    for table in ("buyers", "problems", "sync_error_log", "retry_queue", "retry_attempts"):
        if db.table_exists(table):
            db.execute(f"DELETE FROM {table}")


def _transient_trigger(db: Database) -> bool:
    """On PostgreSQL: rows named 'transient…' fail with a serialization failure."""
    if db.dialect != "postgresql":
        return False
    db.execute(
        "CREATE OR REPLACE FUNCTION flaky() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.name LIKE 'transient%%' THEN RAISE EXCEPTION 'flaky' USING ERRCODE = '40001'; "
        "END IF; RETURN NEW; END $$"
    )
    db.execute("DROP TRIGGER IF EXISTS flaky ON buyers")
    db.execute(
        "CREATE TRIGGER flaky BEFORE INSERT OR UPDATE ON buyers FOR EACH ROW "
        "EXECUTE FUNCTION flaky()"
    )
    return True


def _cell(state: str, step: int) -> str:
    return {"ok": f"name {step}", "nul": "bad\x00", "transient": f"transient {step}"}[state]


@settings(
    max_examples=20,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, min_size=1, max_size=6))
@example(steps=[("sync", ("ok", "ok", "nul", "ok")), ("sync-missing", ("ok",) * 4)])
@example(steps=[("sync", ("nul", "nul", "ok", "ok"))])  # the seeded buyers' rows break
@example(steps=[("sync", ("nul", "ok", "ok", "ok")), ("sync", ("ok",) * 4), ("sync", ("nul",) * 4)])
def test_a_problem_is_open_iff_the_buyers_latest_attempt_failed(
    db: Database, tmp_path: Path, steps: list
) -> None:
    _reset(db)
    sheet = tmp_path / f"s{next(_counter)}.csv"
    # Two buyers are in the database at first; the others are missing until written.
    write_csv(sheet, ["buyer_number", "name"], [[k, "seed"] for k in KEYS[:2]])
    SyncEngine(db, CsvSource(sheet), lock_name="sync").run()
    transient = _transient_trigger(db)
    latest_failed = dict.fromkeys(KEYS, False)
    in_db, queued = set(KEYS[:2]), set()
    policy = BackoffPolicy(max_attempts=50, base_seconds=0, max_seconds=0, jitter=0)
    for n, (op, states) in enumerate(steps):
        if not transient:
            states = tuple("nul" if s == "transient" else s for s in states)
        state = dict(zip(KEYS, states, strict=True))
        write_csv(sheet, ["buyer_number", "name"], [[k, _cell(state[k], n)] for k in KEYS])
        if op == "sync":
            attempted = set(KEYS)
            SyncEngine(db, CsvSource(sheet), retry=policy, sleep=lambda s: None).run()
        elif op == "sync-missing":
            attempted = set(KEYS) - in_db
            sync_missing(db, CsvSource(sheet), retry=policy, sleep=lambda s: None)
        else:
            attempted = set(queued)
            RetryManager(db, CsvSource(sheet), policy=policy).process_queue(
                any_time=True, permanent=True
            )
        for k in attempted:
            latest_failed[k] = state[k] != "ok"
            if state[k] == "ok":
                in_db.add(k)
                queued.discard(k)
            elif state[k] == "transient":
                queued.add(k)
            elif op == "retry":
                queued.discard(k)  # not retryable any more: removed from the queue
        open_buyers = {
            r["buyer_number"]
            for r in db.query(
                "SELECT buyer_number FROM problems WHERE resolved_at IS NULL AND kind = 'buyer'"
            )
        }
        assert open_buyers == {k for k, failed in latest_failed.items() if failed}, (op, state)
        # an unresolved log entry always belongs to an open problem
        stale = db.query_value(
            "SELECT count(*) FROM sync_error_log e JOIN problems p ON p.subject = e.subject "
            "WHERE e.resolved_at IS NULL AND p.resolved_at IS NOT NULL"
        )
        assert stale == 0
