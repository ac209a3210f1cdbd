"""Read the live catalog of ``buyers``: column types, length limits, dependents.

One reader serves the schema validator, Migration 050 and the sync's pre-flight
(:func:`column_limits`). PostgreSQL answers from ``pg_attribute``/``pg_type`` (with
domains resolved to their base type), ``pg_constraint`` (length CHECKs, pure or mixed), ``pg_depend``/``pg_rewrite`` (views and
materialized views that use a column, transitively) and ``aclexplode`` (grants).
SQLite answers from ``PRAGMA table_info`` and the ``CREATE TABLE`` text in
``sqlite_master`` (``CHECK (length(col) <= n)`` — the only limit SQLite enforces).
The decisions themselves are in :mod:`buyersync.rules.schema`.
"""

from __future__ import annotations

from collections.abc import Sequence

from buyersync.rules import schema as rules
from buyersync.rules.lengths import ColumnLimit, LengthCheck
from buyersync.store.db import Database

TABLE = "buyers"

_PG_COLUMNS = """
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
_PG_DEPENDENTS = """
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

_PG_GRANTS = """
SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_get_userbyid(a.grantee) END AS grantee,
       a.privilege_type AS privilege, a.is_grantable AS grantable
FROM pg_class c, aclexplode(c.relacl) a
WHERE c.oid = %s AND a.grantee <> c.relowner
ORDER BY 1, 2
"""

_PG_COLUMN_GRANTS = """
SELECT a.attname AS column,
       CASE WHEN g.grantee = 0 THEN NULL ELSE pg_get_userbyid(g.grantee) END AS grantee,
       g.privilege_type AS privilege, g.is_grantable AS grantable
FROM pg_class c
JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
CROSS JOIN LATERAL aclexplode(a.attacl) g
WHERE c.oid = %s AND g.grantee <> c.relowner
ORDER BY a.attnum, 2, 3
"""

_PG_COMMENTS = """
SELECT a.attname AS column, col_description(a.attrelid, a.attnum) AS comment
FROM pg_attribute a
WHERE a.attrelid = %s AND a.attnum > 0 AND NOT a.attisdropped
  AND col_description(a.attrelid, a.attnum) IS NOT NULL
ORDER BY a.attnum
"""

_PG_INDEXES = """
SELECT pg_get_indexdef(i.indexrelid) AS def FROM pg_index i
WHERE i.indrelid = %s ORDER BY i.indexrelid
"""


# CHECK constraints of the table, with the columns each one uses.
_PG_CHECKS = """
SELECT c.conname AS name, pg_get_constraintdef(c.oid) AS definition,
       ARRAY(SELECT a.attname::text FROM unnest(c.conkey) WITH ORDINALITY k(attnum, i)
             JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
             ORDER BY k.i) AS columns
FROM pg_constraint c
WHERE c.conrelid = to_regclass(%(t)s) AND c.contype = 'c'
ORDER BY c.conname
"""


#: How each database treats a declared length: what the schema rules need to know.
POSTGRESQL = rules.SchemaDialect(name="postgresql", enforces_declared_width=True)
SQLITE = rules.SchemaDialect(name="sqlite", enforces_declared_width=False)
_SCHEMA_DIALECTS = {d.name: d for d in (POSTGRESQL, SQLITE)}


def schema_dialect(db: Database) -> rules.SchemaDialect:
    """The :class:`~buyersync.rules.schema.SchemaDialect` of ``db``."""
    return _SCHEMA_DIALECTS[db.dialect]


def columns(db: Database) -> dict[str, str]:
    """Every column of ``buyers`` with its declared type, in table order."""
    return db.columns(TABLE)


def limited_columns(db: Database) -> list[rules.LimitedColumn]:
    """The length-limited text columns of ``buyers`` (empty when there is no table)."""
    if not db.table_exists(TABLE):
        return []
    if db.dialect == "postgresql":
        rows = db.query(_PG_COLUMNS, {"t": db.quote(TABLE)})
        cols = {r["name"]: r["type"] for r in rows}
        domains = {r["name"]: r["base"] for r in rows if r["base"] is not None}
        return rules.limited_columns(
            cols, dialect=POSTGRESQL, domains=domains, checks=_pg_length_checks(db)
        )
    cols = db.columns(TABLE)
    checks = rules.parse_length_checks(sqlite_create_sql(db), cols)
    return rules.limited_columns(cols, dialect=SQLITE, checks=checks)


def _pg_length_checks(db: Database) -> dict[str, list[LengthCheck]]:
    found: dict[str, list[LengthCheck]] = {}
    for r in db.query(_PG_CHECKS, {"t": db.quote(TABLE)}):
        parsed = rules.parse_pg_check(r["definition"], r["name"])
        if parsed is not None and list(r["columns"]) == [parsed.column]:
            found.setdefault(parsed.column, []).append(parsed.check)
    return found


def mixed_checks(db: Database) -> list[rules.MixedCheck]:
    """CHECK constraints on ``buyers`` that limit a length together with other
    conditions: reported, never dropped (empty when there is no table)."""
    if not db.table_exists(TABLE):
        return []
    if db.dialect == "postgresql":
        found = []
        for r in db.query(_PG_CHECKS, {"t": db.quote(TABLE)}):
            m = rules.mixed_check(r["definition"], list(r["columns"]), r["name"])
            if m is not None:
                found.append(m)
        return found
    return rules.sqlite_mixed_checks(sqlite_create_sql(db), db.columns(TABLE))


def column_limits(db: Database) -> dict[str, ColumnLimit]:
    """The length bounds the database enforces on ``buyers`` columns, per column.

    PostgreSQL: VARCHAR(n)/CHAR(n), directly or through a domain, and pure length
    CHECKs (``char_length``/``length``/``octet_length``). SQLite: only
    ``CHECK (length(col) <= n)``, because SQLite stores longer values in a VARCHAR(n).
    Judge a value with :func:`buyersync.rules.lengths.excess`: it applies them exactly
    as the database does (PostgreSQL cuts excess trailing spaces instead of failing).
    """
    return rules.enforced_limits(limited_columns(db), schema_dialect(db))


def sqlite_create_sql(db: Database, table: str = TABLE) -> str:
    """The ``CREATE TABLE`` statement SQLite keeps for ``table``."""
    return str(
        db.query_value("SELECT sql FROM sqlite_master WHERE type = 'table' AND name = %s", (table,))
        or ""
    )


def sqlite_objects(db: Database) -> list[rules.SqliteObject]:
    """Indexes (explicit ones), triggers and views, in creation order."""
    return [
        rules.SqliteObject(r["type"], r["name"], r["tbl_name"], r["sql"])
        for r in db.query(
            "SELECT type, name, tbl_name, sql FROM sqlite_master "
            "WHERE type IN ('index', 'trigger', 'view') AND sql IS NOT NULL ORDER BY rowid"
        )
    ]


def pg_dependents(db: Database, column_names: Sequence[str]) -> list[rules.Dependent]:
    """Views and materialized views that depend on these ``buyers`` columns (and views
    on those views), with definitions, options, owners, grants (table- and
    column-level), comments and indexes."""
    if not column_names:
        return []
    found: list[rules.Dependent] = []
    for r in db.query(_PG_DEPENDENTS, {"t": db.quote(TABLE), "cols": list(column_names)}):
        grants = tuple(
            rules.Grant(g["grantee"], g["privilege"], bool(g["grantable"]))
            for g in db.query(_PG_GRANTS, (r["oid"],))
        )
        grants += tuple(
            rules.Grant(g["grantee"], g["privilege"], bool(g["grantable"]), g["column"])
            for g in db.query(_PG_COLUMN_GRANTS, (r["oid"],))
        )
        indexes = tuple(i["def"] for i in db.query(_PG_INDEXES, (r["oid"],)))
        comment = db.query_value("SELECT obj_description(%s, 'pg_class') AS c", (r["oid"],))
        column_comments = tuple(
            rules.ColumnComment(c["column"], c["comment"])
            for c in db.query(_PG_COMMENTS, (r["oid"],))
        )
        found.append(
            rules.Dependent(
                schema=r["schema"],
                name=r["name"],
                materialized=bool(r["materialized"]),
                definition=r["definition"],
                depth=int(r["depth"]),
                owner=r["owner"],
                options=tuple(r["options"] or ()),
                populated=bool(r["populated"]),
                grants=grants,
                indexes=indexes,
                comment=comment,
                column_comments=column_comments,
            )
        )
    return found


def current_user(db: Database) -> str | None:
    if db.dialect != "postgresql":
        return None
    return str(db.query_value("SELECT current_user AS u"))


def table_names(db: Database, prefix: str) -> list[str]:
    """Names of tables whose name starts with ``prefix`` (for naming backups)."""
    pattern = prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"
    if db.dialect == "postgresql":
        sql = (
            "SELECT relname AS name FROM pg_class WHERE relkind IN ('r', 'p') "
            "AND relname LIKE %s ESCAPE '\\' ORDER BY 1"
        )
    else:
        sql = (
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            "AND name LIKE %s ESCAPE '\\' ORDER BY 1"
        )
    return [r["name"] for r in db.query(sql, (pattern,))]
