"""Read ``buyers`` cheaply for verification: buyer numbers, or (buyer number, fingerprint).

``verify --full`` compares every buyer, but only rows whose fingerprints differ need
their values. On PostgreSQL the server computes each row's fingerprint — SHA-256 of its
values joined with U+001F, NULL as ``""`` (see :func:`buyersync.rules.compare.db_fingerprint`,
which computes the same bytes in Python) — so 16 bytes per buyer cross the wire instead
of the whole row. Where the server cannot compute exactly what Python would compare (SQLite,
or a legacy non-text column whose text form PostgreSQL and Python spell differently),
the rows are streamed and fingerprinted in Python.

Buyer numbers come back as text (a legacy integer column as ``str(value)``, the way the
sync compares them).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence

from buyersync.rules.coltypes import ColumnType, Kind
from buyersync.rules.compare import SEPARATOR, db_fingerprint
from buyersync.rules.normalize import KEY_COLUMN
from buyersync.rules.typedcells import canonical_stored
from buyersync.store.db import Database
from buyersync.store.sql import SQL, Composable, Identifier, identifiers

log = logging.getLogger(__name__)

TABLE = "buyers"
#: Declared types whose values PostgreSQL hashes exactly as Python sees them. Not
#: ``character(n)``: its cast to text drops the padding Python's value keeps.
_SQL_HASHABLE = ("text", "character varying")
#: PostgreSQL functions take at most 100 arguments; longer rows nest concat_ws calls.
_MAX_ARGS = 90
#: Rows per round trip when streaming (a fingerprint row is ~40 bytes).
CHUNK = 20_000


#: Typed kinds whose canonical text (:func:`buyersync.rules.typedcells.canonical_text`)
#: PostgreSQL renders identically whatever the session's settings: integers,
#: numerics (their scale kept), booleans (true/false) and dates (to_char, not the
#: DateStyle-dependent cast). Timestamps and floats are fingerprinted in Python.
_SQL_RENDERED = {
    Kind.INTEGER: "{}::text",
    Kind.NUMERIC: "{}::text",
    Kind.BOOLEAN: "{}::text",
    Kind.DATE: "to_char({}, 'YYYY-MM-DD')",
}


def _hashable(declared: str) -> bool:
    return declared.lower().split("(")[0].strip() in _SQL_HASHABLE


def _typed(types: Mapping[str, ColumnType] | None, column: str) -> ColumnType | None:
    found = (types or {}).get(column)
    return found if found is not None and found.typed else None


def fingerprint_sql(
    db: Database,
    columns: Sequence[str],
    *,
    utf8_client: bool = False,
    types: Mapping[str, ColumnType] | None = None,
) -> Composable:
    """The PostgreSQL expression of a ``buyers`` row's fingerprint (a 16-byte bytea).

    Equal, byte for byte, to :func:`buyersync.rules.compare.db_fingerprint` of the
    row's values, for text and varchar columns. SHA-256 rather than MD5: cheaper on
    both sides (PostgreSQL's md5() returns hex text; Python's sha256 uses the CPU's SHA
    instructions). ``utf8_client``: the session's client encoding is UTF8, so
    ``textsend`` already yields UTF-8 bytes (``convert_to`` re-validates every string:
    a fifth of the server's time).
    """
    parts: list[Composable] = []
    for c in columns:
        typed = _typed(types, c)
        value = SQL(_SQL_RENDERED[typed.kind] if typed else "{}").format(Identifier(c))
        parts.append(SQL("coalesce({}, '')").format(value))
    sep = SQL(f"chr({ord(SEPARATOR)})")
    # concat_ws never sees a NULL (each value is coalesced), so nesting it in groups
    # joins exactly as one call would.
    while len(parts) > _MAX_ARGS:
        parts = [
            SQL("concat_ws({}, {})").format(sep, parts[i : i + _MAX_ARGS])
            for i in range(0, len(parts), _MAX_ARGS)
        ]
    text = SQL("concat_ws({}, {})").format(sep, parts) if parts else SQL("''")
    # Hash the UTF-8 bytes (what Python hashes), whatever the server's encoding.
    data = SQL("textsend({})" if utf8_client else "convert_to({}, 'UTF8')").format(text)
    return SQL("substr(sha256({}), 1, 16)").format(data)


def server_can_fingerprint(
    db: Database, columns: Sequence[str], types: Mapping[str, ColumnType] | None = None
) -> bool:
    """Whether :func:`iter_fingerprints` lets the database compute the fingerprints."""
    if not db.sql.hashes_in_sql:
        return False
    declared = db.columns(TABLE)

    def rendered(c: str) -> bool:
        typed = _typed(types, c) if c != KEY_COLUMN else None
        return typed.kind in _SQL_RENDERED if typed else _hashable(declared.get(c, "text"))

    return all(rendered(c) for c in (KEY_COLUMN, *columns))


def iter_fingerprints(
    db: Database, columns: Sequence[str], types: Mapping[str, ColumnType] | None = None
) -> Iterator[tuple[str, bytes]]:
    """``(buyer_number, fingerprint of its columns)`` for every buyer, streamed, unordered.

    Typed columns (in ``types``) are fingerprinted as their canonical text, as the
    sheet side does (:func:`buyersync.rules.typedcells.canonical_cells`).
    Nothing when the table does not exist. Raises ``StoreError`` when it cannot be read.
    """
    if not db.table_exists(TABLE):
        return
    key, table = Identifier(KEY_COLUMN), Identifier(TABLE)
    if server_can_fingerprint(db, columns, types):
        encoding = str(db.query_value("SHOW client_encoding")).upper()
        expr = fingerprint_sql(
            db, columns, utf8_client=encoding in ("UTF8", "UNICODE"), types=types
        )
        sql = SQL("SELECT {key}, {expr} FROM {table} WHERE {key} IS NOT NULL").format(
            key=key, expr=expr, table=table
        )
        yield from db.iterate(sql, chunk=CHUNK)  # psycopg returns bytea as bytes
        return
    log.debug("fingerprinting buyers in Python (%s or a non-text column)", db.dialect)
    # A NULL buyer number (possible in a legacy table) is no buyer: skipped.
    sql = SQL("SELECT {cols} FROM {table} WHERE {key} IS NOT NULL").format(
        cols=identifiers((KEY_COLUMN, *columns)), table=table, key=key
    )
    typed = [(i, t) for i, c in enumerate(columns) if (t := _typed(types, c)) is not None]
    for row in db.iterate(sql, chunk=CHUNK):
        key = row[0]
        values = canonical_stored(row[1:], typed) if typed else row[1:]
        yield (key if isinstance(key, str) else str(key)), db_fingerprint(values)


def iter_text_keys(db: Database) -> Iterator[str]:
    """Every buyer number as text, streamed, unordered (nothing when there is no table)."""
    if not db.table_exists(TABLE):
        return
    sql = SQL("SELECT {key} FROM {table} WHERE {key} IS NOT NULL").format(
        key=Identifier(KEY_COLUMN), table=Identifier(TABLE)
    )
    for (key,) in db.iterate(sql, chunk=CHUNK):
        # A legacy integer buyer_number column comes back as int; the sync compares text.
        yield key if isinstance(key, str) else str(key)
