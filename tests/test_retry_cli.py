"""``buyersync retry`` end to end: the real command, real databases, concurrent processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from buyersync.cli.main import cli
from buyersync.errors import ErrorCategory
from buyersync.records import RowFailure
from buyersync.services.retry import RetryManager
from buyersync.store import migrations, open_database, retryqueue
from buyersync.store.db import utcnow
from tests.helpers import run_cli, write_csv

HEADER = ["buyer_number", "name"]


def seed_queue(url: str, keys: list[str], *, due: bool = True) -> None:
    """Queue a timeout failure for each key, due now (or in a minute)."""
    when = utcnow() - timedelta(seconds=120 if due else 0)
    with open_database(url) as db:
        migrations.migrate(db)
        failures = [
            RowFailure(ErrorCategory.TIMEOUT, "statement timeout", i + 2, k, {}, True)
            for i, k in enumerate(keys)
        ]
        RetryManager(db, None, clock=lambda: when).add_to_retry_queue(failures, run_id="seed")


def test_retry_has_help_text() -> None:
    result = CliRunner().invoke(cli, ["retry", "--help"])
    assert result.exit_code == 0
    for option in ("--all", "--buyer", "--permanent", "--list", "--json", "--retry-max-attempts"):
        assert option in result.output


def test_json_reports_the_contract_fields_and_exit_0(db_url: str, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "s.csv", HEADER, [["B1", "Ann"], ["B2", "Bob"]])
    seed_queue(db_url, ["B1", "B2"])
    done = run_cli(*["retry", "--json", "--db", db_url, "--source", str(sheet)], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert {k: doc[k] for k in ("processed", "succeeded", "failed", "permanently_failed")} == {
        "processed": 2,
        "succeeded": 2,
        "failed": 0,
        "permanently_failed": 0,
    }
    assert doc["queue"] == {}
    assert {r["buyer_number"]: r["outcome"] for r in doc["results"]} == {
        "B1": "succeeded",
        "B2": "succeeded",
    }


def test_nothing_due_before_its_time_unless_all(db_url: str, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "s.csv", HEADER, [["B1", "Ann"]])
    seed_queue(db_url, ["B1"], due=False)
    base = ["retry", "--json", "--db", db_url, "--source", str(sheet)]
    waiting = run_cli(*base, cwd=tmp_path)
    assert waiting.returncode == 0, waiting.stderr
    assert json.loads(waiting.stdout)["processed"] == 0
    forced = run_cli(*[*base, "--all"], cwd=tmp_path)
    assert json.loads(forced.stdout)["succeeded"] == 1


def test_exit_1_when_a_retry_fails(sqlite_url: str, tmp_path: Path) -> None:
    with open_database(sqlite_url) as db:
        db.execute(
            "CREATE TABLE buyers (buyer_number text NOT NULL PRIMARY KEY, "
            "name text CHECK (length(name) <= 5), created_at TEXT NOT NULL, "
            "synced_at TEXT NOT NULL, db_updated_at TEXT NOT NULL)"
        )
    sheet = write_csv(tmp_path / "s.csv", HEADER, [["B1", "far too long a name"]])
    seed_queue(sqlite_url, ["B1"])
    done = run_cli(*["retry", "--json", "--db", sqlite_url, "--source", str(sheet)], cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    doc = json.loads(done.stdout)
    assert (doc["processed"], doc["failed"], doc["not_retryable"]) == (1, 1, 1)
    assert doc["results"][0]["error_type"] == "value_too_long"


def test_buyer_by_hand_and_a_buyer_not_queued(db_url: str, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "s.csv", HEADER, [["B1", "Ann"]])
    seed_queue(db_url, ["B1"], due=False)
    with open_database(db_url) as db:
        RetryManager(db, None).mark_as_permanently_failed("B1", "gave up")
    base = ["retry", "--json", "--db", db_url, "--source", str(sheet)]
    assert json.loads(run_cli(*[*base, "--all"], cwd=tmp_path).stdout)["processed"] == 0
    done = run_cli(*[*base, "--buyer", "B1"], cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    doc = json.loads(done.stdout)
    assert [(r["buyer_number"], r["outcome"], r["manual"]) for r in doc["results"]] == [
        ("B1", "succeeded", True)
    ]
    missing = run_cli(*[*base, "--buyer", "B7"], cwd=tmp_path)
    assert missing.returncode == 1
    assert json.loads(missing.stdout)["not_in_queue"] == ["B7"]


def test_usage_errors_exit_2(sqlite_url: str, tmp_path: Path) -> None:
    clash = run_cli(*["retry", "--db", sqlite_url, "--buyer", "B1", "--all"], cwd=tmp_path)
    assert clash.returncode == 2
    assert "cannot be combined" in clash.stderr
    seed_queue(sqlite_url, ["B1"])
    no_sheet = run_cli(*["retry", "--db", sqlite_url], cwd=tmp_path)
    assert no_sheet.returncode == 2
    assert "--source" in no_sheet.stderr and "Traceback" not in no_sheet.stderr
    with open_database(sqlite_url) as db:
        entry = retryqueue.get(db, "B1")
    assert entry is not None and (str(entry.status), entry.attempt_count) == ("pending", 0)


def test_list_and_the_terminal_table(sqlite_url: str, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "s.csv", HEADER, [["B1", "Ann"]])
    seed_queue(sqlite_url, ["B1", "B2"])
    listed = run_cli(*["retry", "--list", "--json", "--db", sqlite_url], cwd=tmp_path)
    doc = json.loads(listed.stdout)
    assert doc["by_status"] == {"pending": 2}
    assert [e["buyer_number"] for e in doc["entries"]] == ["B1", "B2"]
    result = CliRunner().invoke(cli, ["retry", "--db", sqlite_url, "--source", str(sheet)])
    assert result.exit_code == 0, result.output
    assert "succeeded" in result.output and "gone_from_sheet" in result.output
    assert "queue now: empty" in result.output


@pytest.mark.slow
def test_two_concurrent_retry_processes_take_each_entry_once(db_url: str, tmp_path: Path) -> None:
    keys = [f"C{i:04d}" for i in range(1000)]
    sheet = write_csv(tmp_path / "s.csv", HEADER, [[k, f"name {k}"] for k in keys])
    seed_queue(db_url, keys)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUYERSYNC_")}
    args = [
        sys.executable,
        "-m",
        "buyersync",
        "retry",
        "--json",
        "--db",
        db_url,
        "--source",
        str(sheet),
        "--claim-size",
        "40",
    ]
    procs = [
        subprocess.Popen(
            args, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300) for p in procs]
    for p, (_out, err) in zip(procs, outputs, strict=True):
        assert p.returncode == 0, err
    docs = [json.loads(out) for out, _ in outputs]
    assert sum(d["processed"] for d in docs) == 1000
    assert sum(d["succeeded"] for d in docs) == 1000
    seen = Counter(r["buyer_number"] for d in docs for r in d["results"])
    assert set(seen) == set(keys) and set(seen.values()) == {1}
    with open_database(db_url) as db:
        attempts = Counter(a.buyer_number for a in retryqueue.attempts(db))
        assert set(attempts) == set(keys) and set(attempts.values()) == {1}
        assert retryqueue.depth(db) == {}
        assert int(db.query_value("SELECT count(*) AS n FROM buyers")) == 1000
