"""PostgreSQL (psycopg 3) implementation of :class:`Database`."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import re
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql as pgsql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from buyersync.errors import (
    LockHeld,
    ResourceExhausted,
    RowRejected,
    SchemaMismatch,
    StoreConnectionError,
    StoreError,
)
from buyersync.retrying import Retrying, Sleep
from buyersync.rules.backoff import BackoffPolicy
from buyersync.rules.categories import error_class_for_sqlstate
from buyersync.settings import redact_url
from buyersync.store.db import Database, Params, Query, Row
from buyersync.store.sql import SQL, Identifier
from buyersync.store.sql import postgresql as statements
from buyersync.store.sql.compose import PLACEHOLDER

_CURSOR_IDS = itertools.count(1)

#: How a rendered statement takes its parameters: by these names, or in order (None).
_Order = tuple[str, ...] | None


def _is_disconnect(exc: BaseException, conn: psycopg.Connection[Any] | None) -> bool:
    if conn is not None and conn.closed:
        return True
    if isinstance(exc, psycopg.OperationalError) and getattr(exc, "sqlstate", None) is None:
        return True
    return isinstance(exc, psycopg.errors.AdminShutdown)


def translate(
    exc: psycopg.Error, conn: psycopg.Connection[Any] | None = None, what: str = ""
) -> StoreError:
    """The one place that turns a psycopg error into the buyersync exception tree.

    A connection closed under us raises errors with no SQLSTATE: those are
    classified by exception type and ``conn.closed``.
    """
    sqlstate = getattr(exc, "sqlstate", None)
    cls = error_class_for_sqlstate(sqlstate, disconnected=_is_disconnect(exc, conn))
    diag = getattr(exc, "diag", None)
    text = (diag.message_primary if diag is not None and diag.message_primary else str(exc)).strip()
    # libpq's connection messages run over several lines ("server closed the connection
    # unexpectedly\n\tThis probably means ..."): the CLI promises one line.
    text = text.splitlines()[0].strip() if text else type(exc).__name__
    message = f"{what}: {text}" if what else text
    details: dict[str, Any] = {}
    if sqlstate:
        details["sqlstate"] = sqlstate
    if diag is not None:
        for attr in ("column_name", "constraint_name", "table_name"):
            value = getattr(diag, attr, None)
            if value:
                details[attr] = value
    return cls(message, sqlstate=sqlstate, details=details, hint=_HINTS.get(cls))


_HINTS: dict[type[StoreError], str] = {
    StoreConnectionError: "the database connection was lost; run the command again "
    "(rows already written stay, nothing is duplicated)",
    ResourceExhausted: "the database server is out of disk space or memory; free some and "
    "run the command again (rows already written stay)",
}


#: Waits between connection attempts: 0.5 s, 1 s, 2 s … (no jitter: one client).
CONNECT_BACKOFF = BackoffPolicy(max_attempts=2, base_seconds=0.5, max_seconds=30.0, jitter=0.0)


def connect(
    url: str,
    *,
    timeout: float = 10.0,
    attempts: int = 3,
    sleep: Sleep = time.sleep,
) -> PostgresDatabase:
    """Connect, trying ``attempts`` times with exponential backoff (0.5 s, 1 s, 2 s ...)."""
    conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1).replace(
        "postgres://", "postgresql://", 1
    )
    retrying = Retrying(
        replace(CONNECT_BACKOFF, max_attempts=max(1, attempts) - 1),
        retry_on=psycopg.Error,
        sleep=sleep,
    )

    def attempt() -> psycopg.Connection[Any]:
        return psycopg.connect(
            conninfo,
            autocommit=True,
            connect_timeout=max(1, int(timeout)),
            row_factory=dict_row,
            application_name="buyersync",
        )

    try:
        conn = retrying.call(attempt)
    except psycopg.Error as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        for secret in filter(None, [_password(url)]):
            reason = reason.replace(secret, "***")
        # Not chained, on purpose: libpq may quote the connection string, password
        # included ('missing "=" after "..." in connection info string'), and a
        # chained cause reaches logged tracebacks (serve) unscrubbed.
        raise StoreConnectionError(
            f"cannot connect to {redact_url(url)} after {retrying.attempts} attempt(s): {reason}",
            hint="check that PostgreSQL is running and the database URL "
            "(--db / BUYERSYNC_DATABASE_URL)",
        ) from None
    db = PostgresDatabase(conn, redact_url(url))
    db._reopen_args = (url, timeout, attempts)
    return db


def _password(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).password
    except ValueError:
        return None


def _by_name(params: Params, order: tuple[str, ...]) -> tuple[Any, ...]:
    if not isinstance(params, dict):
        raise TypeError("a statement with named placeholders needs a dict of parameters")
    return tuple(params[n] for n in order)


class PostgresDatabase(Database):
    sql = statements.POSTGRESQL

    def __init__(self, conn: psycopg.Connection[Any], display: str) -> None:
        # Raw cursors take PostgreSQL's own $n placeholders, which buyersync writes into
        # the SQL parts alone: psycopg then never scans a statement for %, so a quoted
        # identifier such as "Discount %" reaches the server unchanged.
        conn.cursor_factory = psycopg.RawCursor
        self._conn: psycopg.Connection[Any] = conn
        self.display = display
        self._reopen_args: tuple[str, float, int] | None = None
        self._rendered: dict[tuple[Query, bool], tuple[str, _Order]] = {}

    def reconnect(self) -> None:
        """Replace a lost connection with a new one (bounded retries).

        Session state — temporary tables, advisory locks — is gone afterwards.
        Raises StoreConnectionError when the database stays unreachable.
        """
        if self._reopen_args is None:
            raise StoreConnectionError("the database connection was lost and cannot be reopened")
        self.close()
        url, timeout, attempts = self._reopen_args
        fresh = connect(url, timeout=timeout, attempts=attempts)
        self._conn = fresh._conn

    def side_session(self) -> PostgresDatabase | None:
        if self._reopen_args is None:
            return None
        url, timeout, _ = self._reopen_args
        return connect(url, timeout=timeout, attempts=1)

    def _fail(self, exc: psycopg.Error) -> StoreError:
        return translate(exc, self._conn)

    # -- rendering ----------------------------------------------------------
    def _identifier(self, name: str) -> str:
        limit = self.sql.max_identifier_bytes
        size = len(name.encode(self._conn.info.encoding, errors="replace"))
        if limit is not None and size > limit:
            raise SchemaMismatch(
                f"the column name {name!r} is {size} bytes long; PostgreSQL keeps only "
                f"{limit} bytes of a name and would cut it short",
                hint="map the header to a shorter name in the [mapping] table of "
                'buyersync.toml (for example "Long header text" = "short_name")',
            )
        if "\x00" in name:
            raise SchemaMismatch(
                f"the column name {name!r} contains a NUL character, which PostgreSQL refuses",
                hint="rename the header in the sheet, or map it in the [mapping] table of "
                "buyersync.toml",
            )
        return pgsql.Identifier(name).as_string(self._conn)

    def _render(self, query: Query, with_params: bool) -> tuple[str, _Order]:
        """The text for a raw cursor: ``$n`` placeholders in the SQL parts (only when
        there are parameters), identifiers quoted by psycopg, verbatim parts as they
        are; and the parameter names in ``$n`` order (None: positional)."""
        key = (query, with_params)
        hit = self._rendered.get(key)
        if hit is not None:
            return hit
        names: list[str] = []
        positional = 0

        def number(m: re.Match[str]) -> str:
            nonlocal positional
            if m.group(0) == "%%":
                return "%"
            if m.group(1) is None:
                positional += 1
                return f"${positional}"
            if m.group(1) not in names:
                names.append(m.group(1))
            return f"${names.index(m.group(1)) + 1}"

        def text(sql: str) -> str:
            return PLACEHOLDER.sub(number, sql) if with_params else sql.replace("%%", "%")

        if isinstance(query, str):
            out = text(query)
        else:
            pieces = []
            for part in query.parts():
                if isinstance(part, SQL):
                    pieces.append(text(part.text))
                elif isinstance(part, Identifier):
                    pieces.append(".".join(self._identifier(n) for n in part.names))
                else:
                    pieces.append(part.text)
            out = "".join(pieces)
        if names and positional:
            raise ValueError(f"a statement mixes named and positional placeholders: {out!r}")
        rendered = (out, tuple(names) if names else None)
        if len(self._rendered) >= 512:
            self._rendered.clear()
        self._rendered[key] = rendered
        return rendered

    def _prepare(self, query: Query, params: Params) -> tuple[str, Params]:
        text, order = self._render(query, params is not None)
        if isinstance(params, dict):
            return text, _by_name(params, order or ())
        return text, params

    # -- statements -------------------------------------------------------
    def execute(self, sql: Query, params: Params = None) -> int:
        try:
            text, args = self._prepare(sql, params)
            cur = self._conn.execute(text, args)
            return cur.rowcount
        except psycopg.Error as exc:
            raise self._fail(exc) from exc

    def executemany(self, sql: Query, seq: Iterable[Params]) -> None:
        text, order = self._render(sql, True)
        if order is not None:
            seq = (_by_name(p, order) for p in seq)
        try:
            with self._conn.cursor() as cur:
                cur.executemany(text, (() if p is None else p for p in seq))
        except psycopg.Error as exc:
            raise self._fail(exc) from exc

    def query(self, sql: Query, params: Params = None) -> list[Row]:
        try:
            text, args = self._prepare(sql, params)
            cur = self._conn.execute(text, args)
            return list(cur.fetchall()) if cur.description else []
        except psycopg.Error as exc:
            raise self._fail(exc) from exc

    def iterate(
        self, sql: Query, params: Params = None, *, chunk: int = 5000
    ) -> Iterator[tuple[Any, ...]]:
        text, args = self._prepare(sql, params)
        try:
            # A server-side cursor per stream: two streams on one connection must not
            # share a cursor name.
            with (
                self._conn.transaction(),
                psycopg.RawServerCursor(
                    self._conn,
                    f"buyersync_iter_{next(_CURSOR_IDS)}",
                    row_factory=psycopg.rows.tuple_row,
                ) as cur,
            ):
                cur.itersize = chunk
                cur.execute(text, args)
                yield from cur
        except psycopg.Error as exc:
            raise self._fail(exc) from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        try:
            with self._conn.transaction():
                yield
        except psycopg.Error as exc:
            raise self._fail(exc) from exc

    def quote(self, identifier: str) -> str:
        return self._identifier(identifier)

    def bulk_load(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """COPY rows into ``table`` (inside a transaction or in autocommit)."""
        for column in columns:
            self._identifier(column)
        stmt = pgsql.SQL("COPY {} ({}) FROM STDIN").format(
            pgsql.Identifier(table), pgsql.SQL(", ").join(map(pgsql.Identifier, columns))
        )
        try:
            with self._conn.cursor() as cur, cur.copy(stmt) as copy:
                for row in rows:
                    copy.write_row(row)
        except psycopg.Error as exc:
            raise self._fail(exc) from exc

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._conn.close()

    @property
    def closed(self) -> bool:
        return bool(self._conn.closed)

    # -- adapters --------------------------------------------------------------
    def ts(self, value: datetime | None) -> Any:
        return value

    def read_ts(self, value: Any) -> datetime | None:
        if value is None:
            return None
        stamp: datetime = datetime.fromisoformat(value) if isinstance(value, str) else value
        return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)

    def json(self, value: Any) -> Any:
        return Jsonb(value)

    # -- catalog -------------------------------------------------------------
    def table_exists(self, table: str) -> bool:
        return bool(self.query_value(statements.TABLE_EXISTS, (self.quote(table),)))

    def columns(self, table: str) -> dict[str, str]:
        rows = self.query(statements.TABLE_COLUMNS, (self.quote(table),))
        return {r["name"]: r["type"] for r in rows}

    def has_unique_index(self, table: str, column: str) -> bool:
        return bool(self.query_value(statements.UNIQUE_INDEX, (self.quote(table), column)))

    # -- locking -------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, name: str, *, wait_seconds: float = 0.0) -> Iterator[None]:
        """A session-level advisory lock (released when this connection closes).

        Needs a direct connection: it does not survive a transaction-pooling
        PgBouncer (for example Supabase's pooler on port 6543).
        """
        key = int.from_bytes(
            hashlib.sha256(f"buyersync:{name}".encode()).digest()[:8], "big", signed=True
        )
        deadline = time.monotonic() + wait_seconds
        while not self.query_value("SELECT pg_try_advisory_lock(%s) AS ok", (key,)):
            if time.monotonic() >= deadline:
                raise LockHeld(
                    f"another buyersync {name} is running on {self.display}",
                    hint="wait for it to finish, or pass --lock-wait SECONDS to wait",
                )
            time.sleep(0.2)
        try:
            yield
        finally:
            if not self.closed:
                with contextlib.suppress(StoreError):
                    self.query_value("SELECT pg_advisory_unlock(%s) AS ok", (key,))


__all__ = ["PostgresDatabase", "RowRejected", "connect", "translate"]
