"""``buyersync demo`` tells the incident's story with the real numbers, on both databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from buyersync.demo import HEADER, LIMIT, LONG_BUYERS, TOTAL_BUYERS, generate_buyers
from buyersync.rules.normalize import normalize_key
from buyersync.store import open_database
from tests.helpers import run_cli


def assert_story(doc: dict) -> None:
    assert doc["before"] == {
        "spreadsheet_count": TOTAL_BUYERS,
        "database_count": 3784,
        "missing_count": LONG_BUYERS,
        "missing_percent": 8.6,
    }
    assert doc["after"]["missing_count"] == 0
    assert doc["after"]["database_count"] == TOTAL_BUYERS
    assert doc["logged_value_too_long"] == LONG_BUYERS
    assert doc["verify_ok"] is True and doc["healthy"] is True and doc["ok"] is True
    steps = {s["command"]: s for s in doc["steps"]}
    assert steps["buyersync schema check"]["exit_code"] == 1
    assert steps["buyersync missing"]["exit_code"] == 1
    assert "failed 356" in doc["steps"][2]["summary"]
    assert steps["buyersync sync-missing"]["summary"] == "attempted 356, synced 356, failed 0"
    assert steps["buyersync health"]["exit_code"] == 0
    # healthy without another full sync: the problems of step 3 were resolved by repairs
    assert [s["command"] for s in doc["steps"]].count("buyersync sync") == 1
    assert (
        steps["buyersync problems --all"]["summary"] == f"open problems 0; resolved {LONG_BUYERS}"
    )


def test_generated_sheet_has_exactly_the_incidents_long_values() -> None:
    rows = generate_buyers()
    assert len(rows) == TOTAL_BUYERS and all(len(r) == len(HEADER) for r in rows)
    assert len({normalize_key(r[0]) for r in rows}) == TOTAL_BUYERS
    long_rows = [r for r in rows if max(len(v) for v in r) > LIMIT]
    assert len(long_rows) == LONG_BUYERS
    # every column that overflows is a free-text one, and each kind occurs
    overflowing = {HEADER[i] for r in long_rows for i, v in enumerate(r) if len(v) > LIMIT}
    assert overflowing == {"name", "address", "notes"}
    names = [r[1] for r in rows]
    assert any("\u4e00" <= c <= "\u9fff" for n in names for c in n)  # Japanese (kanji)
    assert any(c in "áéíóúñãç" for n in names for c in n)  # Latin with accents
    assert generate_buyers() == rows  # seeded: every demo is the same story


def test_demo_on_sqlite_reproduces_and_fixes_the_incident(tmp_path: Path) -> None:
    out = run_cli("demo", "--dir", str(tmp_path / "demo"), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert_story(doc)
    folder = tmp_path / "demo"
    for name in ("buyers.csv", "buyersync.db", "buyersync.toml", "verify-report.html"):
        assert (folder / name).exists(), name
    # Migration 050 backed up the 3,784 rows the old sync left, and lifted the limits
    with open_database(f"sqlite:///{folder / 'buyersync.db'}") as db:
        backup = db.query_value("SELECT name FROM sqlite_master WHERE name LIKE 'buyers_backup_%%'")
        assert db.query_value(f"SELECT count(*) FROM {db.quote(backup)}") == 3784
        ddl = db.query_value("SELECT sql FROM sqlite_master WHERE name = 'buyers'")
        assert "varchar" not in ddl.lower() and "length(" not in ddl.lower()
    # keep exploring: the commands the demo prints work from its folder
    missing = run_cli("missing", "--json", cwd=folder)
    assert missing.returncode == 0, missing.stderr
    assert json.loads(missing.stdout)["missing_count"] == 0
    errors = run_cli("errors", "--type", "value_too_long", "--json", "--limit", "0", cwd=folder)
    assert json.loads(errors.stdout)["counts_by_type"] == {"value_too_long": LONG_BUYERS}
    # a second demo in the same folder replaces its own files and tells the same story
    again = run_cli("demo", "--dir", str(folder), "--json")
    assert again.returncode == 0, again.stderr
    assert_story(json.loads(again.stdout))


def test_demo_text_output_shows_each_command_and_the_numbers(tmp_path: Path) -> None:
    # the demo never runs on the database the environment names (it may be production)
    real = tmp_path / "real.db"
    out = run_cli(
        "demo", "--dir", str(tmp_path / "d"), env={"BUYERSYNC_DATABASE_URL": f"sqlite:///{real}"}
    )
    assert out.returncode == 0, out.stderr
    assert not real.exists()
    text = out.stdout
    for line in (
        "$ buyersync schema check",
        "$ buyersync missing",
        "$ buyersync sync",
        "$ buyersync errors --type value_too_long",
        "$ buyersync schema fix --apply",
        "$ buyersync sync-missing",
        "$ buyersync verify --full",
        "$ buyersync health",
        "356 missing (8.6%)",
        "before: 356 of 4,140 buyers missing",
        "after:  0 missing",
        "healthy",
        f"cd {(tmp_path / 'd').resolve()}",
    ):
        assert line in text, line


@pytest.mark.postgres
def test_demo_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    secret_url = pg_url  # trust auth: no password to hide, but the URL must not leak env
    out = run_cli("demo", "--db", secret_url, "--dir", str(tmp_path), "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert_story(doc)
    assert doc["database"].startswith("postgresql://")
    with open_database(pg_url) as db:
        types = {c: t.lower() for c, t in db.columns("buyers").items()}
        assert types["address"] == "text" and types["name"] == "text"
        assert db.query_value("SELECT count(*) FROM buyers") == TOTAL_BUYERS
    # the demo never writes into a database that is in use
    again = run_cli("demo", "--db", pg_url, "--dir", str(tmp_path / "again"))
    assert again.returncode == 2
    assert "already has a buyers table" in again.stderr and "Traceback" not in again.stderr


def test_demo_refuses_a_folder_with_a_foreign_database(tmp_path: Path) -> None:
    (tmp_path / "buyersync.db").write_bytes(b"")
    out = run_cli("demo", "--dir", str(tmp_path))
    assert out.returncode == 2 and "not made by the demo" in out.stderr
    assert (tmp_path / "buyersync.db").exists()
