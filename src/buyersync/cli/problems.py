"""``buyersync problems``: what is wrong now, grouped by cause, with the fix for each."""

from __future__ import annotations

from typing import Any

import click

from buyersync.cli.common import (
    DB_SETTINGS,
    EXIT_OK,
    EXIT_PROBLEMS,
    SOURCE_SETTINGS,
    Context,
    command_settings,
    emit_json,
    stdout_console,
)
from buyersync.cli.output import term
from buyersync.store import feedback as feedback_store
from buyersync.store import migrations
from buyersync.store import problems as store
from buyersync.store.cells import Locator
from buyersync.store.db import utcnow

_ACTIONS = ("list", "ack", "unack")


@click.command()
@click.argument("action", required=False, default="list", type=click.Choice(_ACTIONS))
@click.argument("ids", nargs=-1, type=click.IntRange(min=1))
@click.option("--all", "show_all", is_flag=True, help="Also show resolved problems.")
@click.option("--list", "show_list", is_flag=True, help="List every problem, not only the groups.")
@click.option("--note", help="With ack: why the problem is known and left open.")
@click.option(
    "--format",
    "out_format",
    type=click.Choice(["table", "xlsx"]),
    default="table",
    show_default=True,
    help="xlsx: write the open problems as a workbook for the sheet's editors (--output).",
)
@click.option("--output", type=click.Path(dir_okay=False), help="The file --format xlsx writes.")
@command_settings(DB_SETTINGS, SOURCE_SETTINGS)
def problems(
    ctx: Context,
    action: str,
    ids: tuple[int, ...],
    show_all: bool,
    show_list: bool,
    note: str | None,
    out_format: str,
    output: str | None,
) -> int:
    """Show what is wrong now: open problems grouped by cause, with the fix for each.

    A failure opens a problem for its buyer (or its sheet row, or the run); a later
    write of that buyer, or a full sync in which it no longer fails, resolves it.
    Each group shows its category and column, how many buyers, when it was first
    and last seen, an example with its cell (a link that opens it, for a Google
    Sheet) and the command that fixes it. Exits 1 while any
    problem is open and not acknowledged.

    `buyersync problems ack ID…` acknowledges known problems: they stay open but no
    longer alert; `unack ID…` undoes it.

    `--format xlsx --output problems.xlsx` writes the open problems as a workbook
    the people who edit an XLSX or CSV sheet can open: one row per problem with the
    cell, the buyer number, the column, what is wrong and what to do (with
    --source, cells are named by the sheet's own column letters).

    Example: buyersync problems --all --json
    """
    if out_format == "xlsx":
        return export_xlsx(ctx, output)
    with ctx.database() as db:
        if action == "list":
            if not db.table_exists(store.TABLE):
                groups, listed = [], []
            else:
                groups = store.groups(db, include_resolved=show_all)
                listed = (
                    store.list_problems(db, include_resolved=show_all, limit=1000)
                    if show_list or ctx.json
                    else []
                )
            return _show(ctx, groups, listed, Locator(db), feedback_store.last(db))
        if not ids:
            raise click.UsageError(f"{action} needs the id of at least one problem")
        migrations.ensure_schema(db)
        changed = store.acknowledge(
            db, list(ids), at=utcnow() if action == "ack" else None, note=note
        )
    unknown = sorted(set(ids) - set(changed))
    doc = {"action": action, "changed": changed, "not_open": unknown}
    if ctx.json:
        emit_json(doc)
    else:
        verb = "acknowledged" if action == "ack" else "no longer acknowledged"
        if changed:
            click.echo(f"{verb}: " + ", ".join(str(i) for i in changed))
        if unknown:
            click.echo(
                "no open problem with id: "
                + ", ".join(str(i) for i in unknown)
                + " (see: buyersync problems)"
            )
    return EXIT_OK if not unknown else EXIT_PROBLEMS


def export_xlsx(ctx: Context, output: str | None, **filters: Any) -> int:
    """Write the open problems as a workbook (``--format xlsx``); exits 1 when any."""
    from buyersync.services.problems_workbook import write_workbook

    if not output:
        raise click.UsageError("--format xlsx needs --output FILE.xlsx")
    source = ctx.open_source() if ctx.settings.source else None
    with ctx.database() as db:
        chosen = None
        if not db.table_exists(store.TABLE):
            chosen = []
        elif filters:
            chosen = [
                p
                for p in store.list_problems(db)
                if all(v is None or getattr(p, k) == v for k, v in filters.items())
            ]
        count = write_workbook(
            db,
            output,
            source=source,
            key_column=ctx.settings.key_column,
            mapping=ctx.settings.mapping,
            problems=chosen,
        )
    if ctx.json:
        emit_json({"output": output, "problems": count})
    else:
        click.echo(f"wrote {count} open problem(s) to {output}")
    return EXIT_PROBLEMS if count else EXIT_OK


def _show(
    ctx: Context,
    groups: list[store.ProblemGroup],
    listed: list[store.Problem],
    locate: Locator,
    fed: dict[str, Any] | None = None,
) -> int:
    open_groups = [g for g in groups if g.open]
    unacked = sum(g.count - g.acknowledged for g in open_groups)
    if ctx.json:
        emit_json(
            {
                "open": sum(g.count for g in open_groups),
                "open_unacknowledged": unacked,
                "groups": [locate.group_json(g) for g in groups],
                "problems": [locate.problem_json(p) for p in listed],
                "sheet_feedback": fed,
            }
        )
        return EXIT_PROBLEMS if unacked else EXIT_OK
    from rich.table import Table

    console = stdout_console()
    if not open_groups:
        console.print("no open problems: every buyer's latest attempt was written")
    for g in groups:
        _print_group(console, g, locate.problem_json(g.example).get("link"))
    if listed:
        table = Table(title="problems", title_justify="left")
        for col in ("id", "state", "category", "buyer", "row", "column", "seen", "message"):
            table.add_column(col, overflow="fold")
        for p in listed:
            state = "resolved" if not p.open else ("acked" if p.acknowledged_at else "open")
            table.add_row(
                str(p.id),
                state,
                term(p.category),
                term(p.buyer_number or ""),
                "" if p.row_number is None else str(p.row_number),
                term(p.column or ""),
                p.last_seen_at.strftime("%Y-%m-%d %H:%M"),
                term(p.message),
            )
        console.print(table)
    if fed is not None:
        _print_feedback(console, fed)
    return EXIT_PROBLEMS if unacked else EXIT_OK


def _print_feedback(console: Any, fed: dict[str, Any]) -> None:
    """The last write-back to the sheet (sheet_feedback), a failure in yellow."""
    when = f"{fed['at'][:16].replace('T', ' ')} UTC" if fed.get("at") else "?"
    if fed.get("error"):
        console.print(
            f"\nsheet feedback ({fed['mode']}, {when}) FAILED: {fed['error']}",
            markup=False,
            style="yellow",
        )
    else:
        console.print(
            f"\nsheet feedback ({fed['mode']}, {when}): {fed['notes_written']} notes written, "
            f"{fed['notes_removed']} removed, {fed['tab_rows']} tab lines",
            markup=False,
        )


def _print_group(console: Any, g: store.ProblemGroup, link: dict[str, Any] | None) -> None:
    what = term(g.category) + (f" in {term(g.column)}" if g.column else "")
    if g.kind == "run":
        who = f"{g.count} run problem(s)"
    else:
        who = f"{g.count} problem(s), {g.buyers} buyer(s)"
    state = "OPEN" if g.open else "resolved"
    acked = f", {g.acknowledged} acknowledged" if g.acknowledged else ""
    console.print(
        f"\n{state}: {what} — {who}{acked}; first seen {g.first_seen:%Y-%m-%d %H:%M}, "
        f"last seen {g.last_seen:%Y-%m-%d %H:%M} UTC",
        markup=False,
        style="bold red" if g.open and g.count > g.acknowledged else None,
    )
    e = g.example
    who_ex = f"buyer {term(e.buyer_number)}" if e.buyer_number else e.subject
    console.print(f"  e.g. problem {e.id}, {who_ex}: {term(e.example or e.message)}", markup=False)
    if link:
        console.print(f"  cell: {term(link['where'])}", markup=False)
        if link.get("url"):
            console.print(f"  open: {link['url']}", markup=False, soft_wrap=True)
    if g.open:
        console.print(f"  fix: {g.fix.command}  — {g.fix.text}", markup=False)
