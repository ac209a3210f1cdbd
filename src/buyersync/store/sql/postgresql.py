"""PostgreSQL's capabilities and statements (see :mod:`buyersync.store.sql`).

Catalog queries take the table as a quoted name (``to_regclass(%(t)s)``), so they
find it exactly as the repositories name it.
"""

from __future__ import annotations

from buyersync.store.sql import Dialect

COLUMNS = """
WITH RECURSIVE chain AS (
    SELECT a.attnum, a.attname, a.atttypid AS tid, a.atttypmod AS tmod, 0 AS lvl
    FROM pg_attribute a
    WHERE a.attrelid = to_regclass(%(t)s) AND a.attnum > 0 AND NOT a.attisdropped
  UNION ALL
    SELECT c.attnum, c.attname, ty.typbasetype, ty.typtypmod, c.lvl + 1
    FROM chain c JOIN pg_type ty ON ty.oid = c.tid
    WHERE ty.typtype = 'd'
)
SELECT DISTINCT ON (c.attnum) c.attnum, c.attname AS name,
       format_type(a.atttypid, a.atttypmod) AS type,
       CASE WHEN c.lvl > 0 THEN format_type(c.tid, c.tmod) END AS base
FROM chain c
JOIN pg_attribute a ON a.attrelid = to_regclass(%(t)s) AND a.attnum = c.attnum
ORDER BY c.attnum, c.lvl DESC
"""

# Views and materialized views reading the given columns, and views reading those, …
DEPENDENTS = """
WITH RECURSIVE deps(oid, depth) AS (
    SELECT DISTINCT r.ev_class, 1
    FROM pg_depend d
    JOIN pg_rewrite r ON r.oid = d.objid
    WHERE d.classid = 'pg_rewrite'::regclass AND d.refclassid = 'pg_class'::regclass
      AND d.refobjid = to_regclass(%(t)s) AND r.ev_class <> d.refobjid
      AND d.refobjsubid IN (SELECT attnum FROM pg_attribute
                            WHERE attrelid = to_regclass(%(t)s) AND attname = ANY(%(cols)s))
  UNION
    SELECT r.ev_class, deps.depth + 1
    FROM deps
    JOIN pg_depend d ON d.refobjid = deps.oid AND d.refclassid = 'pg_class'::regclass
    JOIN pg_rewrite r ON r.oid = d.objid AND d.classid = 'pg_rewrite'::regclass
    WHERE r.ev_class <> deps.oid
)
SELECT c.oid, n.nspname AS schema, c.relname AS name, c.relkind = 'm' AS materialized,
       max(deps.depth) AS depth, pg_get_viewdef(c.oid) AS definition,
       pg_get_userbyid(c.relowner) AS owner, c.reloptions AS options,
       c.relispopulated AS populated
FROM deps
JOIN pg_class c ON c.oid = deps.oid
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('v', 'm')  -- a rule on a table is not a view we can rebuild: reported
GROUP BY c.oid, n.nspname, c.relname, c.relkind, c.relowner, c.reloptions, c.relispopulated
ORDER BY max(deps.depth), c.relname
"""

GRANTS = """
SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee,
       a.privilege_type AS privilege, a.is_grantable AS grantable
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.oid = %s AND a.grantee <> c.relowner
ORDER BY 1, 2
"""

COLUMN_GRANTS = """
SELECT a.attname AS column,
       CASE WHEN g.grantee = 0 THEN NULL ELSE pg_get_userbyid(g.grantee) END AS grantee,
       g.privilege_type AS privilege, g.is_grantable AS grantable
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
CROSS JOIN LATERAL aclexplode(a.attacl) g
WHERE c.oid = %s AND g.grantee <> c.relowner
ORDER BY a.attnum, 2, 3
"""

COMMENTS = """
SELECT a.attname AS column, col_description(a.attrelid, a.attnum) AS comment
FROM pg_attribute a
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
  AND col_description(a.attrelid, a.attnum) IS NOT NULL
ORDER BY a.attnum
"""

INDEXES = """
SELECT pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
WHERE i.indrelid = %s ORDER BY i.indexrelid
"""


# CHECK constraints of the table, with the columns each one uses.
CHECKS = """
SELECT c.conname AS name, pg_get_constraintdef(c.oid) AS definition,
       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(attnum, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
             ORDER BY k.i) AS columns
FROM pg_constraint c
WHERE c.conrelid = to_regclass(%(t)s) AND c.contype = 'c'
ORDER BY c.conname
"""


# Whether a table has a unique, non-partial index on exactly one column.
UNIQUE_INDEX = """
SELECT count(*) AS n FROM pg_index i
JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = i.indkey[0]
WHERE i.indrelid = to_regclass(%s) AND i.indisunique AND i.indnatts = 1
  AND i.indpred IS NULL AND a.attname = %s
"""

TABLE_EXISTS = "SELECT to_regclass(%s) IS NOT NULL AS e"

TABLE_COLUMNS = """
SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type
FROM pg_attribute a
WHERE a.attrelid = to_regclass(%s) AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum
"""

# Who holds a lock on the table: pid, application, state, age — never the query text.
LOCK_HOLDERS = """
SELECT DISTINCT a.pid, a.application_name AS app, host(a.client_addr) AS client, a.state,
       extract(epoch FROM now() - a.xact_start)::int AS age
FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
WHERE l.relation = to_regclass(%s) AND l.granted AND l.pid <> pg_backend_pid()
ORDER BY a.pid
"""

# Who blocks a session's lock wait: pid, application, client address — never the query.
BLOCKING_SESSIONS = """
SELECT a.pid, a.application_name AS app, host(a.client_addr) AS client, a.state,
       extract(epoch FROM now() - a.xact_start)::int AS age
FROM pg_stat_activity a
WHERE a.pid = ANY(pg_blocking_pids(%s))
ORDER BY a.pid
"""

POSTGRESQL = Dialect(
    name="postgresql",
    client_server=True,
    enforces_column_types=True,
    enforces_varchar_length=True,
    alters_column_types=True,
    catalog_constraints=True,
    hashes_in_sql=True,
    merge_counts_inserts=True,
    locks_whole_file=False,
    has_privilege_catalog=True,
    # NAMEDATALEN - 1: longer names are cut, so two long headers could become one column
    boolean_literals=("true", "false"),
    max_identifier_bytes=63,
    column_types={
        "id": "bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY",
        "ts": "timestamptz",
        "json": "jsonb",
        "bool": "boolean",
        "float": "double precision",
    },
    no_limit=None,
    # temporary tables come first in the search path
    stage_table="buyersync_stage",
    # indexed after the bulk load (faster than maintaining it during COPY)
    key_table="buyersync_keys",
    stage_seq_column="seq integer NOT NULL",
    finish_staging=(
        "CREATE UNIQUE INDEX ON buyersync_stage (seq)",
        # Statistics of seq alone are what the slice reads need; analyzing every
        # text column cost a second per 100,000 rows.
        "ANALYZE buyersync_stage (seq)",
    ),
    claim_lock="FOR UPDATE SKIP LOCKED",
    set_lock_timeout="SET LOCAL lock_timeout = '{ms}ms'",
    tables_like=(
        "SELECT relname AS name FROM pg_class WHERE relkind IN ('r', 'p') "
        "AND relname LIKE %s ESCAPE '\\' ORDER BY 1"
    ),
    current_user="SELECT current_user AS u",
    lock_holders=LOCK_HOLDERS,
    blocking_sessions=BLOCKING_SESSIONS,
    backend_pid="SELECT pg_backend_pid() AS pid",
    # upper() follows the collation's locale beyond ASCII; in the "C" collation it
    # folds a-z only (and is ten times faster than translate() of a-z).
    key_fold='upper(({}) COLLATE "C")',
)
