"""``buyersync schema check|fix`` as an operator runs them (both databases)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from buyersync.cli.main import cli
from buyersync.store import open_database
from tests.helpers import write_csv


def _legacy(url: str) -> None:
    with open_database(url) as db:
        db.execute(
            "CREATE TABLE buyers (buyer_number text PRIMARY KEY, name varchar(10) "
            "CHECK (length(name) <= 10), notes text, created_at text, synced_at text, "
            "db_updated_at text)"
        )
        db.execute("INSERT INTO buyers (buyer_number, name) VALUES ('B1', 'old')")


def test_help_texts() -> None:
    runner = CliRunner()
    for args in (["schema", "--help"], ["schema", "check", "--help"], ["schema", "fix", "--help"]):
        result = runner.invoke(cli, args)
        assert result.exit_code == 0 and len(result.output) > 200, args
    assert "--lock-timeout" in runner.invoke(cli, ["schema", "fix", "--help"]).output


def test_check_fix_add_columns_end_to_end(db_url: str, tmp_path: Path) -> None:
    _legacy(db_url)
    sheet = write_csv(
        tmp_path / "s.csv",
        ["buyer_number", "name", "notes", "Phone No"],
        [
            ["B1", "short", "", "1"],
            ["B2", "much too long name", "", "2"],
            ["", "", "", ""],
            ["B3", "ok", "n", "3"],
        ],
    )
    runner = CliRunner()
    base = ["--db", db_url, "--source", str(sheet)]

    check = runner.invoke(cli, ["schema", "check", *base, "--json"])
    assert check.exit_code == 1, check.output
    doc = json.loads(check.output)
    assert doc["ok"] is False
    assert [f["column"] for f in doc["non_text_fields"]] == ["name"]
    assert doc["unmapped_sheet_columns"] == ["phone_no"]
    assert doc["would_fail"] == [
        {
            "row_number": 3,
            "buyer_number": "B2",
            "columns": [{"column": "name", "limit": 10, "length": 18}],
        }
    ]
    assert doc["rows_checked"] == 3
    assert "--add-columns" in doc["fix"]

    text = runner.invoke(cli, ["schema", "check", *base])
    assert text.exit_code == 1 and "row 3 (buyer B2) would fail" in text.output

    no_source = runner.invoke(cli, ["schema", "fix", "--apply", "--add-columns", "--db", db_url])
    assert no_source.exit_code == 2 and "--source" in no_source.output

    out = tmp_path / "fix.sql"
    printed = runner.invoke(
        cli, ["schema", "fix", *base, "--add-columns", "--output", str(out), "--json"]
    )
    assert printed.exit_code == 0, printed.output
    assert json.loads(printed.output)["output"] == str(out)
    assert '"phone_no"' in out.read_text()

    applied = runner.invoke(cli, ["schema", "fix", "--apply", "--add-columns", *base])
    assert applied.exit_code == 0, applied.output
    assert "schema OK" in applied.output and "phone_no" in applied.output

    ok = runner.invoke(cli, ["schema", "check", *base, "--json"])
    assert ok.exit_code == 0 and json.loads(ok.output)["ok"] is True
    with open_database(db_url) as db:
        assert db.query_value("SELECT name FROM buyers WHERE buyer_number = 'B1'") == "old"

    again = runner.invoke(cli, ["schema", "fix", *base])
    assert again.exit_code == 0 and "nothing to do" in again.output


def test_check_without_table_is_ok(db_url: str) -> None:
    result = CliRunner().invoke(cli, ["schema", "check", "--db", db_url, "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["table_exists"] is False
