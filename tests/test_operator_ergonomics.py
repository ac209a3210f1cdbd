"""What an operator (or a cron job) sees when things go wrong, through the real command:
``--json`` on failure, wide tables in pipes, the settings' other spellings, and the
closest option for a mistyped one."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from buyersync.cli.common import aliases_of
from buyersync.cli.main import COMMANDS
from buyersync.settings import SETTINGS
from buyersync.store import open_database
from tests.helpers import run_cli, write_csv

HEADER = ["buyer_number", "name", "note"]

#: Every command as typed (a group with its subcommands).
INVOCATIONS = [[n] for n in COMMANDS if n != "schema"] + [["schema", "check"], ["schema", "fix"]]


def run_plain(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The command without a terminal width, as cron runs it."""
    return run_cli(*args, env=env, timeout=120, unset=("COLUMNS",))


def failure_doc(out: subprocess.CompletedProcess[str]) -> dict:
    doc = json.loads(out.stdout)
    assert set(doc) >= {"ok", "error", "exit_code"}, doc
    assert doc["ok"] is False and doc["exit_code"] == out.returncode
    assert set(doc["error"]) == {"message", "hint", "category"}
    assert len(out.stderr.strip().splitlines()) >= 1 and "Traceback" not in out.stderr
    return doc


# -- --json on failure ------------------------------------------------------------


@pytest.mark.parametrize("words", INVOCATIONS, ids=" ".join)
def test_every_command_prints_a_json_document_on_bad_configuration(
    words: list[str], tmp_path: Path
) -> None:
    out = run_plain(*words, "--json", "--config", str(tmp_path / "missing.toml"))
    assert out.returncode == 2, out.stderr
    doc = failure_doc(out)
    assert "missing.toml does not exist" in doc["error"]["message"]
    assert doc["error"]["category"] == "validation"
    assert out.stderr.startswith("buyersync: error: configuration file")


@pytest.mark.parametrize("words", INVOCATIONS, ids=" ".join)
def test_every_command_prints_a_json_document_on_a_usage_error(words: list[str]) -> None:
    out = run_plain(*words, "--json", "--jsno")
    assert out.returncode == 2
    doc = failure_doc(out)
    assert doc["error"]["message"] == "No such option: --jsno. Did you mean --json?"
    assert "Did you mean --json?" in out.stderr


def test_unreachable_database_json_document_is_redacted(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "b.csv", HEADER, [["B1", "Ann", ""]])
    url = "postgresql://app:s3cret-pw@127.0.0.1:1/app"
    out = run_plain("sync", "--source", str(src), "--db", url, "--json", "--connect-attempts", "1")
    assert out.returncode == 3
    doc = failure_doc(out)
    assert doc["error"]["category"] == "database_connection"
    assert "127.0.0.1:1" in doc["error"]["message"] and doc["error"]["hint"]
    assert "s3cret-pw" not in out.stdout + out.stderr
    assert out.stderr.count("\n") == 1 and out.stderr.startswith("buyersync: error: ")


def test_a_held_lock_is_a_json_document_and_exit_1_keeps_the_report(
    tmp_path: Path, db_url: str
) -> None:
    src = write_csv(tmp_path / "b.csv", HEADER, [["B1", "Ann", ""], ["", "nobody", ""]])
    run_plain("migrate", "--db", db_url)
    db = open_database(db_url)
    try:
        with db.lock("sync"):
            out = run_plain("sync", "--source", str(src), "--db", db_url, "--json")
    finally:
        db.close()
    assert out.returncode == 3, out.stderr
    doc = failure_doc(out)
    assert doc["error"]["category"] == "timeout"
    assert "another buyersync sync is running" in doc["error"]["message"]
    assert doc["error"]["hint"] and "--lock-wait" in doc["error"]["hint"]
    # Exit 1 (it ran and found problems) keeps the command's own document.
    out = run_plain("sync", "--source", str(src), "--db", db_url, "--json")
    assert out.returncode == 1
    report = json.loads(out.stdout)
    assert report["failed"] == 1 and "error" not in report and "run_id" in report


# -- piped output ------------------------------------------------------------------


@pytest.mark.parametrize("columns", [None, "40"], ids=["no-COLUMNS", "COLUMNS=40"])
def test_piped_tables_are_not_wrapped(tmp_path: Path, db_url: str, columns: str | None) -> None:
    src = write_csv(tmp_path / "b.csv", HEADER, [["B1", "Ann", ""], ["", "nobody", ""]])
    assert run_plain("sync", "--source", str(src), "--db", db_url).returncode == 1
    out = run_plain("errors", "--db", db_url, env={"COLUMNS": columns} if columns else None)
    assert out.returncode == 0, out.stderr
    # The one entry is one line of the table, with its whole message (a terminal of
    # 80 columns would wrap the message over six lines, and COLUMNS=40 over more).
    rows = [ln for ln in out.stdout.splitlines() if ln.startswith("│")]
    assert len(rows) == 1, out.stdout
    assert "│ validation │" in rows[0]
    assert "row 3 has no buyer number (cell A3 is empty); fill it in, or delete the row" in rows[0]


# -- other spellings and suggestions ----------------------------------------------


def test_key_column_and_database_url_are_accepted(tmp_path: Path, db_url: str) -> None:
    src = write_csv(tmp_path / "b.csv", ["Buyer No.", "name"], [["B1", "Ann"], ["B2", "Bob"]])
    out = run_plain(
        "sync", "--source", str(src), "--database-url", db_url, "--key-column", "Buyer No.",
        "--lock-wait-seconds", "1", "--json",
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["inserted"] == 2
    out = run_plain("missing", "--source", str(src), "--database-url", db_url, "--key-column",
              "Buyer No.", "--json")  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["missing_count"] == 0


def test_every_setting_answers_to_its_name_and_variable_spelling() -> None:
    by_name = {s.name: s for s in SETTINGS}
    assert aliases_of("key_column") == ("--key-column",)
    assert aliases_of("database_url") == ("--database-url",)
    assert "--google-application-credentials" in aliases_of("google_credentials")
    for spec in SETTINGS:
        derived = "--" + spec.env_var.removeprefix("BUYERSYNC_").lower().replace("_", "-")
        if spec.type is bool or derived == spec.flag:
            continue
        assert derived in aliases_of(spec.name), spec.name
    assert by_name["batch_size"].flag == "--batch-size" and aliases_of("batch_size") == ()


@pytest.mark.parametrize("words", [["sync"], ["missing"], ["verify"], ["doctor"]], ids=" ".join)
def test_hidden_spellings_are_not_in_help_but_work(words: list[str]) -> None:
    out = run_plain(*words, "--help")
    assert out.returncode == 0
    assert "--key-column" not in out.stdout and "--key " in out.stdout
    assert "--database-url" in out.stdout  # listed beside --db as it always was
    typo = run_plain(*words, "--key-colum", "x")
    assert typo.returncode == 2
    assert "No such option: --key-colum. Did you mean --key-column?" in typo.stderr


def test_an_unknown_command_suggests_the_closest() -> None:
    out = run_plain("synk", "--json")
    assert out.returncode == 2
    assert "No such command: synk. Did you mean sync?" in out.stderr
    assert failure_doc(out)["error"]["message"].endswith("Did you mean sync?")
