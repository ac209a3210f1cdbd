"""The HTTP API against a real PostgreSQL (and SQLite) database.

Property 16: every number on /api/dashboard equals the stored data, recomputed here
with SQL. /api/errors filters behave like `buyersync errors --json`. The token rule,
/metrics parsing, and the pure helpers (buckets, bearer, token compare, loopback).
"""

from __future__ import annotations

import json
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buyersync.api import create_app
from buyersync.api.app import MAX_PAGE, bearer, token_matches
from buyersync.api.metrics import DURATION_BUCKETS, histogram_buckets
from buyersync.cli.main import cli
from buyersync.cli.serve import is_loopback
from buyersync.errors import ErrorCategory
from buyersync.records import RowFailure
from buyersync.rules.categories import is_retryable
from buyersync.services.monitor import SyncMonitor
from buyersync.services.sync import SyncEngine
from buyersync.settings import Settings
from buyersync.sources import open_source
from buyersync.store import errorlog, migrations, open_database, retryqueue
from buyersync.store.db import Database

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

TOKEN = "t0ken-Secret-value"
PASSWORD = "pw-n0t-for-output"  # trust auth ignores it; it must never be echoed back


def _with_password(url: str) -> str:
    return url.replace("postgres@", f"postgres:{PASSWORD}@", 1) if "postgres@" in url else url


def _sheet(tmp_path: Path) -> Path:
    long = "x" * 80
    lines = ["buyer_number,name,address"]
    lines += [f"B{i:04d},Buyer {i},Street {i}" for i in range(1, 41)]
    lines += [",No Key,nowhere", "B0001,Again,duplicate", f"B0100,Long,{long}"]
    path = tmp_path / "buyers.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture
def seeded(pg_url: str, tmp_path: Path) -> Iterator[tuple[Settings, Database]]:
    """A PostgreSQL database after a sync, extra failures, queue entries and 3 health checks."""
    sheet = _sheet(tmp_path)
    settings = Settings(database_url=_with_password(pg_url), source=str(sheet))
    db = open_database(pg_url)
    migrations.migrate(db)
    SyncEngine(db, open_source(str(sheet))).run()
    now = datetime.now(UTC)
    extra = [
        RowFailure(ErrorCategory.DATABASE_CONNECTION, "lost", 5, "B0004", retryable=True),
        RowFailure(ErrorCategory.TIMEOUT, "slow", 6, "B0005", retryable=True),
        RowFailure(ErrorCategory.RATE_LIMIT, "429", 7, "B0006", retryable=True),
    ]
    errorlog.log_failures(db, extra, "run-extra", at=now - timedelta(days=3))
    retryqueue.enqueue(db, extra, run_id="run-extra", now=now, next_retry_at=now, max_attempts=5)
    retryqueue.mark_permanently_failed(db, "B0006", reason="gave up", now=now)
    for _ in range(3):
        SyncMonitor.from_settings(db, settings, source=open_source(str(sheet))).check_health(
            send=False
        )
    try:
        yield settings, db
    finally:
        db.close()


def _client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), base_url="http://localhost")


# -- property 16 ---------------------------------------------------------------------
def test_dashboard_numbers_equal_the_stored_data(seeded: tuple[Settings, Database]) -> None:
    settings, db = seeded
    d = _client(settings).get("/api/dashboard").json()

    assert d["database_count"] == db.query_value("SELECT count(*) FROM buyers") == 41
    latest = db.query_one(
        "SELECT * FROM sync_health_metrics ORDER BY check_time DESC, id DESC LIMIT 1"
    )
    assert latest is not None
    assert d["spreadsheet_count"] == latest["spreadsheet_count"]
    assert d["missing_count"] == latest["missing_count"]
    assert d["error_rate"] == pytest.approx(latest["error_rate"])
    assert d["healthy"] is bool(latest["healthy"])
    by_type = {
        r["error_type"]: r["n"]
        for r in db.query(
            "SELECT error_type, count(*) AS n FROM sync_error_log GROUP BY error_type"
        )
    }
    assert d["errors"]["by_type"] == by_type
    assert d["errors"]["total"] == sum(by_type.values())
    day = db.query_value(
        "SELECT count(*) FROM sync_error_log WHERE created_at >= now() - interval '1 day'"
    )
    assert d["errors"]["last_24h"] == day
    queue = {
        r["status"]: r["n"]
        for r in db.query("SELECT status, count(*) AS n FROM retry_queue GROUP BY status")
    }
    assert d["retry_queue"]["by_status"] == queue
    assert d["retry_queue"]["permanent_failures"] == queue.get("permanently_failed", 0) == 1
    assert d["retry_queue"]["depth"] == sum(
        n for s, n in queue.items() if s != "permanently_failed"
    )
    assert [p["buyer_number"] for p in d["permanent_failures"]] == [
        r["buyer_number"]
        for r in db.query(
            "SELECT buyer_number FROM retry_queue WHERE status = 'permanently_failed'"
        )
    ]
    run_ids = [
        r["run_id"]
        for r in db.query("SELECT run_id FROM sync_runs ORDER BY started_at DESC LIMIT 20")
    ]
    assert [r["run_id"] for r in d["recent_runs"]] == run_ids
    for shown in d["recent_runs"]:
        stored = db.query_one("SELECT * FROM sync_runs WHERE run_id = %s", (shown["run_id"],))
        assert stored is not None
        for field in ("rows_read", "inserted", "updated", "failed", "status"):
            assert shown[field] == stored[field]
        assert shown["duration_s"] == pytest.approx(stored["duration_s"])
        assert shown["rows_per_s"] == pytest.approx(stored["rows_per_s"])
    checks = db.query_value("SELECT count(*) FROM sync_health_metrics")
    assert len(d["health_history"]) == checks == 3
    assert len(d["latest_errors"]) == min(20, sum(by_type.values()))
    assert d["last_sync"]["run_id"] == run_ids[-1]

    health = _client(settings).get("/api/health").json()
    assert health["latest"]["id"] == latest["id"]
    assert len(health["history"]) == 3


def test_runs_and_retry_queue_routes(seeded: tuple[Settings, Database]) -> None:
    settings, db = seeded
    client = _client(settings)
    runs = client.get("/api/runs").json()["runs"]
    assert len(runs) == db.query_value("SELECT count(*) FROM sync_runs")
    queue = client.get("/api/retry-queue").json()
    assert {e["buyer_number"] for e in queue["entries"]} == {"B0004", "B0005", "B0006"}
    only = client.get("/api/retry-queue", params={"status": "permanently_failed"}).json()
    assert [e["buyer_number"] for e in only["entries"]] == ["B0006"]


def test_no_secret_or_database_url_in_any_response(seeded: tuple[Settings, Database]) -> None:
    settings, _ = seeded
    settings = Settings(**{**_fields(settings), "api_token": TOKEN})
    client = _client(settings)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    for path in (
        "/",
        "/api/dashboard",
        "/api/health",
        "/api/errors",
        "/api/retry-queue",
        "/api/runs",
        "/api/scheduler",
        "/metrics",
        "/openapi.json",
        "/healthz",
        "/api/errors?since=garbage",
        "/static/dashboard.js",
    ):
        body = client.get(path, headers=auth).text
        assert PASSWORD not in body, path
        assert TOKEN not in body, path
        assert "postgresql://" not in body, path


# -- auth ------------------------------------------------------------------------------
def _fields(s: Settings) -> dict:
    import dataclasses

    return {f.name: getattr(s, f.name) for f in dataclasses.fields(s)}


ROUTES = (
    "/",
    "/api/dashboard",
    "/api/health",
    "/api/errors",
    "/api/retry-queue",
    "/api/runs",
    "/api/scheduler",
    "/metrics",
    "/openapi.json",
    "/static/dashboard.js",
)


def test_token_required_everywhere_but_healthz(db_url: str) -> None:
    client = _client(Settings(database_url=db_url, api_token=TOKEN))
    for path in ROUTES:
        assert client.get(path).status_code == 401, path
        assert client.get(path, headers={"Authorization": "Bearer wrong"}).status_code == 401
        assert client.get(path, headers={"Authorization": TOKEN}).status_code == 401
        ok = client.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 200, (path, ok.text)
    assert client.get("/healthz").status_code == 200


def test_page_token_in_url_becomes_a_cookie(db_url: str) -> None:
    client = _client(Settings(database_url=db_url, api_token=TOKEN))
    assert client.get("/?token=nope", follow_redirects=False).status_code == 401
    first = client.get(f"/?token={TOKEN}", follow_redirects=False)
    assert first.status_code == 303 and first.headers["location"] == "/"
    assert "httponly" in first.headers["set-cookie"].lower()
    assert client.get("/").status_code == 200  # the cookie now stands for the header
    assert client.get("/api/dashboard").status_code == 200


def test_without_token_everything_is_open(db_url: str) -> None:
    client = _client(Settings(database_url=db_url))
    for path in ROUTES:
        assert client.get(path).status_code == 200, path


@given(st.text(max_size=40), st.text(min_size=1, max_size=40))
def test_token_compare(given_token: str, expected: str) -> None:
    assert token_matches(given_token, expected) is (given_token == expected)
    assert token_matches(expected, expected)
    assert token_matches(given_token, None)


@given(st.text(alphabet=st.characters(blacklist_categories=("Zs", "Cc")), min_size=1, max_size=30))
def test_bearer_header(token: str) -> None:
    assert bearer(f"Bearer {token}") == token
    assert bearer(f"bearer   {token}  ") == token
    assert bearer(f"Basic {token}") is None
    assert bearer(None) is None


@given(st.ip_addresses())
def test_loopback_rule(address: object) -> None:
    assert is_loopback(str(address)) is address.is_loopback  # type: ignore[attr-defined]


def test_loopback_names() -> None:
    assert is_loopback("localhost") and is_loopback("127.0.0.1") and is_loopback("[::1]")
    assert not is_loopback("0.0.0.0") and not is_loopback("::")
    assert not is_loopback("example.com")


# -- /api/errors behaves like `buyersync errors` -------------------------------------------
BUYERS = ["B1", "B2", "B3"]
RUNS = ["r1", "r2"]
entry = st.tuples(
    st.sampled_from(list(ErrorCategory)),
    st.sampled_from(BUYERS),
    st.sampled_from(RUNS),
    st.integers(0, 96),
)  # hours ago


@pytest.fixture(scope="module")
def errors_db(pg_server: str) -> Iterator[str]:
    from tests.conftest import _admin_url_for, create_pg_database, drop_pg_database

    name = create_pg_database(pg_server)
    url = _admin_url_for(name)
    with open_database(url) as db:
        migrations.migrate(db)
    try:
        yield url
    finally:
        drop_pg_database(pg_server, name)


@settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    entries=st.lists(entry, max_size=12),
    error_type=st.none() | st.sampled_from(list(ErrorCategory)),
    buyer=st.none() | st.sampled_from(BUYERS),
    run=st.none() | st.sampled_from(RUNS),
    since_h=st.none() | st.integers(0, 100),
    limit=st.sampled_from([0, 1, 5, 100]),
)
def test_error_filters_match_the_cli(
    errors_db: str,
    entries: list,
    error_type: object,
    buyer: str | None,
    run: str | None,
    since_h: int | None,
    limit: int,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with open_database(errors_db) as db:
        db.execute("DELETE FROM sync_error_log")
        for category, key, run_id, hours in entries:
            errorlog.log_failures(
                db,
                [
                    RowFailure(
                        category, f"{category} on {key}", 2, key, retryable=is_retryable(category)
                    )
                ],
                run_id,
                at=now - timedelta(hours=hours, minutes=30),
            )
    # The CLI's 0 means "no limit"; the API pages, at most MAX_PAGE entries at a time.
    params: dict[str, object] = {"limit": limit or MAX_PAGE}
    args = ["errors", "--json", "--db", errors_db, "--limit", str(limit)]
    if error_type is not None:
        params["type"] = str(error_type)
        args += ["--type", str(error_type)]
    if buyer:
        params["buyer"] = buyer
        args += ["--buyer", buyer]
    if run:
        params["run"] = run
        args += ["--run", run]
    if since_h is not None:
        params["since"] = f"{since_h}h"
        args += ["--since", f"{since_h}h"]
    api = _client(Settings(database_url=errors_db)).get("/api/errors", params=params)
    assert api.status_code == 200, api.text
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    from_cli = json.loads(result.stdout)
    from_api = api.json()
    assert from_api["counts_by_type"] == from_cli["counts_by_type"]
    assert [e["id"] for e in from_api["errors"]] == [e["id"] for e in from_cli["errors"]]
    # …and both are exactly the entries matching the filters (property 8).
    expected = [
        e
        for e in entries
        if (error_type is None or e[0] == error_type)
        and (not buyer or e[1] == buyer)
        and (not run or e[2] == run)
        and (since_h is None or e[3] + 0.5 <= since_h)
    ]
    assert from_api["total"] == len(expected)
    assert len(from_api["errors"]) == (len(expected) if limit == 0 else min(limit, len(expected)))


def test_bad_filters_are_client_errors(db_url: str) -> None:
    client = _client(Settings(database_url=db_url))
    bad_time = client.get("/api/errors", params={"since": "last tuesday"})
    assert bad_time.status_code == 400 and "90m, 24h, 7d" in bad_time.json()["detail"]
    assert client.get("/api/errors", params={"type": "nope"}).status_code == 422
    assert client.get("/api/errors", params={"limit": -1}).status_code == 422


# -- /metrics ----------------------------------------------------------------------------
def test_metrics_parse_and_equal_the_stored_data(seeded: tuple[Settings, Database]) -> None:
    from prometheus_client.parser import text_string_to_metric_families

    settings, db = seeded
    text = _client(settings).get("/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}

    def value(name: str, **labels: str) -> float:
        for sample in (x for f in families.values() for x in f.samples):
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return sample.value
        raise AssertionError(f"{name} {labels} not in /metrics")

    assert value("buyersync_database_buyers") == db.query_value("SELECT count(*) FROM buyers")
    latest = db.query_one(
        "SELECT * FROM sync_health_metrics ORDER BY check_time DESC, id DESC LIMIT 1"
    )
    assert latest is not None
    assert value("buyersync_missing_buyers") == latest["missing_count"]
    assert value("buyersync_spreadsheet_buyers") == latest["spreadsheet_count"]
    assert value("buyersync_permanent_failures") == 1
    assert value("buyersync_retry_queue_depth") == db.query_value(
        "SELECT count(*) FROM retry_queue WHERE status <> 'permanently_failed'"
    )
    for r in db.query("SELECT error_type, count(*) AS n FROM sync_error_log GROUP BY error_type"):
        assert families["buyersync_rows_failed"].type == "counter"
        assert value("buyersync_rows_failed_total", category=r["error_type"]) == r["n"]
    assert value("buyersync_rows_synced_total") == db.query_value(
        "SELECT sum(inserted + updated) FROM sync_runs"
    )
    hist = families["buyersync_sync_duration_seconds"]
    assert hist.type == "histogram"
    count = [s.value for s in hist.samples if s.name.endswith("_count")][0]
    assert count == db.query_value(
        "SELECT count(*) FROM sync_runs WHERE duration_s IS NOT NULL AND finished_at IS NOT NULL"
    )


@given(st.lists(st.floats(min_value=0, max_value=1e5, allow_nan=False), max_size=50))
def test_histogram_buckets_are_cumulative(values: list[float]) -> None:
    buckets, total, n = histogram_buckets(values)
    assert n == len(values) and total == pytest.approx(sum(values))
    assert [b for b, _ in buckets] == [repr(float(b)) for b in DURATION_BUCKETS] + ["+Inf"]
    counts = [c for _, c in buckets]
    assert counts == sorted(counts) and counts[-1] == len(values)
    for le, c in buckets[:-1]:
        assert c == sum(1 for v in values if v <= float(le))
