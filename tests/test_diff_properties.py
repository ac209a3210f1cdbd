"""Property tests for the pure key diff and field comparison (properties 2, 23)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from buyersync.errors import ErrorCategory
from buyersync.records import SheetRow
from buyersync.rules.compare import (
    Reservoir,
    compare_row,
    db_fingerprint,
    sheet_fingerprint,
)
from buyersync.rules.diff import diff_keys, scan_keys
from buyersync.rules.normalize import map_headers
from buyersync.rules.rows import Accepted, RowChecker

KEYS = st.text(alphabet="0123456789ABC-", min_size=1, max_size=6)


@st.composite
def sheet_and_db(draw: st.DrawFn) -> tuple[dict[str, int], list[str], set[str], set[str]]:
    """A sheet (key → row), a database key list, and the truth: missing and extra keys."""
    common = draw(st.sets(KEYS, max_size=30))
    only_sheet = draw(st.sets(KEYS, max_size=15).map(lambda s: s - common))
    only_db = draw(st.sets(KEYS, max_size=15).map(lambda s: s - common - only_sheet))
    sheet_list = draw(st.permutations(sorted(common | only_sheet)))
    rows = draw(
        st.lists(
            st.integers(2, 10_000), min_size=len(sheet_list), max_size=len(sheet_list), unique=True
        )
    )
    sheet = dict(zip(sheet_list, rows, strict=True))
    db = list(common | only_db)
    # The database stream may repeat a key (e.g. two reads); counted once.
    db += draw(st.lists(st.sampled_from(db), max_size=5)) if db else []
    db = draw(st.permutations(db))
    return sheet, db, only_sheet, only_db


@settings(max_examples=300)
@given(sheet_and_db())
def test_missing_is_exactly_sheet_minus_db(case: tuple) -> None:
    """Property 2 / 23: missing = sheet keys − db keys; extra = db keys − sheet keys."""
    sheet, db, only_sheet, only_db = case
    diff = diff_keys(sheet, iter(db))
    assert {k for k, _ in diff.missing} == only_sheet
    assert set(diff.extra) == only_db
    assert diff.missing_keys == frozenset(only_sheet)
    assert all(sheet[k] == row for k, row in diff.missing)
    assert [row for _, row in diff.missing] == sorted(row for _, row in diff.missing)
    assert list(diff.extra) == sorted(diff.extra)
    assert diff.sheet_count == len(sheet)
    assert diff.database_count == len(set(db))
    # The counts are always explained by the key difference.
    assert diff.sheet_count - diff.missing_count == diff.database_count - diff.extra_count
    assert diff.in_step == (not only_sheet and not only_db)


def test_blank_keys_are_not_buyers() -> None:
    diff = diff_keys({"": 2, "A1": 3}, ["", "A1"])
    assert diff.missing == () and diff.extra == ()
    assert diff.sheet_count == 1 and diff.database_count == 1
    assert diff_keys({"": 2, "A1": 3}, {"", "A1"}) == diff  # a set is used as it is, but not ""
    assert diff_keys({"A1": 3}, frozenset({"A1", "Z9"})).extra == ("Z9",)


def test_example() -> None:
    diff = diff_keys({"B2": 5, "A1": 9, "C3": 2}, ["A1", "Z9"])
    assert diff.missing == (("C3", 2), ("B2", 5))
    assert diff.extra == ("Z9",)


# -- KeyScan agrees with the sync's RowChecker --------------------------------------
RAW_KEYS = st.sampled_from(["1", "１", " 1 ", "2", "A-1", "Ａ-1", "", "  ", "3", "03"])


@settings(max_examples=200)
@given(st.lists(RAW_KEYS, max_size=25))
def test_key_scan_decides_like_the_sync(raw: list[str]) -> None:
    """A row is a buyer's first row for KeyScan exactly when RowChecker accepts it."""
    colmap = map_headers(["buyer_number", "name"])
    checker = RowChecker(colmap, ["name"])
    rows = [(n, k) for n, k in enumerate(raw, start=2)]
    scan = scan_keys(rows)
    accepted = {}
    dup_rows, blank_rows = [], []
    for n, k in rows:
        outcome = checker.check(SheetRow(n, (k, "x")))
        if isinstance(outcome, Accepted):
            accepted[outcome.key] = n
        elif outcome.category is ErrorCategory.DUPLICATE_KEY:
            dup_rows.append(n)
        else:
            blank_rows.append(n)
    assert scan.first_row == accepted
    assert [d.row_number for d in scan.duplicates] == dup_rows
    assert scan.blank_key_rows == blank_rows
    for d in scan.duplicates:
        assert scan.first_row[d.buyer_number] == d.first_row < d.row_number


# -- field comparison (properties 24, 25) --------------------------------------------
CELL = st.one_of(
    st.just(""),
    st.text(max_size=8),
    st.sampled_from(["山田 太郎", "line1\nline2", " edge ", "007", "1.50", "x" * 300]),
)


@settings(max_examples=300)
@given(st.data())
def test_compare_row_finds_exactly_the_altered_fields(data: st.DataObject) -> None:
    """Property 24/25: every altered field, and only those, with buyer, row, both values."""
    width = data.draw(st.integers(1, 6))
    columns = [f"c{i}" for i in range(width)]
    sheet = data.draw(st.lists(CELL, min_size=width, max_size=width))
    # What the sync stores: the text as read, NULL for an empty cell.
    stored: list[object] = [v or None for v in sheet]
    altered = data.draw(st.sets(st.integers(0, width - 1)))
    for i in altered:
        stored[i] = data.draw(CELL.filter(lambda v, i=i: (v or None) != (sheet[i] or None)))
        if stored[i] == "" and data.draw(st.booleans()):
            stored[i] = None
    found = compare_row("B1", 7, columns, sheet, stored)
    assert {m.column for m in found} == {columns[i] for i in altered}
    for m in found:
        i = columns.index(m.column)
        assert (m.buyer_number, m.row_number) == ("B1", 7)
        assert m.sheet_value == (sheet[i] or None)
        assert m.db_value == (stored[i] or None)
    # Fingerprints agree exactly when nothing differs.
    if not altered:
        assert sheet_fingerprint(sheet) == db_fingerprint(tuple(stored))


def test_empty_cell_equals_null_and_text_is_exact() -> None:
    assert compare_row("B", 2, ["a", "b"], ["", "x"], [None, "x"]) == []
    assert compare_row("B", 2, ["a"], [" x"], ["x"])[0].db_value == "x"
    # A legacy integer column that lost a leading zero is reported, not hidden.
    assert compare_row("B", 2, ["a"], ["007"], [7])[0].db_value == "7"


@settings(max_examples=200)
@given(st.integers(0, 60), st.integers(0, 20), st.integers(0, 2**32))
def test_reservoir_sample_is_a_reproducible_subset(n: int, size: int, seed: int) -> None:
    def draw() -> list[int]:
        r: Reservoir[int] = Reservoir(size, random.Random(seed))
        for i in range(n):
            r.offer(i)
        return r.items

    first = draw()
    assert first == draw()  # same seed, same stream: same sample
    assert len(first) == min(n, size)
    assert len(set(first)) == len(first) and set(first) <= set(range(n))
