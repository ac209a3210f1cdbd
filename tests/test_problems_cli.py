"""Problems that open and resolve, health of the present, hints by cause (CLI, both databases)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from buyersync.demo import (
    LONG_BUYERS,
    TOTAL_BUYERS,
    create_legacy_table,
    generate_buyers,
    old_sync,
    write_sheet,
)
from buyersync.store import open_database
from tests.helpers import doc_of, run_cli, write_csv


def test_incident_runbook_ends_healthy_without_another_full_sync(
    db_url: str, tmp_path: Path
) -> None:
    """sync (356 too long) → schema fix --apply → sync-missing → verify → problems → health."""
    rows = generate_buyers()
    sheet = tmp_path / "buyers.csv"
    write_sheet(sheet, rows)
    with open_database(db_url) as db:
        create_legacy_table(db)
        old_sync(db, rows)
    common = ["--db", db_url, "--json"]
    src = ["--source", str(sheet)]

    synced = run_cli("sync", *src, *common)
    assert synced.returncode == 1, synced.stderr
    assert doc_of(synced)["failures_by_type"] == {"value_too_long": LONG_BUYERS}

    before = doc_of(run_cli("problems", *common))
    groups = before["groups"]
    assert {g["column"] for g in groups} == {"name", "address", "notes"}
    assert all(g["open"] and g["category"] == "value_too_long" for g in groups)
    assert sum(g["buyers"] for g in groups) == before["open"] == LONG_BUYERS
    assert {g["fix"]["command"] for g in groups} == {
        "buyersync schema fix --apply && buyersync sync-missing"
    }
    sick = run_cli("health", *src, *common)
    assert sick.returncode == 1
    assert doc_of(sick)["error_rate"] == pytest.approx(LONG_BUYERS / TOTAL_BUYERS, abs=1e-6)

    # The verification report before the schema fix names the fix that can work.
    report = run_cli("verify", *src, "--db", db_url, "--format", "text")
    assert report.returncode == 1
    assert "buyersync schema fix --apply" in report.stdout
    assert report.stdout.index("schema fix --apply") < report.stdout.index("sync-missing")

    fixed = run_cli("schema", "fix", "--apply", *common)
    assert fixed.returncode == 0, fixed.stderr
    missing = run_cli("sync-missing", *src, *common)
    assert missing.returncode == 0, missing.stderr
    assert doc_of(missing)["synced"] == LONG_BUYERS
    verified = run_cli("verify", *src, *common)
    assert verified.returncode == 0, verified.stdout[-2000:]

    after = run_cli("problems", *common)
    assert after.returncode == 0, after.stdout[-2000:]
    assert doc_of(after)["open"] == 0
    everything = doc_of(run_cli("problems", "--all", *common))
    assert not any(g["open"] for g in everything["groups"])
    assert sum(g["count"] for g in everything["groups"]) == LONG_BUYERS
    assert {p["resolved_by_run"] for p in everything["problems"]} == {doc_of(missing)["run_id"]}

    health = run_cli("health", *src, *common)
    assert health.returncode == 0, health.stdout[-3000:]
    h = doc_of(health)
    assert h["healthy"] is True and h["error_rate"] == 0 and h["open_problems"] == 0
    assert h["last_sync_error_rate"] == pytest.approx(LONG_BUYERS / TOTAL_BUYERS, abs=1e-6)
    with open_database(db_url) as db:
        # no other full sync ran
        assert db.query_value("SELECT count(*) FROM sync_runs WHERE operation = 'sync'") == 1
        errors = doc_of(run_cli("errors", "--limit", "0", *common))["errors"]
        assert len(errors) == LONG_BUYERS
        assert all(e["resolved_at"] and e["resolved_by_run"] for e in errors)


def _sheet(path: Path, rows: list[list[str]]) -> Path:
    return write_csv(path, ["buyer_number", "name"], rows)


def test_problem_opens_resolves_and_reopens_with_its_history(db_url: str, tmp_path: Path) -> None:
    sheet = tmp_path / "s.csv"
    common = ["--db", db_url, "--json"]
    _sheet(sheet, [["B1", "a"], ["", "no key"], ["B2", "b"], ["B1", "again"]])
    first = doc_of(run_cli("sync", "--source", str(sheet), *common))
    problems = doc_of(run_cli("problems", *common))
    assert problems["open"] == 2
    by_cat = {g["category"]: g for g in problems["groups"]}
    assert by_cat["validation"]["example"]["row_number"] == 3
    assert by_cat["validation"]["fix"]["command"] == "buyersync sync"
    assert by_cat["duplicate_key"]["example"]["row_number"] == 5

    _sheet(sheet, [["B1", "a"], ["B2", "b"]])
    second = doc_of(run_cli("sync", "--source", str(sheet), *common))
    assert run_cli("problems", *common).returncode == 0
    entries = doc_of(run_cli("errors", *common))["errors"]
    assert {e["run_id"] for e in entries} == {first["run_id"]}
    assert {e["resolved_by_run"] for e in entries} == {second["run_id"]}

    _sheet(sheet, [["B1", "a"], ["", "no key again"], ["B2", "b"]])
    run_cli("sync", "--source", str(sheet), *common)
    again = doc_of(run_cli("problems", *common))
    assert again["open"] == 1 and again["problems"][0]["occurrences"] == 2


def test_acknowledged_problem_stays_open_and_stops_alerting(db_url: str, tmp_path: Path) -> None:
    sheet = tmp_path / "s.csv"
    common = ["--db", db_url, "--json"]
    _sheet(sheet, [[f"B{i}", "x"] for i in range(1, 10)] + [["", "no key"]])
    run_cli("sync", "--source", str(sheet), *common)
    health = doc_of(run_cli("health", "--source", str(sheet), "--no-alerts", *common))
    assert [a["condition"] for a in health["alerts"]] == ["error_rate"]
    [problem] = doc_of(run_cli("problems", *common))["problems"]
    acked = run_cli("problems", "ack", str(problem["id"]), "--note", "known", *common)
    assert acked.returncode == 0 and doc_of(acked)["changed"] == [problem["id"]]
    listed = run_cli("problems", *common)
    assert listed.returncode == 0  # open, but acknowledged
    assert doc_of(listed)["open"] == 1 and doc_of(listed)["problems"][0]["acknowledged"]
    health = run_cli("health", "--source", str(sheet), "--no-alerts", *common)
    assert health.returncode == 0, health.stdout
    assert doc_of(health)["alerts"] == [] and doc_of(health)["open_problems"] == 1
    unknown = run_cli("problems", "ack", "999", *common)
    assert unknown.returncode == 1 and doc_of(unknown)["not_open"] == [999]


def test_retention_prunes_old_resolved_history_only(db_url: str, tmp_path: Path) -> None:
    sheet = tmp_path / "s.csv"
    common = ["--db", db_url, "--json"]
    _sheet(sheet, [["B1", "a"], ["", "x"], ["B2", "b"], ["", "y"]])
    run_cli("sync", "--source", str(sheet), *common)
    _sheet(sheet, [["B1", "a"], ["B2", "b"], ["", "y"]])
    run_cli("sync", "--source", str(sheet), *common)  # row 3 resolved, row 5 moved to row 4
    long_ago = datetime(2020, 1, 1, tzinfo=UTC)
    with open_database(db_url) as db:
        for table in ("problems", "sync_error_log"):
            db.execute(
                f"UPDATE {table} SET resolved_at = %s WHERE resolved_at IS NOT NULL",
                (db.ts(long_ago),),
            )
        open_before = db.query_value("SELECT count(*) FROM problems WHERE resolved_at IS NULL")
    out = run_cli("sync", "--source", str(sheet), "--problems-retention-days", "30", *common)
    assert out.returncode == 1
    with open_database(db_url) as db:
        assert db.query_value("SELECT count(*) FROM problems WHERE resolved_at IS NOT NULL") == 0
        assert (
            db.query_value("SELECT count(*) FROM problems WHERE resolved_at IS NULL") == open_before
        )
        # unresolved history stays
        assert db.query_value("SELECT count(*) FROM sync_error_log WHERE resolved_at IS NULL") >= 2


def _kill_once_at(db_url: str, key: str) -> None:
    """A trigger that terminates the writing session when ``key`` is merged — once
    (a sequence is not rolled back with the transaction it is used in)."""
    import psycopg

    with psycopg.connect(db_url, autocommit=True) as conn:
        conn.execute("CREATE SEQUENCE kill_once")
        conn.execute(
            "CREATE FUNCTION kill_at() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            f"IF NEW.buyer_number = '{key}' AND nextval('kill_once') = 1 THEN "
            "PERFORM pg_terminate_backend(pg_backend_pid()); END IF; RETURN NEW; END $$"
        )
        conn.execute(
            "CREATE TRIGGER kill_at BEFORE INSERT OR UPDATE ON buyers "
            "FOR EACH ROW EXECUTE FUNCTION kill_at()"
        )


@pytest.mark.postgres
def test_lost_connection_is_one_problem_with_not_written_rows_and_one_resume_entry(
    pg_url: str, tmp_path: Path
) -> None:
    sheet = tmp_path / "s.csv"
    common = ["--db", pg_url, "--json"]
    _sheet(sheet, [["B00001", "first"]])
    assert run_cli("sync", "--source", str(sheet), *common).returncode == 0
    _kill_once_at(pg_url, "B03000")
    rows = [[f"B{i:05d}", f"name {i}"] for i in range(1, 5001)]
    _sheet(sheet, rows)
    out = run_cli("sync", "--source", str(sheet), "--batch-size", "100", *common)
    assert out.returncode == 1, out.stderr
    doc = doc_of(out)
    assert doc["failed"] == 0 and doc["failures"] == []
    assert doc["not_written"] > 0 and doc["queued_for_retry"] == 1
    with open_database(pg_url) as db:
        landed = db.query_value("SELECT count(*) FROM buyers WHERE name LIKE 'name %%'")
        # nothing lost: every row read is written by the run or covered by not_written
        assert landed + doc["not_written"] == doc["rows_read"] == 5000
        assert (
            db.query_value("SELECT not_written FROM sync_runs WHERE run_id = %s", (doc["run_id"],))
            == doc["not_written"]
        )
        assert (
            db.query_value(
                "SELECT count(*) FROM sync_error_log WHERE run_id = %s", (doc["run_id"],)
            )
            == 1
        )
        [entry] = db.query("SELECT buyer_number, error_type FROM retry_queue")
        assert entry == {"buyer_number": "run:sync", "error_type": "database_connection"}
    problems = doc_of(run_cli("problems", *common))
    [group] = problems["groups"]
    assert group["kind"] == "run" and group["count"] == 1
    assert group["example"]["not_written"] == doc["not_written"]
    assert group["fix"]["command"] == "buyersync retry"
    health = doc_of(run_cli("health", "--source", str(sheet), "--no-alerts", *common))
    assert health["retry_queue_depth"] == 1 and health["open_problems"] == 1

    retried = run_cli("retry", "--all", "--source", str(sheet), *common)
    assert retried.returncode == 0, retried.stdout + retried.stderr
    assert doc_of(retried)["succeeded"] == 1
    with open_database(pg_url) as db:
        assert db.query_value("SELECT count(*) FROM buyers") == 5000
        assert db.query_value("SELECT count(*) FROM retry_queue") == 0
    assert doc_of(run_cli("problems", *common))["open"] == 0


def test_refused_run_is_one_problem_resolved_by_the_next_accepted_sync(
    db_url: str, tmp_path: Path
) -> None:
    sheet = tmp_path / "s.csv"
    common = ["--db", db_url, "--json"]
    _sheet(sheet, [[f"B{i}", "x"] for i in range(10)])
    assert run_cli("sync", "--source", str(sheet), *common).returncode == 0
    _sheet(sheet, [["B1", "x"]])
    refused = run_cli("sync", "--source", str(sheet), *common)
    assert refused.returncode == 3
    [group] = doc_of(run_cli("problems", *common))["groups"]
    assert group["kind"] == "run" and group["count"] == 1
    _sheet(sheet, [[f"B{i}", "y"] for i in range(10)])
    assert run_cli("sync", "--source", str(sheet), *common).returncode == 0
    assert doc_of(run_cli("problems", *common))["open"] == 0


@pytest.mark.postgres
def test_rows_locked_by_another_session_fail_alone_and_the_rest_land(
    pg_url: str, tmp_path: Path
) -> None:
    import psycopg

    sheet = tmp_path / "s.csv"
    common = ["--db", pg_url, "--json"]
    _sheet(sheet, [[f"B{i:04d}", "old"] for i in range(869)])
    assert run_cli("sync", "--source", str(sheet), *common).returncode == 0
    _sheet(sheet, [[f"B{i:04d}", "new"] for i in range(869)])
    locked = {f"B{i:04d}" for i in range(100, 869, 31)}
    assert len(locked) == 25
    with psycopg.connect(pg_url, application_name="lock-holder") as holder:
        holder.execute(
            "SELECT buyer_number FROM buyers WHERE buyer_number = ANY(%s) FOR UPDATE",
            (sorted(locked),),
        )
        out = run_cli(
            "sync",
            "--source",
            str(sheet),
            "--batch-size",
            "1000",
            "--row-lock-timeout",
            "3",
            *common,
        )
        holder.rollback()
    assert out.returncode == 1, out.stderr
    doc = doc_of(out)
    assert doc["failed"] == 25 and doc["failures_by_type"] == {"timeout": 25}
    assert {f["buyer_number"] for f in doc["failures"]} == locked
    assert doc["updated"] == 869 - 25 and doc["not_written"] == 0
    assert doc["queued_for_retry"] == 25
    assert all("lock-holder" in f["error_message"] for f in doc["failures"])
    # while it waited, it said for whom (pid, application, client)
    waiting = [line for line in out.stderr.splitlines() if "waiting for rows of buyers" in line]
    assert waiting, out.stderr
    assert "application 'lock-holder'" in waiting[0] and "pid " in waiting[0]
    with open_database(pg_url) as db:
        names = {
            r["buyer_number"]: r["name"] for r in db.query("SELECT buyer_number, name FROM buyers")
        }
    assert {k for k, v in names.items() if v == "old"} == locked
    retried = run_cli("retry", "--all", "--source", str(sheet), *common)
    assert retried.returncode == 0 and doc_of(retried)["succeeded"] == 25
    assert doc_of(run_cli("problems", *common))["open"] == 0


def test_errors_on_a_database_from_before_problems_gains_the_resolution_fields(
    db_url: str, tmp_path: Path
) -> None:
    sheet = tmp_path / "s.csv"
    common = ["--db", db_url, "--json"]
    _sheet(sheet, [["B1", "a"], ["", "no key"]])
    run_cli("sync", "--source", str(sheet), *common)
    with open_database(db_url) as db:
        # the database as the release before problems left it
        db.execute("DELETE FROM buyersync_schema_version WHERE version = 40")
        db.execute("DROP TABLE problems")
        db.execute("DROP INDEX sync_error_log_subject_idx")
        for column in ("subject", "resolved_at", "resolved_by_run"):
            db.execute(f"ALTER TABLE sync_error_log DROP COLUMN {column}")
        db.execute("ALTER TABLE sync_runs DROP COLUMN not_written")
    out = run_cli("errors", *common)
    assert out.returncode == 0, out.stderr
    [entry] = doc_of(out)["errors"]
    assert entry["resolved_at"] is None and entry["row_number"] == 3
    # the migrated entry is named after its row, so the next full sync settles it
    _sheet(sheet, [["B1", "a"]])
    assert run_cli("sync", "--source", str(sheet), *common).returncode == 0
    [entry] = doc_of(run_cli("errors", *common))["errors"]
    assert entry["resolved_at"] is not None
