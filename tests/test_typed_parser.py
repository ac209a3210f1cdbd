"""The typed-column parser and type classifiers: one example per documented rule.

The properties (total, PostgreSQL agrees, round-trip) are in test_typed_properties.py.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from buyersync.rules.coltypes import ColumnType, Kind, classify_postgres, classify_sqlite
from buyersync.rules.typed import ParseOptions, Problem, ProblemCode, parse

PG = classify_postgres
EU = ParseOptions(number_format="1.234,56")
FR = ParseOptions(number_format="1 234,56")
DMY = ParseOptions(date_order="DMY")
MDY = ParseOptions(date_order="MDY")
YMD = ParseOptions(date_order="YMD")


def problem(text: str, type_name: str, options: ParseOptions | None = None) -> Problem:
    result = parse(text, PG(type_name), options)
    assert isinstance(result, Problem), f"{text!r} as {type_name} gave {result!r}"
    assert result.expected == type_name
    return result


# ---------------------------------------------------------------- classification


@pytest.mark.parametrize(
    ("declared", "kind", "bits", "precision", "scale"),
    [
        ("smallint", Kind.INTEGER, 16, None, None),
        ("integer", Kind.INTEGER, 32, None, None),
        ("bigint", Kind.INTEGER, 64, None, None),
        ("numeric", Kind.NUMERIC, None, None, None),
        ("numeric(12,2)", Kind.NUMERIC, None, 12, 2),
        ("numeric(5,0)", Kind.NUMERIC, None, 5, 0),
        ("numeric(3,-2)", Kind.NUMERIC, None, 3, -2),
        ("real", Kind.REAL, 32, None, None),
        ("double precision", Kind.REAL, 64, None, None),
        ("boolean", Kind.BOOLEAN, None, None, None),
        ("date", Kind.DATE, None, None, None),
        ("timestamp without time zone", Kind.TIMESTAMP, None, 6, None),
        ("timestamp(0) without time zone", Kind.TIMESTAMP, None, 0, None),
        ("timestamp with time zone", Kind.TIMESTAMPTZ, None, 6, None),
        ("timestamp(3) with time zone", Kind.TIMESTAMPTZ, None, 3, None),
        ("character varying(50)", Kind.TEXT, None, None, None),
        ("character varying", Kind.TEXT, None, None, None),
        ("character(8)", Kind.TEXT, None, None, None),
        ("text", Kind.TEXT, None, None, None),
        ("uuid", Kind.OTHER, None, None, None),
        ("jsonb", Kind.OTHER, None, None, None),
        ("integer[]", Kind.OTHER, None, None, None),
        ("time without time zone", Kind.OTHER, None, None, None),
        ("interval", Kind.OTHER, None, None, None),
    ],
)
def test_postgres_type_names_as_the_catalog_prints_them(
    declared: str, kind: Kind, bits: int | None, precision: int | None, scale: int | None
) -> None:
    t = classify_postgres(declared)
    assert (t.kind, t.bits, t.precision, t.scale, t.declared) == (
        kind,
        bits,
        precision,
        scale,
        declared,
    )


@pytest.mark.parametrize(
    ("declared", "kind", "bits"),
    [
        # SQLite's affinity rules, section 3.1, in order
        ("INTEGER", Kind.INTEGER, 64),
        ("INT", Kind.INTEGER, 64),
        ("TINYINT", Kind.INTEGER, 64),
        ("UNSIGNED BIG INT", Kind.INTEGER, 64),
        ("POINT", Kind.INTEGER, 64),  # contains INT: SQLite gives it INTEGER affinity too
        ("VARCHAR(50)", Kind.TEXT, None),
        ("NCHAR(55)", Kind.TEXT, None),
        ("CLOB", Kind.TEXT, None),
        ("TEXT", Kind.TEXT, None),
        ("BLOB", Kind.TEXT, None),
        ("", Kind.TEXT, None),
        (None, Kind.TEXT, None),
        ("REAL", Kind.REAL, 64),
        ("DOUBLE", Kind.REAL, 64),
        ("FLOAT", Kind.REAL, 64),
        ("DOUBLE PRECISION", Kind.REAL, 64),
        ("NUMERIC", Kind.NUMERIC, None),
        ("uuid", Kind.OTHER, None),  # NUMERIC affinity, but SQLite keeps such text as text
        ("json", Kind.OTHER, None),
        # PostgreSQL's names, so both backends decide alike
        ("SMALLINT", Kind.INTEGER, 16),
        ("INT4", Kind.INTEGER, 32),
        ("BIGINT", Kind.INTEGER, 64),
        ("BOOLEAN", Kind.BOOLEAN, None),
        ("bool", Kind.BOOLEAN, None),
        ("DATE", Kind.DATE, None),
        ("DATETIME", Kind.TIMESTAMP, None),
        ("TIMESTAMP", Kind.TIMESTAMP, None),
        ("timestamp with time zone", Kind.TIMESTAMPTZ, None),
        ("TIMESTAMPTZ", Kind.TIMESTAMPTZ, None),
    ],
)
def test_sqlite_declarations_by_affinity(
    declared: str | None, kind: Kind, bits: int | None
) -> None:
    t = classify_sqlite(declared)
    assert (t.kind, t.bits) == (kind, bits)


def test_sqlite_decimal_keeps_precision_and_scale() -> None:
    t = classify_sqlite("DECIMAL(10, 2)")
    assert (t.kind, t.precision, t.scale) == (Kind.NUMERIC, 10, 2)
    assert parse("1,234.567", t) == Decimal("1234.57")


def test_column_type_refuses_limits_no_database_has() -> None:
    for bad in (
        lambda: ColumnType(Kind.INTEGER, bits=8),
        lambda: ColumnType(Kind.REAL, bits=16),
        lambda: ColumnType(Kind.NUMERIC, precision=0),
        lambda: ColumnType(Kind.NUMERIC, scale=2),
        lambda: ColumnType(Kind.TIMESTAMP, precision=7),
        lambda: ColumnType(Kind.TEXT, bits=32),
        lambda: ColumnType(Kind.DATE, precision=2),
    ):
        with pytest.raises(ValueError):
            bad()
    # an impossible modifier is not a numeric the parser could honour: the database judges
    assert classify_postgres("numeric(0,2)").kind is Kind.OTHER


def test_typed_is_false_only_for_text_and_other() -> None:
    assert {k for k in Kind if not ColumnType(k).typed} == {Kind.TEXT, Kind.OTHER}


# ---------------------------------------------------------------- empty cells, text


@pytest.mark.parametrize(
    "type_name", ["integer", "numeric(12,2)", "real", "boolean", "date", "timestamp with time zone"]
)
def test_empty_or_whitespace_cell_is_null_in_a_typed_column(type_name: str) -> None:
    for text in ("", " ", "\t", "\u00a0", "  \n "):
        assert parse(text, PG(type_name)) is None


def test_text_and_other_columns_pass_the_text_through() -> None:
    assert parse("  Ann  ", PG("text")) == "  Ann  "
    assert parse("", PG("character varying(50)")) is None
    assert parse("not-a-uuid", PG("uuid")) == "not-a-uuid"  # PostgreSQL judges it


# ---------------------------------------------------------------- integers


def test_integers_with_thousands_separators_per_number_format() -> None:
    assert parse("1234", PG("integer")) == 1234
    assert parse(" 1,234,567 ", PG("integer")) == 1234567
    assert parse("-1,234", PG("bigint")) == -1234
    assert parse("+7", PG("integer")) == 7
    assert parse("007", PG("integer")) == 7
    assert parse("1.234.567", PG("integer"), EU) == 1234567
    assert parse("1 234 567", PG("integer"), FR) == 1234567
    assert parse("1\u00a0234\u202f567", PG("integer"), FR) == 1234567


def test_integer_refuses_a_fraction_like_postgresql() -> None:
    # '1.0'::integer is an error in PostgreSQL: the parser follows it.
    for text in ("1.0", "1.5", "1e3", "1,234.00"):
        p = problem(text, "integer")
        assert p.code is ProblemCode.NOT_WHOLE and "whole number" in p.message
    assert problem("1,5", "integer", EU).code is ProblemCode.NOT_WHOLE


def test_integer_range_per_width() -> None:
    assert parse("32767", PG("smallint")) == 32767
    assert problem("32768", "smallint").code is ProblemCode.OUT_OF_RANGE
    assert parse("-2147483648", PG("integer")) == -(2**31)
    p = problem("2147483648", "integer")
    assert p.code is ProblemCode.OUT_OF_RANGE and "2147483647" in p.message
    assert parse("9,223,372,036,854,775,807", PG("bigint")) == 2**63 - 1
    assert problem("9223372036854775808", "bigint").code is ProblemCode.OUT_OF_RANGE
    assert problem("9" * 5000, "bigint").code is ProblemCode.OUT_OF_RANGE


@pytest.mark.parametrize(
    "text",
    ["1,23", "12,34,567", "1,2345", ",123", "1 234", "١٢٣", "１２３", "0x1F", "1_000", "--1"],
)
def test_malformed_integers_are_not_numbers(text: str) -> None:
    assert problem(text, "integer").code is ProblemCode.NOT_A_NUMBER


# ---------------------------------------------------------------- numeric


def test_numeric_in_each_number_format() -> None:
    n = PG("numeric(12,2)")
    assert parse("1,234.56", n) == Decimal("1234.56")
    assert parse("1.234,56", n, EU) == Decimal("1234.56")
    assert parse("1 234,56", n, FR) == Decimal("1234.56")
    assert parse("1\u202f234,56", n, FR) == Decimal("1234.56")
    assert parse("-0.5", n) == Decimal("-0.50")
    assert parse(".5", n) == Decimal("0.50")
    assert parse("5.", n) == Decimal("5.00")
    assert str(parse("5", n)) == "5.00"  # the scale PostgreSQL shows


def test_numeric_rounds_half_away_from_zero_like_postgresql() -> None:
    assert parse("2.5", PG("numeric(5,0)")) == 3
    assert parse("-2.5", PG("numeric(5,0)")) == -3
    assert parse("0.125", PG("numeric(5,2)")) == Decimal("0.13")
    assert parse("-0.125", PG("numeric(5,2)")) == Decimal("-0.13")
    assert parse("0.0049", PG("numeric(5,2)")) == 0
    assert str(parse("-0.001", PG("numeric(5,2)"))) == "0.00"  # no negative zero
    assert parse("12,345", PG("numeric(5,-2)")) == 12300


def test_numeric_precision_overflow_is_a_problem() -> None:
    assert parse("999.99", PG("numeric(5,2)")) == Decimal("999.99")
    for text in ("1000", "999.995", "1e10"):
        p = problem(text, "numeric(5,2)")
        assert p.code is ProblemCode.OUT_OF_RANGE and "10^3" in p.message


def test_unconstrained_numeric_keeps_every_digit() -> None:
    n = PG("numeric")
    assert str(parse("1,234.5600", n)) == "1234.5600"
    assert str(parse("1.5e3", n)) == "1500"
    assert parse("1E-3", n) == Decimal("0.001")
    assert parse("12345678901234567890.123456789", n) == Decimal("12345678901234567890.123456789")
    assert problem("1e200000", "numeric").code is ProblemCode.OUT_OF_RANGE
    assert problem("1e-20000", "numeric").code is ProblemCode.OUT_OF_RANGE
    assert problem("1e99999999999999", "numeric").code is ProblemCode.OUT_OF_RANGE


def test_no_currency_percent_or_special_values() -> None:
    for text in ("$5", "5 €", "5%", "NaN", "Infinity", "-inf", "n/a", "#N/A", "1,234.50 USD"):
        assert problem(text, "numeric").code is ProblemCode.NOT_A_NUMBER
    assert "currency and percent signs" in problem("12%", "numeric").message


def test_number_problem_names_the_setting_and_the_format_it_fits() -> None:
    p = problem("1.234,50", "numeric(12,2)")
    assert (
        p.message.startswith('expected a number like 1,234.56 (number_format = "1,234.56")')
        and 'number_format = "1.234,56"' in p.message
    )
    p = problem("1,234.50", "numeric(12,2)", EU)
    assert 'number_format = "1.234,56"' in p.message and '"1,234.56"' in p.message


# ---------------------------------------------------------------- real / double precision


def test_floating_point() -> None:
    assert parse("1,234.5", PG("double precision")) == 1234.5
    assert parse("1.5e-3", PG("double precision")) == 0.0015
    assert parse("1,5E3", PG("double precision"), EU) == 1500.0
    assert parse("-0", PG("double precision")) == 0.0
    assert parse("0.1", PG("real")) == 0.1  # what PostgreSQL prints and reads back
    assert parse("16777217", PG("real")) == 16777216.0  # a float32 holds 24 bits
    assert parse("3.4028235e38", PG("real")) == 3.4028235e38
    for text, type_name in [
        ("1e39", "real"),
        ("1e-50", "real"),
        ("1e309", "double precision"),
        ("1e-400", "double precision"),
    ]:
        assert problem(text, type_name).code is ProblemCode.OUT_OF_RANGE
    assert problem("NaN", "double precision").code is ProblemCode.NOT_A_NUMBER


# ---------------------------------------------------------------- booleans


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("yes", True),
        ("No", False),
        ("TRUE", True),  # a Google Sheets checkbox
        ("FALSE", False),
        ("true", True),
        (" y ", True),
        ("N", False),
        ("t", True),
        ("f", False),
        ("On", True),
        ("OFF", False),
        ("1", True),
        ("0", False),
    ],
)
def test_boolean_words(text: str, value: bool) -> None:
    assert parse(text, PG("boolean")) is value


@pytest.mark.parametrize("text", ["maybe", "2", "ja", "oui", "✓", "yess", "o", "-1", "1.0"])
def test_other_words_are_not_booleans(text: str) -> None:
    p = problem(text, "boolean")
    assert p.code is ProblemCode.NOT_A_BOOLEAN and "yes/no" in p.message


# ---------------------------------------------------------------- dates


def test_iso_dates_always() -> None:
    for options in (None, DMY, MDY, YMD):
        assert parse("2024-12-31", PG("date"), options) == date(2024, 12, 31)
        assert parse("2024-1-5", PG("date"), options) == date(2024, 1, 5)


def test_other_orders_only_per_date_order() -> None:
    assert parse("31/12/2024", PG("date"), DMY) == date(2024, 12, 31)
    assert parse("31.12.2024", PG("date"), DMY) == date(2024, 12, 31)
    assert parse("3-4-2024", PG("date"), DMY) == date(2024, 4, 3)
    assert parse("03/04/2024", PG("date"), MDY) == date(2024, 3, 4)
    assert parse("12/31/2024", PG("date"), MDY) == date(2024, 12, 31)
    assert parse("2024/12/31", PG("date"), YMD) == date(2024, 12, 31)
    assert parse("2024.1.5", PG("date"), YMD) == date(2024, 1, 5)
    assert parse("3/4/2024", PG("date"), ParseOptions(date_order="dmy")) == date(2024, 4, 3)


def test_a_non_iso_date_without_date_order_is_never_guessed() -> None:
    p = problem("03/04/2024", "date")
    assert p.code is ProblemCode.DATE_ORDER_NEEDED
    assert "day-first and month-first" in p.message and 'date_order = "DMY"' in p.message
    for text in ("31/12/2024", "12/31/2024", "2024/12/31", "31.12.2024"):
        p = problem(text, "date")
        assert p.code is ProblemCode.DATE_ORDER_NEEDED and "date_order" in p.message


def test_dates_that_do_not_fit_the_order_or_the_calendar() -> None:
    assert problem("12/31/2024", "date", DMY).code is ProblemCode.INVALID_DATE  # month 31
    assert problem("31/12/2024", "date", MDY).code is ProblemCode.INVALID_DATE
    assert problem("2024/12/31", "date", DMY).code is ProblemCode.NOT_A_DATE
    assert problem("31/12/2024", "date", YMD).code is ProblemCode.NOT_A_DATE
    assert problem("31/12/24", "date", DMY).code is ProblemCode.NOT_A_DATE
    assert "four-digit year" in problem("31/12/24", "date", DMY).message
    assert problem("31/12-2024", "date", DMY).code is ProblemCode.NOT_A_DATE
    p = problem("2024-02-30", "date")
    assert p.code is ProblemCode.INVALID_DATE and "February 2024" in p.message
    assert parse("2024-02-29", PG("date")) == date(2024, 2, 29)
    assert problem("2023-02-29", "date").code is ProblemCode.INVALID_DATE
    assert problem("2024-13-01", "date").code is ProblemCode.INVALID_DATE
    assert problem("0000-01-01", "date").code is ProblemCode.OUT_OF_RANGE
    for text in ("31 Dec 2024", "20241231", "yesterday", "45000", "2024-12-31x"):
        assert problem(text, "date").code is ProblemCode.NOT_A_DATE
    p = problem("2024-12-31 10:00", "date")
    assert p.code is ProblemCode.NOT_A_DATE and "time of day" in p.message


# ---------------------------------------------------------------- timestamps


def test_naive_timestamps() -> None:
    ts = PG("timestamp without time zone")
    want = datetime(2024, 12, 31, 14, 30)
    for text in ("2024-12-31 14:30", "2024-12-31T14:30", "2024-12-31 14:30:00", "2024-12-31t14:30"):
        assert parse(text, ts) == want
    assert parse("2024-12-31 14:30:05.25", ts) == datetime(2024, 12, 31, 14, 30, 5, 250000)
    assert parse("2024-12-31 14:30:05,25", ts) == datetime(2024, 12, 31, 14, 30, 5, 250000)
    assert parse("2024-12-31", ts) == datetime(2024, 12, 31)
    assert parse("31/12/2024 14:30:00", ts, DMY) == want
    assert parse("12/31/2024 2:30 PM", ts, MDY) == want
    assert parse("12/31/2024 12:05 am", ts, MDY) == datetime(2024, 12, 31, 0, 5)
    p = problem("2024-12-31 14:30+01:00", "timestamp without time zone")
    assert p.code is ProblemCode.OFFSET_NOT_ALLOWED and "with time zone" in p.message
    assert problem("2024-12-31T14:30Z", "timestamp without time zone").code is (
        ProblemCode.OFFSET_NOT_ALLOWED
    )


def test_timestamp_problems() -> None:
    name = "timestamp without time zone"
    assert problem("31/12/2024 14:30", name).code is ProblemCode.DATE_ORDER_NEEDED
    assert problem("2024-02-30 10:00", name).code is ProblemCode.INVALID_DATE
    for text in (
        "2024-12-31 24:00",
        "2024-12-31 23:60",
        "2024-12-31 23:59:60",
        "2024-12-31 0:30 PM",
    ):
        assert problem(text, name).code is ProblemCode.INVALID_DATE
    assert problem("2024-12-31 10:00:00.1234567", name).code is ProblemCode.NOT_A_TIMESTAMP
    assert problem("31/12/2024T10:00", name, DMY).code is ProblemCode.NOT_A_TIMESTAMP
    for text in ("noon", "10:00", "10:00 2024-12-31", "2024-12-31 10"):
        assert isinstance(parse(text, PG(name)), Problem)


def test_timestamp_precision_rounds_like_postgresql() -> None:
    t0 = PG("timestamp(0) without time zone")
    assert parse("2024-12-31 10:00:00.5", t0) == datetime(2024, 12, 31, 10, 0, 1)
    assert parse("2024-12-31 10:00:00.4", t0) == datetime(2024, 12, 31, 10, 0, 0)
    # before PostgreSQL's epoch (2000-01-01) a half rounds away from it, i.e. down
    assert parse("1999-12-31 10:00:00.5", t0) == datetime(1999, 12, 31, 10, 0, 0)
    t2 = PG("timestamp(2) with time zone")
    assert parse("2024-12-31 23:59:59.995Z", t2) == datetime(2025, 1, 1, tzinfo=UTC)
    assert problem("9999-12-31 23:59:59.5", "timestamp(0) without time zone").code is (
        ProblemCode.OUT_OF_RANGE
    )


def test_timestamptz_with_offsets_and_the_timezone_setting() -> None:
    tz = PG("timestamp with time zone")
    utc = datetime(2024, 12, 31, 13, 30, tzinfo=UTC)
    for text in (
        "2024-12-31T14:30+01:00",
        "2024-12-31 14:30:00+0100",
        "2024-12-31 14:30 +01",
        "2024-12-31T13:30Z",
        "2024-12-31 08:30-05:00",
    ):
        assert parse(text, tz) == utc
    assert parse("2024-12-31 13:30", tz) == utc  # default timezone UTC
    berlin = ParseOptions(timezone="Europe/Berlin")
    value = parse("2024-12-31 14:30", tz, berlin)
    assert value == utc and isinstance(value, datetime) and value.tzinfo is UTC
    summer = parse("2024-07-01 14:30", tz, berlin)
    assert summer == datetime(2024, 7, 1, 12, 30, tzinfo=UTC)
    assert parse("2024-12-31 14:30+05:30", tz, berlin) == datetime(
        2024, 12, 31, 14, 30, tzinfo=timezone(timedelta(hours=5, minutes=30))
    )
    assert problem("2024-12-31 14:30+16:00", "timestamp with time zone").code is (
        ProblemCode.NOT_A_TIMESTAMP
    )


def test_local_times_the_zone_skips_or_repeats_are_problems_not_guesses() -> None:
    berlin = ParseOptions(timezone="Europe/Berlin")
    name = "timestamp with time zone"
    p = problem("2024-03-31 02:30", name, berlin)
    assert p.code is ProblemCode.NONEXISTENT_LOCAL_TIME and "Europe/Berlin" in p.message
    p = problem("2024-10-27 02:30", name, berlin)
    assert p.code is ProblemCode.AMBIGUOUS_LOCAL_TIME and "offset" in p.message
    assert parse("2024-10-27 02:30+02:00", PG(name), berlin) == datetime(
        2024, 10, 27, 0, 30, tzinfo=UTC
    )


def test_instants_beyond_python_years_are_out_of_range() -> None:
    name = "timestamp with time zone"
    assert problem("0001-01-01 00:00+05:00", name).code is ProblemCode.OUT_OF_RANGE
    assert problem("9999-12-31 23:00-05:00", name).code is ProblemCode.OUT_OF_RANGE
    assert parse("9999-12-31 23:00", PG(name)) == datetime(9999, 12, 31, 23, tzinfo=UTC)


# ---------------------------------------------------------------- options and settings


def test_parse_options_are_validated() -> None:
    for bad in (
        {"number_format": "1234.56"},
        {"date_order": "DDMMYY"},
        {"timezone": "Mars/Olympus"},
        {"timezone": "../../etc/passwd"},
        {"timezone": ""},
    ):
        with pytest.raises(ValueError):
            ParseOptions(**bad)  # type: ignore[arg-type]
    assert ParseOptions(date_order=" ymd ").date_order == "YMD"
