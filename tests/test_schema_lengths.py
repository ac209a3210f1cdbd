"""The length pre-flight agrees with the database exactly (issue 4, gap 2).

PostgreSQL stores a value longer than varchar(n)/char(n) when the excess is only
trailing spaces (it cuts them off); CHECKs judge the stored value; char(n) pads. The
property: :func:`buyersync.rules.lengths.excess` refuses a value exactly when an INSERT
fails with 22001 (type) or 23514 (a length CHECK), on real PostgreSQL and SQLite.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buyersync.cli.main import cli
from buyersync.errors import StoreError
from buyersync.rules.lengths import ColumnLimit, LengthCheck, Unit, excess
from buyersync.store import catalog, open_database
from buyersync.store.db import Database
from tests.helpers import error_rows, write_csv

# spaces (the interesting part), multibyte characters of 2, 3 and 4 UTF-8 bytes, a tab
# (not a space: PostgreSQL cuts only U+0020) and a no-break space
VALUES = st.text(st.sampled_from([" ", " ", " ", "a", "é", "€", "😀", "\t", "\u00a0"]), max_size=9)

PG_TABLE = """
CREATE TABLE buyers (
    buyer_number text PRIMARY KEY,
    v varchar(4),
    c char(4),
    vc varchar(6) CONSTRAINT vc_len CHECK (char_length(vc) <= 4),
    cb char(5) CONSTRAINT cb_bytes CHECK (octet_length(cb) <= 7),
    cc char(5) CONSTRAINT cc_len CHECK (char_length(cc) <= 3),
    tb text CONSTRAINT tb_bytes CHECK (octet_length(tb) <= 5),
    created_at timestamptz, synced_at timestamptz, db_updated_at timestamptz
)
"""
SQLITE_TABLE = """
CREATE TABLE buyers (
    buyer_number TEXT PRIMARY KEY,
    v VARCHAR(4) CHECK (length(v) <= 4),
    t TEXT CHECK (length(t) < 3),
    w VARCHAR(2),
    created_at TEXT, synced_at TEXT, db_updated_at TEXT
)
"""


def test_excess_examples() -> None:
    varchar4 = ColumnLimit(4)
    assert excess("abcd   ", varchar4) is None  # excess is spaces: cut, stored
    assert excess("abcde", varchar4) is not None
    assert excess("abcd\t", varchar4) is not None  # a tab is not a space
    assert excess("ééé ", ColumnLimit(3)) is None
    char5_bytes = ColumnLimit(5, padded=True, checks=(LengthCheck(6, Unit.BYTES, "b"),))
    assert excess("é", char5_bytes) is None  # 'é    ' is 6 bytes
    refused = excess("éé", char5_bytes)  # 'éé   ' is 7 bytes
    assert refused is not None and (refused.length, refused.constraint) == (7, "b")
    char5_chars = ColumnLimit(5, padded=True, checks=(LengthCheck(3),))
    assert excess("abc  ", char5_chars) is None  # char_length ignores a char(n)'s padding
    assert excess("", ColumnLimit(None, checks=(LengthCheck(0),))) is None  # sent as NULL
    assert excess("abc", 2) is not None and excess("ab ", 2) is not None  # int: strict


def _outcome(db: Database, column: str, value: str) -> str | None:
    """None when the row is stored, else the SQLSTATE (or SQLite's message)."""
    try:
        with db.transaction():
            db.execute(
                f"INSERT INTO buyers (buyer_number, {db.quote(column)}) VALUES (%s, %s)",
                (f"k{abs(hash((column, value)))}", value or None),
            )
    except StoreError as exc:
        return exc.sqlstate or exc.message
    return None


def _agree(db: Database, columns: list[str]) -> None:
    limits = catalog.column_limits(db)
    assert set(limits) == set(columns)

    @settings(
        max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(column=st.sampled_from(columns), value=VALUES)
    def agrees(column: str, value: str) -> None:
        predicted = excess(value, limits[column])
        got = _outcome(db, column, value)
        if predicted is None:
            assert got is None, (column, value, got)
        else:
            assert got is not None, (column, value, predicted)
            if db.dialect == "postgresql":
                assert got == ("22001" if predicted.constraint is None else "23514"), got

    agrees()


@pytest.mark.postgres
def test_preflight_agrees_with_postgresql(pg_url: str) -> None:
    with open_database(pg_url) as db:
        db.execute(PG_TABLE)
        _agree(db, ["v", "c", "vc", "cb", "cc", "tb"])


def test_preflight_agrees_with_sqlite(sqlite_url: str) -> None:
    with open_database(sqlite_url) as db:
        db.execute(SQLITE_TABLE)
        _agree(db, ["v", "t"])  # w's VARCHAR(2) is declared only: SQLite stores anything
        assert _outcome(db, "w", "much longer") is None


@pytest.mark.postgres
def test_sync_stores_what_postgresql_takes(pg_url: str, tmp_path: Path) -> None:
    with open_database(pg_url) as db:
        db.execute(PG_TABLE)
    rows = [
        ["B1", "abcd   ", "ab      ", "", "", "", ""],  # trailing spaces: fits
        ["B2", "abcde", "", "", "", "", ""],  # v: 22001
        ["B3", "", "", "", "éé", "", ""],  # cb: 'éé   ' is 7 bytes: fits
        ["B4", "", "", "", "ééé", "", ""],  # cb: 8 bytes
        ["B5", "", "€ab  ", "", "", "", ""],
    ]  # c: fits after the cut
    sheet = write_csv(tmp_path / "s.csv", ["buyer_number", "v", "c", "vc", "cb", "cc", "tb"], rows)
    result = CliRunner().invoke(cli, ["sync", "--db", pg_url, "--source", str(sheet), "--json"])
    doc = json.loads(result.output)
    assert (doc["inserted"], doc["failed"]) == (3, 2), result.output
    with open_database(pg_url) as db:
        logged = {r["buyer_number"]: r for r in error_rows(db, doc["run_id"])}
        assert set(logged) == {"B2", "B4"}
        assert all("sqlstate" not in r["details"] for r in logged.values())  # pre-flight
        assert db.query_value("SELECT v FROM buyers WHERE buyer_number = 'B1'") == "abcd"
