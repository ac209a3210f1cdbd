"""Does a value fit a length-limited column — answered exactly as the database answers.

The sync's pre-flight (:class:`buyersync.rules.rows.RowChecker`), ``schema check``'s
"rows that would fail" and the measuring of a refused row all ask :func:`excess`, so
they agree with each other and with the database:

* PostgreSQL ``varchar(n)`` / ``char(n)``: a longer value is an error (22001) *unless
  the excess characters are all spaces*, in which case it is silently cut to ``n``
  (SQL standard). ``char(n)`` then pads the stored value with spaces to ``n``.
* A length ``CHECK`` (``char_length``/``length``/``octet_length``, PostgreSQL 23514,
  SQLite ``length()``) is strict, and judges the value *as stored*: after the cut above,
  and for ``char(n)`` with ``char_length`` ignoring the padding while ``octet_length``
  counts it.
* A plain ``int`` limit means "at most n characters, strictly" (SQLite, and callers
  that know no more).

Characters are Unicode code points (what PostgreSQL counts in UTF-8 and SQLite counts
in ``length()``); bytes are UTF-8 bytes (``octet_length`` in a UTF-8 database).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Unit(enum.StrEnum):
    """What a length limit counts."""

    CHARACTERS = "characters"  # char_length()/length()/varchar(n): Unicode code points
    BYTES = "bytes"  # octet_length(): bytes of the value in UTF-8


@dataclass(frozen=True)
class LengthCheck:
    """A CHECK constraint that is nothing but an upper bound on one column's length."""

    limit: int
    unit: Unit = Unit.CHARACTERS
    name: str | None = None  # the constraint's name (SQLite: None unless declared)


@dataclass(frozen=True)
class ColumnLimit:
    """Every length bound the database applies to one column.

    ``type_limit`` is the n of a PostgreSQL ``varchar(n)``/``char(n)`` (directly or
    through a domain); ``padded`` is true for ``char(n)``; ``checks`` are the pure
    length CHECK constraints. SQLite never enforces a declared width: there
    ``type_limit`` is None and only ``checks`` count.
    """

    type_limit: int | None = None
    padded: bool = False
    checks: tuple[LengthCheck, ...] = ()

    @property
    def limit(self) -> int | None:
        """The smallest limit in characters (for messages); None when only bytes are bounded."""
        chars = [c.limit for c in self.checks if c.unit is Unit.CHARACTERS]
        if self.type_limit is not None:
            chars.append(self.type_limit)
        return min(chars) if chars else None


@dataclass(frozen=True)
class Excess:
    """Why a value does not fit: its length, the limit it breaks, and what counts."""

    length: int
    limit: int
    unit: Unit = Unit.CHARACTERS
    constraint: str | None = None  # the CHECK constraint's name; None for the type's limit

    def describe(self, column: str) -> str:
        """``name is 60 characters (limit 50)`` / ``… bytes (limit 40, constraint c)``."""
        by = f", constraint {self.constraint}" if self.constraint else ""
        return f"{column} is {self.length} {self.unit} (limit {self.limit}{by})"

    def to_json(self, column: str) -> dict[str, object]:
        out: dict[str, object] = {"column": column, "length": self.length, "limit": self.limit}
        if self.unit is not Unit.CHARACTERS:
            out["unit"] = str(self.unit)
        if self.constraint:
            out["constraint"] = self.constraint
        return out


def _measure(value: str, unit: Unit) -> int:
    return len(value) if unit is Unit.CHARACTERS else len(value.encode("utf-8", "surrogatepass"))


def excess(value: str, limit: int | ColumnLimit) -> Excess | None:
    """None when the database stores ``value`` under ``limit``; else why it refuses it.

    Pure and exact (see the module docstring). ``value`` is what is sent, before any
    database coercion; an empty value is sent as NULL by the sync and always fits.
    """
    if not value:
        return None  # sent as NULL, which no length limit or CHECK refuses
    if isinstance(limit, int):
        return Excess(len(value), limit) if len(value) > limit else None
    stored = value
    n = limit.type_limit
    if n is not None and len(value) > n:
        if value[n:].strip(" "):
            return Excess(len(value), n)
        stored = value[:n]  # the excess is only spaces: PostgreSQL cuts it off, no error
    for check in limit.checks:
        measured = stored
        if limit.padded and n is not None:
            # char(n) keeps values padded to n; char_length() ignores trailing spaces of
            # a char(n) value, octet_length() counts them.
            padded = stored.ljust(n)
            measured = padded.rstrip(" ") if check.unit is Unit.CHARACTERS else padded
        length = _measure(measured, check.unit)
        if length > check.limit:
            return Excess(length, check.limit, check.unit, check.name)
    return None


__all__ = ["ColumnLimit", "Excess", "LengthCheck", "Unit", "excess"]
