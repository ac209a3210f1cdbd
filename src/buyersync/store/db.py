"""The narrow database interface every repository uses.

SQL is written once, in psycopg's parameter style (``%(name)s`` / ``%s``, ``%%`` for a
literal percent sign); :class:`Database` implementations adapt it to their driver.
A statement is either plain text or composed (:mod:`buyersync.store.sql.compose`):
identifiers in a composed statement are quoted by the driver and never read as
placeholders, so any sheet header is a usable column name. Placeholders are
translated only when parameters are given (psycopg's rule); ``%%`` always becomes ``%``.
What differs between the backends is ``db.sql`` (:class:`buyersync.store.sql.Dialect`):
capabilities and named statements, never a test of the backend's name.
Only :mod:`buyersync.store.postgres` and :mod:`buyersync.store.sqlite` import a
driver, and they translate every driver error into :class:`buyersync.errors.StoreError`.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import AbstractContextManager
from datetime import UTC, datetime
from typing import Any

from buyersync.store.sql import Composable, Dialect

Row = dict[str, Any]
Params = Sequence[Any] | dict[str, Any] | None
#: Plain SQL text, or a statement composed with identifiers.
Query = str | Composable


class Database(abc.ABC):
    """A connection to one database, in autocommit mode outside :meth:`transaction`."""

    #: This backend's capabilities and named statements.
    sql: Dialect
    #: A description safe to print (no password).
    display: str

    @property
    def dialect(self) -> str:
        """The backend's name, ``postgresql`` or ``sqlite``: for reports, not for branching."""
        return self.sql.name

    # -- statements -------------------------------------------------------
    @abc.abstractmethod
    def execute(self, sql: Query, params: Params = None) -> int:
        """Run one statement; return the number of rows it affected."""

    @abc.abstractmethod
    def executemany(self, sql: Query, seq: Iterable[Params]) -> None:
        """Run one statement for each parameter set."""

    @abc.abstractmethod
    def query(self, sql: Query, params: Params = None) -> list[Row]:
        """Run a query; return every row as a dict."""

    @abc.abstractmethod
    def iterate(
        self, sql: Query, params: Params = None, *, chunk: int = 5000
    ) -> Iterator[tuple[Any, ...]]:
        """Stream a large result as tuples without holding it all in memory."""

    def query_one(self, sql: Query, params: Params = None) -> Row | None:
        rows = self.query(sql, params)
        return rows[0] if rows else None

    def query_value(self, sql: Query, params: Params = None) -> Any:
        row = self.query_one(sql, params)
        return None if row is None else next(iter(row.values()))

    @abc.abstractmethod
    def bulk_load(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """Append many rows to ``table`` as fast as the driver can (COPY where it exists).

        ``table`` is unqualified: a temporary table of that name is found first.
        """

    @abc.abstractmethod
    def reconnect(self) -> None:
        """Make the database usable again after a :class:`StoreConnectionError`.

        Session state (temporary tables, locks) is gone afterwards. Raises
        StoreConnectionError when the database stays unreachable.
        """

    def side_session(self) -> Database | None:
        """A second connection to the same database (to watch this one wait), or None
        where there is no other session to see."""
        return None

    @abc.abstractmethod
    def transaction(self) -> AbstractContextManager[None]:
        """A write transaction (a savepoint when nested); rolled back on error."""

    @abc.abstractmethod
    def quote(self, identifier: str) -> str:
        """Quote an identifier (table or column name) with the driver's rules.

        For :class:`~buyersync.store.sql.compose.Verbatim` statements only: text that
        is later given parameters must compose an ``Identifier`` instead.
        """

    @abc.abstractmethod
    def lock(self, name: str, *, wait_seconds: float = 0.0) -> AbstractContextManager[None]:
        """Hold the exclusive buyersync lock ``name`` for this database.

        Released when the block ends or the process dies. Raises
        :class:`buyersync.errors.LockHeld` when another process holds it for longer
        than ``wait_seconds``.
        """

    @abc.abstractmethod
    def close(self) -> None: ...

    @property
    @abc.abstractmethod
    def closed(self) -> bool: ...

    # -- value adapters -----------------------------------------------------
    @abc.abstractmethod
    def ts(self, value: datetime | None) -> Any:
        """A timestamp parameter (UTC)."""

    @abc.abstractmethod
    def read_ts(self, value: Any) -> datetime | None:
        """A timestamp column value as an aware UTC datetime."""

    def json(self, value: Any) -> Any:
        """A JSON parameter."""
        return json.dumps(value, ensure_ascii=False, default=str)

    def read_json(self, value: Any) -> Any:
        if value is None or isinstance(value, (dict, list)):
            return value
        return json.loads(value)

    # -- catalog -----------------------------------------------------------
    @abc.abstractmethod
    def table_exists(self, table: str) -> bool: ...

    @abc.abstractmethod
    def columns(self, table: str) -> dict[str, str]:
        """Column name → declared type, in table order (empty if no such table)."""

    @abc.abstractmethod
    def has_unique_index(self, table: str, column: str) -> bool:
        """Whether ``table`` has a unique, non-partial index on exactly ``column``."""

    def __enter__(self) -> Database:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def utcnow() -> datetime:
    return datetime.now(UTC)
