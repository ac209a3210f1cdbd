"""PostgreSQL (psycopg 3) implementation of :class:`Database`."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
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
    StoreConnectionError,
    StoreError,
)
from buyersync.retrying import Retrying, Sleep
from buyersync.rules.backoff import BackoffPolicy
from buyersync.rules.categories import error_class_for_sqlstate
from buyersync.settings import redact_url
from buyersync.store.db import Database, Params, Row

_CURSOR_IDS = itertools.count(1)


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


class PostgresDatabase(Database):
    dialect = "postgresql"

    def __init__(self, conn: psycopg.Connection[Any], display: str) -> None:
        self._conn: psycopg.Connection[Any] = conn
        self.display = display
        self._reopen_args: tuple[str, float, int] | None = None

    def reopen(self) -> None:
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

    @property
    def connection(self) -> psycopg.Connection[Any]:
        """The psycopg connection, for COPY in :mod:`buyersync.store.buyers`."""
        return self._conn

    def _fail(self, exc: psycopg.Error) -> StoreError:
        return translate(exc, self._conn)

    # -- statements -------------------------------------------------------
    def execute(self, sql: str, params: Params = None) -> int:
        try:
            cur = self._conn.execute(sql if params is not None else sql.replace("%%", "%"), params)  # type: ignore[arg-type]
            return cur.rowcount
        except psycopg.Error as exc:
            raise self._fail(exc) from exc

    def executemany(self, sql: str, seq: Iterable[Params]) -> None:
        try:
            with self._conn.cursor() as cur:
                cur.executemany(sql, seq)  # type: ignore[arg-type]
        except psycopg.Error as exc:
            raise self._fail(exc) from exc

    def query(self, sql: str, params: Params = None) -> list[Row]:
        try:
            cur = self._conn.execute(sql if params is not None else sql.replace("%%", "%"), params)  # type: ignore[arg-type]
            return list(cur.fetchall()) if cur.description else []  # type: ignore[arg-type]
        except psycopg.Error as exc:
            raise self._fail(exc) from exc

    def iterate(self, sql: str, params: Params = None, *, chunk: int = 5000) -> Iterator[tuple]:
        try:
            # A server-side cursor per stream: two streams on one connection must not
            # share a cursor name.
            with (
                self._conn.transaction(),
                self._conn.cursor(
                    name=f"buyersync_iter_{next(_CURSOR_IDS)}", row_factory=psycopg.rows.tuple_row
                ) as cur,
            ):
                cur.itersize = chunk
                cur.execute(sql, params)  # type: ignore[arg-type]
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
        return pgsql.Identifier(identifier).as_string(self._conn)

    def copy_rows(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        """COPY rows into ``table`` (must be inside a transaction or autocommit)."""
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
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def json(self, value: Any) -> Any:
        return Jsonb(value)

    # -- catalog -------------------------------------------------------------
    def table_exists(self, table: str) -> bool:
        return self.query_value("SELECT to_regclass(%s) IS NOT NULL AS e", (self.quote(table),))

    def columns(self, table: str) -> dict[str, str]:
        rows = self.query(
            """
            SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
            FROM pg_attribute a
            WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
            ORDER BY a.attnum
            """,
            (self.quote(table),),
        )
        return {r["name"]: r["type"] for r in rows}

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
