"""The sheet's shape is a contract: renamed or deleted columns, wrong sheets, the dry-run verdict.

Every case runs the CLI as an operator does, on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import csv
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from buyersync.errors import SyncRefused
from buyersync.services.scheduler import sync_job
from buyersync.settings import Settings
from buyersync.store import open_database
from tests.helpers import invoke, write_csv

HEADER = ["buyer_number", "name", "email"]


def rows(n: int, domain: str = "example.com") -> list[list[str]]:
    return [[f"B{i}", f"Buyer {i}", f"b{i}@{domain}"] for i in range(1, n + 1)]


def query(db_url: str, sql: str, params: tuple = ()) -> list[dict]:
    db = open_database(db_url)
    try:
        return db.query(sql, params)
    finally:
        db.close()


def emails(db_url: str) -> dict[str, str | None]:
    return {
        r["buyer_number"]: r["email"]
        for r in query(db_url, "SELECT buyer_number, email FROM buyers")
    }


def statuses(db_url: str) -> list[str]:
    return [
        r["status"]
        for r in query(
            db_url, "SELECT status FROM sync_runs WHERE operation = 'sync' ORDER BY started_at"
        )
    ]


class _Hook(BaseHTTPRequestHandler):
    received: list[dict] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    received: list[dict] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Hook", (_Hook,), {"received": received}))
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/hook", received
    finally:
        server.shutdown()
        server.server_close()


def test_a_renamed_column_is_refused_until_mapped(
    tmp_path: Path, db_url: str, webhook: tuple[str, list[dict]]
) -> None:
    url, received = webhook
    src = write_csv(tmp_path / "buyers.csv", HEADER, rows(10))
    common = ["sync", "--source", str(src), "--db", db_url]
    assert invoke(*common)[0] == 0
    write_csv(tmp_path / "buyers.csv", ["buyer_number", "name", "E-mail"], rows(10, "new.example"))

    code, out, err = invoke(*common, env={"BUYERSYNC_WEBHOOK_URL": url})
    assert code == 3, (out, err)
    assert "'email'" in err and "'E-mail'" in err  # the missing and the new header
    assert '[mapping] "E-mail" = "email"' in err and "--accept-header-change" in err
    assert set(emails(db_url).values()) == {f"b{i}@example.com" for i in range(1, 11)}
    assert statuses(db_url) == ["succeeded", "refused"]
    assert [d for d in received if "sync refused" in d["text"]], received  # every channel
    state = query(db_url, "SELECT active FROM alert_state WHERE condition = 'sync_refused'")
    assert state and bool(state[0]["active"])

    # verify no longer says OK: buyers.email is not fed and holds stale values
    code, out, err = invoke("verify", "--source", str(src), "--db", db_url, "--full", "--json")
    doc = json.loads(out)
    assert code == 1 and doc["unfed_columns"] == ["email"] and doc["no_longer_fed"] == ["email"]
    code, out, _ = invoke("verify", "--source", str(src), "--db", db_url, "--format", "markdown")
    assert code == 1 and "no longer by the sheet" in out

    # the first way forward: map the new header onto the old column
    config = tmp_path / "buyersync.toml"
    config.write_text('[mapping]\n"E-mail" = "email"\n', encoding="utf-8")
    code, out, err = invoke(*common, "--config", str(config), "--json")
    assert code == 0, err
    assert set(emails(db_url).values()) == {f"b{i}@new.example" for i in range(1, 11)}
    code, out, err = invoke(
        "verify", "--source", str(src), "--db", db_url, "--config", str(config), "--json"
    )
    assert code == 0 and json.loads(out)["unfed_columns"] == []


def test_a_deleted_column_is_refused_everywhere_until_accepted_once(
    tmp_path: Path, db_url: str
) -> None:
    src = write_csv(tmp_path / "buyers.csv", HEADER, rows(10))
    common = ["--source", str(src), "--db", db_url]
    assert invoke("sync", *common)[0] == 0
    # the email column is deleted, and two buyers are missing from the database
    write_csv(tmp_path / "buyers.csv", ["buyer_number", "name"], [r[:2] for r in rows(12)])

    code, out, err = invoke("sync", *common)
    assert code == 3 and "'email' (fed buyers.email)" in err, err
    code, out, err = invoke("sync-missing", *common)
    assert code == 3 and "--accept-header-change" in err, err
    db = open_database(db_url)
    try:
        # a buyer queued for retry before the column went
        db.execute(
            "INSERT INTO retry_queue (buyer_number, status, attempt_count, max_attempts, "
            "next_retry_at, error_type, created_at, updated_at) "
            "VALUES ('B3', 'pending', 0, 5, %s, 'timeout', %s, %s)",
            (db.ts(datetime(2000, 1, 1, tzinfo=UTC)),) * 3,
        )
    finally:
        db.close()
    code, out, err = invoke("retry", *common, "--all")
    assert code == 3 and "headers changed" in err, err
    assert "B11" not in emails(db_url)

    code, out, err = invoke("sync", *common, "--accept-header-change", "--json")
    assert code == 0, err
    doc = json.loads(out)
    assert doc["header_change_accepted"] is True
    assert doc["header_change"]["missing"] == [{"header": "email", "column": "email"}]
    accepted = query(db_url, "SELECT run_id, change, accepted_by FROM header_changes")
    assert [r["run_id"] for r in accepted] == [doc["run_id"]] and accepted[0]["accepted_by"]
    # the accepted map is the new baseline: the next syncs run without the flag
    assert invoke("sync", *common)[0] == 0
    assert invoke("sync-missing", *common)[0] == 0
    assert statuses(db_url) == ["succeeded", "refused", "succeeded", "succeeded"]


def test_new_columns_keep_todays_warning_and_do_not_refuse(tmp_path: Path, db_url: str) -> None:
    src = write_csv(tmp_path / "buyers.csv", HEADER, rows(5))
    common = ["sync", "--source", str(src), "--db", db_url]
    assert invoke(*common)[0] == 0
    write_csv(src, [*HEADER, "phone"], [[*r, "555"] for r in rows(5)])
    code, out, err = invoke(*common, "--json")
    doc = json.loads(out)
    assert code == 0 and doc["unmapped_sheet_columns"] == ["phone"]
    assert doc["header_change"]["new"] == [{"header": "phone", "column": "phone"}]
    assert any("schema fix --apply --add-columns" in w for w in doc["warnings"])


def test_a_scheduled_sync_keeps_refusing_and_alerts(tmp_path: Path, db_url: str) -> None:
    src = write_csv(tmp_path / "buyers.csv", HEADER, rows(5))
    assert invoke("sync", "--source", str(src), "--db", db_url)[0] == 0
    write_csv(src, ["buyer_number", "name", "mail"], rows(5))
    job = sync_job(Settings(database_url=db_url, source=str(src)))
    for _ in range(2):
        with pytest.raises(SyncRefused, match="headers changed"):
            job(threading.Event())
    assert statuses(db_url) == ["succeeded", "refused", "refused"]
    state = query(
        db_url, "SELECT active, last_message FROM alert_state WHERE condition = 'sync_refused'"
    )
    assert state and bool(state[0]["active"])


def test_the_dry_run_shows_the_verdict_before_anything_is_written(
    tmp_path: Path, db_url: str
) -> None:
    src = write_csv(tmp_path / "buyers.csv", HEADER, rows(10))
    common = ["sync", "--source", str(src), "--db", db_url]
    assert invoke(*common)[0] == 0
    write_csv(src, ["buyer_number", "name", "E-mail"], rows(12))

    code, out, err = invoke(*common, "--dry-run", "--json")
    doc = json.loads(out)
    assert code == 0, err
    verdict = doc["verdict"]
    assert verdict["would_refuse"] is True and len(verdict["reasons"]) == 1
    assert "'E-mail'" in verdict["reasons"][0] and "--accept-header-change" in verdict["reasons"][0]
    assert (verdict["would_insert"], verdict["would_update"], verdict["would_fail"]) == (2, 10, 0)
    assert doc["header_change"]["missing"] == [{"header": "email", "column": "email"}]
    assert doc["header_change"]["new"] == [{"header": "E-mail", "column": "e-mail"}]
    assert doc["share"]["shared_keys"] == 10 and doc["share"]["sheet_keys"] == 12

    code, out, err = invoke(*common, "--dry-run")
    assert code == 0 and "verdict: a real sync would be refused" in out
    assert "no longer in the sheet: 'email'" in out
    assert statuses(db_url) == ["succeeded"]  # the dry runs recorded nothing
    assert len(emails(db_url)) == 10

    write_csv(src, HEADER, rows(12))
    code, out, err = invoke(*common, "--dry-run")
    assert code == 0 and "verdict: a real sync would run: would insert 2, would update 10" in out
    assert "headers: the same as the last successful sync" in out


def test_a_sheet_that_holds_every_buyer_and_many_more_passes(tmp_path: Path, db_url: str) -> None:
    # a first sync that stopped early, or a sheet that grew tenfold: not another sheet
    src = write_csv(tmp_path / "buyers.csv", HEADER, rows(10))
    common = ["sync", "--source", str(src), "--db", db_url, "--json"]
    assert invoke(*common)[0] == 0
    write_csv(src, HEADER, rows(100))
    code, out, err = invoke(*common)
    doc = json.loads(out)
    assert code == 0, err
    assert (doc["share"]["key_share"], doc["share"]["database_share"]) == (0.1, 1.0)
    assert doc["inserted"] == 90
    # while a sheet sharing only a few of them, however long, is refused
    write_csv(src, HEADER, rows(3) + [[f"X{i}", "x", ""] for i in range(200)])
    code, out, err = invoke(*common[:-1])
    assert code == 3 and "and they are 3% of its 100 buyers" in err, err


def price_list_sync(realdata: Path, db_url: str, *extra: str) -> tuple[int, str, str]:
    return invoke(
        "sync",
        "--source",
        str(realdata / "xlsx" / "poi__no_drawing_patriarch.xlsx"),
        "--header-row",
        "5",
        "--key",
        "Код товара",
        "--db",
        db_url,
        *extra,
    )


def test_a_price_list_is_refused_by_a_customer_database(realdata: Path, db_url: str) -> None:
    customers = realdata / "csv" / "datablist__customers-1000.csv"
    code, out, err = invoke(
        "sync", "--source", str(customers), "--key", "Customer Id", "--db", db_url, "--json"
    )
    assert code == 0 and json.loads(out)["inserted"] == 1000, err

    code, out, err = price_list_sync(realdata, db_url, "--dry-run", "--json")
    doc = json.loads(out)
    assert code == 0 and doc["verdict"]["would_refuse"] is True, err
    assert doc["share"]["shared_keys"] == 0 and doc["share"]["sheet_keys"] > 7000

    code, out, err = price_list_sync(realdata, db_url)
    assert code == 3, (out, err)
    assert "does not look like the sheet" in err and "buyer numbers" in err
    assert "--min-key-share 0" in err
    count = query(db_url, "SELECT count(*) AS n FROM buyers")[0]["n"]
    assert int(count) == 1000
    assert statuses(db_url)[-1] == "refused"

    # the override, for a sheet that really is the right one
    code, out, err = price_list_sync(
        realdata, db_url, "--min-key-share", "0", "--min-header-share", "0", "--json"
    )
    doc = json.loads(out)
    assert doc["inserted"] > 7000 and doc["status"] in ("succeeded", "completed_with_errors")
    assert code == (0 if doc["failed"] == 0 else 1), err


def test_ordinary_edits_with_a_fifth_new_buyers_pass(
    realdata: Path, db_url: str, tmp_path: Path
) -> None:
    customers = realdata / "csv" / "datablist__customers-1000.csv"
    common = ["sync", "--key", "Customer Id", "--db", db_url, "--json"]
    code, out, err = invoke(*common, "--source", str(customers))
    assert code == 0, err
    with customers.open(encoding="utf-8", newline="") as f:
        table = list(csv.reader(f))
    header, body = table[0], table[1:]
    edited = [list(r) for r in body]
    for r in edited[::7]:
        r[4] = r[4] + " Ltd"  # Company
    new = [
        [
            str(2000 + i),
            f"NEW{i:012d}",
            "New",
            "Buyer",
            "Co",
            "City",
            "Country",
            "",
            "",
            "",
            "2024-01-01",
            "",
        ]
        for i in range(200)
    ]
    copy = write_csv(tmp_path / "datablist__customers-1000.csv", header, edited + new)
    code, out, err = invoke(*common, "--source", str(copy))
    doc = json.loads(out)
    assert code == 0, err
    assert (doc["inserted"], doc["updated"]) == (200, 1000)
    assert doc["share"]["key_share"] == round(1000 / 1200, 4)
    assert doc["share"]["header_share"] == 1.0


def test_rows_rejected_for_a_bad_cell_still_count_as_the_sheets_buyers(
    tmp_path: Path, db_url: str
) -> None:
    # Most known buyers' rows break on one cell (an e-mail too long for a typed column
    # would do; a NUL is refused on every backend): the sheet is still the same sheet.
    src = write_csv(tmp_path / "buyers.csv", HEADER, rows(10))
    common = ["sync", "--source", str(src), "--db", db_url, "--json"]
    assert invoke(*common)[0] == 0
    broken = [[k, "bad\x00name", e] for k, _, e in rows(8)] + rows(10)[8:] + rows(14)[10:]
    write_csv(src, HEADER, broken)
    for dry in (["--dry-run"], []):  # the dry run first: the sync adds B11–B14
        code, out, err = invoke(*common, *dry)
        doc = json.loads(out)
        assert "does not look like the sheet" not in err, err
        assert doc["share"]["shared_keys"] == 10 and doc["share"]["sheet_keys"] == 14, doc
    assert doc["failed"] == 8 and doc["inserted"] == 4, doc
