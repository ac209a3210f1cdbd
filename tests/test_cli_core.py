"""The CLI as an operator uses it: exit codes, JSON, errors without tracebacks, secrets."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from buyersync.cli.main import COMMANDS, cli
from buyersync.settings import SETTINGS, load_settings
from tests.helpers import run_cli, write_csv

HEADER = ["buyer_number", "name", "note"]


def test_every_command_has_help_text() -> None:
    ctx = click.Context(cli)
    names = cli.list_commands(ctx)
    assert {"sync", "migrate", "errors"} <= set(names)
    for name in names:
        command = cli.get_command(ctx, name)
        assert command is not None and (command.help or "").strip(), f"{name} has no help"
        for sub in getattr(command, "commands", {}).values():
            assert (sub.help or "").strip(), f"{name} {sub.name} has no help"
    assert set(names) <= set(COMMANDS)


def test_every_command_and_subcommand_prints_its_help() -> None:
    runner = CliRunner()
    for name in COMMANDS:
        result = runner.invoke(cli, [name, "--help"])
        assert result.exit_code == 0, (name, result.output, result.exception)
        assert f"Usage: cli {name}" in result.output
        command = cli.get_command(click.Context(cli), name)
        for sub in getattr(command, "commands", {}):
            result = runner.invoke(cli, [name, sub, "--help"])
            assert result.exit_code == 0, (name, sub, result.output, result.exception)


@pytest.mark.parametrize(
    "module_text", [None, "import buyersync_no_such_dependency\n"], ids=["missing", "broken"]
)
def test_a_command_module_that_cannot_be_imported_is_not_hidden(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, module_text: str | None
) -> None:
    module = f"buyersync_test_command_{uuid.uuid4().hex}"
    if module_text is not None:
        (tmp_path / f"{module}.py").write_text(module_text)
        monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setitem(COMMANDS, "broken", f"{module}:command")
    runner = CliRunner()
    for args in (["--help"], ["broken", "--help"]):
        result = runner.invoke(cli, args)
        assert isinstance(result.exception, ModuleNotFoundError), (args, result.output)


def test_sync_json_contract_and_exit_codes(tmp_path: Path, db_url: str) -> None:
    src = write_csv(tmp_path / "b.csv", HEADER, [["B1", "Ann", ""], ["B2", "Bob", "x"]])
    out = run_cli("sync", "--source", str(src), "--db", db_url, "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    for field in (
        "run_id",
        "rows_read",
        "inserted",
        "updated",
        "failed",
        "queued_for_retry",
        "duration_s",
        "rows_per_s",
    ):
        assert field in doc
    assert (doc["rows_read"], doc["inserted"], doc["failed"]) == (2, 2, 0)
    write_csv(src, HEADER, [["B1", "Ann", ""], ["", "nobody", ""]])
    out = run_cli("sync", "--source", str(src), "--db", db_url, "--json")
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    assert (doc["updated"], doc["failed"]) == (1, 1)
    errors = run_cli("errors", "--db", db_url, "--json", "--type", "validation")
    assert errors.returncode == 0
    edoc = json.loads(errors.stdout)
    assert edoc["counts_by_type"] == {"validation": 1}
    entry = edoc["errors"][0]
    for field in (
        "buyer_number",
        "row_number",
        "error_type",
        "error_message",
        "retryable",
        "run_id",
        "created_at",
    ):
        assert field in entry
    assert entry["row_number"] == 3 and entry["run_id"] == doc["run_id"]
    assert (
        json.loads(run_cli("errors", "--db", db_url, "--json", "--run", "nope").stdout)["errors"]
        == []
    )


def test_quick_start_uses_the_embedded_default(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "b.csv", HEADER, [["B1", "Ann", ""]])
    out = run_cli("sync", "--source", "b.csv", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    assert (tmp_path / "buyersync.db").exists()
    assert "inserted" in out.stdout and src.exists()


def test_dry_run_says_what_would_happen(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "b.csv", HEADER, [["B1", "Ann", ""]])
    db = tmp_path / "d.db"
    out = run_cli("sync", "--source", str(src), "--db", f"sqlite:///{db}", "--dry-run")
    assert out.returncode == 0 and "nothing was written" in out.stdout
    assert "inserted" in out.stdout


def test_bad_configuration_exits_2_with_one_line(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "b.csv", HEADER, [["B1", "Ann", ""]])
    out = run_cli(
        "sync", "--source", str(src), "--batch-size", "0", "--db", "sqlite:///x.db", cwd=tmp_path
    )
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "batch size" in out.stderr
    out = run_cli("sync", "--db", "sqlite:///x.db", cwd=tmp_path)
    assert out.returncode == 2 and "--source" in out.stderr
    out = run_cli("sync", "--source", str(src), "--db", "mysql://x/y")
    assert out.returncode == 2 and "unsupported database URL" in out.stderr


def test_unreachable_database_is_a_clear_error_without_the_password(tmp_path: Path) -> None:
    src = write_csv(tmp_path / "b.csv", HEADER, [["B1", "Ann", ""]])
    out = run_cli(
        "sync",
        "--source",
        str(src),
        "--db",
        "postgresql://buyer:s3cretPW@127.0.0.1:1/nowhere",
        "--connect-attempts",
        "1",
    )
    assert out.returncode == 3
    assert "Traceback" not in out.stderr and "s3cretPW" not in out.stderr + out.stdout
    assert "cannot connect" in out.stderr and "buyer:***@" in out.stderr


def test_wrong_encoding_names_the_fix_and_writes_nothing(tmp_path: Path) -> None:
    path = write_csv(tmp_path / "sjis.csv", HEADER, [["B1", "山田太郎", "東京"]], encoding="cp932")
    db = tmp_path / "d.db"
    out = run_cli("sync", "--source", str(path), "--db", f"sqlite:///{db}")
    assert out.returncode == 2 and "--encoding" in out.stderr and "Traceback" not in out.stderr
    out = run_cli(
        "sync", "--source", str(path), "--db", f"sqlite:///{db}", "--encoding", "cp932", "--json"
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["inserted"] == 1


def test_settings_precedence_flag_env_file_default(tmp_path: Path) -> None:
    toml = tmp_path / "buyersync.toml"
    toml.write_text('batch_size = 7\nkey_column = "Code"\n[mapping]\n"Full Name" = "name"\n')
    s = load_settings({}, env={}, config_file=toml)
    assert (s.batch_size, s.key_column, s.mapping) == (7, "Code", {"Full Name": "name"})
    s = load_settings({}, env={"BUYERSYNC_BATCH_SIZE": "9"}, config_file=toml)
    assert s.batch_size == 9
    s = load_settings({"batch_size": 11}, env={"BUYERSYNC_BATCH_SIZE": "9"}, config_file=toml)
    assert s.batch_size == 11
    assert load_settings({}, env={}).batch_size == 100


def test_secrets_never_in_settings_repr() -> None:
    s = load_settings(
        {
            "database_url": "postgresql://u:topsecret1@h/db",
            "smtp_password": "pw-42x",
            "api_token": "tok-999",
        },
        env={},
    )
    text = repr(s)
    for secret in ("topsecret1", "pw-42x", "tok-999"):
        assert secret not in text
    assert set(s.secrets()) >= {"topsecret1", "pw-42x", "tok-999"}


def test_every_setting_has_a_flag_and_env_var() -> None:
    flags = [spec.flag for spec in SETTINGS]
    assert len(flags) == len(set(flags))
    for spec in SETTINGS:
        assert spec.help and spec.flag.startswith("--")
        assert spec.env_var.startswith("BUYERSYNC_") or spec.name == "google_credentials"


@pytest.mark.parametrize("args", [["--help"], ["sync", "--help"], ["errors", "--help"]])
def test_help_runs(args: list[str]) -> None:
    out = run_cli(*args)
    assert out.returncode == 0 and "Usage" in out.stdout


def test_configuration_reference_lists_every_setting() -> None:
    from buyersync.settings import reference_markdown

    doc = (Path(__file__).resolve().parents[1] / "docs" / "configuration.md").read_text()
    assert doc == reference_markdown(), (
        "docs/configuration.md is stale: run python -m buyersync.settings > docs/configuration.md"
    )
    for spec in SETTINGS:
        assert f"`{spec.env_var}`" in doc and f"`{spec.name}`" in doc


def test_shrunken_sheet_is_refused_until_the_guard_is_lifted(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'd.db'}"
    src = write_csv(tmp_path / "b.csv", HEADER, [[f"B{i}", "x", ""] for i in range(10)])
    assert run_cli("sync", "--source", str(src), "--db", db).returncode == 0
    write_csv(src, HEADER, [["B1", "y", ""]])
    refused = run_cli("sync", "--source", str(src), "--db", db)
    assert refused.returncode == 3 and "--max-shrink-ratio 0" in refused.stderr
    lifted = run_cli("sync", "--source", str(src), "--db", db, "--max-shrink-ratio", "0", "--json")
    assert lifted.returncode == 0 and json.loads(lifted.stdout)["updated"] == 1


def test_a_database_url_without_password_is_shown_and_a_password_is_not() -> None:
    s = load_settings({"database_url": "postgresql://app@db.internal:5432/buyers"}, env={})
    assert s.secrets() == []
    s = load_settings(
        {"database_url": "postgresql://app:pw-77z@db/buyers?sslpassword=k-88q"}, env={}
    )
    assert set(s.secrets()) == {"pw-77z", "k-88q"}
    out = run_cli(
        "sync",
        "--source",
        "x.csv",
        "--db",
        "postgresql://app@127.0.0.1:1/buyers",
        "--connect-attempts",
        "1",
    )
    assert out.returncode == 3 and "***" not in out.stderr
    assert "postgresql://app@127.0.0.1:1/buyers" in out.stderr
