"""Which columns of ``buyers`` cannot hold an arbitrarily long value (property 1:
every length-limited text column, and nothing else), and the limits that bind."""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from buyersync.rules.lengths import ColumnLimit, LengthCheck, Unit
from buyersync.rules.schema.columntypes import TypeKind, classify_type, is_padded
from buyersync.rules.schema.dialect import SchemaDialect


class LimitSource(enum.StrEnum):
    """Where a column's length limit comes from."""

    TYPE = "type"  # the column's declared type is VARCHAR(n) / CHAR(n)
    DOMAIN = "domain"  # the column's type is a domain over VARCHAR(n) / CHAR(n)
    CHECK = "check"  # a CHECK (length(col) <= n) constraint (SQLite, or PostgreSQL on any type)


@dataclass(frozen=True)
class LimitedColumn:
    """A ``buyers`` column that cannot hold an arbitrarily long value.

    ``limit`` is the smallest of the limits that apply; ``enforced`` is false for a
    SQLite VARCHAR(n) without a CHECK (SQLite stores longer values anyway, but the
    declaration still says the column is not TEXT — requirement 1.1). ``checks`` are
    the pure length CHECK constraints on the column (``schema fix`` drops them);
    ``type_limited`` says whether the type itself must change to TEXT.
    """

    column: str
    type: str
    limit: int
    source: LimitSource
    enforced: bool = True
    domain: str | None = None
    checks: tuple[LengthCheck, ...] = ()
    type_limited: bool = True
    base_type: str | None = None  # a domain's base type (what the domain limits)

    @property
    def padded(self) -> bool:
        """The type itself is ``char(n)``: values are stored padded with spaces."""
        return self.type_limited and is_padded(self.base_type or self.type)

    def to_json(self) -> dict[str, object]:
        return {
            "column": self.column,
            "type": self.type,
            "limit": self.limit,
            "source": str(self.source),
            "enforced": self.enforced,
            "domain": self.domain,
            "constraints": [
                {"name": c.name, "limit": c.limit, "unit": str(c.unit)} for c in self.checks
            ],
        }

    def column_limit(self, dialect: SchemaDialect) -> ColumnLimit:
        """The bounds the database enforces on this column (see :mod:`..lengths`)."""
        type_limit = (
            classify_type(self.base_type or self.type).limit
            if dialect.enforces_declared_width and self.type_limited
            else None
        )
        return ColumnLimit(type_limit, type_limit is not None and self.padded, self.checks)


def _check_limit(checks: Sequence[LengthCheck]) -> int | None:
    """The limit to report: the smallest in characters, else the smallest in bytes."""
    chars = [c.limit for c in checks if c.unit is Unit.CHARACTERS]
    if chars:
        return min(chars)
    return min((c.limit for c in checks), default=None)


def limited_columns(
    columns: Mapping[str, str],
    *,
    dialect: SchemaDialect,
    domains: Mapping[str, str] | None = None,
    checks: Mapping[str, int | Sequence[LengthCheck]] | None = None,
) -> list[LimitedColumn]:
    """The length-limited text columns of a table, in table order (property 1).

    ``columns`` maps name → declared type; ``domains`` maps a domain-typed column to
    the domain's base type; ``checks`` holds the pure length CHECK constraints per
    column (an ``int`` is a nameless character limit). Where the declared width is
    not enforced (SQLite) a VARCHAR(n) is reported but not ``enforced``; a TEXT
    column with a length CHECK is reported everywhere (``type_limited`` false: only
    the CHECK needs to go).
    """
    domains = domains or {}
    checks = checks or {}
    found: list[LimitedColumn] = []
    for name, declared in columns.items():
        base = domains.get(name)
        info = classify_type(base if base is not None else declared)
        type_limit = info.limit if info.kind is TypeKind.LIMITED else None
        raw = checks.get(name)
        col_checks = (LengthCheck(raw),) if isinstance(raw, int) else tuple(raw or ())
        check_limit = _check_limit(col_checks)
        source = LimitSource.DOMAIN if base is not None else LimitSource.TYPE
        if check_limit is not None and (
            type_limit is None or not dialect.enforces_declared_width or check_limit < type_limit
        ):
            limit, source = check_limit, LimitSource.CHECK
        elif type_limit is not None:
            limit = type_limit
        else:
            continue
        found.append(
            LimitedColumn(
                column=name,
                type=declared,
                limit=limit,
                source=source,
                enforced=dialect.enforces_declared_width or check_limit is not None,
                domain=declared if base is not None else None,
                checks=col_checks,
                type_limited=type_limit is not None,
                base_type=base,
            )
        )
    return found


def enforced_limits(
    columns: Iterable[LimitedColumn], dialect: SchemaDialect
) -> dict[str, ColumnLimit]:
    """``{column: ColumnLimit}`` of the limits the database actually enforces."""
    return {c.column: c.column_limit(dialect) for c in columns if c.enforced}


__all__ = ["LimitSource", "LimitedColumn", "enforced_limits", "limited_columns"]
