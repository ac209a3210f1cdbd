"""Sheet text → the value a typed column stores, the same way on every backend.

:func:`parse` is total: every string gives either a value or a :class:`Problem`, and it
never raises. The value is what the database should store: ``None`` (an empty cell),
``int``, ``decimal.Decimal``, ``float``, ``bool``, ``datetime.date``, a naive
``datetime.datetime`` (TIMESTAMP), one in UTC (TIMESTAMPTZ) or ``str`` (TEXT, OTHER).
Where it accepts text, PostgreSQL's own cast of the same value agrees (a property test
checks it), so SQLite, which would store anything, gets PostgreSQL's decisions.

The rules are documented in docs/sources.md ("Typed columns"); in short:

* numbers use the separators of :attr:`ParseOptions.number_format`, in groups of three,
  with no currency or percent signs; an integer column takes no fraction (PostgreSQL
  refuses ``'1.0'::integer`` too); a number out of the column's range is a problem;
* booleans are yes/no, true/false, y/n, t/f, on/off, 1/0 in any case;
* dates are ISO (2024-12-31) always, and day/month/year orders only per
  :attr:`ParseOptions.date_order` — never guessed;
* timestamps are a date, then ``T`` or a space, then a time; a TIMESTAMPTZ value without
  an offset is in :attr:`ParseOptions.timezone`.
"""

from __future__ import annotations

import calendar
import math
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Context, Decimal
from enum import StrEnum
from fractions import Fraction
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from buyersync.rules.coltypes import ColumnType, Kind

#: What a parsed cell becomes.
Value = None | bool | int | Decimal | float | date | datetime | str

#: number_format → (thousands separators, decimal separator).
NUMBER_FORMATS: dict[str, tuple[str, str]] = {
    "1,234.56": (",", "."),
    "1.234,56": (".", ","),
    # A space, a no-break space or a narrow no-break space (what French locales print).
    "1 234,56": (" \u00a0\u202f", ","),
}
DATE_ORDERS = ("DMY", "MDY", "YMD")

# PostgreSQL's limits for an unconstrained numeric.
_MAX_NUMERIC_INT_DIGITS = 131072
_MAX_NUMERIC_FRAC_DIGITS = 16383
# Larger exponents are out of every type's range; refusing them early keeps parse cheap.
_MAX_EXPONENT = 200_000
_MAX_TZ_HOURS = 15  # PostgreSQL refuses offsets beyond ±15:59
_PG_EPOCH = datetime(2000, 1, 1)  # PostgreSQL rounds timestamp(p) away from this instant


class ProblemCode(StrEnum):
    """Why a cell's text is not a value of its column's type."""

    NOT_A_NUMBER = "not_a_number"  # not a number written per number_format
    NOT_WHOLE = "not_whole"  # a number with a fraction or exponent for an integer column
    OUT_OF_RANGE = "out_of_range"  # a number or date the column type cannot hold
    NOT_A_BOOLEAN = "not_a_boolean"  # not one of the boolean words
    NOT_A_DATE = "not_a_date"  # not a date in an accepted shape
    DATE_ORDER_NEEDED = "date_order_needed"  # a non-ISO date while date_order is unset
    INVALID_DATE = "invalid_date"  # a day, month or time that does not exist (2024-02-30)
    NOT_A_TIMESTAMP = "not_a_timestamp"  # not a date and time in an accepted shape
    OFFSET_NOT_ALLOWED = "offset_not_allowed"  # an offset for a timestamp without time zone
    AMBIGUOUS_LOCAL_TIME = "ambiguous_local_time"  # happens twice in the zone (clocks go back)
    NONEXISTENT_LOCAL_TIME = "nonexistent_local_time"  # skipped in the zone (clocks go forward)


@dataclass(frozen=True)
class Problem:
    """A cell that does not parse: ``message`` says what was expected and the fix.

    The message never repeats the cell's value; the caller names the row, cell and value.
    """

    code: ProblemCode
    expected: str  # the column type, as the database names it
    message: str


@dataclass(frozen=True)
class ParseOptions:
    """How the sheet writes numbers, dates and timestamps (the settings of the same names).

    ``date_order`` is upper-cased. Raises :class:`ValueError` naming the allowed values.
    """

    number_format: str = "1,234.56"
    date_order: str | None = None
    timezone: str = "UTC"

    def __post_init__(self) -> None:
        if self.number_format not in NUMBER_FORMATS:
            allowed = ", ".join(f'"{f}"' for f in NUMBER_FORMATS)
            raise ValueError(f"number_format {self.number_format!r} is not one of {allowed}")
        if self.date_order is not None:
            order = self.date_order.strip().upper()
            if order not in DATE_ORDERS:
                raise ValueError(
                    f"date_order {self.date_order!r} is not one of {', '.join(DATE_ORDERS)}"
                )
            object.__setattr__(self, "date_order", order)
        zone(self.timezone)

    @property
    def tz(self) -> tzinfo:
        return zone(self.timezone)


@lru_cache(maxsize=64)
def zone(name: str) -> tzinfo:
    """The IANA time zone ``name``; raises :class:`ValueError` if there is none."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"timezone {name!r} is not an IANA time zone name (e.g. UTC, Europe/Berlin)"
        ) from None


def parse(text: str, column: ColumnType, options: ParseOptions | None = None) -> Value | Problem:
    """The value ``text`` stands for in ``column``, or the :class:`Problem` with it.

    An empty or whitespace-only cell is ``None`` in a typed column; TEXT and OTHER columns
    get the text unchanged (``""`` is ``None``). Never raises.
    """
    options = options or ParseOptions()
    if not column.typed:
        return text or None
    stripped = text.strip()
    if not stripped:
        return None
    return _PARSERS[column.kind](stripped, column, options)


# ---------------------------------------------------------------- numbers


@lru_cache(maxsize=8)
def _number_pattern(number_format: str) -> re.Pattern[str]:
    thousands, point = NUMBER_FORMATS[number_format]
    t = "[" + re.escape(thousands) + "]"
    d = re.escape(point)
    return re.compile(
        rf"(?P<sign>[+-])?"
        rf"(?P<int>[0-9]{{1,3}}(?:{t}[0-9]{{3}})+|[0-9]+)?"
        rf"(?:{d}(?P<frac>[0-9]*))?"
        rf"(?:[eE](?P<exp>[+-]?[0-9]+))?"
    )


@dataclass(frozen=True)
class _Number:
    value: Decimal
    fraction: bool  # written with a decimal separator
    exponent: bool  # written with an exponent


def _number(text: str, number_format: str) -> _Number | None:
    m = _number_pattern(number_format).fullmatch(text)
    if m is None or (m["int"] is None and not m["frac"]):
        return None
    digits = re.sub("[^0-9]", "", m["int"] or "") or "0"
    frac = m["frac"] or ""
    exp_text = m["exp"] or "0"
    if len(exp_text.lstrip("+-")) > 9:  # far beyond every type's range; keeps parse cheap
        exp = _MAX_EXPONENT + 1
    else:
        exp = min(abs(int(exp_text)), _MAX_EXPONENT + 1)
    if exp_text.startswith("-"):
        exp = -exp
    value = Decimal(f"{m['sign'] or ''}{digits}.{frac}e{exp}")
    return _Number(value, m["frac"] is not None, m["exp"] is not None)


def _expected_number(options: ParseOptions) -> str:
    return f'expected a number like {options.number_format} (number_format = "{options.number_format}")'


def _not_a_number(text: str, column: ColumnType, options: ParseOptions) -> Problem:
    message = _expected_number(options)
    other = [f for f in NUMBER_FORMATS if f != options.number_format and _number(text, f)]
    if other:
        message += f'; it reads as a number with number_format = "{other[0]}"'
    elif re.search(r"[%$€£¥₹]", text):
        message += "; currency and percent signs are not stripped: remove them in the sheet"
    return Problem(ProblemCode.NOT_A_NUMBER, column.declared, message)


def _out_of_range(column: ColumnType, what: str) -> Problem:
    return Problem(ProblemCode.OUT_OF_RANGE, column.declared, f"{what} for {column.declared}")


def _parse_integer(text: str, column: ColumnType, options: ParseOptions) -> Value | Problem:
    n = _number(text, options.number_format)
    if n is None:
        return _not_a_number(text, column, options)
    if n.fraction or n.exponent:
        return Problem(
            ProblemCode.NOT_WHOLE,
            column.declared,
            f"expected a whole number like 1234 for {column.declared} (no decimal "
            "separator or exponent); make the column numeric to keep fractions",
        )
    low, high = column.integer_range
    if not low <= n.value <= high:  # compared as Decimal: a 5,000-digit text stays cheap
        return _out_of_range(column, f"expected a whole number from {low} to {high}")
    return int(n.value)


def _parse_numeric(text: str, column: ColumnType, options: ParseOptions) -> Value | Problem:
    n = _number(text, options.number_format)
    if n is None:
        return _not_a_number(text, column, options)
    value = n.value
    if value.is_zero():
        value = value.copy_abs()  # PostgreSQL's numeric has no negative zero
    if column.precision is None:
        exponent = int(value.as_tuple().exponent)
        if value.adjusted() >= _MAX_NUMERIC_INT_DIGITS and not value.is_zero():
            return _out_of_range(column, "the number has too many digits")
        if -exponent > _MAX_NUMERIC_FRAC_DIGITS:
            return _out_of_range(column, "the number has too many decimals")
        if exponent > 0:  # 1.5e3 → 1500, as PostgreSQL shows it
            value = value.quantize(Decimal(1), context=Context(prec=value.adjusted() + 2))
        return value
    p, s = column.precision, column.scale or 0
    limit = f"expected a number below 10^{p - s} in absolute value (at most {p} digits, {s} after the decimal separator)"
    if not value.is_zero() and value.adjusted() >= p - s:
        return _out_of_range(column, limit)
    if value.adjusted() < -s - 1:
        # Below half a unit of the last place: rounds to zero without a huge context.
        return Decimal(0).scaleb(-s) if s > 0 else Decimal(0)
    rounded = value.quantize(
        Decimal(1).scaleb(-s), rounding=ROUND_HALF_UP, context=Context(prec=p + 2)
    )
    if not rounded.is_zero() and rounded.adjusted() >= p - s:
        return _out_of_range(column, limit)
    if s < 0:  # 1.23E+4 → 12300, as PostgreSQL shows it
        rounded = rounded.quantize(Decimal(1), context=Context(prec=p - s + 2))
    return rounded.copy_abs() if rounded.is_zero() else rounded


def _float32(x: Fraction, f: float) -> float | None:
    """The float32 nearest ``x`` (``f`` is the float64 nearest), or ``None`` on overflow."""
    try:
        r = struct.unpack("<f", struct.pack("<f", f))[0]
    except OverflowError:
        return None
    if r != f:
        # Rounding x to float64 first can land exactly between two float32s where x was
        # not: decide that tie by x itself, as strtof (which PostgreSQL uses) does.
        o = _neighbour32(r, 1 if f > r else -1)
        if math.isinf(o):
            o = r
        mid = (Fraction(r) + Fraction(o)) / 2
        if Fraction(f) == mid and x != mid and (x > mid) == (o > r):
            r = o
    if r in (float("inf"), float("-inf")):
        return None
    return float(r)


def _neighbour32(r: float, step: int) -> float:
    """The float32 after (``step`` 1) or before (-1) float32 ``r``; may be infinite."""
    bits = struct.unpack("<I", struct.pack("<f", r))[0]
    if r == 0:
        bits, step = (0x80000000, 1) if step < 0 else (0, 1)
    elif r < 0:
        step = -step
    try:
        return float(struct.unpack("<f", struct.pack("<I", bits + step))[0])
    except struct.error:
        return r


def _shortest32(r: float) -> float:
    """The shortest decimal strictly nearer to float32 ``r`` than to its neighbours (the
    nearest such), as a float: what PostgreSQL prints for a ``real`` (its Ryu does not take
    a tie as reading back), so what reading the column back gives."""
    exact = Fraction(r)
    below, above = _neighbour32(r, -1), _neighbour32(r, 1)
    if not math.isfinite(above):  # at the largest float32 the next step would be as wide
        above = float(2 * exact - Fraction(below))
    if not math.isfinite(below):
        below = float(2 * exact - Fraction(above))
    low = (exact + Fraction(below)) / 2
    high = (exact + Fraction(above)) / 2

    def inside(c: Decimal) -> bool:
        x = Fraction(c)
        return low < x < high

    for digits in range(1, 10):
        base = Decimal(f"{r:.{digits - 1}e}")
        step = Decimal(1).scaleb(base.adjusted() - digits + 1)
        fits = [c for c in (base, base - step, base + step) if inside(c)]
        if fits:
            return float(min(fits, key=lambda c: abs(Fraction(c) - exact)))
    return r


def _parse_real(text: str, column: ColumnType, options: ParseOptions) -> Value | Problem:
    n = _number(text, options.number_format)
    if n is None:
        return _not_a_number(text, column, options)
    if n.value.is_zero():
        return float(n.value)
    f = float(n.value)
    exact = Fraction(n.value) if abs(n.value.adjusted()) < 400 else None
    if column.bits == 32:
        r = _float32(exact, f) if exact is not None and math.isfinite(f) else None
        value = None if r is None else _shortest32(r)
    else:
        value = f if math.isfinite(f) else None
    if value is None or (value == 0 and not n.value.is_zero()):
        return _out_of_range(column, "the number is too large or too small")
    return value


# ---------------------------------------------------------------- booleans

_TRUE = frozenset({"true", "t", "yes", "y", "on", "1"})
_FALSE = frozenset({"false", "f", "no", "n", "off", "0"})


def _parse_boolean(text: str, column: ColumnType, options: ParseOptions) -> Value | Problem:
    word = text.lower()
    if word in _TRUE:
        return True
    if word in _FALSE:
        return False
    return Problem(
        ProblemCode.NOT_A_BOOLEAN,
        column.declared,
        "expected yes/no, true/false, y/n, t/f, on/off or 1/0 (a checkbox gives TRUE/FALSE)",
    )


# ---------------------------------------------------------------- dates and times

_ISO_DATE = re.compile(r"(?P<y>[0-9]{4})-(?P<m>[0-9]{1,2})-(?P<d>[0-9]{1,2})")
_OTHER_DATE = re.compile(
    r"(?P<a>[0-9]{1,4})(?P<sep>[/.-])(?P<b>[0-9]{1,2})(?P=sep)(?P<c>[0-9]{1,4})"
)
_TIME = re.compile(
    r"(?P<H>[0-9]{1,2}):(?P<M>[0-9]{2})"
    r"(?::(?P<S>[0-9]{2})(?:[.,](?P<f>[0-9]+))?)?"
    r"(?:\s*(?P<ampm>[AaPp][Mm]))?"
    r"(?:\s*(?P<tz>[Zz]|[+-][0-9]{2}(?::?[0-9]{2}(?::?[0-9]{2})?)?))?"
)
_DATE_HINT = 'write dates as 2024-12-31, or set date_order = "DMY", "MDY" or "YMD"'


def _problem(code: ProblemCode, column: ColumnType, message: str) -> Problem:
    return Problem(code, column.declared, message)


def _ymd(y: str, m: str, d: str, column: ColumnType) -> date | Problem:
    year, month, day = int(y), int(m), int(d)
    if len(y) != 4:
        return _problem(ProblemCode.NOT_A_DATE, column, "expected a four-digit year (2024, not 24)")
    if year < 1:
        return _out_of_range(column, "expected a year from 0001 to 9999")
    if not 1 <= month <= 12:
        return _problem(ProblemCode.INVALID_DATE, column, f"there is no month {month}")
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        return _problem(
            ProblemCode.INVALID_DATE,
            column,
            f"there is no day {day} in {calendar.month_name[month]} {year:04d} (it has {last} days)",
        )
    return date(year, month, day)


def _expected_date(order: str | None) -> str:
    if order is None:
        return f"expected a date like 2024-12-31; {_DATE_HINT}"
    example = {"DMY": "31/12/2024", "MDY": "12/31/2024", "YMD": "2024/12/31"}[order]
    return f'expected a date like {example} or 2024-12-31 (date_order = "{order}")'


def _date_part(text: str, column: ColumnType, options: ParseOptions) -> date | Problem | None:
    """The date ``text`` names, a problem, or ``None`` when it is not date-shaped at all."""
    m = _ISO_DATE.fullmatch(text)
    if m is not None:
        return _ymd(m["y"], m["m"], m["d"], column)
    m = _OTHER_DATE.fullmatch(text)
    if m is None:
        return None
    a, b, c = m["a"], m["b"], m["c"]
    order = options.date_order
    if order is None:
        both = len(c) == 4 and int(a) <= 12 and int(b) <= 12 and a != b
        return _problem(
            ProblemCode.DATE_ORDER_NEEDED,
            column,
            ("the date reads day-first and month-first; " if both else "not an ISO date; ")
            + _DATE_HINT,
        )
    if (len(a) != 4 or len(c) > 2) if order == "YMD" else len(a) > 2:
        return _problem(ProblemCode.NOT_A_DATE, column, _expected_date(order))
    if order == "YMD":
        return _ymd(a, b, c, column)
    return _ymd(c, b, a, column) if order == "DMY" else _ymd(c, a, b, column)


def _parse_date(text: str, column: ColumnType, options: ParseOptions) -> Value | Problem:
    found = _date_part(text, column, options)
    if found is None:
        hint = _expected_date(options.date_order)
        if _split_datetime(text) is not None:
            hint = "expected a date without a time of day; make the column a timestamp to keep the time"
        return _problem(ProblemCode.NOT_A_DATE, column, hint)
    return found


def _split_datetime(text: str) -> tuple[str, re.Match[str]] | None:
    for sep in ("T", "t", " "):
        head, found, tail = text.partition(sep)
        if found and (m := _TIME.fullmatch(tail.strip())) is not None:
            if sep != " " and not _ISO_DATE.fullmatch(head):
                return None
            return head.strip(), m
    return None


def _offset(tz: str, column: ColumnType) -> timezone | Problem:
    if tz in ("Z", "z"):
        return UTC
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    hours, minutes, seconds = int(digits[:2]), int(digits[2:4] or 0), int(digits[4:] or 0)
    if hours > _MAX_TZ_HOURS or minutes > 59 or seconds > 59:
        return _problem(
            ProblemCode.NOT_A_TIMESTAMP, column, "expected an offset from -15:59 to +15:59"
        )
    return timezone(sign * timedelta(hours=hours, minutes=minutes, seconds=seconds))


def _round_fraction(value: datetime, precision: int) -> datetime:
    """Round to ``precision`` fractional-second digits as PostgreSQL does: half away from
    its epoch (2000-01-01, UTC for an aware value). Raises OverflowError past year 9999."""
    if precision >= 6:
        return value
    unit = 10 ** (6 - precision)
    instant = value if value.tzinfo is None else value.astimezone(UTC).replace(tzinfo=None)
    since = (instant - _PG_EPOCH) // timedelta(microseconds=1)
    magnitude = (abs(since) + unit // 2) // unit * unit
    rounded = instant + timedelta(microseconds=(magnitude if since >= 0 else -magnitude) - since)
    if value.tzinfo is None:
        return rounded
    return rounded.replace(tzinfo=UTC).astimezone(value.tzinfo)


def _parse_timestamp(text: str, column: ColumnType, options: ParseOptions) -> Value | Problem:
    with_tz = column.kind is Kind.TIMESTAMPTZ
    split = _split_datetime(text)
    if split is None:
        day = _date_part(text, column, options)
        if isinstance(day, Problem):
            return day
        if day is None:
            return _problem(
                ProblemCode.NOT_A_TIMESTAMP,
                column,
                "expected a date and time like 2024-12-31 14:30:00"
                + (" (optionally with an offset: +01:00 or Z)" if with_tz else ""),
            )
        head, m = text, None
    else:
        head, m = split
        day = _date_part(head, column, options)
        if day is None:
            return _problem(
                ProblemCode.NOT_A_TIMESTAMP,
                column,
                "expected the date first, like 2024-12-31 14:30:00",
            )
        if isinstance(day, Problem):
            return day
    hour = minute = second = micro = 0
    given: tzinfo | None = None
    if m is not None:
        hour, minute, second = int(m["H"]), int(m["M"]), int(m["S"] or 0)
        fraction = m["f"] or ""
        if len(fraction) > 6:
            return _problem(
                ProblemCode.NOT_A_TIMESTAMP,
                column,
                "expected at most six decimals of seconds (microseconds)",
            )
        micro = int(fraction.ljust(6, "0"))
        if m["ampm"]:
            if not 1 <= hour <= 12:
                return _problem(
                    ProblemCode.INVALID_DATE, column, "expected an hour from 1 to 12 before AM/PM"
                )
            hour = hour % 12 + (12 if m["ampm"].lower() == "pm" else 0)
        if hour > 23 or minute > 59 or second > 59:
            return _problem(
                ProblemCode.INVALID_DATE, column, "expected a time from 00:00:00 to 23:59:59"
            )
        if m["tz"]:
            if not with_tz:
                return _problem(
                    ProblemCode.OFFSET_NOT_ALLOWED,
                    column,
                    f"{column.declared} keeps no offset: write the local time without it, "
                    "or make the column timestamp with time zone",
                )
            offset = _offset(m["tz"], column)
            if isinstance(offset, Problem):
                return offset
            given = offset
    naive = datetime(day.year, day.month, day.day, hour, minute, second, micro)
    precision = column.precision if column.precision is not None else 6
    try:
        if not with_tz:
            return _round_fraction(naive, precision)
        if given is None:
            local = _local(naive, options)
            if isinstance(local, Problem):
                return Problem(local.code, column.declared, local.message)
            value = local
        else:
            value = naive.replace(tzinfo=given)
        # In UTC: an aware datetime at a repeated wall time never equals one in another
        # zone (PEP 495), so values are compared as instants. Beyond year 9999 this raises.
        return _round_fraction(value.astimezone(UTC), precision)
    except OverflowError:
        return _out_of_range(column, "expected a time between the years 0001 and 9999")


def _local(naive: datetime, options: ParseOptions) -> datetime | Problem:
    """``naive`` in the configured zone; a time that the zone skips or repeats is a problem
    rather than a guess."""
    tz = options.tz
    first = naive.replace(tzinfo=tz, fold=0)
    second = naive.replace(tzinfo=tz, fold=1)
    if first.utcoffset() == second.utcoffset():
        return first
    back = first.astimezone(UTC).astimezone(tz).replace(tzinfo=None)
    if back == naive:
        return Problem(
            ProblemCode.AMBIGUOUS_LOCAL_TIME,
            "",
            f"this local time happens twice in {options.timezone} (clocks go back): "
            "write the offset, e.g. +01:00",
        )
    return Problem(
        ProblemCode.NONEXISTENT_LOCAL_TIME,
        "",
        f"this local time does not exist in {options.timezone} (clocks go forward): "
        "write the offset, or the time after the change",
    )


_PARSERS: dict[Kind, Callable[[str, ColumnType, ParseOptions], Value | Problem]] = {
    Kind.INTEGER: _parse_integer,
    Kind.NUMERIC: _parse_numeric,
    Kind.REAL: _parse_real,
    Kind.BOOLEAN: _parse_boolean,
    Kind.DATE: _parse_date,
    Kind.TIMESTAMP: _parse_timestamp,
    Kind.TIMESTAMPTZ: _parse_timestamp,
}


__all__ = [
    "DATE_ORDERS",
    "NUMBER_FORMATS",
    "ParseOptions",
    "Problem",
    "ProblemCode",
    "Value",
    "parse",
    "zone",
]
