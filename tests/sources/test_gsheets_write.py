"""The write client (notes, the problems tab) against the stand-in, and the stand-in's
write side against Google's recorded answers and documented error shapes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from buyersync.errors import SourceUnavailable
from buyersync.sources.gsheets import SCOPES
from buyersync.sources.gsheets_write import (
    MAX_BATCH_BYTES,
    SheetsWriter,
    note_request,
    split_batches,
    tab_requests,
)
from buyersync.testing import SheetsServer, write_service_account

CASSETTES = "sheets-api"


@pytest.fixture
def server() -> Iterator[SheetsServer]:
    with SheetsServer() as s:
        yield s


def writer(server: SheetsServer, sid: str = "book", **kw: Any) -> SheetsWriter:
    return SheetsWriter(sid, api_url=server.url, sleep=lambda s: None, **kw)


def post(server: SheetsServer, sid: str, body: Any, token: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.post(f"{server.url}/v4/spreadsheets/{sid}:batchUpdate", json=body, headers=headers)


def _recorded_batch_updates(
    path: Path,
) -> list[tuple[str, dict[str, Any], int, dict[str, Any]]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for it in data["interactions"]:
        req, resp = it["request"], it["response"]
        if req["method"] == "POST" and req["uri"].endswith(":batchUpdate"):
            body = req["body"] if isinstance(req["body"], str) else req["body"].decode()
            answer = resp["body"]["string"]
            sid = req["uri"].split("/spreadsheets/")[1].split(":")[0]
            out.append((sid, json.loads(body), resp["status"]["code"], json.loads(answer)))
    return out


def _shape(value: Any) -> Any:
    """Keys and types, not values (Google picks the new sheetIds)."""
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_shape(v) for v in value]
    return type(value).__name__


@pytest.mark.parametrize(
    "name",
    [
        "gspread__SpreadsheetTest.test_values_batch_get.json",
        "gspread__SpreadsheetTest.test_worksheets_exclude_hidden.json",
        "gspread__WorksheetTest.test_get_all_records.json",
    ],
)
def test_recorded_batch_updates_get_googles_answers(
    server: SheetsServer, realdata: Path, name: str
) -> None:
    """Each recorded addSheet / updateSheetProperties / deleteSheet request, replayed
    against a stand-in holding the spreadsheet as it was before, gets Google's status
    and an answer of the recorded shape; the ids Google returned are reused."""
    recorded = _recorded_batch_updates(realdata / CASSETTES / name)
    assert recorded
    ids: dict[int, int] = {}
    for sid, body, status, answer in recorded:
        if sid not in server.spreadsheets:  # each recording made a new spreadsheet
            server.add_sheet(sid, "Sheet1", [["x"]], sheet_id=0)
        text = json.dumps(body)
        for theirs, ours in ids.items():
            text = text.replace(str(theirs), str(ours))
        got = post(server, sid, json.loads(text))
        assert got.status_code == status, got.text
        doc = got.json()
        assert _shape(doc) == _shape(answer)
        assert doc["spreadsheetId"] == sid
        for mine, theirs_reply in zip(doc["replies"], answer["replies"], strict=True):
            if "addSheet" in theirs_reply:
                theirs_props = theirs_reply["addSheet"]["properties"]
                mine_props = mine["addSheet"]["properties"]
                assert {k: v for k, v in mine_props.items() if k != "sheetId"} == {
                    k: v for k, v in theirs_props.items() if k != "sheetId"
                }
                ids[theirs_props["sheetId"]] = mine_props["sheetId"]
    meta = httpx.get(f"{server.url}/v4/spreadsheets/{recorded[-1][0]}").json()
    if "exclude_hidden" in name:
        hidden = [s["properties"]["title"] for s in meta["sheets"] if s["properties"].get("hidden")]
        assert hidden == ["gacha"]  # as the recorded spreadsheets.get shows it
    if "get_all_records" in name:
        grid = meta["sheets"][0]["properties"]["gridProperties"]
        assert grid == {"rowCount": 4, "columnCount": 4}


def test_errors_have_googles_shape_and_a_batch_is_all_or_nothing(server: SheetsServer) -> None:
    server.add_sheet("book", "Buyers", [["buyer_number"], ["B1"]], sheet_id=0)
    good = note_request(0, (2, 0), "buyersync: hello")

    def error_of(body: Any) -> dict[str, Any]:
        got = post(server, "book", body)
        assert got.status_code == 400, got.text
        err = got.json()["error"]
        assert set(err) == {"code", "message", "status"} and err["status"] == "INVALID_ARGUMENT"
        return err

    no_fields = {"updateCells": {**good["updateCells"]}}
    del no_fields["updateCells"]["fields"]
    assert "fields" in error_of({"requests": [good, no_fields]})["message"]
    assert server.notes("book", "Buyers") == {}  # the good request of that batch was not applied
    assert "No grid with id: 7" in error_of({"requests": [note_request(7, (2, 0), "x")]})["message"]
    assert 'Unknown name "paste"' in error_of({"requests": [{"paste": {}}]})["message"]
    beyond = note_request(0, (5000, 0), "x")
    assert "exceeds grid limits" in error_of({"requests": [beyond]})["message"]
    dup = tab_requests("Buyers", [["a"]], existing=None, new_sheet_id=5)
    assert "already exists" in error_of({"requests": dup})["message"]
    huge = {"requests": [note_request(0, (2, 0), "x" * 11_000_000)]}
    assert "payload size exceeds the limit" in error_of(huge)["message"]
    missing = post(server, "nope", {"requests": [good]})
    assert missing.status_code == 404 and missing.json()["error"]["status"] == "NOT_FOUND"


def test_a_read_only_token_is_refused_with_permission_denied(
    server: SheetsServer, tmp_path: Path
) -> None:
    server.require_auth = True
    server.add_sheet("book", "Buyers", [["buyer_number"], ["B1"]], sheet_id=0)
    key = write_service_account(tmp_path / "sa.json", server.token_uri)

    class ReadOnly(SheetsWriter):
        scopes = tuple(SCOPES)

    with pytest.raises(SourceUnavailable) as refused:
        ReadOnly("book", api_url=server.url, credentials_file=str(key)).batch_update(
            [note_request(0, (2, 0), "buyersync: x")]
        )
    assert "HTTP 403: Request had insufficient authentication scopes." in str(refused.value)
    assert "https://www.googleapis.com/auth/spreadsheets" in (refused.value.hint or "")
    assert server.notes("book", "Buyers") == {}
    # The writer asks for the read-write scope, and its write goes through.
    w = writer(server, credentials_file=str(key))
    calls, replies = w.batch_update([note_request(0, (2, 0), "buyersync: x")])
    assert (calls, replies) == (1, [{}])
    assert server.notes("book", "Buyers") == {"A2": "buyersync: x"}


def test_notes_are_read_back_through_a_note_only_field_mask(server: SheetsServer) -> None:
    rows = [["buyer_number", "name", "notes"]] + [[f"B{i}", "n", ""] for i in range(1, 30)]
    server.add_sheet("book", "Buyers", rows, sheet_id=0)
    server.set_note("book", "Buyers", "C7", "buyersync: too long")
    server.set_note("book", "Buyers", "A20", "a person's")
    w = writer(server)
    tab = w.locate()
    assert w.read_notes(tab, 2, tab.last_row, 3) == {
        (7, 2): "buyersync: too long",
        (20, 0): "a person's",
    }
    asked = [r for r in server.requests if r.query.get("includeGridData")]
    assert asked and asked[0].query["fields"] == [
        "sheets(properties(sheetId,title),data(startRow,startColumn,rowData(values(note))))"
    ]
    # The answer has Google's grid shape: startRow, rowData with {} for rows without notes.
    got = httpx.get(
        f"{server.url}/v4/spreadsheets/book",
        params={"ranges": "Buyers!A2:C10", "includeGridData": "true", "fields": "x(note)"},
    ).json()
    data = got["sheets"][0]["data"][0]
    assert data["startRow"] == 1 and "startColumn" not in data
    assert data["rowData"][:5] == [{}, {}, {}, {}, {}]
    assert data["rowData"][5] == {"values": [{}, {}, {"note": "buyersync: too long"}]}


def test_writes_are_retried_under_the_read_policy(server: SheetsServer) -> None:
    server.add_sheet("book", "Buyers", [["buyer_number"], ["B1"]], sheet_id=0)
    server.fail_next(1, 503)
    server.fail_next(1, 429, retry_after=0)
    calls, _ = writer(server).batch_update([note_request(0, (2, 0), "buyersync: x")])
    assert calls == 1 and len(server.write_requests()) == 3
    assert server.notes("book", "Buyers") == {"A2": "buyersync: x"}


def test_a_write_that_keeps_failing_says_it_was_not_applied(server: SheetsServer) -> None:
    server.add_sheet("book", "Buyers", [["buyer_number"], ["B1"]], sheet_id=0)
    server.fail_next(5, 503)
    with pytest.raises(SourceUnavailable) as failed:
        writer(server, max_attempts=3).batch_update([note_request(0, (2, 0), "buyersync: x")])
    assert "failed after 3 attempts" in str(failed.value)
    assert "this batchUpdate was not applied" in str(failed.value)
    assert "not read whole" not in str(failed.value)


def test_large_write_backs_are_split_under_googles_recommended_size() -> None:
    requests = [note_request(0, (r, 2), "buyersync: " + "x" * 490) for r in range(2, 10_002)]
    chunks = list(split_batches(requests))
    assert [r for c in chunks for r in c] == requests  # in order, none lost
    size = [len(json.dumps({"requests": c}, ensure_ascii=False)) for c in chunks]
    assert max(size) <= MAX_BATCH_BYTES
    # As few calls as the size allows: no chunk could have taken the next one's first.
    for chunk, after in zip(chunks, chunks[1:], strict=False):
        assert len(json.dumps({"requests": [*chunk, after[0]]})) > MAX_BATCH_BYTES
    assert len(chunks) == 4  # 7 MB of notes
