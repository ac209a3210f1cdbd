"""Google Sheets reader against the local stand-in server (buyersync.testing)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from buyersync.errors import ConfigError, ErrorCategory, SourceError, SourceUnavailable
from buyersync.records import SheetRow
from buyersync.sources import open_source
from buyersync.sources.gsheets import GoogleSheetsSource
from buyersync.testing import SheetsServer, write_service_account


@pytest.fixture
def server() -> Iterator[SheetsServer]:
    with SheetsServer() as s:
        yield s


def source(server: SheetsServer, sid: str = "book", **kw: object) -> GoogleSheetsSource:
    kw.setdefault("backoff", 0.05)
    return GoogleSheetsSource(sid, api_url=server.url, **kw)  # type: ignore[arg-type]


def buyers(n: int) -> list[list[str]]:
    return [["buyer_number", "name", "phone"]] + [
        [f"{i:07d}", f"Buyer {i}", f"0{i % 900 + 100}"] for i in range(1, n + 1)
    ]


def test_25000_rows_in_three_value_requests(server: SheetsServer) -> None:
    server.add_sheet("book", "Buyers", buyers(25_000))
    data = source(server).read()
    rows = list(data.rows)
    assert data.header == ("buyer_number", "name", "phone")
    assert len(rows) == 25_000
    assert rows[0] == SheetRow(2, ("0000001", "Buyer 1", "0101"))  # leading zeros kept
    assert rows[-1].row_number == 25_001 and rows[-1].values[0] == "0025000"
    assert len(server.value_requests()) == 3
    assert len(server.metadata_requests()) == 1


def test_ragged_rows_blank_rows_and_header_row(server: SheetsServer) -> None:
    server.add_sheet(
        "book",
        "Sheet1",
        [
            ["Buyers list"],
            [],
            ["buyer_number", "name", "city"],
            ["1", "A"],
            [],
            ["2", "B", "Kobe", "extra"],
            ["3"],
        ],
    )
    data = source(server, header_row=3).read()
    assert data.header == ("buyer_number", "name", "city")
    assert list(data.rows) == [
        SheetRow(4, ("1", "A", "")),
        SheetRow(5, ("", "", "")),
        SheetRow(
            6, ("2", "B", "Kobe"), ((3, "cell D6 holds a value but its column has no header"),)
        ),
        SheetRow(7, ("3", "", "")),
    ]
    # The title block above the header is never fetched.
    assert all("A1:" not in r.path for r in server.value_requests())


def test_blank_rows_across_a_page_boundary_do_not_end_the_read(server: SheetsServer) -> None:
    rows = buyers(9_995) + [[]] * 10 + [["late", "x", "y"]]
    server.add_sheet("book", "Sheet1", rows, row_count=30_000)
    got = list(source(server).read().rows)
    assert got[-1] == SheetRow(10_007, ("late", "x", "y"))
    assert len(server.value_requests()) == 2  # a full page, then the rest in one request


def test_sheet_by_name_with_emoji_and_quote(server: SheetsServer) -> None:
    server.add_sheet("book", "Sheet1", [["other"]])
    server.add_sheet("book", "🌵 Tom's buyers", [["buyer_number"], ["42"]])
    data = source(server, sheet="🌵 Tom's buyers").read()
    assert list(data.rows) == [SheetRow(2, ("42",))]
    assert "'🌵 Tom''s buyers'!A1:" in server.value_requests()[0].path
    with pytest.raises(ConfigError) as info:
        source(server, sheet="Nope").read()
    assert "🌵 Tom's buyers" in str(info.value) and "'Sheet1'" in str(info.value)


def test_gid_and_first_visible_sheet(server: SheetsServer) -> None:
    server.add_sheet("book", "Hidden", [["secret"]], hidden=True, sheet_id=0)
    server.add_sheet("book", "Visible", [["buyer_number"], ["1"]], sheet_id=11)
    gid = server.add_sheet("book", "Third", [["buyer_number"], ["3"]], sheet_id=77)
    assert source(server).read().header == ("buyer_number",)
    assert [r.values for r in source(server, gid=gid).read().rows] == [("3",)]
    url = f"https://docs.google.com/spreadsheets/d/book/edit#gid={gid}"
    made = open_source(url, sheets_api_url=server.url)
    assert isinstance(made, GoogleSheetsSource) and made.gid == 77
    with pytest.raises(ConfigError, match="no sheet with gid 5"):
        source(server, gid=5).read()


def test_429_with_retry_after_then_success(server: SheetsServer) -> None:
    server.add_sheet("book", "Sheet1", buyers(3))
    server.fail_next(2, status=429, retry_after=1)
    started = time.monotonic()
    rows = list(source(server).read().rows)
    assert len(rows) == 3
    assert time.monotonic() - started >= 2.0  # both Retry-After: 1 waits were honoured


@pytest.mark.parametrize("status", [500, 503])
def test_5xx_then_success(server: SheetsServer, status: int) -> None:
    server.add_sheet("book", "Sheet1", buyers(3))
    server.fail_next(2, status=status)
    assert len(list(source(server).read().rows)) == 3
    assert len(server.metadata_requests()) == 3


def test_persistent_429_is_a_rate_limit(server: SheetsServer) -> None:
    server.add_sheet("book", "Sheet1", buyers(3))
    server.fail_next(10, status=429, retry_after=0)
    with pytest.raises(SourceUnavailable) as info:
        source(server, max_attempts=3).read()
    assert info.value.category is ErrorCategory.RATE_LIMIT
    assert "429" in str(info.value) and "3 attempts" in str(info.value)
    assert len(server.requests) == 3


def test_persistent_503_is_source_unavailable(server: SheetsServer) -> None:
    server.add_sheet("book", "Sheet1", buyers(3))
    server.fail_next(10, status=503)
    with pytest.raises(SourceUnavailable) as info:
        source(server, max_attempts=2).read()
    assert info.value.category is ErrorCategory.SOURCE_UNAVAILABLE


def test_timeout_is_retried(server: SheetsServer) -> None:
    server.add_sheet("book", "Sheet1", buyers(3))
    server.delay_next(1.5)
    rows = list(source(server, timeout=0.5).read().rows)
    assert len(rows) == 3
    assert len(server.metadata_requests()) == 2


def test_truncated_json_is_never_the_whole_sheet(server: SheetsServer) -> None:
    server.add_sheet("book", "Sheet1", buyers(15_000))
    data = source(server, max_attempts=2).read()
    server.truncate_next(1)
    assert len(list(data.rows)) == 15_000  # the second page was cut once, retried, whole
    data = source(server, max_attempts=2).read()
    server.truncate_next(5)
    seen = 0
    with pytest.raises(SourceUnavailable, match="not complete JSON") as info:
        for _row in data.rows:
            seen += 1
    assert seen < 15_000 and "not read whole" in str(info.value)


def test_partial_range_is_never_the_whole_sheet(server: SheetsServer) -> None:
    server.add_sheet("book", "Sheet1", buyers(50))
    server.partial_next(1)
    # The header page is the first values request: it comes back short, is retried.
    assert len(list(source(server).read().rows)) == 50
    server.partial_next(5)
    with pytest.raises(SourceUnavailable, match="partial range"):
        source(server, max_attempts=3).read()


def test_not_found_and_unauthorized(server: SheetsServer, tmp_path: Path) -> None:
    with pytest.raises(SourceUnavailable) as info:
        source(server, sid="missing").read()
    assert "not found" in str(info.value) and "spreadsheet id" in str(info.value)
    with SheetsServer(require_auth=True) as strict:
        strict.add_sheet("book", "Sheet1", buyers(1))
        with pytest.raises(SourceUnavailable, match="share the sheet"):
            source(strict).read()


def test_read_column_fetches_one_column(server: SheetsServer) -> None:
    server.add_sheet("book", "Sheet1", buyers(25_000))
    header, values = source(server).read_column(0)
    got = list(values)
    assert header == ("buyer_number", "name", "phone")
    assert len(got) == 25_000 and got[0] == (2, "0000001")
    paths = [r.path for r in server.value_requests()]
    assert len(paths) == 2  # the header row, then the whole column in one request
    assert paths[1].endswith("!A2:A1000") or "!A2:A25001" in paths[1]


def test_token_flow_with_a_service_account(tmp_path: Path) -> None:
    with SheetsServer(require_auth=True) as strict:
        strict.add_sheet("book", "Sheet1", buyers(2))
        key = write_service_account(tmp_path / "sa.json", strict.token_uri)
        data = GoogleSheetsSource("book", api_url=strict.url, credentials_file=str(key)).read()
        assert len(list(data.rows)) == 2
        assert strict.token_requests == 1
        assert strict.requests and all(r.authorized for r in strict.requests)


def test_credentials_are_required_off_loopback(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOOGLE_APPLICATION_CREDENTIALS", raising=False)
    with pytest.raises(ConfigError, match="GOOGLE_APPLICATION_CREDENTIALS"):
        GoogleSheetsSource("book", api_url="https://sheets.googleapis.com")
    with pytest.raises(ConfigError, match="does not exist"):
        GoogleSheetsSource("book", credentials_file="/nonexistent/sa.json")


def cassette(realdata: Path, name: str) -> Path:
    return realdata / "sheets-api" / f"gspread__{name}.json"


def test_replay_get_all_records(realdata: Path, server: SheetsServer) -> None:
    (sid,) = server.load_cassette(cassette(realdata, "WorksheetTest.test_get_all_records"))
    data = source(server, sid=sid).read()
    assert data.header == ("A1", "B1", "", "D1")
    assert list(data.rows) == [
        SheetRow(2, ("1", "b2", "1.45", "")),
        SheetRow(3, ("", "", "", "")),
        SheetRow(4, ("A4", "0.4", "", "4")),
    ]


def test_replay_header_on_row_3(realdata: Path, server: SheetsServer) -> None:
    (sid,) = server.load_cassette(
        cassette(realdata, "WorksheetTest.test_get_all_records_different_header")
    )
    data = source(server, sid=sid, header_row=3).read()
    assert data.header == ("A1", "B1", "", "D1")
    rows = list(data.rows)
    assert [r.row_number for r in rows] == [4, 5, 6]
    assert rows[1].values == ("", "", "", "")


def test_replay_duplicate_headers_come_back_as_is(realdata: Path, server: SheetsServer) -> None:
    (sid,) = server.load_cassette(
        cassette(realdata, "WorksheetTest.test_get_all_records_duplicate_keys")
    )
    assert source(server, sid=sid).read().header == ("A1", "faff", "C3", "faff")


def test_replay_merged_cells_and_emoji_sheet(realdata: Path, server: SheetsServer) -> None:
    (sid,) = server.load_cassette(
        cassette(realdata, "WorksheetTest.test_get_values_and_combine_merged_cells")
    )
    data = source(server, sid=sid).read()
    assert data.header == ("1",)
    assert [r.problems != () for r in data.rows] == [True, True, True]
    sids = server.load_cassette(cassette(realdata, "SpreadsheetTest.test_values_batch_get"))
    data = source(server, sid=sids[0], sheet="🌵 test_values_batch_get 1").read()
    assert data.header == ("🍇", "🍉", "🍋")


def test_replay_hidden_sheet_and_404(realdata: Path, server: SheetsServer) -> None:
    sids = server.load_cassette(
        cassette(realdata, "SpreadsheetTest.test_worksheets_exclude_hidden")
    )
    with pytest.raises(SourceError, match="no header row"):
        source(server, sid=sids[0], sheet="gacha").read()  # hidden and empty, but named
    assert source(server, sid=sids[0]).description.endswith(sids[0])
    server.load_cassette(cassette(realdata, "ClientTest.test_access_non_existing_spreadsheet"))
    with pytest.raises(SourceUnavailable, match="not found"):
        source(server, sid="test").read()


def test_an_answer_that_names_no_range_is_read_whole(server: SheetsServer) -> None:
    server.add_sheet("book", "Buyers", buyers(12_000))
    server.omit_range = True
    rows = list(source(server).read().rows)
    assert len(rows) == 12_000 and rows[-1].values[0] == "0012000"


def test_metadata_without_grid_size_still_reads_every_row_and_column(server: SheetsServer) -> None:
    wide = [[f"h{c}" for c in range(30)]] + [
        [f"{r:05d}"] + [f"v{r}-{c}" for c in range(1, 30)] for r in range(1, 12_001)
    ]
    wide[0][0] = "buyer_number"
    server.add_sheet("book", "Wide", wide)
    server.omit_grid = True
    server.omit_range = True
    data = source(server).read()
    rows = list(data.rows)
    assert len(data.header) == 30 and data.header[-1] == "h29"
    assert len(rows) == 12_000 and rows[-1].values[-1] == "v12000-29"
