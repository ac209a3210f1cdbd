"""Any sheet header is a usable column name, on both databases (issue 13).

SQL is written in psycopg's parameter style; a header such as ``Discount %``,
``pct%s``, ``%(ts)s``, ``q?`` or ``:name`` must never be read as a placeholder — not by
psycopg on PostgreSQL, not by the translation to sqlite3's style on SQLite. These
tests drive the CLI as an operator would: sync, sync again, ``schema fix --apply
--add-columns``, ``verify --full``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from buyersync.cli.main import cli
from buyersync.errors import StoreError
from buyersync.store import open_database
from buyersync.store.db import Database
from buyersync.store.sql import SQL, Identifier, Verbatim, identifiers
from tests.helpers import write_csv

# header in the sheet → the column buyersync makes of it
HOSTILE = {
    "Discount %": "discount_%",
    "pct%s": "pct%s",
    "%(ts)s": "%(ts)s",
    "100%%": "100%%",
    "q?": "q?",
    "?1": "?1",
    ":name": ":name",
    "@p $1": "@p_$1",
    'say "hi"': 'say_"hi"',
    "it's": "it's",
    "back\\slash": "back\\slash",
    "{brace}": "{brace}",
    "Ünïcødé 价格 😀": "ünïcødé_价格_😀",
}
HEADER = ["buyer_number", "name", *HOSTILE]
COLUMNS = ["name", *HOSTILE.values()]


def _run(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, [*args, "--json"])
    try:
        doc = json.loads(result.output)
    except json.JSONDecodeError:
        raise AssertionError(f"exit {result.exit_code}, not JSON: {result.output}") from None
    return result.exit_code, doc


def _stored(db: Database, columns: list[str]) -> dict[str, tuple]:
    stmt = SQL("SELECT {cols} FROM {table} ORDER BY {key}").format(
        cols=identifiers(["buyer_number", *columns]),
        table=Identifier("buyers"),
        key=Identifier("buyer_number"),
    )
    return {row[0]: tuple(row[1:]) for row in db.iterate(stmt)}


def _rows(version: int, extra: int = 0) -> list[list[str]]:
    return [
        [f"B{n}", f"Buyer {n}"] + [f"v{version}-{n}-{i}" for i in range(len(HOSTILE) + extra)]
        for n in range(1, 6)
    ]


def test_hostile_headers_sync_resync_add_columns_verify(db_url: str, tmp_path: Path) -> None:
    first = write_csv(tmp_path / "first.csv", HEADER, _rows(1))
    code, doc = _run("sync", "--db", db_url, "--source", str(first))
    assert code == 0, doc
    assert (doc["inserted"], doc["failed"], doc["unmapped_sheet_columns"]) == (5, 0, [])
    with open_database(db_url) as db:
        assert list(db.columns("buyers"))[1 : 1 + len(COLUMNS)] == COLUMNS
        assert _stored(db, COLUMNS)["B3"] == ("Buyer 3", *(f"v1-3-{i}" for i in range(13)))

    # The second sync must write every column again (SQLite once left out the columns
    # whose names had been mangled) and report the new hostile column as unmapped.
    second = write_csv(tmp_path / "second.csv", [*HEADER, "new %s col"], _rows(2, extra=1))
    code, doc = _run("sync", "--db", db_url, "--source", str(second))
    assert code == 0, doc
    assert (doc["updated"], doc["failed"]) == (5, 0)
    assert doc["unmapped_sheet_columns"] == ["new_%s_col"]
    with open_database(db_url) as db:
        assert _stored(db, COLUMNS)["B5"] == ("Buyer 5", *(f"v2-5-{i}" for i in range(13)))

    code, doc = _run(
        "schema", "fix", "--apply", "--add-columns", "--db", db_url, "--source", str(second)
    )
    assert code == 0, doc
    assert doc["added_columns"] == ["new_%s_col"]

    code, doc = _run("sync", "--db", db_url, "--source", str(second))
    assert code == 0, doc
    assert (doc["updated"], doc["failed"], doc["unmapped_sheet_columns"]) == (5, 0, [])
    with open_database(db_url) as db:
        assert _stored(db, ["new_%s_col"])["B2"] == ("v2-2-13",)

    code, doc = _run("verify", "--full", "--db", db_url, "--source", str(second))
    assert code == 0, doc
    assert doc["ok"] is True and doc["checked"] == 5
    assert doc["columns"] == [*COLUMNS, "new_%s_col"] and doc["unverified_columns"] == []

    # verify really compares those columns: a changed value under one of them shows
    with open_database(db_url) as db:
        db.execute(
            SQL("UPDATE buyers SET {} = %s WHERE buyer_number = %s").format(Identifier("pct%s")),
            ("changed", "B4"),
        )
    code, doc = _run("verify", "--full", "--db", db_url, "--source", str(second))
    assert code != 0 and doc["ok"] is False
    assert (doc["mismatch_count"], doc["mismatched_buyers"]) == (1, 1)


def test_hostile_columns_survive_the_length_migration(db_url: str, tmp_path: Path) -> None:
    """``schema fix --apply`` rebuilds (SQLite) or alters (PostgreSQL) a legacy table
    whose columns have such names, and adds more of them."""
    with open_database(db_url) as db:
        db.execute(
            SQL(
                "CREATE TABLE buyers (buyer_number text PRIMARY KEY, {a} varchar(10) "
                "CHECK (length({a}) <= 10), {b} varchar(20), {c} text, {d} text, "
                "created_at text, synced_at text, db_updated_at text)"
            ).format(
                a=Identifier("name_%s"),
                b=Identifier("pct%(x)s"),
                c=Identifier('say_"hi"'),
                d=Identifier("a,b_(c)"),
            )
        )
        db.execute(
            SQL("INSERT INTO buyers (buyer_number, {}) VALUES (%s, %s)").format(
                Identifier("pct%(x)s")
            ),
            ("B1", "old"),
        )
    sheet = write_csv(
        tmp_path / "s.csv",
        ["buyer_number", "name %s", "pct%(x)s", 'say "hi"', "a,b (c)", "?new"],
        [["B1", "a name much longer than ten", "p", "h", "abc", "n"]],
    )
    base = ["--db", db_url, "--source", str(sheet)]
    code, doc = _run("schema", "fix", "--apply", "--add-columns", *base)
    assert code == 0, doc
    assert sorted(c["column"] for c in doc["converted"]) == ["name_%s", "pct%(x)s"]
    assert doc["added_columns"] == ["?new"] and doc["verification"]["identical"] is True
    code, doc = _run("sync", *base)
    assert code == 0, doc
    assert (doc["updated"], doc["failed"], doc["unmapped_sheet_columns"]) == (1, 0, [])
    with open_database(db_url) as db:
        assert _stored(db, ["name_%s", "pct%(x)s", 'say_"hi"', "a,b_(c)", "?new"])["B1"] == (
            "a name much longer than ten",
            "p",
            "h",
            "abc",
            "n",
        )
    code, doc = _run("verify", "--full", *base)
    assert code == 0 and doc["ok"] is True, doc


def test_a_name_over_63_bytes_is_refused_with_a_mapping_hint(db_url: str, tmp_path: Path) -> None:
    long_header = "Ünïcødé header that is quite long indeed — more than sixty-three bytes"
    sheet = write_csv(tmp_path / "s.csv", ["buyer_number", long_header], [["B1", "x"]])
    result = CliRunner().invoke(cli, ["sync", "--db", db_url, "--source", str(sheet)])
    assert result.exit_code == 2, result.output
    assert f"column B ({long_header!r}) is 76 bytes" in result.output
    assert f'[mapping] "{long_header}" = "short_name"' in result.output
    with open_database(db_url) as db:
        assert not db.table_exists("buyers")

    # the hint, followed literally, works
    config = tmp_path / "buyersync.toml"
    config.write_text(f'[mapping]\n"{long_header}" = "long_header"\n', encoding="utf-8")
    code, doc = _run("sync", "--config", str(config), "--db", db_url, "--source", str(sheet))
    assert code == 0 and doc["inserted"] == 1, doc
    with open_database(db_url) as db:
        assert _stored(db, ["long_header"]) == {"B1": ("x",)}


@pytest.mark.postgres
def test_postgres_refuses_to_quote_a_name_it_would_cut(pg_url: str) -> None:
    with open_database(pg_url) as db:
        long_name = "é" * 32  # 64 bytes in UTF-8
        with pytest.raises(StoreError) as caught:
            db.execute(SQL("CREATE TABLE t ({} text)").format(Identifier(long_name)))
        assert "64 bytes" in caught.value.message and "[mapping]" in (caught.value.hint or "")
        assert not db.table_exists("t")
        db.execute(SQL("CREATE TABLE t ({} text)").format(Identifier("é" * 31 + "x")))
        assert list(db.columns("t")) == ["é" * 31 + "x"]


def test_sqlite_keeps_long_names_whole(sqlite_url: str) -> None:
    with open_database(sqlite_url) as db:
        name = "é" * 40
        db.execute(SQL("CREATE TABLE t ({} text)").format(Identifier(name)))
        assert list(db.columns("t")) == [name]


def test_placeholders_are_translated_in_sql_text_only(db: Database) -> None:
    """Named and positional parameters, ``%%`` and identifiers in one statement."""
    db.execute(
        SQL("CREATE TABLE t ({} text, {} text, {} integer)").format(*identifiers(["%s", ":a", "?"]))
    )
    insert = SQL("INSERT INTO t ({}) VALUES (%(x)s, %(y)s, %(n)s)").format(
        identifiers(["%s", ":a", "?"])
    )
    db.execute(insert, {"x": "100%", "y": "%(y)s", "n": 3})
    db.executemany(insert, [{"x": "a", "y": "b", "n": 4}, {"x": "c", "y": "d", "n": 5}])
    select = SQL("SELECT {a} AS v, {b} AS w FROM t WHERE {n} >= %s AND {a} LIKE '%%' ORDER BY 1")
    rows = db.query(select.format(a=Identifier("%s"), b=Identifier(":a"), n=Identifier("?")), (3,))
    assert rows == [{"v": "100%", "w": "%(y)s"}, {"v": "a", "w": "b"}, {"v": "c", "w": "d"}]
    # no parameters: the text is sent as it is, but for %% (psycopg's rule)
    assert db.query_value("SELECT '50%%' AS p") == "50%"
    assert db.query_value(Verbatim("SELECT '50%%' AS p")) == "50%%"
    streamed = db.iterate(
        SQL("SELECT {} FROM t WHERE {} = %(n)s").format(Identifier(":a"), Identifier("?")),
        {"n": 4},
    )
    assert list(streamed) == [("b",)]
