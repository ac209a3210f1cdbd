"""The Google Sheets reader tells the truth about every cell, driven through the CLI.

Error values, section rows from merges, completeness against the key column,
Application Default Credentials and named ranges, on SQLite and PostgreSQL, against the
local stand-in server.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from buyersync.sources.gsheets import METADATA_FIELDS
from buyersync.store import open_database
from buyersync.testing import SheetsServer, write_authorized_user
from tests.helpers import run_cli

HEADER = ["buyer_number", "name", "city"]


def run_without_google_credentials(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env, timeout=timeout, unset=("GOOGLE_APPLICATION_CREDENTIALS",))


@pytest.fixture
def server() -> Iterator[SheetsServer]:
    with SheetsServer() as s:
        yield s


def common(server: SheetsServer, db_url: str, sid: str = "book") -> list[str]:
    return ["--source", f"gsheets:{sid}", "--sheets-api-url", server.url, "--db", db_url]


def stored(db_url: str) -> dict[str, dict]:
    with open_database(db_url) as db:
        if not db.table_exists("buyers"):
            return {}
        return {r["buyer_number"]: r for r in db.query("SELECT * FROM buyers")}


def logged(db_url: str) -> list[dict]:
    with open_database(db_url) as db:
        return db.query(
            "SELECT row_number, buyer_number, error_type, error_message FROM sync_error_log "
            "ORDER BY row_number"
        )


def test_error_values_are_logged_per_cell_like_xlsx(server: SheetsServer, db_url: str) -> None:
    server.add_sheet(
        "book",
        "Sheet1",
        [
            HEADER,
            ["B1", "Ann", "Kyoto"],
            ["B2", "#N/A", "Osaka"],
            ["#REF!", "Cid", "Nara"],
            ["B4", "Dee", "#DIV/0!"],
            ["B5", "#ERROR!", "#SPILL!"],
        ],
    )
    out = run_without_google_credentials("sync", *common(server, db_url), "--json")
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert doc["inserted"] == 1 and doc["failed"] == 4
    assert set(stored(db_url)) == {"B1"}  # no error text stored as a value
    entries = {e["row_number"]: e for e in logged(db_url)}
    assert entries[3]["error_type"] == "data_format"
    assert "cell B3 holds the error #N/A" in entries[3]["error_message"]
    # The key cell's error is named as such, not as an empty cell.
    assert entries[4]["error_type"] == "data_format"
    assert "cell A4 holds the error #REF!" in entries[4]["error_message"]
    assert "empty" not in entries[4]["error_message"]
    assert "cell C5 holds the error #DIV/0!" in entries[5]["error_message"]
    assert "B6 holds the error #ERROR!" in entries[6]["error_message"]
    assert "C6 holds the error #SPILL!" in entries[6]["error_message"]


def test_merged_section_rows_are_counted_not_stored(server: SheetsServer, db_url: str) -> None:
    server.add_sheet(
        "book",
        "Sheet1",
        [
            HEADER,
            ["Tools", "", ""],
            ["B1", "Ann", "Kyoto"],
            ["B2", "Bob", ""],
            ["Garden", "", ""],
            ["B3", "Cid", "Nara"],
            ["B4", "Dee", "Nara"],
        ],
        merges=["A2:C2", "A5:C5", "C3:C4"],
    )
    out = run_without_google_credentials("sync", *common(server, db_url), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert doc["section_rows"] == 2 and doc["rows_read"] == 4 and doc["skipped_blank"] == 0
    assert set(stored(db_url)) == {"B1", "B2", "B3", "B4"}
    assert any("2 section row(s) skipped" in w and "rows 2, 5" in w for w in doc["warnings"])
    assert any("merged range(s) inside the table (C3:C4)" in w for w in doc["warnings"])
    text = run_without_google_credentials("sync", *common(server, db_url))
    assert "section rows skipped" in text.stdout and "2" in text.stdout
    # The checks that read the sheet do not take the titles for missing buyers.
    assert run_without_google_credentials("missing", *common(server, db_url)).returncode == 0
    assert run_without_google_credentials("health", *common(server, db_url)).returncode == 0
    fields = [r.query.get("fields", [""])[0] for r in server.metadata_requests()]
    assert fields and set(fields) == {METADATA_FIELDS}


def test_rows_that_disagree_with_the_key_column_stop_the_sync(
    server: SheetsServer, db_url: str
) -> None:
    rows = [HEADER] + [[f"B{i}", f"N{i}", "x"] for i in range(1, 11)]
    server.add_sheet("book", "Sheet1", rows)
    server.blank_next(1)  # the answer keeps only its first (header) and last rows
    out = run_without_google_credentials("sync", *common(server, db_url), "--json")
    assert out.returncode == 3, (out.stdout, out.stderr)
    assert "the rows returned hold 1 buyer numbers but column A read on its own holds 10" in (
        out.stderr
    )
    assert stored(db_url) == {}
    with open_database(db_url) as db:
        (run_row,) = db.query("SELECT status, message FROM sync_runs")
    assert run_row["status"] == "failed" and "inconsistently" in run_row["message"]
    # Once Google answers consistently again, the same sync succeeds.
    assert run_without_google_credentials("sync", *common(server, db_url)).returncode == 0
    assert len(stored(db_url)) == 10


def test_application_default_credentials_authorized_user(tmp_path: Path, db_url: str) -> None:
    with SheetsServer(require_auth=True) as strict:
        strict.add_sheet("book", "Sheet1", [HEADER, ["B1", "Ann", "Kyoto"]])
        gcloud = tmp_path / "gcloud"
        gcloud.mkdir()
        # Where gcloud auth application-default login writes it: no key file is named.
        write_authorized_user(gcloud / "application_default_credentials.json", strict.token_uri)
        out = run_without_google_credentials(
            "sync", *common(strict, db_url), env={"CLOUDSDK_CONFIG": str(gcloud)}
        )
        assert out.returncode == 0, out.stderr
        assert strict.token_requests == 1
        assert all(r.authorized for r in strict.requests)
        # The same file named by GOOGLE_APPLICATION_CREDENTIALS.
        named = write_authorized_user(tmp_path / "user.json", strict.token_uri)
        out = run_without_google_credentials(
            "sync",
            *common(strict, db_url),
            env={"GOOGLE_APPLICATION_CREDENTIALS": str(named), "CLOUDSDK_CONFIG": str(tmp_path)},
        )
        assert out.returncode == 0, out.stderr
        assert strict.token_requests == 2
        assert "refresh_token" not in out.stderr and "client_secret" not in out.stderr
    assert set(stored(db_url)) == {"B1"}


def test_no_credentials_anywhere_says_what_was_tried(tmp_path: Path, db_url: str) -> None:
    env = {
        "CLOUDSDK_CONFIG": str(tmp_path),
        # No metadata server: a closed port on this machine, refused at once.
        "GCE_METADATA_HOST": "127.0.0.1:9",
        "GCE_METADATA_IP": "127.0.0.1:9",
    }
    out = run_without_google_credentials(
        "sync", "--source", "gsheets:book", "--db", db_url, env=env
    )
    assert out.returncode == 2, out.stderr
    assert "no Google credentials found; tried: GOOGLE_APPLICATION_CREDENTIALS (not set)" in (
        out.stderr
    )
    assert "application-default credentials file" in out.stderr
    assert "metadata server" in out.stderr
    assert "gcloud auth application-default login" in out.stderr
    assert stored(db_url) == {}


def test_a_named_range_is_read_where_a_sheet_name_is(server: SheetsServer, db_url: str) -> None:
    server.add_sheet(
        "book",
        "Sheet1",
        [
            ["Buyer list, exported 2026-11-30", "", "", "", ""],
            ["", "", "", "", ""],
            ["notes", *HEADER, "other"],
            ["x", "B1", "Ann", "Kyoto", "not in the range"],
            ["x", "B2", "#N/A", "Osaka", ""],
            ["x", "B3", "Cid", "Nara", ""],
            ["x", "OUT", "below", "the range", ""],
        ],
    )
    server.add_named_range("book", "BuyerRange", "Sheet1", "B3:D6")
    out = run_without_google_credentials(
        "sync", *common(server, db_url), "--sheet", "BuyerRange", "--json"
    )
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert doc["inserted"] == 2 and doc["failed"] == 1
    rows = stored(db_url)
    assert set(rows) == {"B1", "B3"}
    assert "notes" not in rows["B1"] and "other" not in rows["B1"]
    (entry,) = logged(db_url)
    assert entry["row_number"] == 5 and "cell C5 holds the error #N/A" in entry["error_message"]
    bad = run_without_google_credentials("sync", *common(server, db_url), "--sheet", "NoSuchRange")
    assert bad.returncode == 2
    assert "no sheet or named range 'NoSuchRange'" in bad.stderr
    assert "its named ranges: 'BuyerRange'" in bad.stderr
