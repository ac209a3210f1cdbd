"""Schema decisions for Migration 050, as pure functions over catalog facts.

One module per job; import from here:

* :mod:`.columntypes` — :func:`classify_type`: is a declared type length-limited
  text, and its limit;
* :mod:`.checks` — length CHECK constraints read from SQLite's ``CREATE TABLE`` and
  PostgreSQL's ``pg_get_constraintdef``, and the mixed ones that are never dropped;
* :mod:`.columns` — :func:`limited_columns`: which columns of ``buyers`` to report
  (property 1), and the limits the database enforces;
* :mod:`.overflow` — :func:`would_fail`: which sheet rows would be rejected, with
  column, limit and value length, before anything is written;
* :mod:`.plan` — the Migration 050 statements per database (:func:`postgres_plan_sql`,
  :func:`sqlite_plan_sql`); :mod:`.sqlite_create` edits SQLite's own CREATE statement;
* :mod:`.render` — :func:`render_script`, the printed script, exactly what
  ``schema fix --apply`` runs.

The rules never ask which database they judge: the store reads the catalog
(:mod:`buyersync.store.catalog`), passes the facts in, and describes the database
with a :class:`SchemaDialect`.
"""

from __future__ import annotations

from buyersync.rules.schema.checks import (
    ColumnCheck,
    MixedCheck,
    mixed_check,
    parse_length_checks,
    parse_pg_check,
    sqlite_mixed_checks,
)
from buyersync.rules.schema.columns import (
    LimitedColumn,
    LimitSource,
    enforced_limits,
    limited_columns,
)
from buyersync.rules.schema.columntypes import TypeInfo, TypeKind, classify_type
from buyersync.rules.schema.dialect import SchemaDialect
from buyersync.rules.schema.overflow import (
    Limits,
    Overflow,
    OverflowRow,
    row_overflows,
    would_fail,
)
from buyersync.rules.schema.plan import (
    SQLITE_NEW_TABLE,
    Alter,
    ColumnComment,
    Dependent,
    FixPlan,
    Grant,
    SqliteObject,
    backup_table_name,
    postgres_plan_sql,
    quote_literal,
    sqlite_plan_sql,
)
from buyersync.rules.schema.render import render_script
from buyersync.rules.schema.sqlite_create import rewrite_sqlite_create

#: The command an operator runs to fix what the validator reports.
FIX_COMMAND = "buyersync schema fix --apply"

__all__ = [
    "FIX_COMMAND",
    "SQLITE_NEW_TABLE",
    "Alter",
    "ColumnCheck",
    "ColumnComment",
    "Dependent",
    "FixPlan",
    "Grant",
    "LimitSource",
    "LimitedColumn",
    "Limits",
    "MixedCheck",
    "Overflow",
    "OverflowRow",
    "SchemaDialect",
    "SqliteObject",
    "TypeInfo",
    "TypeKind",
    "backup_table_name",
    "classify_type",
    "enforced_limits",
    "limited_columns",
    "mixed_check",
    "parse_length_checks",
    "parse_pg_check",
    "postgres_plan_sql",
    "quote_literal",
    "render_script",
    "rewrite_sqlite_create",
    "row_overflows",
    "sqlite_mixed_checks",
    "sqlite_plan_sql",
    "would_fail",
]
