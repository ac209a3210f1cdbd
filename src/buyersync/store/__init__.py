"""The store: the only package that speaks SQL.

:func:`open_database` turns a database URL into a :class:`~buyersync.store.db.Database`;
the modules beside it (``buyers``, ``errorlog``, ``runs``, ``retryqueue``, ``migrations`` …)
are repositories of functions taking that ``Database`` as first argument.
"""

from __future__ import annotations

from urllib.parse import unquote, urlsplit

from buyersync.errors import ConfigError
from buyersync.store.db import Database


def sqlite_path(url: str) -> str:
    """The file path of a ``sqlite:///path`` URL (``sqlite:///:memory:`` for memory)."""
    rest = url.split(":", 1)[1]
    if rest.startswith("///"):
        path = rest[3:]
    elif rest.startswith("//"):
        # sqlite://relative or sqlite:////abs — accept the SQLAlchemy spellings
        path = rest[2:]
    else:
        path = rest
    path = unquote(path.split("?", 1)[0])
    if not path:
        raise ConfigError(
            f"the SQLite URL {url!r} names no file", hint="use sqlite:///buyersync.db"
        )
    return path


def open_database(url: str, *, connect_timeout: float = 10.0, attempts: int = 3) -> Database:
    """Open the database named by ``url``. Raises ConfigError or StoreConnectionError."""
    scheme = urlsplit(url).scheme.lower() if "://" in url else url.split(":", 1)[0].lower()
    backend = scheme.split("+", 1)[0]
    if backend == "sqlite":
        from buyersync.store.sqlite import SQLiteDatabase

        return SQLiteDatabase(sqlite_path(url), busy_timeout=connect_timeout)
    if backend in ("postgresql", "postgres"):
        from buyersync.store.postgres import connect

        return connect(url, timeout=connect_timeout, attempts=attempts)
    raise ConfigError(
        f"unsupported database URL scheme {scheme!r}",
        hint="use sqlite:///path.db or postgresql://user:pass@host:port/db",
    )


__all__ = ["Database", "open_database", "sqlite_path"]
