"""Properties of the typed-column parser.

* total: any text, for any column type and options, gives a value of the column's Python
  type or a named :class:`Problem`, and never raises;
* PostgreSQL agrees: for text in PostgreSQL's canonical forms, ``SELECT %s::<type>`` on a
  real server gives the value the parser gives, and refuses (out of range) exactly what the
  parser refuses; for the sheet's locale forms (``1.234,56``, ``31/12/2024``), the value
  equals PostgreSQL's cast of the canonical rendering;
* round-trip: a value rendered the way a sheet shows it parses back to the value.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buyersync.rules.coltypes import ColumnType, Kind, classify_postgres, classify_sqlite
from buyersync.rules.typed import (
    DATE_ORDERS,
    NUMBER_FORMATS,
    ParseOptions,
    Problem,
    ProblemCode,
    Value,
    parse,
)

PG = classify_postgres
QUICK = settings(max_examples=60, deadline=None)
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Asia/Kolkata", "Australia/Lord_Howe"]

PG_TYPES = [
    "smallint",
    "integer",
    "bigint",
    "numeric",
    "numeric(12,2)",
    "numeric(5,0)",
    "numeric(3,-1)",
    "numeric(4,6)",
    "real",
    "double precision",
    "boolean",
    "date",
    "timestamp without time zone",
    "timestamp(0) without time zone",
    "timestamp(3) with time zone",
    "timestamp with time zone",
    "text",
    "uuid",
]
SQLITE_TYPES = ["INTEGER", "REAL", "DECIMAL(10,2)", "BOOLEAN", "DATE", "DATETIME", "BLOB", "json"]
COLUMNS = [PG(t) for t in PG_TYPES] + [classify_sqlite(t) for t in SQLITE_TYPES]

options_st = st.builds(
    ParseOptions,
    number_format=st.sampled_from(list(NUMBER_FORMATS)),
    date_order=st.sampled_from([None, *DATE_ORDERS]),
    timezone=st.sampled_from(ZONES),
)
# Text near the grammar reaches deeper than arbitrary unicode alone.
near_text = st.text(alphabet="0123456789+-.,:/ eETtZ\u00a0\u202fAPMapmyesnoYESNO", max_size=30)


def _check_value(result: Value, column: ColumnType) -> None:
    kind = column.kind
    if kind in (Kind.TEXT, Kind.OTHER):
        assert type(result) is str
    elif kind is Kind.INTEGER:
        low, high = column.integer_range
        assert type(result) is int and low <= result <= high
    elif kind is Kind.NUMERIC:
        assert isinstance(result, Decimal) and result.is_finite()
        if column.precision is not None:
            assert column.scale is not None
            assert result.as_tuple().exponent == -max(column.scale, 0)
            assert abs(result) < Decimal(10) ** (column.precision - column.scale)
    elif kind is Kind.REAL:
        assert type(result) is float and math.isfinite(result)
    elif kind is Kind.BOOLEAN:
        assert type(result) is bool
    elif kind is Kind.DATE:
        assert type(result) is date
    elif kind is Kind.TIMESTAMP:
        assert type(result) is datetime and result.tzinfo is None
    else:
        assert type(result) is datetime and result.tzinfo is UTC


@QUICK
@given(
    text=st.one_of(st.text(), near_text),
    column=st.sampled_from(COLUMNS),
    options=options_st,
)
def test_parse_is_total(text: str, column: ColumnType, options: ParseOptions) -> None:
    result = parse(text, column, options)
    if isinstance(result, Problem):
        assert result.code in set(ProblemCode) and result.message
        assert result.expected == column.declared and column.typed
    elif result is None:
        assert not (text.strip() if column.typed else text)
    else:
        _check_value(result, column)


# ---------------------------------------------------------------- PostgreSQL agrees


@pytest.fixture(scope="module")
def pg(pg_server: str) -> Iterator[Any]:
    """One autocommit connection: casts need no tables, and a refused cast ends alone."""
    import psycopg

    with psycopg.connect(pg_server, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'UTC'")
        yield conn


class Refused(Exception):
    """PostgreSQL refused the cast."""

    def __init__(self, sqlstate: str | None) -> None:
        super().__init__(sqlstate)
        self.sqlstate = sqlstate


def cast(conn: Any, text: str, type_name: str, zone: str = "UTC") -> Any:
    """PostgreSQL's value for ``text::type_name`` (``zone`` is the session TimeZone)."""
    import psycopg

    assert type_name in PG_TYPES  # the type name is formatted into the SQL
    try:
        if zone != "UTC":
            conn.execute("SELECT set_config('TimeZone', %s, false)", (zone,))
        try:
            row = conn.execute(f"SELECT %s::{type_name}", (text,)).fetchone()
        finally:
            if zone != "UTC":
                conn.execute("SET TimeZone = 'UTC'")
    except psycopg.errors.DataError as exc:
        raise Refused(exc.sqlstate) from exc
    return row[0]


#: What a refusal's SQLSTATE says the parser's problem must be.
REFUSALS = {
    "22003": {ProblemCode.OUT_OF_RANGE},  # numeric_value_out_of_range
    # datetime_field_overflow: "date/time field value out of range" (2024-02-30 too)
    "22008": {ProblemCode.OUT_OF_RANGE, ProblemCode.INVALID_DATE},
}


def agree(conn: Any, text: str, type_name: str, options: ParseOptions | None = None) -> Value:
    """Assert the parser and PostgreSQL's cast of the same text agree; return the value."""
    options = options or ParseOptions()
    mine = parse(text, PG(type_name), options)
    try:
        theirs = cast(conn, text, type_name, options.timezone)
    except Refused as exc:
        assert isinstance(mine, Problem), f"PostgreSQL refuses {text!r}::{type_name}: {mine!r}"
        if exc.sqlstate in REFUSALS:
            assert mine.code in REFUSALS[exc.sqlstate], (text, type_name, exc.sqlstate, mine)
        return None
    if isinstance(mine, Problem):
        # Stricter than PostgreSQL only where the parser says so on purpose.
        assert mine.code not in (ProblemCode.OUT_OF_RANGE, ProblemCode.NOT_A_NUMBER), (
            f"{text!r}::{type_name} is {theirs!r} in PostgreSQL, but {mine!r}"
        )
        return None
    same(mine, theirs, f"{text!r}::{type_name}")
    return mine


def same(mine: Value, theirs: Any, what: str) -> None:
    assert type(mine) is type(theirs), (what, mine, theirs)
    if isinstance(mine, datetime) and mine.tzinfo is not None:
        assert mine.tzinfo is UTC, (what, mine)
        theirs = theirs.astimezone(UTC)  # PEP 495: compare instants, not wall times
    assert mine == theirs, (what, mine, theirs)
    if isinstance(mine, Decimal):
        assert mine.as_tuple().exponent == theirs.as_tuple().exponent, (what, mine, theirs)


integer_texts = st.builds(
    lambda n, plus, zeros, pad: (
        f"{pad}{'+' if plus and n >= 0 else ''}{'-' if n < 0 else ''}{'0' * zeros}{abs(n)}{pad}"
    ),
    st.one_of(
        st.integers(-(2**64), 2**64),
        st.sampled_from([2**15, 2**31, 2**63]).flatmap(lambda b: st.integers(-b - 2, b + 1)),
    ),
    st.booleans(),
    st.integers(0, 2),
    st.sampled_from(["", " "]),
)


@pytest.mark.postgres
@QUICK
@given(text=integer_texts, type_name=st.sampled_from(["smallint", "integer", "bigint"]))
def test_postgresql_agrees_on_integers(pg: Any, text: str, type_name: str) -> None:
    agree(pg, text, type_name)


decimals = st.decimals(allow_nan=False, allow_infinity=False, places=None)
numeric_texts = st.one_of(
    decimals.map(lambda d: format(d, "f")),
    decimals.map(str),  # exponent forms such as 1.5E+3
    st.decimals(min_value=-1000, max_value=1000, places=3).map(str),
)
NUMERIC_TYPES = ["numeric", "numeric(12,2)", "numeric(5,0)", "numeric(3,-1)", "numeric(4,6)"]


@pytest.mark.postgres
@QUICK
@given(text=numeric_texts, type_name=st.sampled_from(NUMERIC_TYPES))
def test_postgresql_agrees_on_numeric(pg: Any, text: str, type_name: str) -> None:
    agree(pg, text, type_name)


float_texts = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.floats(allow_nan=False, allow_infinity=False, width=32).map(repr),
    st.decimals(allow_nan=False, allow_infinity=False).map(str),
    st.builds(lambda m, e: f"{m}e{e}", st.integers(1, 99999), st.integers(-330, 330)),
)


@pytest.mark.postgres
@QUICK
@given(text=float_texts, type_name=st.sampled_from(["real", "double precision"]))
def test_postgresql_agrees_on_floating_point(pg: Any, text: str, type_name: str) -> None:
    agree(pg, text, type_name)


PG_BOOLEANS = ["true", "false", "t", "f", "yes", "no", "y", "n", "on", "off", "1", "0"]
boolean_texts = st.builds(
    lambda word, upper, pad: pad + (word.upper() if upper else word) + pad,
    st.sampled_from(PG_BOOLEANS),
    st.booleans(),
    st.sampled_from(["", " ", "\t"]),
)


@pytest.mark.postgres
@QUICK
@given(text=boolean_texts)
def test_postgresql_agrees_on_booleans(pg: Any, text: str) -> None:
    assert agree(pg, text, "boolean") is not None


date_texts = st.one_of(
    st.dates().map(date.isoformat),
    st.builds(
        lambda y, m, d: f"{y:04d}-{m}-{d}",
        st.integers(1, 9999),
        st.integers(1, 12),
        st.integers(1, 31),
    ),
)


@pytest.mark.postgres
@QUICK
@given(text=date_texts)
def test_postgresql_agrees_on_dates(pg: Any, text: str) -> None:
    agree(pg, text, "date")


def _iso(value: datetime, sep: str, spec: str) -> str:
    return value.isoformat(sep=sep, timespec=spec)


naive_texts = st.builds(
    _iso,
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    st.sampled_from([" ", "T"]),
    st.sampled_from(["minutes", "seconds", "milliseconds", "microseconds"]),
)


@pytest.mark.postgres
@QUICK
@given(
    text=naive_texts,
    type_name=st.sampled_from(["timestamp without time zone", "timestamp(0) without time zone"]),
)
def test_postgresql_agrees_on_naive_timestamps(pg: Any, text: str, type_name: str) -> None:
    agree(pg, text, type_name)


# Days on which some of ZONES change their clocks: the local times PostgreSQL and zoneinfo
# must place identically, or the parser must refuse.
TRANSITION_DAYS = [date(2024, 3, 10), date(2024, 3, 31), date(2024, 4, 7), date(2024, 10, 6)]
TRANSITION_DAYS += [date(2024, 10, 27), date(2024, 11, 3), date(1996, 10, 27), date(2037, 3, 29)]
zoned_datetimes = st.one_of(
    st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1)),
    st.builds(
        datetime.combine,
        st.sampled_from(TRANSITION_DAYS),
        st.times(),
    ),
)
offsets = st.integers(-15 * 60 - 59, 15 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))


@pytest.mark.postgres
@QUICK
@given(
    value=zoned_datetimes,
    zone=st.sampled_from(ZONES),
    offset=st.one_of(st.none(), st.just(UTC), offsets),
    sep=st.sampled_from([" ", "T"]),
    type_name=st.sampled_from(["timestamp with time zone", "timestamp(3) with time zone"]),
)
def test_postgresql_agrees_on_timestamptz(
    pg: Any,
    value: datetime,
    zone: str,
    offset: timezone | None,
    sep: str,
    type_name: str,
) -> None:
    text = value.replace(tzinfo=offset).isoformat(sep=sep)
    if offset is UTC and value.microsecond % 2:
        text = text.replace("+00:00", "Z")
    options = ParseOptions(timezone=zone)
    mine = parse(text, PG(type_name), options)
    if isinstance(mine, Problem) and mine.code in (
        ProblemCode.AMBIGUOUS_LOCAL_TIME,
        ProblemCode.NONEXISTENT_LOCAL_TIME,
    ):
        assert offset is None
        return  # PostgreSQL picks one; the parser asks for the offset instead
    agree(pg, text, type_name, options)


def render_number(value: Decimal, number_format: str, *, grouped: bool, space: str = " ") -> str:
    """``value`` as a sheet shows it in ``number_format``."""
    thousands, point = NUMBER_FORMATS[number_format]
    separator = space if number_format == "1 234,56" else thousands
    whole, _, fraction = format(abs(value), "f").partition(".")
    if grouped:
        whole = f"{int(whole):,}".replace(",", separator)
    sign = "-" if value.is_signed() and not value.is_zero() else ""
    return sign + whole + (point + fraction if fraction else "")


format_st = st.sampled_from(list(NUMBER_FORMATS))
space_st = st.sampled_from([" ", "\u00a0", "\u202f"])


@pytest.mark.postgres
@QUICK
@given(
    value=st.decimals(min_value=-(10**15), max_value=10**15, allow_nan=False, places=4),
    number_format=format_st,
    grouped=st.booleans(),
    space=space_st,
    type_name=st.sampled_from(["numeric", "numeric(12,2)", "double precision"]),
)
def test_locale_numbers_equal_postgresqls_cast_of_the_canonical_form(
    pg: Any, value: Decimal, number_format: str, grouped: bool, space: str, type_name: str
) -> None:
    text = render_number(value, number_format, grouped=grouped, space=space)
    mine = parse(text, PG(type_name), ParseOptions(number_format=number_format))
    canonical = format(value, "f")
    try:
        theirs = cast(pg, canonical, type_name)
    except Refused:
        assert isinstance(mine, Problem) and mine.code is ProblemCode.OUT_OF_RANGE
        return
    assert not isinstance(mine, Problem), (text, mine)
    same(mine, theirs, f"{text!r} ({number_format}) vs {canonical!r}::{type_name}")


@pytest.mark.postgres
@QUICK
@given(
    value=st.integers(-(2**40), 2**40),
    number_format=format_st,
    space=space_st,
    type_name=st.sampled_from(["integer", "bigint"]),
)
def test_locale_integers_equal_postgresqls_cast(
    pg: Any, value: int, number_format: str, space: str, type_name: str
) -> None:
    text = render_number(Decimal(value), number_format, grouped=True, space=space)
    mine = parse(text, PG(type_name), ParseOptions(number_format=number_format))
    try:
        theirs = cast(pg, str(value), type_name)
    except Refused:
        assert isinstance(mine, Problem) and mine.code is ProblemCode.OUT_OF_RANGE
        return
    same(mine, theirs, f"{text!r} vs {value}::{type_name}")


def render_date(value: date, order: str, sep: str, padded: bool) -> str:
    d, m = (f"{value.day:02d}", f"{value.month:02d}") if padded else (value.day, value.month)
    y = f"{value.year:04d}"
    parts = {"DMY": (d, m, y), "MDY": (m, d, y), "YMD": (y, m, d)}[order]
    return sep.join(str(p) for p in parts)


@pytest.mark.postgres
@QUICK
@given(
    value=st.dates(),
    order=st.sampled_from(DATE_ORDERS),
    sep=st.sampled_from(["/", ".", "-"]),
    padded=st.booleans(),
)
def test_ordered_dates_equal_postgresqls_cast_of_the_iso_date(
    pg: Any, value: date, order: str, sep: str, padded: bool
) -> None:
    text = render_date(value, order, sep, padded)
    mine = parse(text, PG("date"), ParseOptions(date_order=order))
    same(mine, cast(pg, value.isoformat(), "date"), f"{text!r} ({order})")


# ---------------------------------------------------------------- round trip


@QUICK
@given(
    value=st.integers(-(2**63), 2**63 - 1),
    number_format=format_st,
    grouped=st.booleans(),
    space=space_st,
    pad=st.sampled_from(["", " ", "\u00a0"]),
)
def test_integers_round_trip(
    value: int, number_format: str, grouped: bool, space: str, pad: str
) -> None:
    text = pad + render_number(Decimal(value), number_format, grouped=grouped, space=space) + pad
    assert parse(text, PG("bigint"), ParseOptions(number_format=number_format)) == value


@QUICK
@given(
    value=st.decimals(min_value=-(10**10) + 1, max_value=10**10 - 1, places=2),
    number_format=format_st,
    grouped=st.booleans(),
    space=space_st,
    column=st.sampled_from([PG("numeric(12,2)"), PG("numeric"), classify_sqlite("DECIMAL(12,2)")]),
)
def test_decimals_round_trip(
    value: Decimal, number_format: str, grouped: bool, space: str, column: ColumnType
) -> None:
    text = render_number(value, number_format, grouped=grouped, space=space)
    back = parse(text, column, ParseOptions(number_format=number_format))
    assert back == value and str(back) == str(value.copy_abs() if value.is_zero() else value)


@QUICK
@given(
    value=st.floats(allow_nan=False, allow_infinity=False),
    number_format=format_st,
    style=st.sampled_from(["repr", "grouped", "e"]),
)
def test_floats_round_trip(value: float, number_format: str, style: str) -> None:
    text = {"repr": repr(value), "grouped": format(value, ","), "e": f"{value:.17e}"}[style]
    thousands, point = NUMBER_FORMATS[number_format]
    text = text.replace(",", "\0").replace(".", point).replace("\0", thousands[0])
    assert parse(text, PG("double precision"), ParseOptions(number_format=number_format)) == value


@QUICK
@given(value=st.floats(width=32, allow_nan=False, allow_infinity=False))
def test_reals_round_trip_as_postgresql_prints_them(value: float) -> None:
    back = parse(repr(value), PG("real"))
    assert isinstance(back, float)
    assert struct.pack("<f", back) == struct.pack("<f", value)  # the same float32


SHEET_BOOLEANS = {True: ["TRUE", "Yes", "yes", "Y", "1", "on", "true"], False: ["FALSE", "No", "n"]}


@QUICK
@given(value=st.booleans(), data=st.data())
def test_booleans_round_trip(value: bool, data: st.DataObject) -> None:
    text = data.draw(st.sampled_from(SHEET_BOOLEANS[value] + ["0" if not value else "T"]))
    assert parse(text, classify_sqlite("BOOLEAN")) is value


@QUICK
@given(
    value=st.dates(),
    order=st.sampled_from(DATE_ORDERS),
    sep=st.sampled_from(["/", ".", "-"]),
    padded=st.booleans(),
)
def test_dates_round_trip(value: date, order: str, sep: str, padded: bool) -> None:
    options = ParseOptions(date_order=order)
    assert parse(value.isoformat(), PG("date"), options) == value
    assert parse(render_date(value, order, sep, padded), PG("date"), options) == value


def render_time(value: time, style: str) -> str:
    if style == "12h":
        hour = value.hour % 12 or 12
        return f"{hour}:{value.minute:02d}:{value.second:02d} {'PM' if value.hour >= 12 else 'AM'}"
    if style == "fraction" and value.microsecond:
        return value.isoformat(timespec="microseconds")
    return value.isoformat(timespec="seconds")


@QUICK
@given(
    value=st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30)),
    order=st.sampled_from(DATE_ORDERS),
    style=st.sampled_from(["24h", "12h", "fraction"]),
    iso=st.booleans(),
)
def test_timestamps_round_trip(value: datetime, order: str, style: str, iso: bool) -> None:
    if style != "fraction":
        value = value.replace(microsecond=0)
    day = value.date().isoformat() if iso else render_date(value.date(), order, "/", True)
    text = f"{day} {render_time(value.time(), style)}"
    parsed = parse(text, classify_sqlite("DATETIME"), ParseOptions(date_order=order))
    assert parsed == value


@QUICK
@given(
    value=st.datetimes(
        min_value=datetime(1900, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)
    ),
    zone=st.sampled_from(ZONES),
    shown_in=st.one_of(st.just("zone"), offsets),
)
def test_instants_round_trip(value: datetime, zone: str, shown_in: Any) -> None:
    options = ParseOptions(timezone=zone)
    if shown_in == "zone":
        local = value.astimezone(options.tz)
        text = local.replace(tzinfo=None).isoformat(sep=" ")
        parsed = parse(text, PG("timestamp with time zone"), options)
        if isinstance(parsed, Problem):  # the wall time is repeated: the offset says which
            assert parsed.code is ProblemCode.AMBIGUOUS_LOCAL_TIME
            text = local.isoformat(sep=" ")
            parsed = parse(text, PG("timestamp with time zone"), options)
    else:
        parsed = parse(value.astimezone(shown_in).isoformat(), PG("timestamptz"), options)
    assert parsed == value
