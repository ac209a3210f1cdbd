"""``buyersync errors``: query the error log."""

from __future__ import annotations

from typing import Any

import click

from buyersync.cli.common import (
    DB_SETTINGS,
    SOURCE_SETTINGS,
    Context,
    command_settings,
    emit_json,
    stdout_console,
)
from buyersync.cli.output import term
from buyersync.errors import ErrorCategory
from buyersync.records import ErrorQuery
from buyersync.rules.timespec import parse_since  # shared with GET /api/errors
from buyersync.store import errorlog, migrations
from buyersync.store.cells import Locator

_CATEGORIES = [str(c) for c in ErrorCategory]
#: Far above any real log, and inside every database's integer range.
MAX_LIMIT = 1_000_000_000


@click.command()
@click.option("--type", "error_type", type=click.Choice(_CATEGORIES), help="Only this category.")
@click.option("--buyer", help="Only this buyer number.")
@click.option("--run", "run_id", help="Only this sync run.")
@click.option("--since", help="Only entries since: ISO date/time, or 90m, 24h, 7d ago.")
@click.option("--until", help="Only entries before this time (same forms as --since).")
@click.option(
    "--limit",
    type=click.IntRange(min=0, max=MAX_LIMIT),
    default=100,
    show_default=True,
    help="At most this many entries (0: no limit).",
)
@click.option(
    "--format",
    "out_format",
    type=click.Choice(["table", "xlsx"]),
    default="table",
    show_default=True,
    help="xlsx: write the open problems (of --type / --buyer) as a workbook for the "
    "sheet's editors, as `buyersync problems --format xlsx` does (--output).",
)
@click.option("--output", type=click.Path(dir_okay=False), help="The file --format xlsx writes.")
@command_settings(DB_SETTINGS, SOURCE_SETTINGS)
def errors(
    ctx: Context,
    error_type: str | None,
    buyer: str | None,
    run_id: str | None,
    since: str | None,
    until: str | None,
    limit: int,
    out_format: str,
    output: str | None,
) -> int:
    """Query the error log: the failed rows, newest first, with counts per type.

    `--format xlsx --output problems.xlsx` writes what is still wrong instead: the
    open problems, one row per problem with its cell and what to do, for the people
    who edit an XLSX or CSV sheet.

    Example: buyersync errors --type value_too_long --since 24h
    """
    from buyersync.rules.normalize import normalize_key

    if out_format == "xlsx":
        from buyersync.cli.problems import export_xlsx

        if run_id or since or until:
            raise click.UsageError(
                "--format xlsx writes the open problems; it takes --type and --buyer only"
            )
        return export_xlsx(
            ctx,
            output,
            category=error_type,
            buyer_number=normalize_key(buyer) if buyer else None,
        )

    query = ErrorQuery(
        error_type=error_type,
        buyer_number=normalize_key(buyer) if buyer else None,
        run_id=run_id,
        since=parse_since(since),
        until=parse_since(until),
        limit=limit or None,
    )
    located: list[dict[str, Any]] = []
    with ctx.database() as db:
        if migrations.current_version(db) == 0:
            entries, counts = [], {}
        else:
            # an older database gains resolved_at / resolved_by_run first
            migrations.ensure_schema(db)
            entries = errorlog.query(db, query)
            counts = errorlog.counts_by_type(db, query)
            if ctx.json:  # each entry's cell and link, read while the database is open
                locate = Locator(db)
                located = [locate.entry_json(e.to_json()) for e in entries]
    if ctx.json:
        emit_json(
            {
                "errors": located,
                "counts_by_type": counts,
                "total": sum(counts.values()),
            }
        )
        return 0
    from rich.table import Table

    console = stdout_console()
    if not entries:
        console.print("no errors match")
        return 0
    table = Table(title=f"{len(entries)} of {sum(counts.values())} error(s)")
    for col in ("time", "type", "buyer", "row", "retry", "message"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(
            e.created_at.strftime("%Y-%m-%d %H:%M:%S"),
            term(e.error_type),
            term(e.buyer_number or ""),
            str(e.row_number or ""),
            "yes" if e.retryable else "no",
            term(e.error_message),
        )
    console.print(table)
    console.print("by type: " + ", ".join(f"{term(k)} {v}" for k, v in counts.items()))
    return 0
