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
from buyersync.rules.coltypes import ColumnType, classify_postgres, classify_sqlite
from buyersync.rules.lengths import ColumnLimit, LengthCheck
from buyersync.store.db import Database
from buyersync.store.sql import postgresql as pg

TABLE = "buyers"


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


def column_types(db: Database) -> dict[str, ColumnType]:
    """What each ``buyers`` column holds, by column (empty when there is no table).

    PostgreSQL: ``format_type`` of the column, or of a domain's base type (through
    nested domains); SQLite: the declared type, by SQLite's affinity rules. See
    :mod:`buyersync.rules.coltypes`.
    """
    if not db.table_exists(TABLE):
        return {}
    if db.sql.catalog_constraints:
        rows = db.query(pg.COLUMNS, {"t": db.quote(TABLE)})
        return {r["name"]: classify_postgres(r["base"] or r["type"]) for r in rows}
    return {name: classify_sqlite(declared) for name, declared in db.columns(TABLE).items()}


def limited_columns(db: Database) -> list[rules.LimitedColumn]:
    """The length-limited text columns of ``buyers`` (empty when there is no table)."""
    if not db.table_exists(TABLE):
        return []
    if db.sql.catalog_constraints:
        rows = db.query(pg.COLUMNS, {"t": db.quote(TABLE)})
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
    for r in db.query(pg.CHECKS, {"t": db.quote(TABLE)}):
        parsed = rules.parse_pg_check(r["definition"], r["name"])
        if parsed is not None and list(r["columns"]) == [parsed.column]:
            found.setdefault(parsed.column, []).append(parsed.check)
    return found


def mixed_checks(db: Database) -> list[rules.MixedCheck]:
    """CHECK constraints on ``buyers`` that limit a length together with other
    conditions: reported, never dropped (empty when there is no table)."""
    if not db.table_exists(TABLE):
        return []
    if db.sql.catalog_constraints:
        found = []
        for r in db.query(pg.CHECKS, {"t": db.quote(TABLE)}):
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
    for r in db.query(pg.DEPENDENTS, {"t": db.quote(TABLE), "cols": list(column_names)}):
        grants = tuple(
            rules.Grant(g["grantee"], g["privilege"], bool(g["grantable"]))
            for g in db.query(pg.GRANTS, (r["oid"],))
        )
        grants += tuple(
            rules.Grant(g["grantee"], g["privilege"], bool(g["grantable"]), g["column"])
            for g in db.query(pg.COLUMN_GRANTS, (r["oid"],))
        )
        indexes = tuple(i["def"] for i in db.query(pg.INDEXES, (r["oid"],)))
        comment = db.query_value("SELECT obj_description(%s, 'pg_class') AS c", (r["oid"],))
        column_comments = tuple(
            rules.ColumnComment(c["column"], c["comment"])
            for c in db.query(pg.COMMENTS, (r["oid"],))
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
    if db.sql.current_user is None:
        return None
    return str(db.query_value(db.sql.current_user))


def table_names(db: Database, prefix: str) -> list[str]:
    """Names of tables whose name starts with ``prefix`` (for naming backups)."""
    pattern = prefix.replace("\\", "\\\\").replace("_", "\\_").replace("%", "\\%") + "%"
    return [r["name"] for r in db.query(db.sql.tables_like, (pattern,))]
