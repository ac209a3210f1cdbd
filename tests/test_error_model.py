"""The error model: meaning from the class alone, exit codes in one table, and the one
path into the retry queue (``RetryManager.add_to_retry_queue``) that production takes.
"""

from __future__ import annotations

import http.server
import inspect
import os
import re
import sqlite3
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

import buyersync.errors as E
from buyersync.cli.common import EXIT_CODES, exit_code_for
from buyersync.errors import BuyersyncError, ErrorCategory
from buyersync.records import RunStatus
from buyersync.rules.backoff import Verdict
from buyersync.rules.categories import CLASS_FOR_CATEGORY, RETRYABLE, is_retryable
from buyersync.services import sync as sync_service
from buyersync.services.missing import sync_missing
from buyersync.services.retry import RetryManager
from buyersync.services.sync import SyncEngine
from buyersync.sources.csv_source import CsvSource
from buyersync.store import buyers, migrations, retryqueue, runs
from buyersync.store.db import Database
from buyersync.store.sqlite import translate as sqlite_translate
from tests.helpers import write_csv

ERROR_CLASSES = [
    c
    for c in vars(E).values()
    if inspect.isclass(c) and issubclass(c, BuyersyncError) and c.__module__ == E.__name__
]


# -- the class decides -----------------------------------------------------------------


@pytest.mark.parametrize("category", list(ErrorCategory))
def test_every_category_has_a_class_that_agrees_on_retrying(category: ErrorCategory) -> None:
    cls = CLASS_FOR_CATEGORY[category]
    assert cls.category is category
    assert cls.retryable is is_retryable(category)
    if category in RETRYABLE:
        assert cls.retryable, f"{category} is retryable but {cls.__name__} says not"


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_category_and_retryable_belong_to_the_class(cls: type[BuyersyncError]) -> None:
    """No per-instance category: an instance cannot say something its class does not."""
    assert "category" not in inspect.signature(cls.__init__).parameters
    error = cls("x") if cls is not E.StoreError else cls("x", sqlstate="XX000")
    assert error.category is cls.category and error.retryable is cls.retryable
    # only the one class that is never a row's failure disagrees with its category
    if cls is not E.ResourceExhausted:
        assert cls.retryable is is_retryable(cls.category), cls


def test_the_tree_in_the_module_docstring_names_every_class() -> None:
    doc = E.__doc__ or ""
    for cls in ERROR_CLASSES:
        assert re.search(rf"^    [│ ]*(├── |└── )?{cls.__name__} ", doc, re.M), cls.__name__


@pytest.mark.parametrize("cls", ERROR_CLASSES, ids=lambda c: c.__name__)
def test_exit_codes_come_from_the_cli_table_by_class(cls: type[BuyersyncError]) -> None:
    assert not hasattr(cls, "exit_code")  # domain errors carry no exit code
    usage = issubclass(cls, E.ConfigError | E.HeaderError | E.EncodingProblem)
    # the contract: 2 bad usage or configuration, 3 the command could not do its work
    assert exit_code_for(cls("x")) == (2 if usage else 3)
    assert set(EXIT_CODES.values()) == {2}


def test_resource_exhaustion_and_locks_from_sqlite() -> None:
    full = sqlite_translate(sqlite3.OperationalError("database or disk is full"))
    assert isinstance(full, E.ResourceExhausted) and not full.retryable
    locked = sqlite_translate(sqlite3.OperationalError("database is locked"))
    assert isinstance(locked, E.LockNotAvailable) and isinstance(locked, E.StoreTimeout)
    assert locked.retryable
    assert isinstance(
        sqlite_translate(sqlite3.IntegrityError("CHECK constraint failed: x")),
        E.ConstraintViolation,
    )


class _Refusing(http.server.BaseHTTPRequestHandler):
    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(503)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_a_webhook_answering_an_error_is_a_notification_failure() -> None:
    from buyersync.services.notify import Notification, WebhookChannel, deliver

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Refusing)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/hook"
        note = Notification(subject="s", text="t", healthy=True)
        with pytest.raises(E.NotificationFailed, match="HTTP 503"):
            WebhookChannel(url, timeout=5).send(note)
        (result,) = deliver(note, [WebhookChannel(url, timeout=5)])
        assert not result.ok and "NotificationFailed" in (result.error or "")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_sync_refused_no_longer_poses_as_an_unreachable_sheet() -> None:
    assert E.SyncRefused.category is not ErrorCategory.SOURCE_UNAVAILABLE
    assert not E.SyncRefused.retryable


# -- one way into the queue, on both backends --------------------------------------------


@pytest.fixture
def failing_b2(db: Database) -> Iterator[Database]:
    """``buyers`` whose writes of buyer B2 fail with an error nobody recognises (retried)."""
    migrations.migrate(db)
    buyers.ensure_table(db, ["buyer_number", "name"])
    if db.dialect == "postgresql":
        db.execute(
            """
            CREATE FUNCTION fail_b2() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.buyer_number = 'B2' THEN
                    RAISE EXCEPTION 'injected' USING ERRCODE = 'P0001';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER fail_b2 BEFORE INSERT OR UPDATE ON buyers
                FOR EACH ROW EXECUTE FUNCTION fail_b2();
            """
        )
    else:

        def fail_b2(key: str) -> int:
            if key == "B2":
                raise RuntimeError("injected")
            return 0

        db._conn.create_function("fail_b2", 1, fail_b2)  # type: ignore[attr-defined]
        db.execute(
            "CREATE TRIGGER fail_b2 BEFORE INSERT ON buyers "
            "BEGIN SELECT fail_b2(NEW.buyer_number); END"
        )
    yield db


@pytest.fixture
def enqueued(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """Every call of the one enqueue path, by the buyers it was given (spied, not replaced)."""
    calls: list[list[str]] = []
    real = RetryManager.add_to_retry_queue

    def spy(self: RetryManager, failures, *, run_id=None):  # type: ignore[no-untyped-def]
        calls.append(sorted(f.buyer_number for f in failures if f.buyer_number))
        return real(self, failures, run_id=run_id)

    monkeypatch.setattr(RetryManager, "add_to_retry_queue", spy)
    return calls


ROWS = [["B1", "one"], ["B2", "two"], ["B3", "three"]]


def test_a_sync_queues_its_retryable_row_failure_through_the_manager(
    failing_b2: Database, enqueued: list[list[str]], tmp_path: Path
) -> None:
    db = failing_b2
    src = write_csv(tmp_path / "s.csv", ["buyer_number", "name"], ROWS)
    report = SyncEngine(db, CsvSource(src)).run()
    assert [(f.buyer_number, f.category) for f in report.failures] == [
        ("B2", ErrorCategory.UNKNOWN)
    ]
    assert enqueued == [["B2"]]
    assert [e.buyer_number for e in retryqueue.list_entries(db)] == ["B2"]
    assert report.queued_for_retry == 1


def test_sync_missing_queues_through_the_manager(
    failing_b2: Database, enqueued: list[list[str]], tmp_path: Path
) -> None:
    db = failing_b2
    src = write_csv(tmp_path / "s.csv", ["buyer_number", "name"], ROWS)
    result = sync_missing(db, CsvSource(src))
    assert result.run is not None and result.run.queued_for_retry == 1
    assert enqueued == [["B2"]]
    assert [e.buyer_number for e in retryqueue.list_entries(db)] == ["B2"]


def test_a_retry_pass_does_not_queue_again(
    failing_b2: Database, enqueued: list[list[str]], tmp_path: Path
) -> None:
    db = failing_b2
    src = write_csv(tmp_path / "s.csv", ["buyer_number", "name"], ROWS)
    SyncEngine(db, CsvSource(src)).run()
    report = RetryManager(db, CsvSource(src)).process_queue(any_time=True)
    assert report.count(Verdict.RESCHEDULED) == 1
    assert enqueued == [["B2"]]  # the first sync only: the pass settles its entry itself


@pytest.mark.postgres
def test_disk_full_stops_the_run_instead_of_failing_rows_as_schema_mismatch(
    pg_url: str, tmp_path: Path
) -> None:
    from buyersync.store import open_database

    db = open_database(pg_url)
    try:
        migrations.migrate(db)
        buyers.ensure_table(db, ["buyer_number", "name"])
        db.execute(
            """
            CREATE FUNCTION disk_full() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                IF NEW.buyer_number = 'B2' THEN
                    RAISE EXCEPTION 'could not extend file' USING ERRCODE = '53100';
                END IF;
                RETURN NEW;
            END $$;
            CREATE TRIGGER disk_full BEFORE INSERT ON buyers
                FOR EACH ROW EXECUTE FUNCTION disk_full();
            """
        )
        src = write_csv(tmp_path / "s.csv", ["buyer_number", "name"], ROWS)
        with pytest.raises(E.ResourceExhausted):
            SyncEngine(db, CsvSource(src)).run()
        (run,) = runs.recent(db, 1)
        assert run.status == RunStatus.FAILED
        assert "could not extend file" in (run.message or "")
        logged = db.query("SELECT error_type FROM sync_error_log")
        assert all(r["error_type"] != "schema_mismatch" for r in logged)
        assert retryqueue.list_entries(db) == []  # not retried
    finally:
        db.close()


# -- run ids -------------------------------------------------------------------------------


def test_run_ids_are_in_utc_whatever_the_local_zone(monkeypatch: pytest.MonkeyPatch) -> None:
    if not hasattr(time, "tzset"):
        pytest.skip("needs time.tzset")
    monkeypatch.setenv("TZ", "Pacific/Kiritimati")  # UTC+14: a day away from UTC
    time.tzset()
    try:
        run_id = sync_service._new_run_id()
    finally:
        monkeypatch.delenv("TZ")
        time.tzset()
    stamp = datetime.strptime(run_id.split("-")[0], "%Y%m%dT%H%M%S").replace(tzinfo=UTC)
    assert abs((datetime.now(UTC) - stamp).total_seconds()) < 60
    assert os.environ.get("TZ") is None
