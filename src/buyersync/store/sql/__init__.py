"""What differs between the databases, in one place: capabilities and named statements.

Each backend has one module here (:mod:`.postgresql`, :mod:`.sqlite`) holding one
:class:`Dialect`; its :class:`~buyersync.store.db.Database` exposes it as ``db.sql``.
Repositories ask a capability (``db.sql.alters_column_types``) or take a statement by
name (``db.sql.tables_like``) instead of testing which database they talk to, so a
third backend is one more module, not a hunt for branches.
Statements are composed with :mod:`.compose`, so identifiers are never parsed as
placeholders.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from buyersync.store.sql.compose import SQL, Composable, Composed, Identifier, Verbatim, identifiers


@dataclass(frozen=True)
class Dialect:
    """One backend's capabilities and statements (see the module docstring)."""

    #: "postgresql" or "sqlite" (shown in reports; never branched on)
    name: str

    # -- capabilities ---------------------------------------------------------------
    #: The database is another process: reading it is mostly waiting, so a reader
    #: thread overlaps it with the sheet read (in-process, a thread only contends).
    client_server: bool
    #: Declared column types are enforced: a non-text column needs an explicit cast.
    enforces_column_types: bool
    #: ``VARCHAR(n)`` refuses longer values (SQLite stores them; only a CHECK limits).
    enforces_varchar_length: bool
    #: ``ALTER COLUMN … TYPE`` works in place; otherwise the table is rebuilt.
    alters_column_types: bool
    #: Constraints, domains and dependent views are in system tables; otherwise they
    #: are only in the ``CREATE TABLE`` text the database keeps.
    catalog_constraints: bool
    #: The server has md5()/sha256(), so row fingerprints are computed there.
    hashes_in_sql: bool
    #: The merge itself tells inserts from updates (``RETURNING (xmax = 0)``).
    merge_counts_inserts: bool
    #: One writer locks the whole file: a busy database shows as a timeout, there is
    #: no session to name, and the lock wait must be set before the transaction.
    locks_whole_file: bool
    #: Table privileges and ownership are in a catalog (doctor checks them there).
    has_privilege_catalog: bool
    #: How a staged boolean is written (true, false): SQLite has no boolean storage
    #: class, so its BOOLEAN columns hold 1 and 0.
    boolean_literals: tuple[str, str]
    #: Longest identifier the server keeps whole (PostgreSQL cuts longer ones).
    max_identifier_bytes: int | None

    # -- spellings --------------------------------------------------------------------
    #: Column types of buyersync's own tables: ``id``, ``ts``, ``json``, ``bool``, ``float``.
    column_types: Mapping[str, str]
    #: The ``LIMIT`` parameter that means "every row".
    no_limit: int | None

    # -- named statements ---------------------------------------------------------------
    #: The sync's staging table, as statements name it (the temporary one, always).
    stage_table: str
    #: The temporary table of keys that set-based updates join (as statements name it).
    key_table: str
    #: The staging table's ``seq`` column definition.
    stage_seq_column: str
    #: Run after the bulk load, before the slices are read.
    finish_staging: tuple[str, ...]
    #: Appended to the retry queue's claim query (row locks other workers skip).
    claim_lock: str
    #: Sets how long to wait for a lock (``{ms}`` milliseconds).
    set_lock_timeout: str
    #: Tables whose name is ``LIKE %s ESCAPE '\\'`` (column ``name``).
    tables_like: str
    #: The user name this session runs as (``None``: the database has no users).
    current_user: str | None
    #: Sessions holding a lock on a table (``%s``: the quoted table name), or ``None``.
    lock_holders: str | None
    #: Sessions blocking the given backend (``%s``: its pid), or ``None`` where one
    #: writer locks the whole file and there is no session to name.
    blocking_sessions: str | None = None
    #: The pid of this session (to ask who blocks it), or ``None``.
    backend_pid: str | None = None
    #: A text expression (``{}``) with the ASCII letters a-z in upper case and nothing
    #: else changed: :func:`buyersync.rules.keys.fold_key` in SQL, for key_case.
    key_fold: str = "upper({})"


__all__ = [
    "SQL",
    "Composable",
    "Composed",
    "Dialect",
    "Identifier",
    "Verbatim",
    "identifiers",
]
