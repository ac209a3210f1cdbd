"""Statements composed of SQL text and identifiers, in the shape of ``psycopg.sql``.

SQL text is written by buyersync in psycopg's parameter style (``%s``, ``%(name)s``,
``%%`` for a literal percent sign). Identifiers — column names that come from sheet
headers above all — are kept apart from that text until the very end: each
:class:`~buyersync.store.db.Database` translates the placeholders of the text parts
only, then quotes every :class:`Identifier` with its driver's quoting. So a header
such as ``Discount %``, ``pct%s`` or ``:name`` is never read as a placeholder, on
any backend.

    SQL("SELECT {cols} FROM {table} WHERE {key} = %s").format(
        cols=[Identifier(c) for c in columns], table=Identifier("buyers"), key=Identifier(k)
    )

A list given to :meth:`SQL.format` is joined with ``", "``. :class:`Verbatim` is SQL
already rendered with :meth:`Database.quote` (DDL planned by
:mod:`buyersync.rules.schema`): it is sent exactly as it is and takes no parameters.
"""

from __future__ import annotations

import abc
import re
import string
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

#: A placeholder or an escaped percent sign in SQL text (psycopg's parameter style).
PLACEHOLDER = re.compile(r"%%|%\((\w+)\)s|%s")

_FORMATTER = string.Formatter()


class Composable(abc.ABC):
    """A part of a statement; combine parts with :meth:`SQL.format` and :meth:`SQL.join`."""

    @abc.abstractmethod
    def parts(self) -> Iterator[SQL | Identifier | Verbatim]:
        """The statement's leaves in order (text, identifiers, verbatim SQL)."""

    def __add__(self, other: Composable) -> Composed:
        return Composed((self, other))


@dataclass(frozen=True)
class SQL(Composable):
    """Trusted SQL text in psycopg's parameter style; ``{}`` / ``{name}`` are slots."""

    text: str

    def parts(self) -> Iterator[SQL | Identifier | Verbatim]:
        yield self

    def format(
        self, *args: Composable | Sequence[Composable], **kwargs: Composable | Sequence[Composable]
    ) -> Composed:
        """Fill the ``{}`` / ``{name}`` slots (``{{`` and ``}}`` are literal braces)."""
        out: list[Composable] = []
        auto = 0
        for literal, field, spec, conversion in _FORMATTER.parse(self.text):
            if literal:
                out.append(SQL(literal))
            if field is None:
                continue
            if spec or conversion:
                raise ValueError(f"no format spec or conversion in SQL slots: {self.text!r}")
            if field == "":
                value = args[auto]
                auto += 1
            elif field.isdigit():
                value = args[int(field)]
            else:
                value = kwargs[field]
            out.append(value if isinstance(value, Composable) else SQL(", ").join(value))
        return Composed(tuple(out))

    def join(self, items: Iterable[Composable]) -> Composed:
        """``items`` separated by this text."""
        out: list[Composable] = []
        for item in items:
            if out:
                out.append(self)
            out.append(item)
        return Composed(tuple(out))


@dataclass(frozen=True)
class Identifier(Composable):
    """A table or column name (``Identifier("temp", "stage")`` for a qualified one)."""

    names: tuple[str, ...]

    def __init__(self, *names: str) -> None:
        if not names:
            raise ValueError("an identifier needs a name")
        object.__setattr__(self, "names", tuple(names))

    def parts(self) -> Iterator[SQL | Identifier | Verbatim]:
        yield self


@dataclass(frozen=True)
class Verbatim(Composable):
    """Finished SQL (identifiers already quoted by ``Database.quote``): sent unchanged."""

    text: str

    def parts(self) -> Iterator[SQL | Identifier | Verbatim]:
        yield self


@dataclass(frozen=True)
class Composed(Composable):
    """A sequence of parts, rendered one after the other."""

    items: tuple[Composable, ...]

    def parts(self) -> Iterator[SQL | Identifier | Verbatim]:
        for item in self.items:
            yield from item.parts()


def identifiers(names: Iterable[str]) -> list[Identifier]:
    """One :class:`Identifier` per name (for a ``{cols}`` slot)."""
    return [Identifier(n) for n in names]
