"""What a parsed cell becomes, why a cell does not parse, and how the sheet writes values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from decimal import Decimal
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from buyersync.rules.coltypes import ColumnType

Value = None | bool | int | Decimal | float | date | datetime | str

#: number_format → (thousands separators, decimal separator).
NUMBER_FORMATS: dict[str, tuple[str, str]] = {
    "1,234.56": (",", "."),
    "1.234,56": (".", ","),
    # A space, a no-break space or a narrow no-break space (what French locales print).
    "1 234,56": (" \u00a0\u202f", ","),
}
DATE_ORDERS = ("DMY", "MDY", "YMD")


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


def problem(code: ProblemCode, column: ColumnType, message: str) -> Problem:
    """A :class:`Problem` of ``column``'s declared type."""
    return Problem(code, column.declared, message)


def out_of_range(column: ColumnType, what: str) -> Problem:
    return Problem(ProblemCode.OUT_OF_RANGE, column.declared, f"{what} for {column.declared}")
