"""SchemaValidator: can ``buyers`` hold the sheet? (requirements 1 and 7).

Reports, before anything is written:

* every length-limited text column (VARCHAR(n), CHAR(n), a domain over them, a
  ``CHECK (length(col) <= n)`` — ``char_length``/``octet_length`` too on PostgreSQL)
  — property 1: those and nothing else;
* CHECK constraints that limit a length together with other conditions (they are
  not dropped by the fix: the operator is told what to do);
* sheet columns that have no column in ``buyers`` (schema drift);
* given the sheet, exactly which rows would be rejected under the current limits,
  with column, limit and value length;
* the typed columns (numeric, integer, boolean, date, timestamp…) and, given the
  sheet, how many of each column's values would not parse, with examples.

It also produces the Migration 050 script for this database and applies it
(:mod:`buyersync.store.schemafix` does the work).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from buyersync.rules import schema as rules
from buyersync.rules.coltypes import ColumnType
from buyersync.rules.normalize import RESERVED_COLUMNS, ColumnMap, column_letter, map_headers
from buyersync.rules.typed import ParseOptions, Problem, parse
from buyersync.sources.base import Source
from buyersync.store import catalog, schemafix
from buyersync.store.db import Database

log = logging.getLogger(__name__)


#: Unparsable values shown per typed column (the count covers them all).
MAX_EXAMPLES = 5


@dataclass
class TypedColumn:
    """A typed ``buyers`` column; with a sheet, the values of it that would not parse."""

    column: str
    type: str  # as the database names it (a domain's base type)
    kind: str
    unparsable: int | None = None  # None: no sheet was checked
    examples: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "type": self.type,
            "kind": self.kind,
            "unparsable": self.unparsable,
            "examples": self.examples,
        }


@dataclass
class SchemaReport:
    """What ``schema check`` found; ``ok`` when nothing needs fixing."""

    dialect: str
    table_exists: bool
    columns: dict[str, str] = field(default_factory=dict)
    non_text_fields: list[rules.LimitedColumn] = field(default_factory=list)
    mixed_checks: list[rules.MixedCheck] = field(default_factory=list)
    unmapped_sheet_columns: list[str] = field(default_factory=list)
    would_fail: list[rules.OverflowRow] = field(default_factory=list)
    rows_checked: int | None = None
    source: str | None = None
    typed_columns: list[TypedColumn] = field(default_factory=list)

    @property
    def unparsable(self) -> int:
        """Sheet values that would fail their row as ``data_format``."""
        return sum(t.unparsable or 0 for t in self.typed_columns)

    @property
    def ok(self) -> bool:
        return not (
            self.non_text_fields
            or self.mixed_checks
            or self.unmapped_sheet_columns
            or self.would_fail
            or self.unparsable
        )

    @property
    def fix_command(self) -> str | None:
        """The command that fixes what was found (None when nothing needs fixing, or
        when only mixed CHECKs are left: those need a person, see ``mixed_checks``)."""
        if not (self.non_text_fields or self.unmapped_sheet_columns or self.would_fail):
            return None
        return rules.FIX_COMMAND + (" --add-columns" if self.unmapped_sheet_columns else "")

    def to_json(self, *, max_rows: int = 1000) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "dialect": self.dialect,
            "table_exists": self.table_exists,
            "non_text_fields": [c.to_json() for c in self.non_text_fields],
            "mixed_length_checks": [m.to_json() for m in self.mixed_checks],
            "unmapped_sheet_columns": self.unmapped_sheet_columns,
            "would_fail_count": len(self.would_fail),
            "would_fail": [r.to_json() for r in self.would_fail[:max_rows]],
            "rows_checked": self.rows_checked,
            "source": self.source,
            "columns": [{"column": c, "type": t} for c, t in self.columns.items()],
            "typed_columns": [t.to_json() for t in self.typed_columns],
            "unparsable_count": self.unparsable,
            "fix": self.fix_command,
        }


class SchemaValidator:
    """Validates ``buyers`` against the rules and, optionally, against a sheet."""

    def __init__(
        self,
        db: Database,
        *,
        key_column: str = "buyer_number",
        mapping: Mapping[str, str] | None = None,
        parse_options: ParseOptions | None = None,
    ) -> None:
        self.db = db
        self.key_column = key_column
        self.mapping = dict(mapping or {})
        self.parse_options = parse_options or ParseOptions()

    def get_non_text_fields(self) -> list[rules.LimitedColumn]:
        """Every length-limited text column of ``buyers`` (empty when there is none)."""
        return catalog.limited_columns(self.db)

    def validate_buyers_schema(self, source: Source | None = None) -> SchemaReport:
        """Check the table, and with ``source`` the sheet against it (reads the sheet once).

        Raises :class:`buyersync.errors.HeaderError` for unusable headers and the
        source's errors when the sheet cannot be read; writes nothing.
        """
        db = self.db
        exists = db.table_exists(catalog.TABLE)
        report = SchemaReport(dialect=db.dialect, table_exists=exists)
        if exists:
            report.columns = catalog.columns(db)
            report.non_text_fields = self.get_non_text_fields()
            report.mixed_checks = catalog.mixed_checks(db)
        # buyersync's own timestamps are not fed by the sheet
        types = (
            {
                c: t
                for c, t in catalog.column_types(db).items()
                if t.typed and c not in RESERVED_COLUMNS
            }
            if exists
            else {}
        )
        report.typed_columns = [TypedColumn(c, t.declared, str(t.kind)) for c, t in types.items()]
        if source is None:
            return report
        data = source.read()
        report.source = source.description
        colmap = map_headers(data.header, key_header=self.key_column, mapping=self.mapping)
        if exists:
            report.unmapped_sheet_columns = [
                c for c in colmap.data_columns if c not in report.columns
            ]
        limits = rules.enforced_limits(report.non_text_fields, catalog.schema_dialect(db))
        tally = _TypedTally(data.rows, colmap, types, report.typed_columns, self.parse_options)
        counted = _Counting(tally)
        report.would_fail = list(rules.would_fail(counted, colmap, limits))
        for _ in counted:  # without limits would_fail stops early; count the rest
            pass
        report.rows_checked = counted.seen
        log.info(
            "schema check: %d limited column(s), %d unmapped, %d of %d rows would fail",
            len(report.non_text_fields),
            len(report.unmapped_sheet_columns),
            len(report.would_fail),
            counted.seen,
        )
        return report

    def unmapped_sheet_columns(self, source: Source) -> list[str]:
        """Sheet columns that ``buyers`` lacks (all of them count when there is no table)."""
        data = source.read()
        colmap = map_headers(data.header, key_header=self.key_column, mapping=self.mapping)
        existing = catalog.columns(self.db) if self.db.table_exists(catalog.TABLE) else {}
        return [c for c in colmap.data_columns if c not in existing]

    def generate_fix_script(
        self,
        *,
        add_columns: Sequence[str] = (),
        lock_timeout_s: float = 2.0,
        now: datetime | None = None,
    ) -> str:
        """The Migration 050 SQL for this database as it is now ("" when nothing to do)."""
        if not self.db.table_exists(catalog.TABLE):
            return ""
        plan, limited = schemafix.build_plan(self.db, add_columns=add_columns, now=now)
        if not limited and not add_columns:
            return ""
        typed = sum(1 for c in limited if c.type_limited)
        checks = sum(len(c.checks) for c in limited)
        header = (
            f"generated by buyersync for a {self.db.dialect} database: "
            f"{typed} column(s) to convert to TEXT"
            + (f", {checks} length CHECK constraint(s) to drop" if checks else "")
        )
        return rules.render_script(plan, lock_timeout_ms=int(lock_timeout_s * 1000), header=header)

    def apply_fix(
        self, *, add_columns: Sequence[str] = (), lock_timeout_s: float = 2.0, attempts: int = 5
    ) -> schemafix.FixResult:
        """Back up, convert and verify (see :func:`buyersync.store.schemafix.apply`)."""
        return schemafix.apply(
            self.db, add_columns=add_columns, lock_timeout_s=lock_timeout_s, attempts=attempts
        )


class _TypedTally:
    """Wraps the row iterator to parse each typed cell as the sync would."""

    def __init__(
        self,
        rows: Any,
        colmap: ColumnMap,
        types: Mapping[str, ColumnType],
        found: list[TypedColumn],
        options: ParseOptions,
    ) -> None:
        self._rows = iter(rows)
        by_column = {t.column: t for t in found}
        self._slots = [
            (i, types[c], by_column[c])
            for i, c in enumerate(colmap.columns)
            if c is not None and c in types
        ]
        for _, _, t in self._slots:
            t.unparsable = 0
        self._options = options

    def __iter__(self) -> _TypedTally:
        return self

    def __next__(self) -> Any:
        row = next(self._rows)
        values = row.values
        for i, ctype, found in self._slots:
            text = values[i] if i < len(values) else ""
            parsed = parse(text, ctype, self._options)
            if isinstance(parsed, Problem):
                assert found.unparsable is not None
                found.unparsable += 1
                if len(found.examples) < MAX_EXAMPLES:
                    found.examples.append(
                        {
                            "row_number": row.row_number,
                            "cell": f"{column_letter(i)}{row.row_number}",
                            "value": text,
                            "problem": str(parsed.code),
                            "message": parsed.message,
                        }
                    )
        return row


class _Counting:
    """Wraps the row iterator to count the rows read."""

    def __init__(self, rows: Any) -> None:
        self._rows = iter(rows)
        self.seen = 0

    def __iter__(self) -> _Counting:
        return self

    def __next__(self) -> Any:
        row = next(self._rows)
        if any(v.strip() for v in row.values):
            self.seen += 1
        return row
