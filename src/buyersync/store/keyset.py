"""A temporary table of keys, so that one statement settles many buyers at once.

Resolving the problems and queue entries of 300,000 written buyers one statement per
key took 40 s; loading the keys once (COPY on PostgreSQL) and joining them is one
statement per table, whatever their number.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

from buyersync.errors import StoreError
from buyersync.store.db import Database

#: The table as ``CREATE TEMP TABLE`` and the bulk load name it.
NAME = "buyersync_keys"


@contextlib.contextmanager
def key_table(db: Database, keys: Iterable[str]) -> Iterator[str]:
    """Load ``keys`` into a fresh temporary table; yield its name for ``IN (SELECT k …)``."""
    table = db.sql.key_table
    db.execute(f"DROP TABLE IF EXISTS {table}")
    db.execute(f"CREATE TEMP TABLE {NAME} (k text NOT NULL)")
    try:
        db.bulk_load(NAME, ["k"], ((k,) for k in keys))
        yield table
    finally:
        if not db.closed:
            with contextlib.suppress(StoreError):  # a lost connection took it already
                db.execute(f"DROP TABLE IF EXISTS {table}")
