"""``buyersync missing``, ``sync-missing`` and ``verify`` end to end, as an operator runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import invoke, write_csv

HEADER = ["buyer_number", "name", "note"]


def setup(tmp_path: Path, db_url: str) -> tuple[Path, list[str]]:
    rows = [[f"B{i}", f"名前 {i}", "line1\nline2" if i % 3 == 0 else ""] for i in range(1, 9)]
    path = write_csv(tmp_path / "s.csv", HEADER, rows)
    code, out, err = invoke("sync", "--source", str(path), "--db", db_url, "--json")
    assert code == 0, err
    return path, ["--source", str(path), "--db", db_url]


def test_missing_sync_missing_and_verify_round_trip(tmp_path: Path, db_url: str) -> None:
    path, common = setup(tmp_path, db_url)
    code, out, err = invoke("missing", *common, "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert (doc["spreadsheet_count"], doc["database_count"], doc["missing_count"]) == (8, 8, 0)

    # The sheet gains two buyers, a duplicate and a keyless row; the database gains one.
    rows = [[f"B{i}", f"名前 {i}", ""] for i in range(1, 11)]
    rows += [["B1", "again", ""], ["", "no key", ""]]
    write_csv(path, HEADER, rows)
    code, out, err = invoke("missing", *common, "--json")
    assert code == 1, err
    doc = json.loads(out)
    assert doc["missing"] == [
        {"buyer_number": "B9", "row_number": 10},
        {"buyer_number": "B10", "row_number": 11},
    ]
    assert doc["missing_count"] == 2 and doc["extra"] == []
    assert doc["duplicates"] == [{"buyer_number": "B1", "row_number": 12, "first_row": 2}]
    assert doc["blank_key_rows"] == [13]

    code, out, err = invoke("missing", *common)
    assert code == 1 and "row 10: B9" in out and "sync-missing" in out

    code, out, err = invoke("sync-missing", *common, "--json")
    doc = json.loads(out)
    assert code == 0, err
    assert (doc["attempted"], doc["synced"], doc["failed"]) == (2, 2, 0)
    assert {r["buyer_number"]: r["outcome"] for r in doc["results"]} == {
        "B9": "synced",
        "B10": "synced",
    }

    code, out, err = invoke("missing", *common, "--json")
    assert code == 0 and json.loads(out)["missing_count"] == 0

    # B3/B6 had notes with newlines; the sheet now has none: verify says exactly that.
    code, out, err = invoke("verify", *common, "--full", "--json")
    doc = json.loads(out)
    assert code == 1, err
    assert {
        (m["buyer_number"], m["column"], m["sheet_value"], m["db_value"]) for m in doc["mismatches"]
    } == {("B3", "note", None, "line1\nline2"), ("B6", "note", None, "line1\nline2")}
    assert doc["missing"] == [] and doc["extra"] == [] and doc["checked"] == 10

    code, out, err = invoke("sync", *common, "--json")
    code, out, err = invoke("verify", *common, "--full", "--json")
    assert code == 0 and json.loads(out)["ok"] is True


def test_verify_writes_reports_and_refuses_bad_usage(tmp_path: Path, sqlite_url: str) -> None:
    path, common = setup(tmp_path, sqlite_url)
    write_csv(path, HEADER, [["B1", "changed", ""], ["B99", "new", ""]])
    report = tmp_path / "verify.html"
    code, out, err = invoke(
        "verify", *common, "--sample", "5", "--seed", "1", "--output", str(report), "--allow-extra"
    )
    assert code == 1, err
    page = report.read_text(encoding="utf-8")
    assert "B99" in page and "changed" in page and "<!DOCTYPE html>" in page
    assert "written to" in out
    md = tmp_path / "verify.md"
    code, out, err = invoke("verify", *common, "--full", "--output", str(md))
    text = md.read_text(encoding="utf-8")
    assert code == 1 and "| 3 | B99 |" in text and "| B8 |" in text
    assert "| 2 | B1 | name | changed |" in text
    code, out, err = invoke("verify", *common, "--full", "--seed", "3")
    assert code == 2 and "--seed" in err
    code, out, err = invoke("verify", *common, "--sample", "0", "--format", "json")
    doc = json.loads(out)
    assert doc["mode"] == "completeness" and doc["checked"] == 0
    assert doc["missing"] == [{"buyer_number": "B99", "row_number": 3}]


def test_commands_have_help() -> None:
    for name in ("missing", "sync-missing", "verify"):
        code, out, _ = invoke(name, "--help")
        assert code == 0 and len(out) > 200


def test_real_command_reports_missing_with_exit_1(tmp_path: Path, sqlite_url: str) -> None:
    path, common = setup(tmp_path, sqlite_url)
    write_csv(path, HEADER, [[f"B{i}", "", ""] for i in range(1, 10)])
    proc = subprocess.run(
        [sys.executable, "-m", "buyersync", "missing", *common, "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1, proc.stderr
    assert json.loads(proc.stdout)["missing"] == [{"buyer_number": "B9", "row_number": 10}]
