"""Dates and timestamps: ISO always, other orders only per ``date_order``, zones per ``timezone``."""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone, tzinfo

from buyersync.rules.coltypes import ColumnType, Kind
from buyersync.rules.typed.options import (
    ParseOptions,
    Problem,
    ProblemCode,
    Value,
    out_of_range,
    problem,
)

_MAX_TZ_HOURS = 15  # PostgreSQL refuses offsets beyond ±15:59
_PG_EPOCH = datetime(2000, 1, 1)  # PostgreSQL rounds timestamp(p) away from this instant
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


def _ymd(y: str, m: str, d: str, column: ColumnType) -> date | Problem:
    year, month, day = int(y), int(m), int(d)
    if len(y) != 4:
        return problem(ProblemCode.NOT_A_DATE, column, "expected a four-digit year (2024, not 24)")
    if year < 1:
        return out_of_range(column, "expected a year from 0001 to 9999")
    if not 1 <= month <= 12:
        return problem(ProblemCode.INVALID_DATE, column, f"there is no month {month}")
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        return problem(
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
        return problem(
            ProblemCode.DATE_ORDER_NEEDED,
            column,
            ("the date reads day-first and month-first; " if both else "not an ISO date; ")
            + _DATE_HINT,
        )
    if (len(a) != 4 or len(c) > 2) if order == "YMD" else len(a) > 2:
        return problem(ProblemCode.NOT_A_DATE, column, _expected_date(order))
    if order == "YMD":
        return _ymd(a, b, c, column)
    return _ymd(c, b, a, column) if order == "DMY" else _ymd(c, a, b, column)


def parse_date(text: str, column: ColumnType, options: ParseOptions) -> Value | Problem:
    found = _date_part(text, column, options)
    if found is None:
        hint = _expected_date(options.date_order)
        if _split_datetime(text) is not None:
            hint = "expected a date without a time of day; make the column a timestamp to keep the time"
        return problem(ProblemCode.NOT_A_DATE, column, hint)
    return found


@dataclass(frozen=True)
class _DateAndTime:
    """A cell split into its date text and its matched time of day."""

    date_text: str
    time: re.Match[str]


def _split_datetime(text: str) -> _DateAndTime | None:
    for sep in ("T", "t", " "):
        head, found, tail = text.partition(sep)
        if found and (m := _TIME.fullmatch(tail.strip())) is not None:
            if sep != " " and not _ISO_DATE.fullmatch(head):
                return None
            return _DateAndTime(head.strip(), m)
    return None


def _offset(tz: str, column: ColumnType) -> timezone | Problem:
    if tz in ("Z", "z"):
        return UTC
    sign = -1 if tz[0] == "-" else 1
    digits = tz[1:].replace(":", "")
    hours, minutes, seconds = int(digits[:2]), int(digits[2:4] or 0), int(digits[4:] or 0)
    if hours > _MAX_TZ_HOURS or minutes > 59 or seconds > 59:
        return problem(
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


def parse_timestamp(text: str, column: ColumnType, options: ParseOptions) -> Value | Problem:
    with_tz = column.kind is Kind.TIMESTAMPTZ
    split = _split_datetime(text)
    if split is None:
        day = _date_part(text, column, options)
        if isinstance(day, Problem):
            return day
        if day is None:
            return problem(
                ProblemCode.NOT_A_TIMESTAMP,
                column,
                "expected a date and time like 2024-12-31 14:30:00"
                + (" (optionally with an offset: +01:00 or Z)" if with_tz else ""),
            )
        m = None
    else:
        m = split.time
        day = _date_part(split.date_text, column, options)
        if day is None:
            return problem(
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
            return problem(
                ProblemCode.NOT_A_TIMESTAMP,
                column,
                "expected at most six decimals of seconds (microseconds)",
            )
        micro = int(fraction.ljust(6, "0"))
        if m["ampm"]:
            if not 1 <= hour <= 12:
                return problem(
                    ProblemCode.INVALID_DATE, column, "expected an hour from 1 to 12 before AM/PM"
                )
            hour = hour % 12 + (12 if m["ampm"].lower() == "pm" else 0)
        if hour > 23 or minute > 59 or second > 59:
            return problem(
                ProblemCode.INVALID_DATE, column, "expected a time from 00:00:00 to 23:59:59"
            )
        if m["tz"]:
            if not with_tz:
                return problem(
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
        return out_of_range(column, "expected a time between the years 0001 and 9999")


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
