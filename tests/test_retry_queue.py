"""The retry queue on real SQLite and real PostgreSQL: properties 9–12, leases, injected errors.

Retryable row failures are injected on PostgreSQL with a trigger on ``buyers`` that
raises a chosen SQLSTATE for chosen buyer numbers (SQLite has no way to make one row
fail retryably); everything else runs on both databases.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buyersync.errors import ErrorCategory, SourceUnavailable
from buyersync.records import RowFailure
from buyersync.rules.backoff import BackoffPolicy, Verdict, decide, delay_seconds
from buyersync.rules.categories import is_retryable
from buyersync.services.retry import RetryManager
from buyersync.services.sync import SyncEngine
from buyersync.sources import open_source
from buyersync.sources.base import SheetData, Source
from buyersync.store import buyers, migrations, retryqueue
from buyersync.store.db import Database, utcnow
from buyersync.store.retryqueue import QueueStatus, Settlement
from tests.helpers import write_csv

DB_PROPERTY = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


def write_sheet(path: Path, rows: Sequence[Sequence[str]]) -> Source:
    return open_source(str(write_csv(path, ["buyer_number", "name"], rows)))


def queue_keys(db: Database) -> set[str]:
    return {r["buyer_number"] for r in db.query("SELECT buyer_number FROM retry_queue")}


def failure_for(key: str, category: ErrorCategory, row: int = 2) -> RowFailure:
    return RowFailure(category, f"row {row} failed", row, key, {}, is_retryable(category))


@pytest.fixture
def mdb(db: Database) -> Database:
    migrations.migrate(db)
    return db


def clear(db: Database) -> None:
    db.execute("DELETE FROM retry_queue")
    db.execute("DELETE FROM retry_attempts")


# -- properties 9 and 12: what is queued ---------------------------------------------------


@DB_PROPERTY
@given(
    st.dictionaries(
        st.from_regex(r"B[0-9]{1,4}", fullmatch=True),
        st.sampled_from(list(ErrorCategory)),
        max_size=12,
    )
)
def test_every_retryable_failure_is_queued_and_no_other(mdb: Database, cats: dict) -> None:
    clear(mdb)
    failures = [failure_for(k, c, i + 2) for i, (k, c) in enumerate(cats.items())]
    manager = RetryManager(mdb, None, policy=BackoffPolicy(jitter=0.0), clock=lambda: T0)
    manager.add_to_retry_queue(failures, run_id="run-1")
    assert queue_keys(mdb) == {k for k, c in cats.items() if is_retryable(c)}
    for entry in retryqueue.list_entries(mdb):
        assert entry.status is QueueStatus.PENDING and entry.attempt_count == 0
        assert entry.next_retry_at == T0 + timedelta(seconds=60)  # the first backoff step
        assert entry.error_type == str(cats[entry.buyer_number])


def test_a_failure_with_no_buyer_number_is_logged_not_queued(mdb: Database) -> None:
    f = RowFailure(ErrorCategory.TIMEOUT, "no key", 7, None, {}, True)
    assert RetryManager(mdb, None).add_to_retry_queue([f]) == 0
    assert queue_keys(mdb) == set()


# -- property 10 on the store: claims never exceed the maximum, even across crashes ----------


@DB_PROPERTY
@given(
    max_attempts=st.integers(min_value=1, max_value=4),
    keys=st.integers(min_value=1, max_value=4),
    steps=st.lists(
        st.tuples(
            st.integers(min_value=0, max_value=4000),
            st.sampled_from(["fail", "succeed", "crash", "not_retryable"]),
            st.booleans(),
        ),
        min_size=1,
        max_size=14,
    ),
)
def test_no_entry_is_attempted_more_than_the_maximum(
    mdb: Database, max_attempts: int, keys: int, steps: list
) -> None:
    clear(mdb)
    policy = BackoffPolicy(max_attempts=max_attempts, base_seconds=60, max_seconds=600)
    clock = Clock(T0)
    failures = [failure_for(f"K{i}", ErrorCategory.TIMEOUT) for i in range(keys)]
    RetryManager(mdb, None, policy=policy, clock=clock).add_to_retry_queue(failures)
    crashed: dict[str, int] = {}
    succeeded: set[str] = set()
    for advance, action, any_time in steps:
        now = clock.advance(advance)
        retryqueue.expire_stale(mdb, now=now)
        claimed = retryqueue.claim(
            mdb,
            worker=f"w{advance}",
            now=now,
            lease_until=now + timedelta(seconds=900),
            limit=10,
            any_time=any_time,
        )
        for e in claimed:
            assert e.attempt_count <= max_attempts  # property 10
            if action == "crash":
                crashed[e.buyer_number] = crashed.get(e.buyer_number, 0) + 1
                continue
            d = decide(
                attempts_made=e.attempt_count,
                succeeded=action == "succeed",
                gone=False,
                retryable=action != "not_retryable",
                now=now,
                policy=policy,
            )
            retryqueue.settle(
                mdb,
                [Settlement(e.buyer_number, d.verdict, e.attempt_count, next_retry_at=d.retry_at)],
                worker=f"w{advance}",
                now=now,
            )
            if action == "succeed":
                succeeded.add(e.buyer_number)
    for entry in retryqueue.list_entries(mdb):
        assert entry.attempt_count <= max_attempts
        if entry.status is QueueStatus.PENDING:
            assert entry.attempt_count < max_attempts
    for i in range(keys):
        key = f"K{i}"
        settled = len(retryqueue.attempts(mdb, buyer_number=key))
        assert settled + crashed.get(key, 0) <= max_attempts
    assert not succeeded & queue_keys(mdb)  # property 11 on the store


def test_a_crashed_workers_entries_come_back_after_the_lease(mdb: Database) -> None:
    retryqueue.enqueue(
        mdb,
        [failure_for("B1", ErrorCategory.TIMEOUT)],
        run_id=None,
        now=T0,
        next_retry_at=T0,
        max_attempts=3,
    )
    lease = T0 + timedelta(seconds=900)
    first = retryqueue.claim(mdb, worker="dead", now=T0, lease_until=lease, limit=10)
    assert [e.buyer_number for e in first] == ["B1"]
    # while the lease runs, nobody else gets it — not even with --all
    assert (
        retryqueue.claim(mdb, worker="other", now=T0, lease_until=lease, limit=10, any_time=True)
        == []
    )
    later = lease + timedelta(seconds=1)
    again = retryqueue.claim(mdb, worker="other", now=later, lease_until=later, limit=10)
    assert [(e.buyer_number, e.attempt_count, e.claimed_by) for e in again] == [("B1", 2, "other")]
    # the dead worker waking up cannot overwrite the new owner's claim
    assert (
        retryqueue.settle(mdb, [Settlement("B1", Verdict.SUCCEEDED, 1)], worker="dead", now=later)
        == 0
    )
    assert queue_keys(mdb) == {"B1"}


def test_a_worker_dying_on_the_last_attempt_leaves_a_permanent_failure(mdb: Database) -> None:
    retryqueue.enqueue(
        mdb,
        [failure_for("B1", ErrorCategory.TIMEOUT)],
        run_id=None,
        now=T0,
        next_retry_at=T0,
        max_attempts=1,
    )
    retryqueue.claim(mdb, worker="dead", now=T0, lease_until=T0 + timedelta(seconds=5), limit=9)
    later = T0 + timedelta(seconds=10)
    assert retryqueue.claim(mdb, worker="w", now=later, lease_until=later, limit=9) == []
    assert retryqueue.expire_stale(mdb, now=later) == ["B1"]
    entry = retryqueue.get(mdb, "B1")
    assert entry is not None and entry.status is QueueStatus.PERMANENTLY_FAILED


# -- the service on both databases: success, gone, not retryable, released ------------------


def test_successful_retry_removes_the_entry_and_is_recorded(mdb: Database, tmp_path: Path) -> None:
    """Property 11, and "a successful retry is logged" (retry_attempts + sync_runs)."""
    source = write_sheet(tmp_path / "s.csv", [["B1", "Ann"], ["B2", "Bob"], ["B3", "Cy"]])
    clock = Clock(utcnow())
    manager = RetryManager(mdb, source, policy=BackoffPolicy(jitter=0.0), clock=clock)
    manager.add_to_retry_queue(
        [
            failure_for("B1", ErrorCategory.DATABASE_CONNECTION, 2),
            failure_for("B3", ErrorCategory.TIMEOUT, 4),
        ]
    )
    assert manager.process_queue().processed == 0  # nothing is due before its time
    clock.advance(61)
    report = manager.process_queue()
    assert (report.processed, report.succeeded, report.failed) == (2, 2, 0)
    assert queue_keys(mdb) == set()
    assert set(buyers.fetch(mdb, ["B1", "B3"], ["name"])) == {"B1", "B3"}
    recorded = retryqueue.attempts(mdb)
    assert {(a.buyer_number, a.outcome, a.attempt) for a in recorded} == {
        ("B1", "succeeded", 1),
        ("B3", "succeeded", 1),
    }
    run = mdb.query_one(
        "SELECT operation, status, inserted FROM sync_runs WHERE run_id = %s", (report.run_ids[0],)
    )
    assert run == {"operation": "retry", "status": "succeeded", "inserted": 2}


def test_buyer_gone_from_the_sheet_is_resolved_as_such(mdb: Database, tmp_path: Path) -> None:
    source = write_sheet(tmp_path / "s.csv", [["B1", "Ann"]])
    manager = RetryManager(mdb, source)
    manager.add_to_retry_queue([failure_for("B9", ErrorCategory.TIMEOUT)])
    report = manager.process_queue(any_time=True)
    assert [(r.buyer_number, r.verdict) for r in report.results] == [("B9", Verdict.GONE)]
    assert queue_keys(mdb) == set()
    assert [a.outcome for a in retryqueue.attempts(mdb, buyer_number="B9")] == ["gone_from_sheet"]


def _limited_buyers_table(db: Database) -> None:
    limited = "varchar(5)" if db.dialect == "postgresql" else "text CHECK (length(name) <= 5)"
    ts = "timestamptz" if db.dialect == "postgresql" else "TEXT"
    db.execute(
        f"CREATE TABLE buyers (buyer_number text NOT NULL PRIMARY KEY, name {limited}, "
        f"created_at {ts} NOT NULL, synced_at {ts} NOT NULL, db_updated_at {ts} NOT NULL)"
    )


def test_a_retry_that_now_fails_for_good_leaves_the_queue(mdb: Database, tmp_path: Path) -> None:
    """Property 12 after an attempt: the sheet was edited into a value the column cannot hold."""
    _limited_buyers_table(mdb)
    source = write_sheet(tmp_path / "s.csv", [["B1", "Ann"], ["B2", "a name far too long"]])
    manager = RetryManager(mdb, source)
    manager.add_to_retry_queue(
        [failure_for("B1", ErrorCategory.TIMEOUT, 2), failure_for("B2", ErrorCategory.TIMEOUT, 3)]
    )
    report = manager.process_queue(any_time=True)
    outcome = {r.buyer_number: (r.verdict, r.error_type) for r in report.results}
    assert outcome == {
        "B1": (Verdict.SUCCEEDED, None),
        "B2": (Verdict.NOT_RETRYABLE, "value_too_long"),
    }
    assert queue_keys(mdb) == set()
    logged = mdb.query(
        "SELECT error_type, operation, retryable FROM sync_error_log WHERE buyer_number = 'B2'"
    )
    assert [(r["error_type"], r["operation"], bool(r["retryable"])) for r in logged] == [
        ("value_too_long", "retry", False)
    ]


class BrokenSheet(Source):
    description = "broken"

    def read(self) -> SheetData:
        raise SourceUnavailable("the sheet API answered 503")


def test_an_unreadable_sheet_uses_up_no_attempt(mdb: Database) -> None:
    manager = RetryManager(mdb, BrokenSheet())
    manager.add_to_retry_queue([failure_for("B1", ErrorCategory.TIMEOUT)])
    with pytest.raises(SourceUnavailable):
        manager.process_queue(any_time=True)
    entry = retryqueue.get(mdb, "B1")
    assert entry is not None
    assert (entry.status, entry.attempt_count, entry.claimed_by) == (QueueStatus.PENDING, 0, None)


def test_mark_as_permanently_failed_and_retry_by_hand(mdb: Database, tmp_path: Path) -> None:
    source = write_sheet(tmp_path / "s.csv", [["B1", "Ann"]])
    manager = RetryManager(mdb, source)
    manager.add_to_retry_queue([failure_for("B1", ErrorCategory.TIMEOUT)])
    assert manager.mark_as_permanently_failed("B1", "parked by the operator")
    assert manager.process_queue(any_time=True).processed == 0  # never automatic
    report = manager.retry_buyer(" B1 ")  # trimmed like every buyer number
    assert [(r.verdict, r.manual) for r in report.results] == [(Verdict.SUCCEEDED, True)]
    assert queue_keys(mdb) == set()
    assert manager.retry_buyer("B1").not_in_queue == ["B1"]


def test_calculate_next_retry_time_follows_the_backoff(mdb: Database) -> None:
    policy = BackoffPolicy(max_attempts=5, base_seconds=60, max_seconds=200, jitter=0.0)
    manager = RetryManager(mdb, None, policy=policy, clock=lambda: T0)
    got = [manager.calculate_next_retry_time(n) - T0 for n in range(5)]
    assert got == [timedelta(seconds=s) for s in (60, 120, 200, 200, 200)]


# -- PostgreSQL: errors injected by a trigger -----------------------------------------------

INJECT = """
CREATE TABLE inject_failures (buyer_number text PRIMARY KEY, sqlstate text NOT NULL);
CREATE FUNCTION inject_failure() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE code text;
BEGIN
    SELECT sqlstate INTO code FROM inject_failures WHERE buyer_number = NEW.buyer_number;
    IF code IS NOT NULL THEN
        RAISE EXCEPTION 'injected failure for buyer %%', NEW.buyer_number USING ERRCODE = code;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER inject_failure BEFORE INSERT OR UPDATE ON buyers
    FOR EACH ROW EXECUTE FUNCTION inject_failure();
"""


@pytest.fixture
def pg(pg_url: str) -> Iterator[Database]:
    from buyersync.store import open_database

    db = open_database(pg_url)
    migrations.migrate(db)
    buyers.ensure_table(db, ["buyer_number", "name"])
    db.execute(INJECT)
    try:
        yield db
    finally:
        db.close()


def inject(db: Database, **codes: str | None) -> None:
    for key, code in codes.items():
        db.execute("DELETE FROM inject_failures WHERE buyer_number = %s", (key,))
        if code:
            db.execute("INSERT INTO inject_failures VALUES (%s, %s)", (key, code))


@pytest.mark.postgres
def test_injected_errors_end_to_end(pg: Database, tmp_path: Path) -> None:
    sheet = [[f"B{i}", f"name {i}"] for i in range(1, 7)]
    source = write_sheet(tmp_path / "s.csv", sheet)
    # P0001 (a trigger's RAISE) is not a recognised SQLSTATE: category unknown, retryable
    inject(pg, B2="P0001", B3="P0001", B4="23514", B5="P0001")
    policy = BackoffPolicy(max_attempts=3, base_seconds=60, max_seconds=21600, jitter=0.0)
    sync = SyncEngine(pg, source, retry=policy).run()
    got = {f.buyer_number: f.category for f in sync.failures}
    assert got == {
        "B2": ErrorCategory.UNKNOWN,
        "B3": ErrorCategory.UNKNOWN,
        "B4": ErrorCategory.CONSTRAINT,
        "B5": ErrorCategory.UNKNOWN,
    }
    # retryable ones queued, the constraint violation not (properties 9 and 12)
    assert queue_keys(pg) == {"B2", "B3", "B5"}
    queued_at = {e.buyer_number: e.next_retry_at for e in retryqueue.list_entries(pg)}

    clock = Clock(min(queued_at.values()) - timedelta(seconds=30))
    manager = RetryManager(pg, source, policy=policy, clock=clock)
    assert manager.process_queue().processed == 0  # nothing due before its time

    clock.now = max(queued_at.values()) + timedelta(seconds=1)
    inject(pg, B5=None)  # B5's cause is gone; B2 and B3 still fail
    first = manager.process_queue()
    assert {r.buyer_number: r.verdict for r in first.results} == {
        "B2": Verdict.RESCHEDULED,
        "B3": Verdict.RESCHEDULED,
        "B5": Verdict.SUCCEEDED,
    }
    b2 = retryqueue.get(pg, "B2")
    assert b2 is not None and b2.attempt_count == 1
    assert b2.next_retry_at == clock.now + timedelta(seconds=delay_seconds(2, 60, 21600))
    assert manager.process_queue().processed == 0  # not due again yet

    # A serialization failure (40001) that outlives the engine's own retries is a
    # row-level, retryable failure: the row is isolated, logged as timeout and the
    # entry rescheduled (issue 3: 40001 queued, 23514 not).
    clock.advance(121)
    inject(pg, B2="40001")
    second = manager.process_queue()
    assert {r.buyer_number: (r.verdict, r.error_type) for r in second.results} == {
        "B2": (Verdict.RESCHEDULED, "timeout"),
        "B3": (Verdict.RESCHEDULED, "unknown"),
    }
    assert {
        (e.buyer_number, str(e.status), e.attempt_count) for e in retryqueue.list_entries(pg)
    } == {("B2", "pending", 2), ("B3", "pending", 2)}

    inject(pg, B2=None)  # recovery after the cause is removed
    clock.advance(241)
    third = manager.process_queue()  # B3's third attempt: the maximum
    assert {(r.buyer_number, r.verdict, r.attempt) for r in third.results} == {
        ("B2", Verdict.SUCCEEDED, 3),
        ("B3", Verdict.PERMANENTLY_FAILED, 3),
    }
    assert third.permanently_failed == 1
    assert queue_keys(pg) == {"B3"}
    clock.advance(10**6)
    assert manager.process_queue(any_time=True).processed == 0  # never again automatically
    b3 = retryqueue.get(pg, "B3")
    assert b3 is not None and b3.status is QueueStatus.PERMANENTLY_FAILED
    assert [a.attempt for a in retryqueue.attempts(pg, buyer_number="B3")] == [3, 2, 1]

    still = manager.retry_buyer("B3")  # by hand, cause still there: stays parked
    assert [(r.verdict, r.attempt) for r in still.results] == [(Verdict.PERMANENTLY_FAILED, 4)]
    inject(pg, B3=None)
    fixed = manager.retry_buyer("B3")
    assert [r.verdict for r in fixed.results] == [Verdict.SUCCEEDED]
    assert queue_keys(pg) == set()
    assert set(buyers.fetch(pg, ["B2", "B3", "B5"], ["name"])) == {"B2", "B3", "B5"}
    assert "B4" not in buyers.fetch(pg, ["B4"], ["name"])


@pytest.mark.postgres
def test_a_sheet_edit_that_breaks_a_queued_row_drops_it(pg: Database, tmp_path: Path) -> None:
    source = write_sheet(tmp_path / "s.csv", [["B1", "x"]])
    inject(pg, B1="P0001")
    SyncEngine(pg, source).run()
    assert queue_keys(pg) == {"B1"}
    inject(pg, B1="23514")  # now a constraint rejects it: retrying cannot help
    report = RetryManager(pg, source).process_queue(any_time=True)
    assert [(r.verdict, r.error_type) for r in report.results] == [
        (Verdict.NOT_RETRYABLE, "constraint")
    ]
    assert queue_keys(pg) == set()


def test_a_full_sync_that_writes_a_queued_buyer_resolves_its_entry(
    db: Database, tmp_path: Path
) -> None:
    source = write_sheet(tmp_path / "s.csv", [["B1", "x"], ["B2", "y"]])
    SyncEngine(db, source).run()
    now = datetime.now(UTC)
    failures = [
        RowFailure(ErrorCategory.TIMEOUT, "timed out", 2, "B1", retryable=True),
        RowFailure(ErrorCategory.TIMEOUT, "timed out", 9, "B9", retryable=True),
    ]
    retryqueue.enqueue(db, failures, run_id="r0", now=now, next_retry_at=now, max_attempts=5)
    retryqueue.mark_permanently_failed(db, "B9", reason="gave up", now=now)
    report = SyncEngine(db, source).run()
    assert report.failed == 0
    assert queue_keys(db) == {"B9"}  # B1 was written: resolved; B9 is not in the sheet
    outcomes = [(a.buyer_number, a.outcome, a.worker) for a in retryqueue.attempts(db)]
    assert ("B1", "succeeded", "sync") in outcomes
