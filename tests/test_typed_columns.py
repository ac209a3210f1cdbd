"""Typed buyers columns on both backends: each cell parsed with the one parser, a bad
cell fails its row (naming the column, cell, value and type), the other rows land."""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buyersync.rules.typed import ParseOptions
from buyersync.services.sync import sync
from buyersync.sources.csv_source import CsvSource
from buyersync.store import open_database
from buyersync.store.db import Database
from tests.helpers import assert_every_row_accounted, run_cli, write_csv

HEADER = ["buyer_number", "name", "credit_limit", "joined_on", "active", "employees"]
ROWS = [
    ["B1", "Ann", "1,234.50", "2024-01-15", "Yes", "12"],
    ["B2", "Bob", "n/a", "2024-01-15", "no", "3"],
    ["B3", "Cy", "10", "2024-02-30", "true", "1"],
    ["B4", "Di", "5", "03/04/2024", "false", "2"],
    ["B5", "Ed", "7", "2024-05-01", "Maybe", "1"],
    ["B6", "Fy", "1", "31/12/2024", "1", "4"],
    ["B7", "Gus", "", "", "", ""],
]


def make_table(db: Database) -> None:
    """A hand-made application table, as real ones are: typed columns."""
    ts = db.sql.column_types["ts"]
    db.execute(
        "CREATE TABLE buyers (buyer_number text PRIMARY KEY, name text, "
        "credit_limit numeric(12,2), joined_on date, active boolean, employees integer, "
        f"created_at {ts}, synced_at {ts}, db_updated_at {ts})"
    )


def _stored(db: Database) -> dict[str, dict]:
    return {
        r["buyer_number"]: r
        for r in db.query(
            "SELECT buyer_number, credit_limit, joined_on, active, employees FROM buyers"
        )
    }


def _sync(
    db_url: str, src: Path, *extra: str, env: dict[str, str] | None = None
) -> tuple[int, dict]:
    out = run_cli("sync", "--source", str(src), "--db", db_url, "--json", *extra, env=env)
    return out.returncode, json.loads(out.stdout)


def test_bad_typed_cells_fail_their_row_and_name_the_cell(tmp_path: Path, db_url: str) -> None:
    with open_database(db_url) as db:
        make_table(db)
    src = write_csv(tmp_path / "b.csv", HEADER, ROWS)
    code, doc = _sync(db_url, src)
    assert code == 1
    assert (doc["inserted"], doc["failed"]) == (2, 5)
    by_buyer = {f["buyer_number"]: f for f in doc["failures"]}
    assert set(by_buyer) == {"B2", "B3", "B4", "B5", "B6"}
    assert all(f["error_type"] == "data_format" for f in by_buyer.values())
    expect = {
        "B2": ("credit_limit", "C3", "n/a", "numeric(12,2)", "not_a_number"),
        "B3": ("joined_on", "D4", "2024-02-30", "date", "invalid_date"),
        "B4": ("joined_on", "D5", "03/04/2024", "date", "date_order_needed"),
        "B5": ("active", "E6", "Maybe", "boolean", "not_a_boolean"),
        "B6": ("joined_on", "D7", "31/12/2024", "date", "date_order_needed"),
    }
    for key, (column, cell, value, expected, problem) in expect.items():
        f = by_buyer[key]
        [detail] = f["details"]["cells"]
        assert (detail["column"], detail["cell"], detail["value"]) == (column, cell, value)
        assert (detail["expected"], detail["problem"]) == (expected, problem)
        for part in (column, cell, repr(value), expected):
            assert part in f["error_message"], (part, f["error_message"])
    with open_database(db_url) as db:
        stored = _stored(db)
        assert set(stored) == {"B1", "B7"}
        b1 = stored["B1"]
        assert Decimal(str(b1["credit_limit"])) == Decimal("1234.50")
        assert str(b1["joined_on"]) == "2024-01-15"
        assert b1["active"] in (True, 1) and b1["active"] is not None
        assert int(b1["employees"]) == 12
        # an empty cell is NULL in every typed column
        assert all(stored["B7"][c] is None for c in ("credit_limit", "joined_on", "active"))
        logged = db.query("SELECT buyer_number, error_type FROM sync_error_log")
        assert sorted(r["buyer_number"] for r in logged) == ["B2", "B3", "B4", "B5", "B6"]
        assert_every_row_accounted(db, doc["run_id"], ROWS)


def test_sqlite_stores_typed_values_in_their_storage_class(tmp_path: Path, sqlite_url: str) -> None:
    with open_database(sqlite_url) as db:
        make_table(db)
    src = write_csv(tmp_path / "b.csv", HEADER, ROWS[:1])
    assert _sync(sqlite_url, src)[0] == 0
    with open_database(sqlite_url) as db:
        row = db.query_one(
            "SELECT typeof(credit_limit) AS c, typeof(joined_on) AS d, typeof(active) AS a, "
            "typeof(employees) AS e, active FROM buyers"
        )
    assert row == {"c": "real", "d": "text", "a": "integer", "e": "integer", "active": 1}


def test_date_order_setting_reads_day_first(tmp_path: Path, db_url: str) -> None:
    with open_database(db_url) as db:
        make_table(db)
    rows = [ROWS[0], ROWS[3], ROWS[5]]
    src = write_csv(tmp_path / "b.csv", HEADER, rows)
    code, doc = _sync(db_url, src, env={"BUYERSYNC_DATE_ORDER": "DMY"})
    assert code == 0, doc["failures"]
    assert doc["inserted"] == 3
    with open_database(db_url) as db:
        stored = _stored(db)
    assert str(stored["B4"]["joined_on"]) == "2024-04-03"  # 3 April, not 4 March
    assert str(stored["B6"]["joined_on"]) == "2024-12-31"
    # a re-sync of the same sheet changes nothing, though the sheet spells values
    # differently from how the database stores them ('1,234.50', 'Yes')
    code, again = _sync(db_url, src, env={"BUYERSYNC_DATE_ORDER": "DMY"})
    assert code == 0
    assert (again["inserted"], again["changed"], again["unchanged"]) == (0, 0, 3)
    rows[0] = ["B1", "Ann", "1,234.51", "2024-01-15", "Yes", "12"]
    write_csv(src, HEADER, rows)
    code, changed = _sync(db_url, src, env={"BUYERSYNC_DATE_ORDER": "DMY"})
    assert (changed["changed"], changed["unchanged"]) == (1, 2)


def test_number_format_setting(tmp_path: Path, db_url: str) -> None:
    with open_database(db_url) as db:
        make_table(db)
    src = write_csv(tmp_path / "b.csv", HEADER, [["B1", "Ann", "1.234,50", "", "", "1.000"]])
    code, doc = _sync(db_url, src, env={"BUYERSYNC_NUMBER_FORMAT": "1.234,56"})
    assert code == 0, doc["failures"]
    with open_database(db_url) as db:
        b1 = _stored(db)["B1"]
    assert Decimal(str(b1["credit_limit"])) == Decimal("1234.50") and int(b1["employees"]) == 1000


@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["12", "1,234.50", "n/a", "", "1.5", "-3", "99999999999.99"]),
            st.sampled_from(["2024-01-31", "2024-02-30", "31/12/2024", "", "x"]),
            st.sampled_from(["yes", "No", "TRUE", "maybe", "", "0"]),
        ),
        min_size=1,
        max_size=15,
    )
)
def test_a_bad_cell_never_blocks_other_rows(
    db: Database, tmp_path: Path, cells: list[tuple[str, str, str]]
) -> None:
    db.execute("DROP TABLE IF EXISTS buyers")
    make_table(db)
    rows = [[f"B{i}", "n", c, d, a, "1"] for i, (c, d, a) in enumerate(cells)]
    bad_values = {"n/a", "2024-02-30", "31/12/2024", "x", "maybe", "99999999999.99", "1.5x"}
    expected_bad = {r[0] for r in rows if bad_values & set(r[2:5])}
    report = sync(db, CsvSource(write_csv(tmp_path / "b.csv", HEADER, rows)))
    failed = {f.buyer_number for f in report.failures}
    assert failed == expected_bad
    landed = {r["buyer_number"] for r in db.query("SELECT buyer_number FROM buyers")}
    assert landed == {r[0] for r in rows} - expected_bad
    assert report.inserted == len(landed)


@pytest.mark.postgres
def test_domain_resolves_to_its_base_type(tmp_path: Path, pg_url: str) -> None:
    with open_database(pg_url) as db:
        db.execute("CREATE DOMAIN money_amount AS numeric(10,2)")
        db.execute("CREATE DOMAIN amount2 AS money_amount")
        db.execute(
            "CREATE TABLE buyers (buyer_number text PRIMARY KEY, credit_limit amount2, "
            "created_at timestamptz, synced_at timestamptz, db_updated_at timestamptz)"
        )
    src = write_csv(
        tmp_path / "b.csv", ["buyer_number", "credit_limit"], [["B1", "2,500.00"], ["B2", "a lot"]]
    )
    code, doc = _sync(pg_url, src)
    assert code == 1 and doc["inserted"] == 1
    [f] = doc["failures"]
    assert f["details"]["cells"][0]["expected"] == "numeric(10,2)"


TYPED_OK = [
    ["B1", "Ann", "1,234.50", "2024-01-15", "Yes", "12"],
    ["B2", "Bob", "7", "31/12/2024", "off", "-3"],
    ["B3", "Cy", "", "", "", ""],
]


@pytest.mark.parametrize("mode", [["--full"], ["--sample", "10"]], ids=["full", "sample"])
def test_verify_compares_typed_values(tmp_path: Path, db_url: str, mode: list[str]) -> None:
    env = {"BUYERSYNC_DATE_ORDER": "DMY"}
    with open_database(db_url) as db:
        make_table(db)
    src = write_csv(tmp_path / "b.csv", HEADER, TYPED_OK)
    assert _sync(db_url, src, env=env)[0] == 0
    flag = ["--date-order", "DMY"]  # the flag, as the environment variable above
    out = run_cli("verify", "--source", str(src), "--db", db_url, "--json", *mode, *flag)
    doc = json.loads(out.stdout)
    assert out.returncode == 0 and doc["mismatch_count"] == 0, doc["mismatches"]
    assert doc["checked"] == 3
    with open_database(db_url) as db:
        db.execute(
            "UPDATE buyers SET credit_limit = 1234.51, active = NULL WHERE buyer_number = 'B1'"
        )
        db.execute("UPDATE buyers SET employees = 4 WHERE buyer_number = 'B3'")
    out = run_cli("verify", "--source", str(src), "--db", db_url, "--json", *mode, env=env)
    doc = json.loads(out.stdout)
    assert out.returncode == 1
    found = {(m["buyer_number"], m["column"], m["sheet_value"]) for m in doc["mismatches"]}
    assert found == {
        ("B1", "credit_limit", "1,234.50"),
        ("B1", "active", "Yes"),
        ("B3", "employees", None),
    }


@pytest.mark.postgres
def test_postgres_fingerprints_typed_columns_in_sql(pg_url: str) -> None:
    """verify --full keeps its speed: the server hashes numeric, date, boolean, integer."""
    from buyersync.store import catalog, fingerprints

    with open_database(pg_url) as db:
        make_table(db)
        cols = ["name", "credit_limit", "joined_on", "active", "employees"]
        types = catalog.column_types(db)
        assert fingerprints.server_can_fingerprint(db, cols, types)
        db.execute(
            "INSERT INTO buyers (buyer_number, name, credit_limit, joined_on, active, employees) "
            "VALUES ('B1', 'Ann', 1234.5, '2024-01-15', true, 12)"
        )
        server = dict(fingerprints.iter_fingerprints(db, cols, types))
    from buyersync.rules.compare import sheet_fingerprint
    from buyersync.rules.typedcells import canonical_cells

    typed = [(i, types[c]) for i, c in enumerate(cols) if types[c].typed]
    cells = canonical_cells(("Ann", "1,234.5", "2024-01-15", "yes", "12"), typed, ParseOptions())
    assert server["B1"] == sheet_fingerprint(cells)


def test_schema_check_reports_typed_columns_and_unparsable_values(
    tmp_path: Path, db_url: str
) -> None:
    with open_database(db_url) as db:
        make_table(db)
    out = run_cli("schema", "check", "--db", db_url, "--json")
    doc = json.loads(out.stdout)
    typed = {t["column"]: t for t in doc["typed_columns"]}
    assert {c: t["type"].lower() for c, t in typed.items()} == {
        "credit_limit": "numeric(12,2)",
        "joined_on": "date",
        "active": "boolean",
        "employees": "integer",
    }
    assert all(t["unparsable"] is None for t in typed.values())
    src = write_csv(tmp_path / "b.csv", HEADER, ROWS)
    out = run_cli("schema", "check", "--db", db_url, "--source", str(src), "--json")
    assert out.returncode == 1
    doc = json.loads(out.stdout)
    assert doc["ok"] is False and doc["unparsable_count"] == 5
    typed = {t["column"]: t for t in doc["typed_columns"]}
    assert {c: t["unparsable"] for c, t in typed.items()} == {
        "credit_limit": 1,
        "joined_on": 3,
        "active": 1,
        "employees": 0,
    }
    assert [(e["cell"], e["value"], e["problem"]) for e in typed["joined_on"]["examples"]] == [
        ("D4", "2024-02-30", "invalid_date"),
        ("D5", "03/04/2024", "date_order_needed"),
        ("D7", "31/12/2024", "date_order_needed"),
    ]
    text = run_cli("schema", "check", "--db", db_url, "--source", str(src))
    assert "typed column: joined_on — date: 3 sheet value(s) would not parse" in text.stdout
    assert "D4 '2024-02-30' (invalid_date)" in text.stdout
    assert "every sheet value parses" in text.stdout.split("typed column: employees")[1]
    fine = run_cli(
        "schema",
        "check",
        "--db",
        db_url,
        "--source",
        str(src),
        "--json",
        env={"BUYERSYNC_DATE_ORDER": "DMY"},
    )
    assert json.loads(fine.stdout)["unparsable_count"] == 3  # n/a, 2024-02-30, Maybe
