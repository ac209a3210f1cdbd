"""Length CHECK constraints on PostgreSQL: reported, used by the pre-flight, dropped by
Migration 050; mixed ones reported and kept (issue 4, gap 1)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from buyersync.cli.main import cli
from buyersync.rules import schema as rules
from buyersync.rules.lengths import LengthCheck, Unit
from buyersync.store import catalog, open_database
from tests.helpers import error_rows, write_csv

# -- the parser, on pg_get_constraintdef's canonical text -------------------------------


@pytest.mark.parametrize(
    ("definition", "column", "check"),
    [
        ("CHECK ((char_length(x) <= 3))", "x", LengthCheck(3, Unit.CHARACTERS, "c")),
        ("CHECK ((length((y)::text) < 4))", "y", LengthCheck(3, Unit.CHARACTERS, "c")),
        ("CHECK ((3 >= character_length(w)))", "w", LengthCheck(3, Unit.CHARACTERS, "c")),
        ("CHECK ((9 > length(w)))", "w", LengthCheck(8, Unit.CHARACTERS, "c")),
        ("CHECK ((octet_length(z) <= 4)) NOT VALID", "z", LengthCheck(4, Unit.BYTES, "c")),
        ('CHECK ((char_length("Odd ""q") <= 7))', 'Odd "q', LengthCheck(7, Unit.CHARACTERS, "c")),
        (
            "CHECK ((char_length((v)::character varying(20)) <= 7))",
            "v",
            LengthCheck(7, Unit.CHARACTERS, "c"),
        ),
    ],
)
def test_pure_length_checks_are_parsed(definition: str, column: str, check: LengthCheck) -> None:
    assert rules.parse_pg_check(definition, "c") == rules.ColumnCheck(column, check)
    assert rules.mixed_check(definition, [column], "c") is None


@pytest.mark.parametrize(
    "definition",
    [
        "CHECK (((char_length(m) >= 1) AND (char_length(m) <= 3)))",
        "CHECK (((n IS NULL) OR (char_length(n) <= 4)))",
        "CHECK ((char_length(a) <= char_length(b)))",
        "CHECK ((char_length(upper(a)) <= 3))",
    ],
)
def test_mixed_length_checks_are_not_pure(definition: str) -> None:
    assert rules.parse_pg_check(definition) is None
    mixed = rules.mixed_check(definition, ["m"], "k")
    assert mixed is not None and mixed.name == "k"
    assert "by hand" in mixed.what_to_do and "k" in mixed.what_to_do


def test_unrelated_checks_are_ignored() -> None:
    assert rules.parse_pg_check("CHECK ((credit > 0))") is None
    assert rules.mixed_check("CHECK ((credit > 0))", ["credit"]) is None
    assert rules.mixed_check("CHECK ((lengthy_col > 0))", ["lengthy_col"]) is None


# -- on a real PostgreSQL --------------------------------------------------------------

LEGACY = """
CREATE TABLE buyers (
    buyer_number text PRIMARY KEY,
    name text CONSTRAINT name_len CHECK (char_length(name) <= 20),
    city varchar(40) CONSTRAINT city_len CHECK (length(city) < 11),
    notes text,
    tag text,
    kind text CONSTRAINT kind_shape CHECK (char_length(kind) BETWEEN 1 AND 5),
    credit integer CHECK (credit >= 0),
    created_at timestamptz, synced_at timestamptz, db_updated_at timestamptz
);
ALTER TABLE buyers ADD CONSTRAINT notes_bytes CHECK (octet_length(notes) <= 12) NOT VALID;
ALTER TABLE buyers ADD CONSTRAINT tag_len CHECK (8 >= character_length(tag));
CREATE VIEW buyer_names AS SELECT buyer_number, name FROM buyers;
INSERT INTO buyers (buyer_number, name, city, notes, tag, kind)
VALUES ('B0', 'existing', 'Ely', 'old', 't', 'k');
"""


def _legacy(url: str) -> None:
    with open_database(url) as db:
        for statement in LEGACY.split(";\n"):
            if statement.strip():
                db.execute(statement)


def _cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    return result.exit_code, result.output


@pytest.mark.postgres
def test_check_reports_pure_and_mixed_length_checks(pg_url: str) -> None:
    _legacy(pg_url)
    code, out = _cli("schema", "check", "--db", pg_url, "--json")
    assert code == 1, out
    doc = json.loads(out)
    found = {f["column"]: f for f in doc["non_text_fields"]}
    assert set(found) == {"name", "city", "notes", "tag"}  # property 1: and nothing else
    assert found["name"]["constraints"] == [{"name": "name_len", "limit": 20, "unit": "characters"}]
    assert found["name"]["source"] == "check" and found["name"]["limit"] == 20
    assert found["city"]["limit"] == 10 and found["city"]["type"] == "character varying(40)"
    assert found["notes"]["constraints"] == [{"name": "notes_bytes", "limit": 12, "unit": "bytes"}]
    assert found["tag"]["limit"] == 8
    [mixed] = doc["mixed_length_checks"]
    assert mixed["constraint"] == "kind_shape" and mixed["columns"] == ["kind"]
    assert mixed["reason"] and "kind_shape" in mixed["what_to_do"]

    code, text = _cli("schema", "check", "--db", pg_url)
    assert "name — at most 20 characters (constraint name_len: at most 20 characters)" in text
    assert "kind_shape" in text and "by hand" in text


@pytest.mark.postgres
def test_sync_preflight_uses_length_checks(pg_url: str, tmp_path: Path) -> None:
    _legacy(pg_url)
    rows = [
        ["B1", "n" * 20, "Cambridge", "ok", "t", "k"],  # fits exactly
        ["B2", "n" * 21, "Ely", "ok", "t", "k"],  # name_len
        ["B3", "ok", "Peterborough", "ok", "t", "k"],  # city_len (12 > 10)
        ["B4", "ok", "Ely", "é" * 7, "t", "k"],  # 14 bytes > 12
        ["B5", "ok", "Ely", "e" * 12, "tag-8888", "k"],  # fits: 12 bytes, 8 chars
        ["B6", "ok", "Ely", "ok", "tag-99999", "k"],  # tag_len
    ]
    sheet = write_csv(
        tmp_path / "s.csv", ["buyer_number", "name", "city", "notes", "tag", "kind"], rows
    )
    with open_database(pg_url) as db:
        limits = catalog.column_limits(db)
        assert set(limits) == {"name", "city", "notes", "tag"}
    # the legacy table's own buyer is not in this sheet: the wrong-sheet guard is off
    code, out = _cli(
        "sync", "--db", pg_url, "--source", str(sheet), "--json", "--min-key-share", "0"
    )
    assert code == 1, out
    doc = json.loads(out)
    assert doc["inserted"] == 2 and doc["failed"] == 4
    with open_database(pg_url) as db:
        logged = {r["buyer_number"]: r for r in error_rows(db, doc["run_id"])}
    assert set(logged) == {"B2", "B3", "B4", "B6"}
    for r in logged.values():
        assert r["error_type"] == "value_too_long"
        assert "sqlstate" not in r["details"]  # caught before the database saw the row
        assert "buyersync schema fix --apply" in r["error_message"]
    assert logged["B2"]["details"]["columns"] == [
        {"column": "name", "length": 21, "limit": 20, "constraint": "name_len"}
    ]
    assert logged["B4"]["details"]["columns"] == [
        {"column": "notes", "length": 14, "limit": 12, "unit": "bytes", "constraint": "notes_bytes"}
    ]
    assert "notes is 14 bytes (limit 12)" in logged["B4"]["error_message"]


@pytest.mark.postgres
def test_fix_drops_pure_checks_and_keeps_mixed(pg_url: str, tmp_path: Path) -> None:
    _legacy(pg_url)
    code, script = _cli("schema", "fix", "--db", pg_url)
    assert code == 0, script
    for name in ("name_len", "city_len", "notes_bytes", "tag_len"):
        assert f'DROP CONSTRAINT "{name}";' in script
    assert "kind_shape" not in script.split("BEGIN;")[1]  # only in the header note
    assert "NOT dropped: constraint kind_shape" in script
    assert script.index("CREATE TABLE") < script.index("DROP CONSTRAINT")  # backup first
    assert 'ALTER COLUMN "name"' not in script  # TEXT stays TEXT, only its CHECK goes
    assert "DROP VIEW" not in script  # buyer_names reads name, whose type does not change

    code, out = _cli("schema", "fix", "--apply", "--db", pg_url, "--json")
    assert code == 1, out  # the mixed CHECK is still there: a person must act
    doc = json.loads(out)
    assert {d["constraint"] for d in doc["dropped_constraints"]} == {
        "name_len",
        "city_len",
        "notes_bytes",
        "tag_len",
    }
    assert [c["column"] for c in doc["converted"]] == ["city"]
    assert [k["constraint"] for k in doc["kept_constraints"]] == ["kind_shape"]
    assert doc["verification"]["length_limited"] == [] and doc["verification"]["identical"]
    assert doc["backup_rows"] == 1
    with open_database(pg_url) as db:
        assert catalog.limited_columns(db) == []
        names = {
            r["conname"]
            for r in db.query(
                "SELECT conname FROM pg_constraint WHERE conrelid = 'buyers'::regclass "
                "AND contype = 'c'"
            )
        }
        assert names == {"kind_shape", "buyers_credit_check"}
        db.execute(
            "INSERT INTO buyers (buyer_number, name, notes, tag, kind) "
            "VALUES ('B9', %s, %s, %s, 'k')",
            ("n" * 500, "é" * 500, "t" * 500),
        )
        assert db.query_value("SELECT count(*) FROM buyer_names") == 2

    code, out = _cli("schema", "fix", "--apply", "--db", pg_url)
    assert code == 1 and "nothing to convert" in out
    assert "NOT dropped: constraint kind_shape on kind" in out and "what to do:" in out
    assert "schema NOT OK: CHECK constraint(s) kind_shape still limit a length" in out


@pytest.mark.postgres
def test_operator_output_names_column_limit_and_command(pg_url: str, tmp_path: Path) -> None:
    _legacy(pg_url)
    sheet = write_csv(
        tmp_path / "s.csv",
        ["buyer_number", "name", "city", "Phone"],
        [["B1", "n" * 25, "Ely", "1"]],
    )
    code, out = _cli("schema", "check", "--db", pg_url, "--source", str(sheet))
    assert code == 1
    assert (
        "row 2 (buyer B1) would fail: name is 25 characters (limit 20, constraint name_len)" in out
    )
    assert "then run buyersync schema fix --apply --add-columns (with the same --db/--source" in out
    code, script = _cli("schema", "fix", "--db", pg_url)
    assert "1 column(s) to convert to TEXT, 4 length CHECK constraint(s) to drop" in script
    assert script.rstrip().endswith(
        "-- afterwards: buyersync schema check (exit 0 when nothing is limited any more)"
    )
    code, out = _cli("schema", "fix", "--apply", "--db", pg_url)
    assert "(1 rows, identical to buyers before the conversion; roll back" in out
    assert "dropped constraint notes_bytes on notes (at most 12 bytes)" in out
