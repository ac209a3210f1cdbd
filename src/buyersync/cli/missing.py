"""``buyersync missing`` and ``buyersync sync-missing``: find, and sync only, missing buyers."""

from __future__ import annotations

import click

from buyersync.cli.common import (
    DB_SETTINGS,
    RETRY_SETTINGS,
    SOURCE_SETTINGS,
    TYPED_SETTINGS,
    Context,
    command_settings,
    emit_json,
    stdout_console,
)
from buyersync.cli.feedback import FEEDBACK_SETTINGS, after_runs, print_feedback, with_feedback
from buyersync.cli.output import term
from buyersync.services.missing import MissingReport, SyncMissingReport

#: Lines of buyers shown on a terminal before "… and N more" (--json shows all).
SHOWN = 50


def print_missing(report: MissingReport, *, limit: int = SHOWN) -> None:
    """The human summary of a missing-buyer scan on stdout."""
    console = stdout_console()
    d = report.diff
    state = "[green]none missing[/]" if report.ok else f"[red]{d.missing_count} missing[/]"
    console.print(f"missing buyers — {term(report.source)}: {state}")
    console.print(f"  buyers in sheet:    {d.sheet_count}")
    console.print(f"  buyers in database: {d.database_count}")
    console.print(f"  missing:            {d.missing_count}")
    console.print(f"  extra (database only, not in the sheet): {d.extra_count}")
    if report.duplicates or report.blank_key_rows:
        console.print(
            f"  sheet rows that are not buyers of their own: "
            f"{len(report.duplicates)} duplicate, {len(report.blank_key_rows)} "
            "without a buyer number"
        )
    if d.missing:
        console.print("missing (sheet row: buyer number):")
        for key, row in d.missing[:limit]:
            console.print(f"  row {row}: {key}", markup=False)
        if d.missing_count > limit:
            console.print(f"  … and {d.missing_count - limit} more (--json lists all)")
    if d.extra:
        console.print("extra (in the database, no longer in the sheet):")
        for key in d.extra[:limit]:
            console.print(f"  {key}", markup=False)
        if d.extra_count > limit:
            console.print(f"  … and {d.extra_count - limit} more (--json lists all)")
    for dup in report.duplicates[:limit]:
        console.print(
            f"  duplicate: row {dup.row_number} repeats {dup.buyer_number} "
            f"(row {dup.first_row} wins)",
            markup=False,
        )
    if report.blank_key_rows:
        shown = ", ".join(str(r) for r in report.blank_key_rows[:limit])
        console.print(f"  rows without a buyer number: {shown}", markup=False)
    if not report.ok:
        console.print("sync them with: buyersync sync-missing", markup=False)


@click.command()
@command_settings(DB_SETTINGS, SOURCE_SETTINGS)
def missing(ctx: Context) -> int:
    """Which sheet buyers are not in the database, and which database rows left the sheet.

    Compares normalized buyer numbers both ways (a set difference, not a
    difference of counts) and lists each missing buyer with its sheet row, the
    extra buyers, and the sheet rows that are not buyers of their own
    (duplicates, no buyer number). Read-only. Exits 1 when any buyer is missing.
    """
    from buyersync.services.missing import find_missing

    source = ctx.open_source()
    s = ctx.settings
    with ctx.database() as db:
        report = find_missing(
            db, source, key_column=s.key_column, mapping=s.mapping, key_case=s.key_case
        )
    if ctx.json:
        emit_json(report.to_json())
    else:
        print_missing(report)
    return 0 if report.ok else 1


def print_sync_missing(report: SyncMissingReport, *, limit: int = SHOWN) -> None:
    """The human summary of a sync-missing run on stdout."""
    console = stdout_console()
    doc = report.to_json()
    if report.run is None:
        console.print("no buyers are missing; nothing to sync")
        return
    console.print(
        f"sync-missing {doc['run_id']}: attempted {doc['attempted']}, synced "
        f"{doc['synced']}, failed {doc['failed']}, no longer in sheet "
        f"{doc['not_found']}",
        markup=False,
    )
    for o in [o for o in report.outcomes if str(o.outcome) != "synced"][:limit]:
        console.print(
            f"  row {o.row_number}: {o.buyer_number}: {o.outcome}"
            f"{' [' + o.error_type + ']' if o.error_type else ''} {o.message or ''}",
            markup=False,
        )
    if doc["failed"]:
        console.print(f"see the reasons: buyersync errors --run {doc['run_id']}", markup=False)
    for w in doc["warnings"]:
        console.print(f"warning: {w}", markup=False, style="yellow")


@click.command("sync-missing")
@command_settings(
    DB_SETTINGS,
    SOURCE_SETTINGS,
    TYPED_SETTINGS,
    "batch_size",
    "lock_wait_seconds",
    "row_lock_timeout_seconds",
    RETRY_SETTINGS,
    FEEDBACK_SETTINGS,
)
def sync_missing(ctx: Context) -> int:
    """Sync only the buyers that are missing from the database.

    Finds the missing buyers as `buyersync missing` does, syncs just those rows
    (taking the sync lock), and records each buyer's outcome — synced, or failed
    with its logged reason — in sync_outcomes. Exits 1 when any attempted buyer
    was not synced.
    """
    from buyersync.cli.sync import engine_options
    from buyersync.services.missing import sync_missing as run_sync_missing

    source = ctx.open_source()
    options = engine_options(ctx)
    # only full syncs are guarded against shrinking and wrong sheets
    for name in ("max_shrink_ratio", "min_key_share", "min_header_share"):
        options.pop(name, None)
    with ctx.database() as db:
        report = run_sync_missing(db, source, **options)
        fed = after_runs(ctx, db, source, [report.run.run_id] if report.run else [])
    if ctx.json:
        emit_json(with_feedback(report.to_json(), fed))
    else:
        print_sync_missing(report)
        print_feedback(fed)
    return 0 if report.ok else 1
