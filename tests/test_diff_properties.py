"""Property tests for the pure key diff and field comparison (properties 2, 23)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from buyersync.rules.diff import diff_keys

KEYS = st.text(alphabet="0123456789ABC-", min_size=1, max_size=6)


@st.composite
def sheet_and_db(draw: st.DrawFn) -> tuple[dict[str, int], list[str], set[str], set[str]]:
    """A sheet (key → row), a database key list, and the truth: missing and extra keys."""
    common = draw(st.sets(KEYS, max_size=30))
    only_sheet = draw(st.sets(KEYS, max_size=15).map(lambda s: s - common))
    only_db = draw(st.sets(KEYS, max_size=15).map(lambda s: s - common - only_sheet))
    sheet_list = draw(st.permutations(sorted(common | only_sheet)))
    rows = draw(
        st.lists(st.integers(2, 10_000), min_size=len(sheet_list), max_size=len(sheet_list),
                 unique=True)
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


def test_example() -> None:
    diff = diff_keys({"B2": 5, "A1": 9, "C3": 2}, ["A1", "Z9"])
    assert diff.missing == (("C3", 2), ("B2", 5))
    assert diff.extra == ("Z9",)
