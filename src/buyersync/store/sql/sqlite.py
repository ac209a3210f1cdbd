"""SQLite's capabilities and statements (see :mod:`buyersync.store.sql`)."""

from __future__ import annotations

from buyersync.store.sql import Dialect

#: Whether a table has a unique index on exactly this column (``PRAGMA`` walk in
#: :meth:`SQLiteDatabase.has_unique_index`).
INDEX_LIST = "PRAGMA index_list({table})"
INDEX_INFO = "PRAGMA index_info({index})"

SQLITE = Dialect(
    name="sqlite",
    client_server=False,
    enforces_column_types=False,
    enforces_varchar_length=False,
    alters_column_types=False,
    catalog_constraints=False,
    hashes_in_sql=False,
    merge_counts_inserts=False,
    locks_whole_file=True,
    has_privilege_catalog=False,
    boolean_literals=("1", "0"),
    max_identifier_bytes=None,
    column_types={
        "id": "INTEGER PRIMARY KEY AUTOINCREMENT",
        "ts": "TEXT",
        "json": "TEXT",
        "bool": "INTEGER",
        "float": "REAL",
    },
    no_limit=-1,
    # "temp." so that dropping it can never drop a table of the same name in main
    stage_table="temp.buyersync_stage",
    # a rowid alias: the slice reads are range scans without a separate index
    key_table="temp.buyersync_keys",
    stage_seq_column="seq integer PRIMARY KEY",
    finish_staging=(),
    claim_lock="",
    set_lock_timeout="PRAGMA busy_timeout = {ms}",
    tables_like=(
        "SELECT name FROM sqlite_master WHERE type = 'table' "
        "AND name LIKE %s ESCAPE '\\' ORDER BY 1"
    ),
    current_user=None,
    lock_holders=None,
    # SQLite's own upper() folds the ASCII letters only (without the ICU extension).
    key_fold="upper({})",
)
