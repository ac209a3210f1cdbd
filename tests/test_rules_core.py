"""Pure rules of the core: normalization, header mapping, categories, batching, row checks."""

from __future__ import annotations

import string

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buyersync.errors import ErrorCategory, HeaderError, ResourceExhausted
from buyersync.records import RowFailure, SheetRow
from buyersync.rules import batching
from buyersync.rules.categories import (
    RETRYABLE,
    category_for_http_status,
    category_for_sqlstate,
    error_class_for_sqlstate,
    is_retryable,
)
from buyersync.rules.normalize import (
    column_letter,
    letter_key,
    map_headers,
    normalize_header,
    normalize_key,
)
from buyersync.rules.rows import Accepted, RowChecker

# -- normalization (requirement 6.1) -------------------------------------------


@given(st.text())
def test_normalize_key_is_idempotent(value: str) -> None:
    once = normalize_key(value)
    assert normalize_key(once) == once
    assert once == once.strip()


def test_normalize_key_folds_full_width_and_trims() -> None:
    assert normalize_key("  １２３Ａ ") == "123A"
    assert normalize_key("\u3000B-001\t") == "B-001"
    assert normalize_key(None) == ""
    # case is kept: B001 and b001 are different buyer numbers
    assert normalize_key("b001") != normalize_key("B001")


def test_normalize_header() -> None:
    assert normalize_header("  Buyer   Number ") == "buyer_number"
    assert normalize_header("氏名 (カナ)") == "氏名_(カナ)"
    assert normalize_header("ＥＭＡＩＬ") == "email"


def test_map_headers_maps_key_and_non_ascii() -> None:
    cm = map_headers(["Buyer Number", "氏名", "住所", ""], key_header="buyer_number")
    assert cm.columns == ("buyer_number", "氏名", "住所")
    assert cm.key_index == 0
    assert cm.data_columns == ("氏名", "住所")


def test_map_headers_with_custom_key_and_mapping() -> None:
    cm = map_headers(["Code", "Name"], key_header="Code", mapping={"Name": "full_name"})
    assert cm.columns == ("buyer_number", "full_name")


@pytest.mark.parametrize(
    ("headers", "needle"),
    [
        (["buyer_number", "name", "name"], "both map to column 'name'"),
        (["buyer_number", "Name", "name "], "both map to column 'name'"),
        (["buyer_number", "x", "x"], 'by column letter in [mapping]: "#C" = "x_2" or "#C" = ""'),
        (["buyer_number", "created_at"], "reserved column"),
        (["id", "name"], "no column is headed 'buyer_number'"),
        (["buyer_number", "x" * 70], "longer than 63 bytes"),
    ],
)
def test_map_headers_errors_name_the_columns(headers: list[str], needle: str) -> None:
    with pytest.raises(HeaderError) as info:
        map_headers(headers)
    assert needle in str(info.value)


def test_column_letters() -> None:
    assert [column_letter(i) for i in (0, 25, 26, 27, 701, 702)] == [
        "A",
        "Z",
        "AA",
        "AB",
        "ZZ",
        "AAA",
    ]
    assert [letter_key(k) for k in (" #c ", "#AA", "#ZZ", "C", "#")] == [2, 26, 701, None, None]


# -- categories (property 7) -----------------------------------------------------

sqlstates = st.text(alphabet=string.digits + "ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=5, max_size=5)


@given(sqlstates, st.booleans())
def test_every_sqlstate_maps_to_exactly_one_category_deterministically(
    code: str, gone: bool
) -> None:
    first = category_for_sqlstate(code, disconnected=gone)
    assert isinstance(first, ErrorCategory)
    assert category_for_sqlstate(code, disconnected=gone) is first
    assert category_for_sqlstate(code.lower(), disconnected=gone) is first


@pytest.mark.parametrize(
    ("code", "category", "retryable"),
    [
        ("08006", ErrorCategory.DATABASE_CONNECTION, True),
        ("57P01", ErrorCategory.DATABASE_CONNECTION, True),
        ("53300", ErrorCategory.DATABASE_CONNECTION, True),
        ("40001", ErrorCategory.TIMEOUT, True),
        ("40P01", ErrorCategory.TIMEOUT, True),
        ("55P03", ErrorCategory.TIMEOUT, True),
        ("22001", ErrorCategory.VALUE_TOO_LONG, False),
        ("22P02", ErrorCategory.DATA_FORMAT, False),
        ("23514", ErrorCategory.CONSTRAINT, False),
        ("23505", ErrorCategory.DUPLICATE_KEY, False),
        ("23502", ErrorCategory.VALIDATION, False),
        ("42703", ErrorCategory.SCHEMA_MISMATCH, False),
        ("0A000", ErrorCategory.SCHEMA_MISMATCH, False),
        (None, ErrorCategory.UNKNOWN, True),
    ],
)
def test_sqlstate_categories(code: str | None, category: ErrorCategory, retryable: bool) -> None:
    assert category_for_sqlstate(code) is category
    assert is_retryable(category) is retryable
    assert error_class_for_sqlstate(code).retryable is retryable


@pytest.mark.parametrize("code", ["53100", "53200", "53000"])
def test_disk_full_and_out_of_memory_stop_rather_than_retry(code: str) -> None:
    """No longer disguised as schema_mismatch: their own class, which is not retried."""
    cls = error_class_for_sqlstate(code)
    assert cls is ResourceExhausted and not cls.retryable
    assert category_for_sqlstate(code) is not ErrorCategory.SCHEMA_MISMATCH


def test_a_closed_connection_without_sqlstate_is_a_connection_failure() -> None:
    assert category_for_sqlstate(None, disconnected=True) is ErrorCategory.DATABASE_CONNECTION


def test_contract_retryable_categories() -> None:
    assert {str(c) for c in RETRYABLE} == {
        "database_connection",
        "timeout",
        "rate_limit",
        "source_unavailable",
        "unknown",
    }


@given(st.integers(min_value=400, max_value=599))
def test_http_statuses(status: int) -> None:
    category = category_for_http_status(status)
    if status == 429:
        assert category is ErrorCategory.RATE_LIMIT
    assert is_retryable(category)


# -- batching (property 21) --------------------------------------------------------


@given(
    st.integers(min_value=0, max_value=5000),
    st.integers(min_value=1, max_value=700),
    st.integers(min_value=1, max_value=8000),
)
def test_batches_have_batch_size_rows_except_the_last(total: int, size: int, target: int) -> None:
    slices = batching.slice_ranges(total, size, target)
    batches = [b for s in slices for b in s]
    assert batches == batching.batch_ranges(total, size)
    assert sum(hi - lo for lo, hi in batches) == total
    for lo, hi in batches[:-1]:
        assert hi - lo == size
    if batches:
        assert 1 <= batches[-1][1] - batches[-1][0] <= size
    # contiguous, in order, whole batches per slice
    assert all(a[1] == b[0] for a, b in zip(batches, batches[1:], strict=False))


@given(st.integers(min_value=0, max_value=1000), st.integers(min_value=1, max_value=1000))
def test_bisect_covers_the_range(lo: int, width: int) -> None:
    parts = batching.bisect(lo, lo + width)
    assert parts[0][0] == lo and parts[-1][1] == lo + width
    assert all(p[1] > p[0] for p in parts)


# -- row checks ------------------------------------------------------------------------


def _checker(limits: dict[str, int] | None = None) -> RowChecker:
    cm = map_headers(["buyer_number", "name", "note"])
    return RowChecker(cm, ["name", "note"], limits=limits)


def test_row_checker_outcomes() -> None:
    c = _checker({"name": 5})
    ok = c.check(SheetRow(2, ("B1", "Ann", "")))
    assert ok == Accepted(2, "B1", ("Ann", None))
    dup = c.check(SheetRow(3, (" B1 ", "x", "")))
    assert isinstance(dup, RowFailure) and dup.category is ErrorCategory.DUPLICATE_KEY
    assert dup.details == {"first_row": 2} and "row 2 wins" in dup.message
    nokey = c.check(SheetRow(4, ("", "x", "y")))
    assert isinstance(nokey, RowFailure) and nokey.category is ErrorCategory.VALIDATION
    assert nokey.row_number == 4 and "A4" in nokey.message
    long = c.check(SheetRow(5, ("B2", "Alexandra", "")))
    assert isinstance(long, RowFailure) and long.category is ErrorCategory.VALUE_TOO_LONG
    assert long.details["columns"] == [{"column": "name", "length": 9, "limit": 5}]
    assert "buyersync schema fix --apply" in long.message
    nul = c.check(SheetRow(6, ("B3", "a\x00b", "")))
    assert isinstance(nul, RowFailure) and nul.category is ErrorCategory.DATA_FORMAT
    bad = c.check(SheetRow(7, ("B4", "", ""), problems=((2, "cell C7 holds the error #N/A"),)))
    assert isinstance(bad, RowFailure) and bad.category is ErrorCategory.DATA_FORMAT
    assert "#N/A" in bad.message
    assert not any(f.retryable for f in (dup, nokey, long, nul, bad))


@settings(max_examples=200)
@given(
    st.lists(
        st.tuples(
            st.sampled_from(["", " ", "A", "a", "Ａ", "B", "b1", "B1 "]),
            st.text(st.characters(blacklist_characters="\x00"), max_size=8),
        ),
        max_size=40,
    )
)
def test_each_key_is_accepted_once_and_first_occurrence_wins(rows: list[tuple[str, str]]) -> None:
    c = _checker()
    accepted: dict[str, int] = {}
    for n, (key, name) in enumerate(rows, start=2):
        outcome = c.check(SheetRow(n, (key, name, "")))
        if isinstance(outcome, Accepted):
            assert outcome.key not in accepted
            accepted[outcome.key] = n
        elif outcome.category is ErrorCategory.DUPLICATE_KEY:
            assert outcome.details["first_row"] == accepted.get(
                outcome.buyer_number, c.first_row[outcome.buyer_number]
            )
    expected = {}
    for n, (key, _) in enumerate(rows, start=2):
        k = normalize_key(key)
        if k and k not in expected:
            expected[k] = n
    # with valid cells, a row fails only for a missing or repeated key
    assert accepted == expected


# -- what mutation testing found unpinned ------------------------------------------


@given(st.integers(min_value=100, max_value=599))
def test_http_status_categories(status: int) -> None:
    """Only 429 is a rate limit and only 408/504 a timeout; every other final status
    (neighbours such as 409, 430, 505 included) means the sheet cannot be read."""
    expected = {429: "rate_limit", 408: "timeout", 504: "timeout"}.get(status, "source_unavailable")
    assert str(category_for_http_status(status)) == expected


def test_batch_size_below_one_is_refused_with_its_reason() -> None:
    with pytest.raises(ValueError, match="^batch_size must be at least 1$"):
        batching.batch_ranges(10, 0)


def test_a_slice_holds_one_batch_when_batches_exceed_the_target() -> None:
    # Each slice is one transaction: batches bigger than the target still go one at a time.
    assert batching.slice_ranges(10, 5, target_rows=3) == [[(0, 5)], [(5, 10)]]


@pytest.mark.parametrize(
    ("lo", "hi", "halves"),
    [
        (0, 2, [(0, 1), (1, 2)]),
        (0, 3, [(0, 1), (1, 3)]),
        (4, 9, [(4, 6), (6, 9)]),
        (3, 4, [(3, 4)]),
    ],
)
def test_bisect_splits_every_range_of_two_or_more(lo: int, hi: int, halves: list) -> None:
    got = batching.bisect(lo, hi)
    assert got == halves
    assert all(isinstance(x, int) for pair in got for x in pair)
