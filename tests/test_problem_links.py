"""Every problem links to its cell, the same in `problems --json`, `errors --json`, the
text of `problems` and the API; the page names the sheet and the database it watches.

A Google Sheet (the local stand-in) gives the sheet's own URL with the tab's numeric
sheetId and the A1 range; a file gives its name and the A1 cell. Both databases.
"""

from __future__ import annotations

import json
import subprocess
import warnings
from pathlib import Path
from typing import Any

from buyersync.api import create_app
from buyersync.demo import HEADER, create_legacy_table
from buyersync.redact import database_label
from buyersync.rules.links import cell_link, column_index, place_of, place_of_source
from buyersync.settings import Settings
from buyersync.store import open_database
from buyersync.testing import SheetsServer
from tests.helpers import doc_of, run_cli, write_csv

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient

SHEETS = "https://docs.google.com/spreadsheets/d/"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=120)


def _group(doc: dict[str, Any], category: str) -> dict[str, Any]:
    return next(g for g in doc["groups"] if g["category"] == category)


def test_google_sheet_problems_link_to_their_cell(db_url: str) -> None:
    rows = [["Buyer Number", "name", "city"]] + [[f"K{i:02d}", f"n{i}", "Kyoto"] for i in range(8)]
    rows[4] = ["", "no key", "Nara"]  # sheet row 5: the key cell A5 is empty
    rows.append(["K01", "again", "Kobe"])  # sheet row 10 repeats K01 (a row problem)
    with SheetsServer() as server:
        server.add_sheet("bookX", "Other", [["a"], ["b"]])
        gid = server.add_sheet("bookX", "Buyers", rows, sheet_id=777001)
        common = ["--db", db_url, "--json"]
        src = ["--source", "gsheets:bookX", "--sheet", "Buyers", "--sheets-api-url", server.url]
        synced = cli("sync", *src, *common)
        assert synced.returncode == 1, synced.stderr

        problems = doc_of(cli("problems", *common))
        empty = _group(problems, "validation")["link"]
        assert empty == {
            "cell": "A5",
            "where": "Buyers!A5",
            "url": f"{SHEETS}bookX/edit#gid={gid}&range=A5",
        }
        dup = _group(problems, "duplicate_key")["link"]
        assert dup["url"] == f"{SHEETS}bookX/edit#gid={gid}&range=10:10"
        assert {p["link"]["cell"] for p in problems["problems"]} == {"A5", "10:10"}

        errors = doc_of(cli("errors", *common))
        by_row = {e["row_number"]: e["link"] for e in errors["errors"]}
        assert by_row[5] == empty and by_row[10] == dup

        text = cli("problems", "--db", db_url)
        assert "cell: Buyers!A5" in text.stdout
        assert f"open: {SHEETS}bookX/edit#gid={gid}&range=A5" in text.stdout

        client = TestClient(
            create_app(Settings(database_url=db_url, source="gsheets:bookX", sheet="Buyers")),
            base_url="http://localhost",
        )
        dash = client.get("/api/dashboard").json()
        api_errors = client.get("/api/errors").json()
    page = {g["category"]: g["link"] for g in dash["problems"]}
    assert page["validation"] == empty and page["duplicate_key"] == dup
    assert {e["row_number"]: e["link"] for e in api_errors["errors"]}[5] == empty
    sheet = dash["watching"]["sheet"]
    assert sheet["url"] == f"{SHEETS}bookX/edit#gid={gid}" and sheet["tab"] == "Buyers"
    database = dash["watching"]["database"]
    assert database == database_label(db_url)
    shown = json.dumps(dash["watching"])
    assert "postgres@" not in shown and "://" not in shown.replace(SHEETS, "")


def test_file_problems_name_the_file_and_the_cell(db_url: str, tmp_path: Path) -> None:
    with open_database(db_url) as db:
        create_legacy_table(db)  # every text column VARCHAR(50)
    values = [[f"B{i}", "n", "e", "p", "c", "street", ""] for i in range(1, 6)]
    values[2][5] = "x" * 80  # sheet row 4, address (column F) too long
    sheet = write_csv(tmp_path / "buyers.csv", HEADER, values)
    common = ["--db", db_url, "--json"]
    assert cli("sync", "--source", str(sheet), *common).returncode == 1

    problems = doc_of(cli("problems", *common))
    link = _group(problems, "value_too_long")["link"]
    assert link == {"cell": "F4", "where": "buyers.csv!F4", "url": None}
    errors = doc_of(cli("errors", *common))
    assert [e["link"] for e in errors["errors"]] == [link]
    assert "cell: buyers.csv!F4" in cli("problems", "--db", db_url).stdout


def test_links_and_labels_pure() -> None:
    place = place_of("gsheets:abc[My Tab]", gid=42)
    assert place is not None and place.url == f"{SHEETS}abc/edit#gid=42"
    assert cell_link(place, 2, 7) == {
        "cell": "C7",
        "where": "My Tab!C7",
        "url": f"{SHEETS}abc/edit#gid=42&range=C7",
    }
    assert place_of("gsheets:abc#gid=9") == place_of_source(f"{SHEETS}abc/edit#gid=9")
    assert column_index(None, {"cells": [{"column": "name", "cell": "AB12"}]}, {}) == 27
    assert column_index("B", {}, {}) == 1 and column_index("City", {}, {"city": 4}) == 4
    named = place_of("gsheets:abc[range]", gid=1, first_column=3)
    assert cell_link(named, 0, 2) == {
        "cell": "D2",
        "where": "range!D2",
        "url": f"{SHEETS}abc/edit#gid=1&range=D2",
    }
    assert cell_link(place_of("xlsx:b.xlsx[S1]"), None, 3) == {
        "cell": "3:3",
        "where": "b.xlsx [S1]!3:3",
        "url": None,
    }
    pg = database_label("postgresql://alice:s3cret@db.example.com:6543/buyers?sslmode=require")
    assert pg["label"] == "db.example.com/buyers"
    assert "alice" not in json.dumps(pg) and "s3cret" not in json.dumps(pg)
    assert database_label("sqlite:////var/lib/buyersync/b.db")["label"] == "SQLite b.db"
    kv = database_label("host=db.internal dbname=buyers user=bob password=pw")
    assert kv["label"] == "db.internal/buyers" and "bob" not in json.dumps(kv)


def test_page_alerts_follow_the_state_now_not_the_last_check(db_url: str, tmp_path: Path) -> None:
    """After sync-missing repairs what the last sync and check saw, the page's alerts,
    missing count and error rate are those of now; the history keeps the check."""
    rows = [[f"B{i}", "bad\x00" if i in (3, 7) else f"n{i}"] for i in range(1, 11)]
    sheet = write_csv(tmp_path / "buyers.csv", ("buyer_number", "name"), rows)
    common = ["--db", db_url, "--source", str(sheet), "--json"]
    assert cli("sync", *common).returncode == 1
    checked = doc_of(cli("health", "--no-alerts", *common))
    assert {a["condition"] for a in checked["alerts"]} == {"missing_buyers", "error_rate"}
    client = TestClient(
        create_app(Settings(database_url=db_url, source=str(sheet))), base_url="http://localhost"
    )
    before = client.get("/api/dashboard").json()
    assert {a["condition"] for a in before["present_alerts"]} == {"missing_buyers", "error_rate"}
    assert before["now"]["missing_count"] == 2 and before["healthy_now"] is False
    assert 'buyersync_open_problems{category="data_format"} 2.0' in client.get("/metrics").text

    write_csv(sheet, ("buyer_number", "name"), [[k, f"fixed {k}"] for k, _ in rows])
    assert cli("sync-missing", *common).returncode == 0
    after = client.get("/api/dashboard").json()
    assert after["alerts"] == [] and after["present_alerts"] == []
    assert after["healthy_now"] is True and after["problems"] == []
    assert after["now"]["missing_count"] == 0 and after["now"]["error_rate"] == 0
    assert after["resolved_problems"] == 2
    # The last check's numbers stay in the history.
    assert after["missing_count"] == 2 and after["error_rate"] == 0.2


def test_verification_report_names_the_cells(db_url: str) -> None:
    rows = [["Buyer Number", "name", "city"]] + [[f"K{i:02d}", f"n{i}", "Kyoto"] for i in range(6)]
    with SheetsServer() as server:
        server.add_sheet("bookV", "Other", [["a"]])
        gid = server.add_sheet("bookV", "Buyers", rows, sheet_id=424242)
        src = ["--source", "gsheets:bookV", "--sheet", "Buyers", "--sheets-api-url", server.url]
        assert cli("sync", *src, "--db", db_url).returncode == 0
        with open_database(db_url) as db:
            db.execute("DELETE FROM buyers WHERE buyer_number = 'K02'")  # sheet row 4
            db.execute("UPDATE buyers SET name = 'changed' WHERE buyer_number = 'K04'")  # row 6
        doc = doc_of(cli("verify", "--full", *src, "--db", db_url, "--json"))
        text = cli("verify", "--full", *src, "--db", db_url).stdout
    cells = doc["cells"]
    assert cells["sheet"]["url"] == f"{SHEETS}bookV/edit#gid={gid}"
    assert cells["missing"] == [
        {
            "buyer_number": "K02",
            "row_number": 4,
            "link": {
                "cell": "A4",
                "where": "Buyers!A4",
                "url": f"{SHEETS}bookV/edit#gid={gid}&range=A4",
            },
        }
    ]
    (mismatch,) = cells["mismatches"]
    assert mismatch["column"] == "name" and mismatch["link"]["cell"] == "B6"
    assert f"open:     {SHEETS}bookV/edit#gid={gid}&range=B6" in text
    assert f"row 4: K02  {SHEETS}bookV/edit#gid={gid}&range=A4" in text
