"""A flaky Google Sheets API (the local stand-in server): 429 with Retry-After, 500,
503, timeouts, truncated JSON, a partial range, a failure on the second page.

Transient faults are retried and the sync completes; persistent ones refuse the run
(exit 3) and nothing from the partial read is written. A partial sheet is never
treated as the whole one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from buyersync.services.sync import SyncEngine
from buyersync.sources.gsheets import PAGE_ROWS, GoogleSheetsSource
from buyersync.testing.sheets_server import SheetsServer
from tests.reliability.conftest import (
    HEADER,
    assert_converged,
    assert_invariant,
    cli,
    json_of,
    opened,
    run_statuses,
    sheet_keys,
    sheet_row,
)

pytestmark = pytest.mark.reliability

SID = "reliability"
SMALL = 50


@pytest.fixture
def server() -> Iterator[SheetsServer]:
    with SheetsServer() as s:
        yield s


def _load(server: SheetsServer, n: int) -> list[list[str]]:
    rows = [sheet_row(i) for i in range(n)]
    server.add_sheet(SID, "Buyers", [HEADER, *rows])
    return rows


def _sync(server: SheetsServer, url: str):  # type: ignore[no-untyped-def]
    return cli(
        "sync",
        "--source",
        f"gsheets:{SID}",
        "--sheets-api-url",
        server.url,
        "--db",
        url,
        "--json",
        timeout=180,
    )


@pytest.mark.parametrize("fault", ["429", "500", "503", "truncated", "partial"])
def test_transient_fault_is_retried_and_the_sync_completes(
    server: SheetsServer, url: str, fault: str
) -> None:
    rows = _load(server, SMALL)
    if fault == "429":
        server.fail_next(2, 429, retry_after=1)
    elif fault in ("500", "503"):
        server.fail_next(2, int(fault))
    elif fault == "truncated":
        server.truncate_next(2)
    else:
        server.delay_next(0)  # the metadata request passes; the first values page is cut
        server.partial_next(1)
    out = _sync(server, url)
    assert out.returncode == 0, out.stderr
    # The faulty answers were asked again (one page of data: one good values request).
    assert len(server.metadata_requests()) + len(server.value_requests()) > 2
    with opened(url) as db:
        assert_converged(db, sheet_keys(SMALL))
        assert_invariant(db, json_of(out)["run_id"], rows)


@pytest.mark.parametrize("fault", ["503", "partial"])
def test_persistent_fault_refuses_the_run_and_writes_nothing(
    server: SheetsServer, url: str, fault: str
) -> None:
    _load(server, SMALL)
    if fault == "partial":
        server.delay_next(0)
        server.partial_next(5)  # every attempt the source makes (5 by default)
    else:
        server.fail_next(5, int(fault))
    out = _sync(server, url)
    assert out.returncode == 3, out.stderr
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("buyersync: error: Google Sheets") and "not read whole" in last
    assert "Traceback" not in out.stderr
    with opened(url) as db:
        assert not db.table_exists("buyers") or db.query_value("SELECT count(*) FROM buyers") == 0
        assert "succeeded" not in run_statuses(db).values()


def test_failure_on_a_later_page_writes_nothing_of_the_first(
    server: SheetsServer, url: str
) -> None:
    """Page 1 (10,000 rows) arrives, page 2 keeps failing: page 1 must not be merged."""
    n = PAGE_ROWS + 500
    _load(server, n)
    server.delay_next(0, n=2)  # metadata and page 1 pass
    server.fail_next(5, 503)  # every attempt at page 2
    out = _sync(server, url)
    assert out.returncode == 3, out.stderr
    assert "not read whole" in out.stderr
    with opened(url) as db:
        assert not db.table_exists("buyers") or db.query_value("SELECT count(*) FROM buyers") == 0
    ok = _sync(server, url)  # the API is healthy again
    assert ok.returncode == 0, ok.stderr
    with opened(url) as db:
        assert_converged(db, sheet_keys(n))


def test_timeout_is_retried_then_refused(server: SheetsServer, url: str) -> None:
    """A slow answer times out; retried while it stays slow, then refused with nothing
    written. Run in-process: the CLI's timeout (30 s) is too long for a test."""
    from buyersync.errors import SourceUnavailable
    from buyersync.store import open_database

    rows = _load(server, SMALL)
    source = GoogleSheetsSource(SID, api_url=server.url, timeout=0.5, max_attempts=3, backoff=0.05)
    server.delay_next(0)
    server.delay_next(2.0, n=1)  # one slow answer: retried, then fine
    db = open_database(url)
    try:
        report = SyncEngine(db, source).run()
        assert report.failed == 0 and report.inserted == SMALL
        assert_invariant(db, report.run_id, rows)
        server.delay_next(0)
        server.delay_next(2.0, n=5)  # slow every time: refused
        with pytest.raises(SourceUnavailable, match="not read whole"):
            SyncEngine(
                db,
                GoogleSheetsSource(
                    SID, api_url=server.url, timeout=0.5, max_attempts=3, backoff=0.05
                ),
            ).run()
        assert_converged(db, sheet_keys(SMALL))  # the earlier sync's rows, untouched
    finally:
        db.close()
