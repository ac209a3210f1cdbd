"""Blank headers, ignored columns and ``[mapping]`` by column letter (issue 13, item 4).

A blank spacer column used to refuse the whole sync, no column could be ignored and
``[mapping]`` could not name a blank or duplicate header. These tests drive the CLI on
both databases as an operator would, with a ``buyersync.toml`` holding the mapping.
"""

from __future__ import annotations

import json
import string
from pathlib import Path

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from buyersync.cli.main import cli
from buyersync.errors import ConfigError, HeaderError
from buyersync.records import SheetRow
from buyersync.rules.normalize import (
    KEY_COLUMN,
    MAX_IDENTIFIER_BYTES,
    RESERVED_COLUMNS,
    column_index,
    column_letter,
    letter_key,
    map_headers,
    normalize_header,
)
from buyersync.rules.rows import Accepted, RowChecker
from buyersync.settings import load_settings
from buyersync.store import open_database
from buyersync.store.sql import SQL, Identifier, identifiers
from tests.helpers import write_csv


def _run(*args: str) -> tuple[int, dict]:
    result = CliRunner().invoke(cli, [*args, "--json"])
    try:
        doc = json.loads(result.output)
    except json.JSONDecodeError:
        raise AssertionError(f"exit {result.exit_code}, not JSON: {result.output}") from None
    return result.exit_code, doc


def _config(tmp_path: Path, lines: str) -> Path:
    path = tmp_path / "buyersync.toml"
    path.write_text("[mapping]\n" + lines, encoding="utf-8")
    return path


def _columns(db_url: str) -> list[str]:
    with open_database(db_url) as db:
        return list(db.columns("buyers"))


def _stored(db_url: str, columns: list[str]) -> dict[str, tuple]:
    stmt = SQL("SELECT {cols} FROM {table} ORDER BY {key}").format(
        cols=identifiers(["buyer_number", *columns]),
        table=Identifier("buyers"),
        key=Identifier("buyer_number"),
    )
    with open_database(db_url) as db:
        return {row[0]: tuple(row[1:]) for row in db.iterate(stmt)}


def _blank_warnings(doc: dict) -> list[str]:
    return [w for w in doc["warnings"] if "blank header" in w]


ROWS = [["B1", "Ann", "", "Kobe"], ["B2", "Bob", "", "Oita"], ["B3", "Cy", "", "Nara"]]


def test_a_blank_spacer_column_syncs_with_a_warning(db_url: str, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "s.csv", ["buyer_number", "name", "", "city"], ROWS)
    code, doc = _run("sync", "--db", db_url, "--source", str(sheet))
    assert code == 0, doc
    assert (doc["inserted"], doc["failed"]) == (3, 0)
    assert _blank_warnings(doc) == [
        "column C has a blank header and is ignored (it holds no values); to keep it, name "
        'it in [mapping]: "#C" = "name"; to silence this, "#C" = ""'
    ]
    assert _columns(db_url)[:3] == ["buyer_number", "name", "city"]
    assert _stored(db_url, ["name", "city"])["B2"] == ("Bob", "Oita")


def test_values_under_a_blank_header_are_counted(db_url: str, tmp_path: Path) -> None:
    rows = [r[:2] + [note] + r[3:] for r, note in zip(ROWS, ["call", " ", "vip"], strict=True)]
    rows.append(["B4", "Di", "late", "Kyoto"])
    sheet = write_csv(tmp_path / "s.csv", ["buyer_number", "name", "  ", "city"], rows)
    code, doc = _run("sync", "--db", db_url, "--source", str(sheet))
    assert code == 0, doc
    assert doc["inserted"] == 4
    (warning,) = _blank_warnings(doc)
    assert warning.startswith("column C has a blank header and is ignored (3 value(s) under")


def test_a_letter_key_maps_a_blank_header(db_url: str, tmp_path: Path) -> None:
    rows = [r[:2] + [f"note {r[0]}"] + r[3:] for r in ROWS]
    sheet = write_csv(tmp_path / "s.csv", ["buyer_number", "name", "", "city"], rows)
    config = _config(tmp_path, '"#C" = "notes"\n')
    code, doc = _run("sync", "--config", str(config), "--db", db_url, "--source", str(sheet))
    assert code == 0, doc
    assert _blank_warnings(doc) == []
    assert _stored(db_url, ["name", "notes", "city"])["B3"] == ("Cy", "note B3", "Nara")


def test_an_empty_mapping_value_ignores_a_column(db_url: str, tmp_path: Path) -> None:
    header = ["buyer_number", "name", "Fax", "", "city"]
    rows = [[r[0], r[1], "06-1234", "x", r[3]] for r in ROWS]
    sheet = write_csv(tmp_path / "s.csv", header, rows)
    config = _config(tmp_path, '"Fax" = ""\n"#D" = ""\n')
    base = ("--config", str(config), "--db", db_url, "--source", str(sheet))
    code, doc = _run("sync", *base)
    assert code == 0, doc
    assert (doc["inserted"], doc["failed"], doc["unmapped_sheet_columns"]) == (3, 0, [])
    assert _blank_warnings(doc) == []  # ignored on purpose: nothing to warn about
    assert "fax" not in _columns(db_url)
    assert _stored(db_url, ["name", "city"])["B1"] == ("Ann", "Kobe")
    # schema check does not offer the ignored columns as columns to add
    code, doc = _run("schema", "check", *base)
    assert doc["unmapped_sheet_columns"] == [], doc
    code, doc = _run("verify", "--full", *base)
    assert code == 0 and doc["ok"] is True, doc


def test_schema_check_with_a_blank_header_does_not_refuse(db_url: str, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "s.csv", ["buyer_number", "name", "", "city"], ROWS)
    code, doc = _run("schema", "check", "--db", db_url, "--source", str(sheet))
    assert "unmapped_sheet_columns" in doc, doc
    assert doc["rows_checked"] == 3


def test_an_unresolved_duplicate_header_names_the_lines_to_paste(
    db_url: str, tmp_path: Path
) -> None:
    header = ["buyer_number", "name", "city", "name"]
    rows = [[r[0], r[1], r[3], r[1].upper()] for r in ROWS]
    sheet = write_csv(tmp_path / "s.csv", header, rows)
    result = CliRunner().invoke(cli, ["sync", "--db", db_url, "--source", str(sheet)])
    assert result.exit_code == 2, result.output
    assert (
        "columns B ('name') and D ('name') both map to column 'name' (a header seen twice); "
        'map or ignore one of them by column letter in [mapping]: "#D" = "name_2" or "#D" = ""'
    ) in result.output
    with open_database(db_url) as db:
        assert not db.table_exists("buyers")

    # either line, pasted as printed, resolves it
    config = _config(tmp_path, '"#D" = "name_2"\n')
    code, doc = _run("sync", "--config", str(config), "--db", db_url, "--source", str(sheet))
    assert code == 0 and doc["inserted"] == 3, doc
    assert _stored(db_url, ["name", "city", "name_2"])["B2"] == ("Bob", "Oita", "BOB")

    config = _config(tmp_path, '"#D" = ""\n')
    code, doc = _run(
        "sync",
        "--config",
        str(config),
        "--db",
        db_url,
        "--source",
        str(sheet),
        "--accept-header-change",
    )
    assert code == 0 and (doc["failed"], doc["unmapped_sheet_columns"]) == (0, []), doc


def test_headers_colliding_after_normalization_resolved_by_letter(
    db_url: str, tmp_path: Path
) -> None:
    sheet = write_csv(
        tmp_path / "s.csv", ["buyer_number", "Post Code", "post  code"], [["B1", "1", "2"]]
    )
    result = CliRunner().invoke(cli, ["sync", "--db", db_url, "--source", str(sheet)])
    assert result.exit_code == 2, result.output
    assert "(headers that are the same once normalized)" in result.output
    assert '"#C" = "post_code_2"' in result.output
    config = _config(tmp_path, '"#B" = "zip"\n')
    code, doc = _run("sync", "--config", str(config), "--db", db_url, "--source", str(sheet))
    assert code == 0, doc
    assert _stored(db_url, ["zip", "post_code"]) == {"B1": ("1", "2")}


def test_the_key_column_cannot_be_ignored(db_url: str, tmp_path: Path) -> None:
    sheet = write_csv(tmp_path / "s.csv", ["buyer_number", "name"], [["B1", "Ann"]])
    config = _config(tmp_path, '"#A" = ""\n')
    result = CliRunner().invoke(
        cli, ["sync", "--config", str(config), "--db", db_url, "--source", str(sheet)]
    )
    assert result.exit_code == 2, result.output
    assert "column A ('buyer_number') holds the buyer numbers and cannot be ignored" in (
        result.output
    )
    with open_database(db_url) as db:
        assert not db.table_exists("buyers")


# -- map_headers ---------------------------------------------------------------


def test_letter_keys() -> None:
    assert [letter_key(k) for k in ("#A", "#c", "#AA", " #B ", "#A1", "#", "A", "#ABCD")] == [
        0,
        2,
        26,
        1,
        None,
        None,
        None,
        None,
    ]
    assert all(column_index(column_letter(i)) == i for i in range(0, 20000, 7))


def test_map_headers_blank_and_ignored_columns() -> None:
    cm = map_headers(["buyer_number", "", "Fax", "", "city", "", ""], mapping={"Fax": "", "#D": ""})
    assert cm.headers == ("buyer_number", "", "Fax", "", "city")
    assert cm.columns == ("buyer_number", None, None, None, "city")
    assert cm.blank_ignored == (1,)
    assert cm.data_columns == ("city",)


def test_a_letter_key_wins_over_a_header_key() -> None:
    cm = map_headers(["buyer_number", "Name", "Name"], mapping={"Name": "full", "#C": "kana"})
    assert cm.columns == ("buyer_number", "full", "kana")


def test_a_blank_key_header_can_be_named_by_letter() -> None:
    cm = map_headers(["", "name"], mapping={"#A": "buyer_number"})
    assert (cm.key_index, cm.columns) == (0, ("buyer_number", "name"))


@pytest.mark.parametrize(
    ("headers", "mapping", "needle"),
    [
        (["buyer_number", "x"], {"#E": "y"}, "names column E but the header row ends at column B"),
        (["buyer_number", "x"], {"x": "  "}, "column B ('x') is mapped to a blank name; use \"\""),
        (["code", "x"], {"#A": ""}, "no column is headed 'buyer_number'"),
        (["buyer_number", "a", "b"], {"#C": "a"}, '"#C" = "a_2" or "#C" = ""'),
        (["buyer_number", "a", "a", "a"], {}, '"#D" = "a_2" or "#D" = ""'),
    ],
)
def test_map_headers_mapping_errors(headers: list[str], mapping: dict, needle: str) -> None:
    with pytest.raises(HeaderError) as info:
        map_headers(headers, mapping=mapping)
    assert needle in str(info.value)


def test_an_error_value_in_an_ignored_column_fails_nothing() -> None:
    cm = map_headers(["buyer_number", "", "city"])
    checker = RowChecker(cm, ["city"])
    row = SheetRow(2, ("B1", "#REF!", "Kobe"), ((1, "cell B2 holds an error value #REF!"),))
    assert checker.check(row) == Accepted(2, "B1", ("Kobe",))
    other = SheetRow(3, ("B2", "", "#N/A"), ((2, "cell C3 holds an error value #N/A"),))
    assert not isinstance(checker.check(other), Accepted)


def test_settings_refuse_keys_that_look_like_a_cell(tmp_path: Path) -> None:
    for lines, needle in [
        ('"#C2" = "notes"\n', "'#C2' is not a column letter"),
        ('"#C" = "a"\n"#c" = "b"\n', "'#C' and '#c' both name column C"),
    ]:
        config = _config(tmp_path, lines)
        with pytest.raises(ConfigError, match=needle):
            load_settings(config_file=str(config), env={})
    config = _config(tmp_path, '"#C" = "notes"\n"Fax" = ""\n')
    assert load_settings(config_file=str(config), env={}).mapping == {"#C": "notes", "Fax": ""}


# -- the property ----------------------------------------------------------------

# Few letters so that collisions, reserved names and blanks are common.
_header_text = st.sampled_from(
    ["", " ", "a", "A", "a ", "b", "buyer_number", "Buyer Number", "created_at", "x" * 70, "#B"]
)
_targets = st.sampled_from(["", "a", "b", "c", "buyer_number", "synced_at", " ", "y" * 64])


@st.composite
def _header_rows(draw: st.DrawFn) -> tuple[list[str], dict[str, str]]:
    headers = draw(st.lists(_header_text, min_size=0, max_size=7))
    letters = [f"#{c}" for c in string.ascii_uppercase[:9]]
    keys = st.sampled_from(letters + ["a", "b", "A", "Buyer Number"])
    mapping = draw(st.dictionaries(keys, _targets, max_size=4))
    return headers, mapping


def _model(headers: list[str], mapping: dict[str, str]) -> tuple[set[str], bool]:
    """The letters of the columns that cannot be mapped, and whether the key is found.

    An independent, slow statement of the rules: each column's name (letter key,
    else header key, else the normalized header; blank headers ignored), then every
    column whose name is blank-but-not-empty, reserved, too long or shared is a problem.
    """
    trimmed = list(headers)
    while trimmed and not trimmed[-1].strip():
        trimmed.pop()
    names: dict[int, str | None] = {}
    by_header = {k: v for k, v in mapping.items() if not k.startswith("#")}
    by_norm = {normalize_header(k): v for k, v in by_header.items()}
    for i, h in enumerate(trimmed):
        letter = f"#{column_letter(i)}"
        if letter in mapping:
            names[i] = mapping[letter]
        elif not h.strip():
            names[i] = None
        elif h in by_header:
            names[i] = by_header[h]
        elif normalize_header(h) in by_norm:
            names[i] = by_norm[normalize_header(h)]
        else:
            names[i] = normalize_header(h)
    bad: set[str] = set()
    for k in mapping:
        if k.startswith("#") and column_index(k[1:]) >= len(trimmed):
            bad.add(k[1:])
    for i, name in names.items():
        if name is None or name == "":
            continue
        others = [j for j, n in names.items() if n == name and j != i]
        too_long = len(name.encode()) > MAX_IDENTIFIER_BYTES
        if not name.strip() or name in RESERVED_COLUMNS or too_long or others:
            bad.add(column_letter(i))
    key = next((i for i, h in enumerate(trimmed) if normalize_header(h) == KEY_COLUMN), None)
    if key is None:
        key = next((i for i, n in names.items() if n == KEY_COLUMN), None)
    if key is not None and names[key] == "":
        bad.add(column_letter(key))
    elif key is not None:
        # another column taking the key's name while the key column is renamed
        bad.update(column_letter(j) for j, n in names.items() if n == KEY_COLUMN and j != key)
    return bad, key is not None


@settings(max_examples=400, deadline=None)
@given(_header_rows())
def test_map_headers_maps_cleanly_or_names_every_problem_column(
    case: tuple[list[str], dict[str, str]],
) -> None:
    headers, mapping = case
    bad, key_found = _model(headers, mapping)
    try:
        cm = map_headers(headers, mapping=mapping)
    except HeaderError as exc:
        problems = exc.details["problems"]
        assert bad or not key_found, (headers, mapping, problems)
        for letter in bad:
            assert any(
                f"column {letter} " in p or f" {letter} (" in p or f"column {letter};" in p
                for p in problems
            ), (letter, problems)
        if not key_found:
            assert any("no column is headed" in p for p in problems)
        return
    assert not bad and key_found, (headers, mapping, cm)
    named = [c for c in cm.columns if c is not None]
    assert len(named) == len(set(named))
    assert not RESERVED_COLUMNS.intersection(named)
    assert all(c.strip() and len(c.encode()) <= MAX_IDENTIFIER_BYTES for c in named)
    assert cm.columns[cm.key_index] == KEY_COLUMN
    assert len(cm.columns) == len(cm.headers)
