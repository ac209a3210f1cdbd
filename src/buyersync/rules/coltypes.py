"""What a ``buyers`` column's declared type means for the sheet text that feeds it.

* :class:`ColumnType` — the kind of value a column holds (and its width, precision or
  scale), as :func:`buyersync.rules.typed.parse` needs it.
* :func:`classify_postgres` — from a type name as PostgreSQL's catalog prints it
  (``format_type``: ``numeric(12,2)``, ``timestamp with time zone``, ...).
* :func:`classify_sqlite` — from a SQLite column declaration, by SQLite's affinity rules
  (https://www.sqlite.org/datatype3.html, section 3.1), with PostgreSQL's names for
  booleans, dates, timestamps and exact numerics recognised first, so that a table
  created with those names gets the same decisions on both backends.

Pure: no database, no I/O. Domains are not resolved here (the caller passes the base type).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    """The kind of value a column holds."""

    TEXT = "text"  # any text, stored as the sheet shows it
    INTEGER = "integer"  # a whole number within ``bits`` (16, 32 or 64)
    NUMERIC = "numeric"  # an exact decimal, rounded to ``scale`` within ``precision``
    REAL = "real"  # a binary floating-point number of ``bits`` (32 or 64)
    BOOLEAN = "boolean"  # true or false
    DATE = "date"  # a calendar date
    TIMESTAMP = "timestamp"  # a date and time of day without a time zone
    TIMESTAMPTZ = "timestamptz"  # an instant: a date and time with an offset or zone
    OTHER = "other"  # a type this tool does not parse: the text goes to the database as is


#: Inclusive ranges of PostgreSQL's integer types, by width.
INTEGER_RANGES: dict[int, tuple[int, int]] = {
    16: (-(2**15), 2**15 - 1),  # smallint
    32: (-(2**31), 2**31 - 1),  # integer
    64: (-(2**63), 2**63 - 1),  # bigint; also SQLite's INTEGER
}

#: PostgreSQL's limits for numeric(p,s) type modifiers.
MAX_NUMERIC_PRECISION = 1000
MIN_NUMERIC_SCALE = -1000
MAX_NUMERIC_SCALE = 1000
#: Default fractional-second digits of PostgreSQL timestamps (microseconds).
TIMESTAMP_PRECISION = 6


@dataclass(frozen=True)
class ColumnType:
    """The kind of a column's values, and the limits a value must fit.

    ``bits`` is the width of an INTEGER (16, 32 or 64) or REAL (32 or 64) column;
    ``precision``/``scale`` are a NUMERIC column's ``numeric(p,s)`` (``None``: unconstrained)
    and ``precision`` is a TIMESTAMP[TZ] column's fractional-second digits (0-6).
    ``declared`` is the type as the database names it, for messages.
    Raises :class:`ValueError` for limits the database would not accept.
    """

    kind: Kind
    declared: str = ""
    bits: int | None = None
    precision: int | None = None
    scale: int | None = None

    def __post_init__(self) -> None:
        if self.kind is Kind.INTEGER:
            self._default("bits", 64)
            if self.bits not in INTEGER_RANGES:
                raise ValueError(f"an integer column is 16, 32 or 64 bits, not {self.bits}")
        elif self.kind is Kind.REAL:
            self._default("bits", 64)
            if self.bits not in (32, 64):
                raise ValueError(f"a real column is 32 or 64 bits, not {self.bits}")
        elif self.bits is not None:
            raise ValueError(f"only integer and real columns have a width, not {self.kind}")
        if self.kind is Kind.NUMERIC:
            if self.precision is None and self.scale is not None:
                raise ValueError("a numeric scale needs a precision")
            if self.precision is not None:
                self._default("scale", 0)
                assert self.scale is not None
                if not 1 <= self.precision <= MAX_NUMERIC_PRECISION:
                    raise ValueError(f"numeric precision {self.precision} is not 1 to 1000")
                if not MIN_NUMERIC_SCALE <= self.scale <= MAX_NUMERIC_SCALE:
                    raise ValueError(f"numeric scale {self.scale} is not -1000 to 1000")
        elif self.kind in (Kind.TIMESTAMP, Kind.TIMESTAMPTZ):
            self._default("precision", TIMESTAMP_PRECISION)
            assert self.precision is not None
            if not 0 <= self.precision <= TIMESTAMP_PRECISION or self.scale is not None:
                raise ValueError(f"timestamp precision {self.precision} is not 0 to 6")
        elif self.precision is not None or self.scale is not None:
            raise ValueError(
                f"only numeric and timestamp columns have a precision, not {self.kind}"
            )
        if not self.declared:
            object.__setattr__(self, "declared", self._default_name())

    def _default(self, name: str, value: int) -> None:
        if getattr(self, name) is None:
            object.__setattr__(self, name, value)

    def _default_name(self) -> str:
        if self.kind is Kind.INTEGER:
            return {16: "smallint", 32: "integer", 64: "bigint"}[self.bits or 64]
        if self.kind is Kind.REAL:
            return "real" if self.bits == 32 else "double precision"
        if self.kind is Kind.NUMERIC and self.precision is not None:
            return f"numeric({self.precision},{self.scale})"
        if self.kind is Kind.TIMESTAMP:
            return "timestamp without time zone"
        if self.kind is Kind.TIMESTAMPTZ:
            return "timestamp with time zone"
        return str(self.kind)

    @property
    def typed(self) -> bool:
        """Whether sheet text is parsed for this column (TEXT and OTHER pass it through)."""
        return self.kind not in (Kind.TEXT, Kind.OTHER)

    @property
    def integer_range(self) -> tuple[int, int]:
        """The inclusive range of an INTEGER column."""
        return INTEGER_RANGES[self.bits or 64]


_SPACES = re.compile(r"\s+")
_MODIFIER = re.compile(r"^(?P<name>[^(]*?)\s*(?:\((?P<args>[^)]*)\))?\s*(?P<rest>[^()]*)$")

# PostgreSQL names, as format_type prints them and as people write them in DDL.
_PG_FIXED: dict[str, ColumnType] = {
    "smallint": ColumnType(Kind.INTEGER, bits=16),
    "int2": ColumnType(Kind.INTEGER, bits=16),
    "integer": ColumnType(Kind.INTEGER, bits=32),
    "int": ColumnType(Kind.INTEGER, bits=32),
    "int4": ColumnType(Kind.INTEGER, bits=32),
    "bigint": ColumnType(Kind.INTEGER, bits=64),
    "int8": ColumnType(Kind.INTEGER, bits=64),
    "real": ColumnType(Kind.REAL, bits=32),
    "float4": ColumnType(Kind.REAL, bits=32),
    "double precision": ColumnType(Kind.REAL, bits=64),
    "float8": ColumnType(Kind.REAL, bits=64),
    "boolean": ColumnType(Kind.BOOLEAN),
    "bool": ColumnType(Kind.BOOLEAN),
    "date": ColumnType(Kind.DATE),
    "text": ColumnType(Kind.TEXT),
    "citext": ColumnType(Kind.TEXT),
    "name": ColumnType(Kind.TEXT),
}
_PG_TEXT = {"character varying", "varchar", "character", "char", "bpchar"}
_PG_NUMERIC = {"numeric", "decimal"}
_PG_TIMESTAMP = {
    "timestamp": Kind.TIMESTAMP,
    "timestamp without time zone": Kind.TIMESTAMP,
    "timestamp with time zone": Kind.TIMESTAMPTZ,
    "timestamptz": Kind.TIMESTAMPTZ,
}


def _split(declared: str) -> tuple[str, list[int] | None]:
    """``numeric(12, 2)`` → ``("numeric", [12, 2])``; ``timestamp(3) with time zone`` →
    ``("timestamp with time zone", [3])``. Unparseable modifiers give ``[]``."""
    text = _SPACES.sub(" ", declared.strip().lower())
    m = _MODIFIER.match(text)
    if m is None:
        return text, []
    name = " ".join(p for p in (m["name"].strip(), m["rest"].strip()) if p)
    if m["args"] is None:
        return name, None
    try:
        return name, [int(a) for a in m["args"].split(",")]
    except ValueError:
        return name, []


def _numeric(declared: str, args: list[int] | None) -> ColumnType:
    if not args:
        return ColumnType(Kind.NUMERIC, declared=declared)
    if len(args) > 2:
        return ColumnType(Kind.OTHER, declared=declared)
    try:
        return ColumnType(
            Kind.NUMERIC,
            declared=declared,
            precision=args[0],
            scale=args[1] if len(args) > 1 else 0,
        )
    except ValueError:
        return ColumnType(Kind.OTHER, declared=declared)


def _timestamp(declared: str, kind: Kind, args: list[int] | None) -> ColumnType:
    if args is not None and len(args) != 1:
        return ColumnType(Kind.OTHER, declared=declared)
    try:
        return ColumnType(kind, declared=declared, precision=args[0] if args else None)
    except ValueError:
        return ColumnType(Kind.OTHER, declared=declared)


def _known(declared: str, name: str, args: list[int] | None) -> ColumnType | None:
    """A PostgreSQL type name (shared by both classifiers), or ``None``."""
    if name in _PG_NUMERIC:
        return _numeric(declared, args)
    if name in _PG_TIMESTAMP:
        return _timestamp(declared, _PG_TIMESTAMP[name], args)
    if name in _PG_TEXT:
        return ColumnType(Kind.TEXT, declared=declared)
    fixed = _PG_FIXED.get(name)
    if fixed is not None and args is None:
        return ColumnType(fixed.kind, declared=declared, bits=fixed.bits)
    return None


def classify_postgres(declared: str) -> ColumnType:
    """Classify a PostgreSQL column type as ``format_type(atttypid, atttypmod)`` prints it.

    Integer and floating-point widths, ``numeric(p,s)`` and ``timestamp(p)`` keep their
    limits; the text family is TEXT; arrays, domains and every other type are OTHER, whose
    text the database itself judges.
    """
    name, args = _split(declared)
    if name.endswith("[]"):
        return ColumnType(Kind.OTHER, declared=declared)
    found = _known(declared, name, args)
    return found if found is not None else ColumnType(Kind.OTHER, declared=declared)


# SQLite-only spellings of the recognised kinds; SQLite's own INTEGER and REAL keep
# SQLite's 64-bit meaning (see classify_sqlite).
_SQLITE_NAMES: dict[str, ColumnType] = {
    "datetime": ColumnType(Kind.TIMESTAMP),
    "double": ColumnType(Kind.REAL, bits=64),
    "float": ColumnType(Kind.REAL, bits=64),
    "real": ColumnType(Kind.REAL, bits=64),
    "integer": ColumnType(Kind.INTEGER, bits=64),
    "int": ColumnType(Kind.INTEGER, bits=64),
}


def classify_sqlite(declared: str | None) -> ColumnType:
    """Classify a SQLite column declaration by SQLite's type-affinity rules.

    First the names PostgreSQL also has (``boolean``, ``date``, ``timestamp[tz]``,
    ``numeric(p,s)``/``decimal(p,s)``, ``smallint``/``bigint``, ``varchar(n)``...) and
    ``datetime`` are recognised, so SQLite validates them as PostgreSQL would. SQLite's own
    storage-class names keep SQLite's meaning: ``integer``/``int`` hold 64 bits and
    ``real``/``float``/``double`` are 8-byte floats (PostgreSQL's ``integer`` and ``real``
    are 32-bit). Then the affinity rules, in SQLite's order: a name containing ``INT`` is
    a 64-bit INTEGER; ``CHAR``, ``CLOB`` or ``TEXT`` is TEXT; ``BLOB`` or no type is TEXT
    (SQLite stores the text as given); ``REAL``, ``FLOA`` or ``DOUB`` is a 64-bit REAL.
    Anything else has NUMERIC affinity but is OTHER here: SQLite keeps text that is not
    a number as text in such a column (``uuid``, ``json``), so it is not refused.
    """
    declared = declared or ""
    name, args = _split(declared)
    sqlite_name = _SQLITE_NAMES.get(name)
    if sqlite_name is not None and args is None:
        return ColumnType(sqlite_name.kind, declared=declared, bits=sqlite_name.bits)
    found = _known(declared, name, args)
    if found is not None:
        return found
    upper = name.upper()
    if "INT" in upper:
        return ColumnType(Kind.INTEGER, declared=declared, bits=64)
    if any(word in upper for word in ("CHAR", "CLOB", "TEXT")):
        return ColumnType(Kind.TEXT, declared=declared)
    if "BLOB" in upper or not upper:
        return ColumnType(Kind.TEXT, declared=declared)
    if any(word in upper for word in ("REAL", "FLOA", "DOUB")):
        return ColumnType(Kind.REAL, declared=declared, bits=64)
    return ColumnType(Kind.OTHER, declared=declared)
