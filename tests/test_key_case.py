"""Buyer numbers that differ only in letter case are one buyer (key_case), everywhere.

The sync, ``missing``, ``sync-missing``, ``verify``, ``health`` and ``retry`` compare keys the same
way; an existing buyer keeps its spelling; stored numbers that collide refuse the sync.
"""

from __future__ import annotations

import json
from pathlib import Path

from buyersync.store import open_database
from tests.helpers import run_cli as run
from tests.helpers import write_csv
from tests.test_retry_cli import seed_queue

HEADER = ["buyer_number", "name"]


def stored(db_url: str) -> dict[str, str | None]:
    with open_database(db_url) as db:
        return {r["buyer_number"]: r["name"] for r in db.query("SELECT * FROM buyers")}


def test_case_variants_in_one_sheet_are_one_buyer(tmp_path: Path, db_url: str) -> None:
    src = write_csv(tmp_path / "b.csv", HEADER, [["B100", "Ann"], [" b100 ", "Bob"], ["C1", "Cy"]])
    out = run("sync", "--source", str(src), "--db", db_url, "--json")
    assert out.returncode == 1, out.stderr
    doc = json.loads(out.stdout)
    assert (doc["inserted"], doc["failed"]) == (2, 1)
    [dup] = doc["failures"]
    assert dup["error_type"] == "duplicate_key" and dup["row_number"] == 3
    assert dup["details"] == {"first_row": 2, "first_key": "B100"}
    assert "'b100', the same buyer as 'B100'" in dup["error_message"]
    assert "already on row 2" in dup["error_message"]
    assert stored(db_url) == {"B100": "Ann", "C1": "Cy"}


def test_case_sensitive_keys_keep_them_apart(tmp_path: Path, db_url: str) -> None:
    src = write_csv(tmp_path / "b.csv", HEADER, [["B100", "Ann"], ["b100", "Bob"]])
    out = run("sync", "--source", str(src), "--db", db_url, "--key-case", "sensitive")
    assert out.returncode == 0, out.stderr
    assert stored(db_url) == {"B100": "Ann", "b100": "Bob"}
    bad = run("sync", "--source", str(src), "--db", db_url, "--key-case", "lower")
    assert bad.returncode == 2 and "key_case 'lower' is not one of" in bad.stderr


def test_a_resync_in_another_case_updates_the_stored_buyer(tmp_path: Path, db_url: str) -> None:
    src = write_csv(tmp_path / "b.csv", HEADER, [["B12", "Ann"], ["C7", "Cy"]])
    assert run("sync", "--source", str(src), "--db", db_url).returncode == 0
    write_csv(src, HEADER, [["b12", "Anna"], ["c7", "Cy"]])
    # missing and verify already agree that b12 is B12: nothing missing, one mismatch
    missing = json.loads(run("missing", "--source", str(src), "--db", db_url, "--json").stdout)
    assert (missing["missing_count"], missing["extra_count"]) == (0, 0)
    check = run("verify", "--full", "--source", str(src), "--db", db_url, "--json")
    doc = json.loads(check.stdout)
    assert check.returncode == 1 and doc["missing_count"] == 0 and doc["extra_count"] == 0
    assert [(m["buyer_number"], m["db_value"]) for m in doc["mismatches"]] == [("b12", "Ann")]

    dry = json.loads(
        run("sync", "--source", str(src), "--db", db_url, "--dry-run", "--json").stdout
    )
    out = run("sync", "--source", str(src), "--db", db_url, "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert (doc["inserted"], doc["changed"], doc["unchanged"]) == (0, 1, 1)
    assert (dry["inserted"], dry["changed"], dry["unchanged"]) == (0, 1, 1)
    assert stored(db_url) == {"B12": "Anna", "C7": "Cy"}  # the first spelling stays
    check = run("verify", "--full", "--source", str(src), "--db", db_url)
    assert check.returncode == 0, check.stdout + check.stderr


def test_stored_keys_that_collide_refuse_the_sync(tmp_path: Path, db_url: str) -> None:
    src = write_csv(tmp_path / "b.csv", HEADER, [["B12", "Ann"], ["b12", "Bob"], ["C1", "Cy"]])
    assert (
        run("sync", "--source", str(src), "--db", db_url, "--key-case", "sensitive").returncode == 0
    )

    out = run("sync", "--source", str(src), "--db", db_url, "--json")
    assert out.returncode == 3, out.stderr
    doc = json.loads(out.stdout)
    error = doc["error"]
    assert "'B12' = 'b12'" in error["message"] and "differ only in letter case" in error["message"]
    assert "merge or delete one" in error["hint"] and "--key-case sensitive" in error["hint"]
    assert stored(db_url) == {"B12": "Ann", "b12": "Bob", "C1": "Cy"}  # nothing merged

    dry = json.loads(
        run("sync", "--source", str(src), "--db", db_url, "--dry-run", "--json").stdout
    )
    assert dry["verdict"]["would_refuse"] is True
    assert any("'B12' = 'b12'" in r for r in dry["verdict"]["reasons"])

    missing = json.loads(run("missing", "--source", str(src), "--db", db_url, "--json").stdout)
    assert (missing["missing_count"], missing["extra"]) == (0, ["b12"])  # one of them is extra

    write_csv(src, HEADER, [["B12", "Ann"], ["b12", "Bob"], ["C1", "Cy"], ["D1", "Di"]])
    for command in (["sync-missing"], ["retry", "--all"]):
        seed_queue(db_url, ["C1"]) if command[0] == "retry" else None
        refused = run(*command, "--source", str(src), "--db", db_url)
        assert refused.returncode == 3 and "'B12' = 'b12'" in refused.stderr, command

    fixed = run("sync", "--source", str(src), "--db", db_url, "--key-case", "sensitive")
    assert fixed.returncode == 0, fixed.stderr


def test_sync_missing_and_retry_find_a_buyer_spelled_otherwise(tmp_path: Path, db_url: str) -> None:
    src = write_csv(tmp_path / "b.csv", HEADER, [["B1", "Ann"], ["B2", "Bob"]])
    assert run("sync", "--source", str(src), "--db", db_url).returncode == 0
    write_csv(src, HEADER, [["b1", "Ann"], ["B2", "Bob"], ["b3", "Cy"]])
    out = run("sync-missing", "--source", str(src), "--db", db_url, "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert (doc["attempted"], doc["synced"]) == (1, 1)
    assert [r["buyer_number"] for r in doc["results"]] == ["b3"]
    assert stored(db_url) == {"B1": "Ann", "B2": "Bob", "b3": "Cy"}

    # a failure queued as B3 is retried from the sheet's row b3
    seed_queue(db_url, ["B3"])
    write_csv(src, HEADER, [["b1", "Ann"], ["B2", "Bob"], ["b3", "Cyd"]])
    out = run("retry", "--all", "--source", str(src), "--db", db_url, "--json")
    assert out.returncode == 0, out.stderr
    doc = json.loads(out.stdout)
    assert [(r["buyer_number"], r["outcome"]) for r in doc["results"]] == [("B3", "succeeded")]
    assert stored(db_url)["b3"] == "Cyd"
    seed_queue(db_url, ["B2"])
    out = run("retry", "--buyer", "b2", "--source", str(src), "--db", db_url, "--json")
    assert out.returncode == 0, out.stderr
    assert [r["buyer_number"] for r in json.loads(out.stdout)["results"]] == ["B2"]


def test_health_compares_keys_as_missing_does(tmp_path: Path, db_url: str) -> None:
    src = write_csv(tmp_path / "b.csv", HEADER, [["B12", "Ann"], ["C7", "Cy"]])
    assert run("sync", "--source", str(src), "--db", db_url).returncode == 0
    write_csv(src, HEADER, [["b12", "Ann"], ["C7", "Cy"]])
    base = ("health", "--source", str(src), "--db", db_url, "--no-alerts", "--json")
    doc = json.loads(run(*base).stdout)
    assert (doc["missing_count"], doc["extra_count"]) == (0, 0)
    assert (doc["spreadsheet_count"], doc["database_count"]) == (2, 2)
    assert not [a for a in doc["alerts"] if a["condition"] == "missing_buyers"]

    exact = json.loads(run(*base, "--key-case", "sensitive").stdout)
    assert exact["missing"] == [{"buyer_number": "b12", "row_number": 2}]
    assert exact["extra"] == ["B12"]
