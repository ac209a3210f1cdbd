"""The Migration 050 statements for each database, built as text so the printed
script (:mod:`.render`) is exactly what ``schema fix --apply`` runs."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from buyersync.rules.schema.checks import MixedCheck
from buyersync.rules.schema.columns import LimitedColumn
from buyersync.rules.schema.sqlite_create import rewrite_sqlite_create

#: Name under which SQLite builds the converted table before swapping it in.
SQLITE_NEW_TABLE = "buyers__migration_050"

Quote = Callable[[str], str]


@dataclass(frozen=True)
class Grant:
    """One privilege on a view; ``grantee`` None means PUBLIC; ``column`` set for a
    column-level grant (``GRANT SELECT (col) ON view``)."""

    grantee: str | None
    privilege: str
    grantable: bool = False
    column: str | None = None


@dataclass(frozen=True)
class ColumnComment:
    """The comment on one column of a view."""

    column: str
    text: str


@dataclass(frozen=True)
class Dependent:
    """A view or materialized view that must be dropped and recreated around the ALTER.

    ``depth`` 1 reads ``buyers`` directly, 2 reads a depth-1 view, and so on.
    """

    schema: str
    name: str
    materialized: bool
    definition: str
    depth: int = 1
    owner: str | None = None
    options: tuple[str, ...] = ()
    populated: bool = True
    grants: tuple[Grant, ...] = ()
    indexes: tuple[str, ...] = ()
    comment: str | None = None
    column_comments: tuple[ColumnComment, ...] = ()


@dataclass(frozen=True)
class SqliteObject:
    """An index, trigger or view from ``sqlite_master`` (its name and CREATE statement)."""

    type: str
    name: str
    table: str
    sql: str


@dataclass(frozen=True)
class Alter:
    """The statement that changes one column's type (run in its own savepoint)."""

    column: str
    sql: str


@dataclass(frozen=True)
class FixPlan:
    """Everything Migration 050 will do, as SQL statements in order.

    ``backup`` runs first on its own; ``convert`` runs in one transaction. On
    PostgreSQL ``alters`` (one per column) run inside ``convert`` each in its own
    savepoint so that one column that cannot change does not stop the others.
    ``script_begin`` / ``script_end`` are the lines the printed script puts around that
    transaction (``{lock_timeout_ms}`` is filled in when it is printed).
    """

    dialect: str
    backup_table: str
    backup: tuple[str, ...]
    before: tuple[str, ...]
    alters: tuple[Alter, ...]
    after: tuple[str, ...]
    script_begin: tuple[str, ...]
    script_end: tuple[str, ...]
    notes: tuple[str, ...] = ()
    #: PostgreSQL: ``ALTER TABLE … DROP CONSTRAINT`` for every pure length CHECK, run
    #: inside ``convert`` after ``before`` and before ``alters``.
    drop_checks: tuple[str, ...] = ()
    #: length CHECKs mixed with other conditions: left in place, named in the script
    kept: tuple[MixedCheck, ...] = ()
    #: Names of the views and materialized views dropped and recreated.
    dependents: tuple[str, ...] = ()


def backup_table_name(now: datetime, existing: Iterable[str], table: str = "buyers") -> str:
    """``buyers_backup_YYYYMMDD``; with ``_HHMMSS`` (and a counter) when taken already."""
    taken = set(existing)
    name = f"{table}_backup_{now:%Y%m%d}"
    if name not in taken:
        return name
    name = f"{name}_{now:%H%M%S}"
    candidate, n = name, 2
    while candidate in taken:
        candidate, n = f"{name}_{n}", n + 1
    return candidate


def quote_literal(text: str) -> str:
    """A SQL string literal (standard_conforming_strings, on by default since
    PostgreSQL 9.1: a backslash is an ordinary character, a quote is doubled)."""
    return "'" + text.replace("'", "''") + "'"


def _qualified(quote: Quote, schema: str, name: str) -> str:
    return f"{quote(schema)}.{quote(name)}"


def _recreate_dependent(d: Dependent, quote: Quote, current_user: str | None) -> list[str]:
    """The statements that bring back one view as it was: body, options, indexes,
    owner, grants and comments."""
    name = _qualified(quote, d.schema, d.name)
    kind = "MATERIALIZED VIEW" if d.materialized else "VIEW"
    body = d.definition.strip().rstrip(";")
    with_opts = f" WITH ({', '.join(d.options)})" if d.options else ""
    data = " WITH NO DATA" if d.materialized and not d.populated else ""
    out = [f"CREATE {kind} {name}{with_opts} AS\n{body}{data}", *d.indexes]
    if d.owner and d.owner != current_user:
        out.append(f"ALTER {kind} {name} OWNER TO {quote(d.owner)}")
    for g in d.grants:
        who = "PUBLIC" if g.grantee is None else quote(g.grantee)
        option = " WITH GRANT OPTION" if g.grantable else ""
        cols = f" ({quote(g.column)})" if g.column is not None else ""
        out.append(f"GRANT {g.privilege}{cols} ON {name} TO {who}{option}")
    if d.comment is not None:
        out.append(f"COMMENT ON {kind} {name} IS {quote_literal(d.comment)}")
    for c in d.column_comments:
        out.append(f"COMMENT ON COLUMN {name}.{quote(c.column)} IS {quote_literal(c.text)}")
    return out


def postgres_plan_sql(
    *,
    quote: Quote,
    table: str,
    columns: Sequence[LimitedColumn],
    dependents: Sequence[Dependent],
    backup_table: str,
    add_columns: Sequence[str] = (),
    current_user: str | None = None,
    mixed: Sequence[MixedCheck] = (),
) -> FixPlan:
    """The PostgreSQL Migration 050: back up, drop dependents, ALTER … TYPE text,
    recreate dependents with their options, owners, grants (table- and column-level),
    comments (on the view and its columns) and indexes.

    Column comments on ``buyers`` itself need nothing: ALTER … TYPE keeps them."""
    t = quote(table)
    ordered = sorted(dependents, key=lambda d: d.depth)
    before = tuple(
        f"DROP {'MATERIALIZED VIEW' if d.materialized else 'VIEW'} "
        f"{_qualified(quote, d.schema, d.name)}"
        for d in reversed(ordered)
    )
    # A TEXT column limited only by a CHECK keeps its type: only the CHECK goes.
    alters = tuple(
        Alter(c.column, f"ALTER TABLE {t} ALTER COLUMN {quote(c.column)} TYPE text")
        for c in columns
        if c.type_limited
    )
    drop_checks = tuple(
        f"ALTER TABLE {t} DROP CONSTRAINT {quote(k.name)}"
        for c in columns
        for k in c.checks
        if k.name
    )
    after = [s for d in ordered for s in _recreate_dependent(d, quote, current_user)]
    after.extend(f"ALTER TABLE {t} ADD COLUMN IF NOT EXISTS {quote(c)} text" for c in add_columns)
    notes = tuple(
        f"{c.column} is of domain {c.domain}: it becomes plain text (the domain's own "
        "constraints no longer apply to it)"
        for c in columns
        if c.domain
    ) + tuple(
        f"{c.column} is {c.type}: the padding spaces of its values are dropped (they are "
        "not content: PostgreSQL ignores them when comparing and casting to text)"
        for c in columns
        if c.padded
    )
    return FixPlan(
        dialect="postgresql",
        backup_table=backup_table,
        # LIKE … INCLUDING ALL keeps the types, defaults, constraints and indexes, so
        # rolling back is a rename (docs/migration-050.md).
        backup=(
            f"CREATE TABLE {quote(backup_table)} (LIKE {t} INCLUDING ALL)",
            f"INSERT INTO {quote(backup_table)} OVERRIDING SYSTEM VALUE SELECT * FROM {t}",
        ),
        before=before,
        alters=alters,
        after=tuple(after),
        script_begin=(
            "BEGIN;",
            "-- give up quickly instead of queueing behind long readers (retry later)",
            "SET LOCAL lock_timeout = '{lock_timeout_ms}ms';",
        ),
        script_end=("COMMIT;",),
        notes=notes,
        dependents=tuple(f"{d.schema}.{d.name}" for d in ordered),
        drop_checks=drop_checks,
        kept=tuple(mixed),
    )


# The rebuild drops and renames a table other tables may reference.
_SQLITE_BEGIN = ("PRAGMA foreign_keys = OFF;", "BEGIN IMMEDIATE;")
_SQLITE_END = ("COMMIT;", "PRAGMA foreign_keys = ON;")


def sqlite_plan_sql(
    *,
    quote: Quote,
    table: str,
    create_sql: str,
    column_names: Sequence[str],
    columns: Sequence[LimitedColumn],
    objects: Sequence[SqliteObject],
    backup_table: str,
    add_columns: Sequence[str] = (),
    mixed: Sequence[MixedCheck] = (),
) -> FixPlan:
    """The SQLite Migration 050: SQLite cannot change a column's type in place, so the
    table is rebuilt (the documented 12-step ALTER procedure) in one transaction:
    create the new table, copy every row, drop the old, rename, recreate indexes,
    triggers and views. Views and triggers are dropped first so that the rename does
    not trip over references to a table that is momentarily gone.

    With no limited ``columns`` nothing is rebuilt or backed up: the plan only adds
    ``add_columns``."""
    t = quote(table)
    add = tuple(f"ALTER TABLE {t} ADD COLUMN {quote(c)} TEXT" for c in add_columns)
    if not columns:
        return FixPlan(
            dialect="sqlite",
            backup_table=backup_table,
            backup=(),
            before=(),
            alters=(),
            after=add,
            script_begin=_SQLITE_BEGIN,
            script_end=_SQLITE_END,
        )
    new = quote(SQLITE_NEW_TABLE)
    cols = ", ".join(quote(c) for c in column_names)
    views = [o for o in objects if o.type == "view"]
    triggers = [o for o in objects if o.type == "trigger"]
    indexes = [o for o in objects if o.type == "index" and o.table == table]
    before: list[str] = [f"DROP VIEW IF EXISTS {quote(v.name)}" for v in reversed(views)]
    before += [f"DROP TRIGGER IF EXISTS {quote(tr.name)}" for tr in triggers]
    before += [
        f"DROP TABLE IF EXISTS {new}",
        rewrite_sqlite_create(create_sql, new_name=SQLITE_NEW_TABLE, quote=quote, columns=columns),
        f"INSERT INTO {new} ({cols}) SELECT {cols} FROM {t}",
        f"DROP TABLE {t}",
        f"ALTER TABLE {new} RENAME TO {t}",
    ]
    after = [o.sql for o in (*indexes, *triggers, *views)]
    return FixPlan(
        dialect="sqlite",
        backup_table=backup_table,
        # The original CREATE statement under the backup's name keeps the declared
        # types, key and constraints, so rolling back is a rename.
        backup=(
            rewrite_sqlite_create(create_sql, new_name=backup_table, quote=quote, columns=()),
            f"INSERT INTO {quote(backup_table)} SELECT * FROM {t}",
        ),
        before=tuple(before),
        alters=(),
        after=(*after, *add),
        script_begin=_SQLITE_BEGIN,
        script_end=_SQLITE_END,
        dependents=tuple(v.name for v in views),
        kept=tuple(mixed),
    )


__all__ = [
    "SQLITE_NEW_TABLE",
    "Alter",
    "ColumnComment",
    "Dependent",
    "FixPlan",
    "Grant",
    "SqliteObject",
    "backup_table_name",
    "postgres_plan_sql",
    "quote_literal",
    "sqlite_plan_sql",
]
