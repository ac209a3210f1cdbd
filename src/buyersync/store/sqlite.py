"""SQLite (standard library ``sqlite3``) implementation of :class:`Database`."""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from buyersync.errors import (
    BadValue,
    ConstraintViolation,
    DuplicateKey,
    LockHeld,
    LockNotAvailable,
    MissingValue,
    ResourceExhausted,
    RowRejected,
    SchemaMismatch,
    StoreConnectionError,
    StoreError,
    ValueTooLong,
)
from buyersync.store.db import Database, Params, Query, Row
from buyersync.store.sql import SQL, Identifier, identifiers
from buyersync.store.sql import sqlite as statements
from buyersync.store.sql.compose import PLACEHOLDER


def _placeholder(m: re.Match[str]) -> str:
    if m.group(0) == "%%":
        return "%"
    return f":{m.group(1)}" if m.group(1) else "?"


@lru_cache(maxsize=512)
def adapt_sql(sql: str) -> str:
    """psycopg parameter style → sqlite3's (``%(n)s`` → ``:n``, ``%s`` → ``?``, ``%%`` → ``%``)."""
    return PLACEHOLDER.sub(_placeholder, sql)


def quote_identifier(identifier: str) -> str:
    """SQLite's identifier quoting: in double quotes, a double quote doubled."""
    if "\x00" in identifier:
        raise SchemaMismatch(
            f"the column name {identifier!r} contains a NUL character, which SQLite refuses",
            hint="rename the header in the sheet, or map it in the [mapping] table of "
            "buyersync.toml",
        )
    return '"' + identifier.replace('"', '""') + '"'


@lru_cache(maxsize=512)
def render(query: Query, with_params: bool) -> str:
    """The text sqlite3 runs: placeholders of the SQL parts translated (only when there
    are parameters), identifiers quoted, verbatim parts unchanged."""
    if isinstance(query, str):
        return adapt_sql(query) if with_params else query.replace("%%", "%")
    out = []
    for part in query.parts():
        if isinstance(part, SQL):
            out.append(adapt_sql(part.text) if with_params else part.text.replace("%%", "%"))
        elif isinstance(part, Identifier):
            out.append(".".join(quote_identifier(n) for n in part.names))
        else:
            out.append(part.text)
    return "".join(out)


def translate(exc: sqlite3.Error, what: str = "") -> StoreError:
    """One place that turns a sqlite3 error into the buyersync exception tree."""
    text = str(exc)
    prefix = f"{what}: " if what else ""
    lower = text.lower()
    if isinstance(exc, sqlite3.IntegrityError):
        rejected: type[RowRejected] = ConstraintViolation
        if "check constraint" in lower and "length(" in lower:
            rejected = ValueTooLong
        elif "not null" in lower:
            rejected = MissingValue
        elif "unique" in lower:
            rejected = DuplicateKey
        return rejected(prefix + text)
    if "database is locked" in lower or "database table is locked" in lower:
        return LockNotAvailable(
            prefix + text,
            hint="another process is writing to this SQLite file; try again when it is done",
        )
    if "database or disk is full" in lower or "out of memory" in lower:
        return ResourceExhausted(
            prefix + text, hint="free disk space (or memory) and run the command again"
        )
    if "unable to open" in lower or "disk i/o" in lower or "readonly" in lower:
        return StoreConnectionError(prefix + text)
    if "no such table" in lower or "no such column" in lower or "has no column" in lower:
        return SchemaMismatch(prefix + text, hint="run: buyersync migrate")
    if isinstance(exc, sqlite3.DataError):
        return BadValue(prefix + text)
    return StoreError(prefix + text)


class SQLiteDatabase(Database):
    """A SQLite file. Write transactions are ``BEGIN IMMEDIATE`` with a busy timeout."""

    sql = statements.SQLITE

    def __init__(self, path: str, *, busy_timeout: float = 10.0) -> None:
        self.path = path
        self.display = f"sqlite:///{path}"
        if path != ":memory:":
            parent = Path(path).expanduser().resolve().parent
            if not parent.exists():
                raise StoreConnectionError(
                    f"cannot open SQLite database {path}: folder {parent} does not exist",
                    hint="create the folder or fix the database URL",
                )
        try:
            self._conn = sqlite3.connect(
                path, timeout=busy_timeout, isolation_level=None, check_same_thread=False
            )
            self._conn.execute("PRAGMA foreign_keys = ON")
        except sqlite3.Error as exc:
            raise translate(exc, f"cannot open SQLite database {path}") from exc
        if path != ":memory:":
            # WAL lets readers (health, verify, the dashboard) work while a sync writes.
            # Switching needs a moment without other writers: if another process is
            # writing right now, keep the current mode rather than fail to open.
            try:
                if self._conn.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                    self._conn.execute("PRAGMA journal_mode = WAL")
                self._conn.execute("PRAGMA synchronous = NORMAL")
            except sqlite3.OperationalError:
                pass
        self._depth = 0
        self._closed = False

    # -- statements -------------------------------------------------------
    def execute(self, sql: Query, params: Params = None) -> int:
        try:
            cur = self._conn.execute(render(sql, params is not None), params or ())
            return cur.rowcount
        except sqlite3.Error as exc:
            raise translate(exc) from exc

    def executemany(self, sql: Query, seq: Iterable[Params]) -> None:
        try:
            self._conn.executemany(render(sql, True), seq)  # type: ignore[arg-type]
        except sqlite3.Error as exc:
            raise translate(exc) from exc

    def query(self, sql: Query, params: Params = None) -> list[Row]:
        try:
            cur = self._conn.execute(render(sql, params is not None), params or ())
            names = [d[0] for d in cur.description or ()]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
        except sqlite3.Error as exc:
            raise translate(exc) from exc

    def iterate(
        self, sql: Query, params: Params = None, *, chunk: int = 5000
    ) -> Iterator[tuple[Any, ...]]:
        try:
            cur = self._conn.execute(render(sql, params is not None), params or ())
            while True:
                rows = cur.fetchmany(chunk)
                if not rows:
                    return
                yield from rows
        except sqlite3.Error as exc:
            raise translate(exc) from exc

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        if self._depth == 0:
            self.execute("BEGIN IMMEDIATE")
            self._depth += 1
            try:
                yield
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute("ROLLBACK")
                raise
            else:
                self.execute("COMMIT")
            finally:
                self._depth -= 1
        else:
            name = f"sp{self._depth}"
            self.execute(f"SAVEPOINT {name}")
            self._depth += 1
            try:
                yield
            except BaseException:
                with contextlib.suppress(sqlite3.Error):
                    self._conn.execute(f"ROLLBACK TO {name}")
                    self._conn.execute(f"RELEASE {name}")
                raise
            else:
                self.execute(f"RELEASE {name}")
            finally:
                self._depth -= 1

    def quote(self, identifier: str) -> str:
        return quote_identifier(identifier)

    def bulk_load(self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
        marks = SQL(", ".join(["%s"] * len(columns)))
        stmt = SQL("INSERT INTO {} ({}) VALUES ({})").format(
            Identifier(table), identifiers(columns), marks
        )
        with self.transaction():
            self.executemany(stmt, rows)

    def reconnect(self) -> None:
        """Nothing to do: a file is not lost the way a network connection is, and an
        error of the file itself (disk full, read-only) stays after reopening it."""

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            with contextlib.suppress(sqlite3.Error):
                self._conn.close()

    @property
    def closed(self) -> bool:
        return self._closed

    # -- adapters ------------------------------------------------------------
    def ts(self, value: datetime | None) -> Any:
        if value is None:
            return None
        return value.astimezone(UTC).isoformat(timespec="microseconds")

    def read_ts(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value if value.tzinfo else value.replace(tzinfo=UTC)
        parsed = datetime.fromisoformat(str(value))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)

    # -- catalog -------------------------------------------------------------
    def table_exists(self, table: str) -> bool:
        return bool(
            self.query_value(
                "SELECT count(*) FROM sqlite_master WHERE type IN ('table','view') AND name = %s",
                (table,),
            )
        )

    def columns(self, table: str) -> dict[str, str]:
        rows = self.query(SQL("PRAGMA table_info({})").format(Identifier(table)))
        return {r["name"]: (r["type"] or "") for r in rows}

    def has_unique_index(self, table: str, column: str) -> bool:
        for index in self.query(SQL(statements.INDEX_LIST).format(table=Identifier(table))):
            if not index["unique"] or index.get("partial"):
                continue
            info = SQL(statements.INDEX_INFO).format(index=Identifier(index["name"]))
            if [r["name"] for r in self.query(info)] == [column]:
                return True
        return False

    # -- locking -------------------------------------------------------------
    @contextlib.contextmanager
    def lock(self, name: str, *, wait_seconds: float = 0.0) -> Iterator[None]:
        """Hold an exclusive lock named ``name`` for this database file.

        A lock file beside the database, held with ``flock``: the operating system
        releases it when the holding process dies. Raises :class:`LockHeld`.
        """
        if self.path == ":memory:":
            yield
            return
        lock_path = f"{self.path}.{name}.lock"
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        deadline = time.monotonic() + wait_seconds
        try:
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise LockHeld(
                            f"another buyersync {name} is running on {self.display}",
                            hint="wait for it to finish, or pass --lock-wait SECONDS to wait",
                        ) from None
                    time.sleep(0.2)
            yield
        finally:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
