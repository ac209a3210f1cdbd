"""Hostile input: SQL in headers and cells, NUL bytes, 1 MB cells, control characters,
right-to-left text, emoji, 10,000 columns, 1,000,000 rows.

Values are stored exactly as the sheet has them, or the row is logged with a reason;
nothing crashes, nothing is executed, and the invariant holds.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from tests.helpers import write_csv
from tests.reliability.conftest import (
    assert_converged,
    assert_invariant,
    cli,
    json_of,
    opened,
    run_statuses,
)

pytestmark = pytest.mark.reliability

SQL_HEADERS = ["buyer_number", 'name"; DROP TABLE buyers; --', "x'); DELETE FROM sync_runs; --"]
SQL_ROWS = [
    ["B1", "Robert'); DROP TABLE buyers;--", "1; DELETE FROM sync_error_log"],
    ["B2'--", "' OR '1'='1", "$$; SELECT pg_sleep(10); $$"],
    ['B3"; --', "%s %(x)s %% ?", ":name ?1 @p"],
]


def _sync(sheet: Path, url: str, *extra: str):  # type: ignore[no-untyped-def]
    return cli("sync", "--source", str(sheet), "--db", url, "--json", *extra)


def test_sql_in_headers_and_cells_is_data(tmp_path: Path, url: str) -> None:
    sheet = write_csv(tmp_path / "s.csv", SQL_HEADERS, SQL_ROWS)
    out = _sync(sheet, url)
    assert out.returncode == 0, out.stderr
    with opened(url) as db:
        cols = list(db.columns("buyers"))
        assert 'name";_drop_table_buyers;_--' in cols
        got = {
            r["buyer_number"]: tuple(r.values())[1:3]
            for r in db.query(
                f"SELECT buyer_number, {db.quote(cols[1])}, {db.quote(cols[2])} FROM buyers"
            )
        }
        assert got == {r[0]: (r[1], r[2]) for r in SQL_ROWS}
        assert db.table_exists("sync_runs") and run_statuses(db)
        assert_invariant(db, json_of(out)["run_id"], SQL_ROWS)


def test_nul_bytes_are_logged_as_data_format_with_their_row(tmp_path: Path, url: str) -> None:
    rows = [["B1", "a\x00b"], ["B2", "fine"], ["B\x003", "key has a NUL"], ["B4", "\x00"]]
    sheet = write_csv(tmp_path / "s.csv", ["buyer_number", "name"], rows)
    out = _sync(sheet, url)
    assert out.returncode == 1, out.stderr  # ran, found problems; never a crash
    doc = json_of(out)
    assert (doc["inserted"], doc["failed"]) == (1, 3)
    with opened(url) as db:
        assert_converged(db, {"B2"})
        logged = db.query(
            "SELECT row_number, buyer_number, error_type, retryable "
            "FROM sync_error_log ORDER BY row_number"
        )
        assert [(r["row_number"], r["error_type"]) for r in logged] == [
            (2, "data_format"),
            (4, "data_format"),
            (5, "data_format"),
        ]
        assert logged[1]["buyer_number"] == "B\\x003"  # spelled out: no database holds NUL
        assert not any(r["retryable"] for r in logged)
        assert db.query_value("SELECT count(*) FROM retry_queue") == 0
        assert_invariant(db, doc["run_id"], rows)


def test_nul_in_a_header_is_a_header_error(tmp_path: Path, url: str) -> None:
    sheet = write_csv(tmp_path / "s.csv", ["buyer_number", "na\x00me"], [["B1", "x"]])
    out = _sync(sheet, url)
    assert out.returncode == 2, out.stderr
    assert "contains a NUL character" in out.stderr and "Traceback" not in out.stderr
    with opened(url) as db:
        assert not db.table_exists("buyers")


def test_control_characters_rtl_and_emoji_round_trip(tmp_path: Path, url: str) -> None:
    rows = [
        ["B1", "\x01\x02\x07\x1b[31mred\x1b[0m\x7f", "\u202eevil.exe\u202c"],
        ["B2", "שלום עולם", "مرحبا بالعالم"],
        ["B3", "😀👨‍👩‍👧‍👦🏳️‍🌈", "\ufeffbom in the middle"],
        ["B4", "line one\r\nline two\ttab", "\u2028\u2029\u200b"],
        ["B５", "full-width key", "ｶﾀｶﾅ"],
    ]
    sheet = write_csv(tmp_path / "s.csv", ["buyer_number", "name", "note"], rows)
    out = _sync(sheet, url)
    assert out.returncode == 0, out.stderr
    with opened(url) as db:
        got = {
            r["buyer_number"]: (r["name"], r["note"])
            for r in db.query("SELECT buyer_number, name, note FROM buyers")
        }
        expected = {r[0].replace("５", "5"): (r[1], r[2]) for r in rows}  # NFKC on the key only
        assert got == expected
        assert_invariant(db, json_of(out)["run_id"], rows)


def test_one_megabyte_cells_are_stored_whole(tmp_path: Path, url: str) -> None:
    big = "x" * 1_000_000
    wide = "é" * 1_000_000  # 2 MB of UTF-8
    rows = [["B1", big], ["B2", wide], ["B3", "small"]]
    sheet = write_csv(tmp_path / "s.csv", ["buyer_number", "note"], rows)
    out = _sync(sheet, url)
    assert out.returncode == 0, out.stderr
    with opened(url) as db:
        got = {
            r["buyer_number"]: r["note"] for r in db.query("SELECT buyer_number, note FROM buyers")
        }
        assert got == {"B1": big, "B2": wide, "B3": "small"}
        assert_invariant(db, json_of(out)["run_id"], rows)


@pytest.mark.slow
def test_ten_thousand_columns_is_refused_clearly(tmp_path: Path, url: str) -> None:
    header = ["buyer_number"] + [f"c{i}" for i in range(1, 10_000)]
    rows = [[f"B{n}"] + ["v"] * 9_999 for n in range(3)]
    sheet = write_csv(tmp_path / "s.csv", header, rows)
    out = cli("sync", "--source", str(sheet), "--db", url, timeout=120)
    assert out.returncode == 3, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and "columns" in lines[0] and "Traceback" not in out.stderr
    with opened(url) as db:
        assert not db.table_exists("buyers")  # nothing written
        assert set(run_statuses(db).values()) == {"failed"}  # and the run says so


@pytest.mark.slow
def test_one_million_rows(tmp_path: Path, url: str) -> None:
    """Memory-light: the sheet is streamed; two narrow columns keep the file ~20 MB."""
    n = 1_000_000
    path = tmp_path / "million.csv"
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["buyer_number", "name"])
        writer.writerows([f"M{i:07d}", f"n{i}"] for i in range(n))
    out = cli(
        "sync", "--source", str(path), "--db", url, "--json", "--batch-size", "1000", timeout=600
    )
    assert out.returncode == 0, out.stderr
    doc = json_of(out)
    assert (doc["rows_read"], doc["inserted"], doc["failed"]) == (n, n, 0)
    with opened(url) as db:
        assert db.query_value("SELECT count(*) FROM buyers") == n
        assert db.query_value("SELECT count(DISTINCT buyer_number) FROM buyers") == n
        assert db.query_value("SELECT count(*) FROM sync_error_log") == 0
