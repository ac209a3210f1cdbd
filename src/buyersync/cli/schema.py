"""``buyersync schema check`` and ``buyersync schema fix`` (Migration 050)."""

from __future__ import annotations

from pathlib import Path

import click

from buyersync.cli.common import (
    DB_SETTINGS,
    EXIT_OK,
    EXIT_PROBLEMS,
    SOURCE_SETTINGS,
    TYPED_SETTINGS,
    Context,
    command_settings,
    emit_json,
)
from buyersync.cli.output import plain
from buyersync.errors import ConfigError
from buyersync.rules.schema import FIX_COMMAND, LimitedColumn, MixedCheck
from buyersync.services.schema import SchemaReport, SchemaValidator
from buyersync.settings import parse_options
from buyersync.store.schemafix import FixResult


@click.group()
def schema() -> None:
    """Check that buyers can hold every value, and fix it (Migration 050)."""


@schema.command("check")
@command_settings(DB_SETTINGS, SOURCE_SETTINGS, TYPED_SETTINGS)
def check(ctx: Context) -> int:
    """Report length-limited columns, unmapped sheet columns and rows that would fail.

    Lists every VARCHAR(n)/CHAR(n) column of buyers (and, on SQLite, CHECK length
    limits) and the typed columns (numeric, integer, boolean, date, timestamp).
    With --source, also lists sheet columns that buyers lacks, exactly which rows
    would be rejected under the current limits (column, limit, length), and per
    typed column how many sheet values would not parse, with examples.
    Writes nothing. Exits 1 when anything is reported.
    """
    s = ctx.settings
    source = ctx.open_source() if s.source else None
    with ctx.database() as db:
        report = SchemaValidator(
            db, key_column=s.key_column, mapping=s.mapping, parse_options=parse_options(s)
        ).validate_buyers_schema(source)
    if ctx.json:
        emit_json(report.to_json())
    else:
        _print_check(report)
    return EXIT_OK if report.ok else EXIT_PROBLEMS


def _describe_limited(c: LimitedColumn) -> str:
    """One line: the column, its type, every limit and where it comes from."""
    parts = []
    if c.type_limited:
        note = "" if c.enforced or c.checks else ", declared only: SQLite does not enforce it"
        parts.append(f"type {c.type}{note}")
    for k in c.checks:
        label = f"constraint {k.name}" if k.name else "a CHECK"
        parts.append(f"{label}: at most {k.limit} {k.unit}")
    return f"length-limited column: {c.column} — at most {c.limit} characters ({'; '.join(parts)})"


def _describe_mixed(label: str, m: MixedCheck) -> str:
    return (
        f"{label}: constraint {m.name or '(unnamed)'} on {', '.join(m.columns)}: "
        f"{m.definition}\n  why: {m.reason}\n  what to do: {m.what_to_do}"
    )


def _print_check(report: SchemaReport) -> None:
    if not report.table_exists:
        click.echo("buyers does not exist yet: the first sync creates it with TEXT columns")
    for c in report.non_text_fields:
        click.echo(_describe_limited(c))
    for m in report.mixed_checks:
        click.echo(_describe_mixed("length CHECK that schema fix leaves alone", m))
    if report.unmapped_sheet_columns:
        click.echo(
            "sheet columns without a column in buyers: "
            + ", ".join(plain(c) for c in report.unmapped_sheet_columns)
        )
    for t in report.typed_columns:
        line = f"typed column: {plain(t.column)} — {plain(t.type)}"
        if t.unparsable:
            shown = ", ".join(
                f"{e['cell']} {plain(repr(e['value']))} ({e['problem']})" for e in t.examples
            )
            line += f": {t.unparsable} sheet value(s) would not parse, e.g. {shown}"
        elif t.unparsable == 0:
            line += ": every sheet value parses"
        click.echo(line)
    for r in report.would_fail[:20]:
        shown = ", ".join(o.describe() for o in r.overflows)
        click.echo(f"row {r.row_number} (buyer {plain(r.buyer_number)}) would fail: {plain(shown)}")
    if len(report.would_fail) > 20:
        click.echo(f"… and {len(report.would_fail) - 20} more rows (see --json)")
    if report.rows_checked is not None:
        click.echo(
            f"{report.rows_checked} sheet rows checked, {len(report.would_fail)} would not fit"
        )
    if report.unparsable:
        click.echo(
            f"{report.unparsable} sheet value(s) do not parse as their column's type: those "
            "rows would fail as data_format; correct the cells, or set number_format / "
            "date_order to how the sheet writes them"
        )
    if report.ok:
        click.echo("schema OK: every text column of buyers is TEXT")
    elif report.fix_command:
        click.echo(
            "to fix: review the SQL with buyersync schema fix, then run "
            f"{report.fix_command} (with the same --db/--source options as here)"
        )


@schema.command("fix")
@click.option(
    "--apply",
    "apply_",
    is_flag=True,
    help="Run it: back up buyers, convert, verify (otherwise only print the SQL).",
)
@click.option(
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the SQL to this file instead of printing it.",
)
@click.option(
    "--add-columns",
    is_flag=True,
    help="Also add a TEXT column for every sheet column buyers lacks (needs --source).",
)
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0.01),
    default=2.0,
    show_default=True,
    help="Seconds to wait for the table lock per attempt.",
)
@click.option(
    "--attempts",
    type=click.IntRange(min=1),
    default=5,
    show_default=True,
    help="Attempts to get the table lock before giving up.",
)
@command_settings(DB_SETTINGS, SOURCE_SETTINGS)
def fix(
    ctx: Context,
    apply_: bool,
    output: Path | None,
    add_columns: bool,
    lock_timeout: float,
    attempts: int,
) -> int:
    """Print the Migration 050 SQL for this database, or --apply it.

    --apply first copies buyers to buyers_backup_YYYYMMDD, then in one transaction
    converts every length-limited column to TEXT (views and materialized views that
    use them are saved, dropped and recreated with their grants and indexes), and
    verifies that row count and content are identical. A busy table is retried
    --attempts times with a --lock-timeout each, then the command exits 3 without
    changing anything. Running it again is harmless. Exits 1 when a column could not
    be converted (the reason and what to do are printed).
    """
    s = ctx.settings
    with ctx.database() as db:
        validator = SchemaValidator(db, key_column=s.key_column, mapping=s.mapping)
        extra: list[str] = []
        if add_columns:
            if not s.source:
                raise ConfigError(
                    "--add-columns needs the sheet to know which columns to add",
                    hint="pass --source PATH_OR_URL or set BUYERSYNC_SOURCE",
                )
            extra = validator.unmapped_sheet_columns(ctx.open_source())
        script = validator.generate_fix_script(add_columns=extra, lock_timeout_s=lock_timeout)
        if output is not None and script:
            output.write_text(script, encoding="utf-8")
        if not apply_:
            return _show_script(ctx, script, output, validator)
        result = validator.apply_fix(
            add_columns=extra, lock_timeout_s=lock_timeout, attempts=attempts
        )
    if ctx.json:
        emit_json(result.to_json())
    else:
        _print_result(result)
    return EXIT_OK if result.ok else EXIT_PROBLEMS


def _show_script(ctx: Context, script: str, output: Path | None, validator: SchemaValidator) -> int:
    if ctx.json:
        emit_json(
            {
                "sql": script,
                "output": str(output) if output and script else None,
                "nothing_to_do": not script,
                "non_text_fields": [c.to_json() for c in validator.get_non_text_fields()],
            }
        )
    elif not script:
        click.echo("-- nothing to do: buyers has no length-limited column")
    elif output is not None:
        click.echo(f"wrote the Migration 050 SQL to {output}; review it, then run: {FIX_COMMAND}")
    else:
        click.echo(script, nl=False)
    return EXIT_OK


def _print_result(result: FixResult) -> None:
    if result.nothing_to_do:
        click.echo(
            "nothing to convert: no column of buyers has a length limit buyersync can remove"
        )
    if result.backup_table:
        same = {
            True: ", identical to buyers before the conversion",
            False: ", DIFFERENT from buyers before the conversion",
            None: "",
        }[result.backup_identical]
        click.echo(
            f"backup: {result.backup_table} ({result.backup_rows} rows{same}; "
            "roll back from it as docs/migration-050.md says)"
        )
    for c in result.converted:
        click.echo(f"converted {c['column']}: {c['from_type']} → text")
    for d in result.dropped_constraints:
        click.echo(
            f"dropped constraint {d['constraint'] or '(unnamed CHECK)'} on {d['column']} "
            f"(at most {d['limit']} {d['unit']})"
        )
    if result.dependents:
        click.echo("recreated views: " + ", ".join(result.dependents))
    if result.added_columns:
        click.echo("added TEXT columns: " + ", ".join(result.added_columns))
    for note in result.notes:
        click.echo(f"note: {note}")
    for c in result.not_converted:
        click.echo(f"NOT converted {c['column']} ({c['type']}): {c['reason']} — {c['what_to_do']}")
    for m in result.kept_constraints:
        click.echo(_describe_mixed("NOT dropped", m))
    if result.before and result.after:
        same = "identical" if result.identical else "DIFFERENT"
        click.echo(
            f"verified: {result.after.rows} rows, content {same} (checksum {result.after.digest})"
        )
    click.echo("columns of buyers now:")
    for column, type_ in result.columns_after.items():
        click.echo(f"  {column}: {type_}")
    if result.ok:
        click.echo("schema OK: no length-limited column left")
    elif result.limited_after or result.not_converted:
        left = sorted(
            {c.column for c in result.limited_after} | {c["column"] for c in result.not_converted}
        )
        click.echo(
            "schema NOT OK: still length-limited: "
            + ", ".join(left)
            + " — see NOT converted above for the reason and what to do"
        )
    elif result.kept_constraints:
        names = ", ".join(m.name or "(unnamed)" for m in result.kept_constraints)
        click.echo(
            f"schema NOT OK: CHECK constraint(s) {names} still limit a length — "
            "replace them by hand as said above, then run buyersync schema check"
        )
    else:
        click.echo("schema NOT OK: the content changed during the conversion (see verified)")
