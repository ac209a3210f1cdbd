"""Row fingerprints: Python and the database agree byte for byte; a match proves equality.

``verify --full`` skips every row whose sheet fingerprint equals the database's, so:
the fingerprint PostgreSQL computes must equal the one Python computes for the same
values (any text: Japanese, emoji, newlines, the separator itself, 200,000-character
cells); a sheet row's fingerprint must equal its stored row's; and a match must never
hide a difference ``compare_row`` would report. Runs on real SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buyersync.errors import EncodingProblem
from buyersync.rules.compare import (
    NO_FINGERPRINT,
    SEPARATOR,
    compare_row,
    db_fingerprint,
    joined,
    sheet_fingerprint,
    split_joined,
    text_fingerprint,
)
from buyersync.services import integrity
from buyersync.services.integrity import IntegrityChecker
from buyersync.services.missing import Prefetch, find_missing
from buyersync.services.sync import SyncEngine
from buyersync.sources import open_source
from buyersync.store import fingerprints, open_database
from buyersync.store.db import Database
from buyersync.store.sql import SQL
from tests.helpers import write_csv

AWKWARD = [
    "",
    "山田 太郎",
    "😀👩‍👩‍👧",
    "line1\nline2",
    "a\r\nb",
    " edge ",
    "\t",
    SEPARATOR,
    f"a{SEPARATOR}b",
    "\\",
    "'; DROP TABLE buyers; --",
    "é́",
    "\u200b",
    "\ufeff",
    "ｱｲｳ",
    "0012",
    "NULL",
    "\x01\x7f",
]
# Everything PostgreSQL can store (no NUL, no lone surrogate), weighted to the awkward.
TEXT = st.one_of(
    st.sampled_from(AWKWARD),
    st.text(st.characters(exclude_characters="\x00", exclude_categories=("Cs",)), max_size=12),
)
VALUE = st.one_of(st.none(), TEXT)


def make_table(db: Database, columns: Sequence[str], types: Sequence[str] | None = None) -> None:
    q = db.quote
    db.execute("DROP TABLE IF EXISTS buyers")
    decl = [f"{q(c)} {t}" for c, t in zip(columns, types or ["text"] * len(columns), strict=True)]
    db.execute(f"CREATE TABLE buyers (buyer_number text PRIMARY KEY, {', '.join(decl)})")


def insert(db: Database, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    q = db.quote
    marks = ", ".join(["%s"] * (len(columns) + 1))
    db.executemany(
        f"INSERT INTO buyers (buyer_number, {', '.join(q(c) for c in columns)}) VALUES ({marks})",
        [list(r) for r in rows],
    )


# -- pure ------------------------------------------------------------------------
@settings(max_examples=300)
@given(st.lists(TEXT, min_size=1, max_size=6))
def test_sheet_and_stored_values_fingerprint_alike(sheet: list[str]) -> None:
    stored = [v or None for v in sheet]  # what the sync stores
    assert sheet_fingerprint(sheet) == db_fingerprint(tuple(stored))
    text = joined(sheet)
    trusted = text_fingerprint(text, len(sheet))
    if any(SEPARATOR in v for v in sheet):
        assert trusted is None  # the join is ambiguous: always compared
    else:
        assert trusted == sheet_fingerprint(sheet)
        assert split_joined(text, len(sheet)) == tuple(sheet)


@settings(max_examples=500)
@given(st.data())
def test_a_trusted_match_never_hides_a_difference(data: st.DataObject) -> None:
    """If the fingerprints match, compare_row finds nothing (the converse of skipping)."""
    width = data.draw(st.integers(1, 5))
    sheet = data.draw(st.lists(TEXT, min_size=width, max_size=width))
    # Values built to collide with the join: the sheet's text re-split elsewhere.
    text = joined(sheet)
    cuts = sorted(
        data.draw(st.lists(st.integers(0, len(text)), min_size=width - 1, max_size=width - 1))
    )
    bounds = [0, *cuts, len(text)]
    resplit = [text[a:b] for a, b in zip(bounds, bounds[1:], strict=False)]
    stored = data.draw(st.one_of(st.just(resplit), st.lists(VALUE, min_size=width, max_size=width)))
    trusted = text_fingerprint(text, width)
    if trusted is not None and trusted == db_fingerprint(tuple(stored)):
        assert compare_row("B", 2, [f"c{i}" for i in range(width)], sheet, stored) == []


def test_non_text_values_have_no_fingerprint() -> None:
    assert db_fingerprint(("1", 7)) == NO_FINGERPRINT
    assert db_fingerprint((0, None)) == NO_FINGERPRINT  # falsy, yet not an empty cell
    assert db_fingerprint((b"blob",)) == NO_FINGERPRINT
    assert NO_FINGERPRINT not in {text_fingerprint("x", 1), sheet_fingerprint([""])}
    assert text_fingerprint("", 0) == db_fingerprint(())


# -- database ----------------------------------------------------------------------
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(rows=st.lists(st.lists(VALUE, min_size=3, max_size=3), min_size=1, max_size=12))
def test_database_fingerprints_equal_pythons(db: Database, rows: list[list[str | None]]) -> None:
    columns = ["a", "名前", "note with space"]
    make_table(db, columns)
    insert(db, columns, [[f"K{i}", *r] for i, r in enumerate(rows)])
    got = dict(fingerprints.iter_fingerprints(db, columns))
    assert got == {f"K{i}": db_fingerprint(tuple(r)) for i, r in enumerate(rows)}
    for i, r in enumerate(rows):
        assert got[f"K{i}"] == sheet_fingerprint([v or "" for v in r])


def test_long_cells_and_many_columns_agree(db: Database) -> None:
    """200,000-character cells; more columns than a PostgreSQL function takes arguments."""
    columns = [f"c{i}" for i in range(130)]
    long_cells = ["山" * 200_000, "😀" * 200_000, ("line\n" * 40_000), "x" * 200_000]
    rows = [
        [
            f"L{j}",
            *[
                long_cells[(i + j) % 4]
                if i % 37 == 0
                else (None if i % 5 == 0 else f"v{i}{SEPARATOR if i == 7 else ''}")
                for i in range(len(columns))
            ],
        ]
        for j in range(4)
    ]
    make_table(db, columns)
    insert(db, columns, rows)
    assert fingerprints.server_can_fingerprint(db, columns) == (db.dialect == "postgresql")
    got = dict(fingerprints.iter_fingerprints(db, columns))
    assert got == {r[0]: db_fingerprint(tuple(r[1:])) for r in rows}


@pytest.mark.postgres
def test_both_ways_to_utf8_bytes_agree(pg_url: str) -> None:
    """textsend (UTF8 client) and convert_to (any client) hash the same bytes."""
    columns = ["a", "b"]
    rows = [["K1", "日本語😀", None], ["K2", f"x{SEPARATOR}\n", "\\ é"], ["K3", "", "ｱ"]]
    with open_database(pg_url) as db:
        make_table(db, columns)
        insert(db, columns, rows)
        for utf8_client in (True, False):
            expr = fingerprints.fingerprint_sql(db, columns, utf8_client=utf8_client)
            got = {
                r["buyer_number"]: bytes(r["f"])
                for r in db.query(SQL("SELECT buyer_number, {} AS f FROM buyers").format(expr))
            }
            assert got == {r[0]: db_fingerprint(tuple(r[1:])) for r in rows}


def test_legacy_typed_columns_are_compared_in_python(db: Database) -> None:
    """A column PostgreSQL spells differently from Python is fingerprinted in Python."""
    types = (
        ["varchar(20)", "integer", "char(5)"]
        if db.dialect == "postgresql"
        else ["text", "integer", "text"]
    )
    make_table(db, ["v", "n", "c"], types)
    insert(db, ["v", "n", "c"], [["K1", "x", 7, "ab"]])
    assert fingerprints.server_can_fingerprint(db, ["v"]) == (db.dialect == "postgresql")
    assert not fingerprints.server_can_fingerprint(db, ["v", "n"])
    assert dict(fingerprints.iter_fingerprints(db, ["v", "n"])) == {"K1": NO_FINGERPRINT}
    stored = next(db.iterate("SELECT c FROM buyers"))[0]
    assert dict(fingerprints.iter_fingerprints(db, ["c"])) == {"K1": db_fingerprint((stored,))}


def test_text_keys_of_a_legacy_integer_key(db: Database) -> None:
    db.execute("DROP TABLE IF EXISTS buyers")
    db.execute("CREATE TABLE buyers (buyer_number integer PRIMARY KEY, name text)")
    db.execute("INSERT INTO buyers VALUES (12, 'a'), (7, NULL)")
    assert sorted(fingerprints.iter_text_keys(db)) == ["12", "7"]
    assert dict(fingerprints.iter_fingerprints(db, ["name"])) == {
        "12": db_fingerprint(("a",)),
        "7": db_fingerprint((None,)),
    }


def test_no_table_no_rows(db: Database) -> None:
    db.execute("DROP TABLE IF EXISTS buyers")
    assert list(fingerprints.iter_fingerprints(db, ["a"])) == []
    assert list(fingerprints.iter_text_keys(db)) == []


# -- verify --full end to end -------------------------------------------------------
HEADER = ["buyer_number", "name", "note"]


def synced(db: Database, tmp_path: Path, rows: list[list[str]]) -> Path:
    db.execute("DROP TABLE IF EXISTS buyers")
    path = write_csv(tmp_path / "s.csv", HEADER, rows)
    SyncEngine(db, open_source(str(path)), max_shrink_ratio=0).run()
    return path


@pytest.mark.parametrize("waiting_chars", [0, 10**9])
def test_separator_in_a_cell_never_hides_a_shifted_value(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, waiting_chars: int
) -> None:
    """("a<US>", "b") and ("a", "<US>b") join alike; verify must still see the difference.

    ``waiting_chars`` 0 settles sheet rows as soon as the database has answered, 10**9
    holds every row until the end: both paths must report the same.
    """
    monkeypatch.setattr(integrity, "WAITING_CHARS", waiting_chars)
    rows = [["B1", f"a{SEPARATOR}", "b"], ["B2", "同じ", "😀\nx"], ["B3", "", ""]]
    path = synced(db, tmp_path, rows)
    q = db.quote
    db.execute(
        f"UPDATE buyers SET {q('name')} = %s, {q('note')} = %s WHERE buyer_number = 'B1'",
        ("a", f"{SEPARATOR}b"),
    )
    db.execute(f"UPDATE buyers SET {q('note')} = '' WHERE buyer_number = 'B3'")  # '' is NULL
    report = IntegrityChecker(db, open_source(str(path))).verify_full()
    got = {(m.buyer_number, m.column, m.sheet_value, m.db_value) for m in report.mismatches}
    assert got == {("B1", "name", f"a{SEPARATOR}", "a"), ("B1", "note", "b", f"{SEPARATOR}b")}
    assert report.checked == 3


@pytest.mark.parametrize("waiting_chars", [0, 50, 10**9])
def test_both_paths_report_the_same(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, waiting_chars: int
) -> None:
    rows = [[f"K{i:04d}", f"名前 {i}", "x" * (i % 7)] for i in range(3000)]
    rows.insert(10, ["K0005", "duplicate", ""])
    rows.insert(20, ["", "no key", ""])
    rows.insert(30, ["", "", ""])
    path = synced(db, tmp_path, rows)
    q = db.quote
    for i in range(0, 3000, 97):
        db.execute(
            f"UPDATE buyers SET {q('note')} = %s WHERE buyer_number = %s",
            (f"changed {i}", f"K{i:04d}"),
        )
    db.execute("DELETE FROM buyers WHERE buyer_number IN ('K0001', 'K2999')")
    db.execute("ALTER TABLE buyers ADD COLUMN spare text")  # columns the sheet lacks: ignored
    monkeypatch.setattr(integrity, "WAITING_CHARS", waiting_chars)
    report = IntegrityChecker(db, open_source(str(path))).verify_full()
    assert {k for k, _ in report.missing} == {"K0001", "K2999"}
    assert {m.buyer_number for m in report.mismatches} == {f"K{i:04d}" for i in range(0, 3000, 97)}
    assert all(
        m.column == "note" and m.db_value.startswith("changed")  # type: ignore[union-attr]
        for m in report.mismatches
    )
    assert [m.row_number for m in report.mismatches] == sorted(
        m.row_number for m in report.mismatches
    )
    assert report.checked == 2998
    assert [(d.buyer_number, d.row_number) for d in report.duplicates] == [("K0005", 12)]
    assert report.blank_key_rows == (22,)


def test_a_sheet_that_fails_midway_stops_the_database_read(db: Database, tmp_path: Path) -> None:
    """The worker reading the database stops, and the connection stays usable."""
    rows = [[f"E{i}", "n", ""] for i in range(20_000)]
    path = synced(db, tmp_path, rows)
    with path.open("ab") as fh:
        fh.write(b"E-bad,\xff\xfe,x\r\n")
    with pytest.raises(EncodingProblem):
        IntegrityChecker(db, open_source(str(path))).verify_full()
    with pytest.raises(EncodingProblem):
        find_missing(db, open_source(str(path)))
    assert db.query_value("SELECT count(*) AS n FROM buyers") == 20_000


def test_prefetch_stops_early_and_reports_errors(db: Database) -> None:
    db.execute("DROP TABLE IF EXISTS buyers")
    db.execute("CREATE TABLE buyers (buyer_number text PRIMARY KEY)")
    with Prefetch(db, lambda: fingerprints.iter_text_keys(db), set[str]()) as prefetch:
        assert prefetch.result() == set()

    def broken() -> Iterator[str]:
        yield from db.iterate("SELECT no_such_column FROM buyers")

    with Prefetch(db, broken, set[str]()) as prefetch, pytest.raises(Exception) as caught:
        prefetch.result()
    assert "no_such_column" in str(caught.value)
    assert db.query_value("SELECT count(*) AS n FROM buyers") == 0
