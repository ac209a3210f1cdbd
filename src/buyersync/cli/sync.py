"""``buyersync sync``: the full sync with error handling."""

from __future__ import annotations

import sys
from typing import Any

import click

from buyersync.cli.common import (
    DB_SETTINGS,
    RETRY_SETTINGS,
    SOURCE_SETTINGS,
    TYPED_SETTINGS,
    Context,
    command_settings,
    emit_json,
    failure_document,
    stderr_console,
    stdout_console,
)
from buyersync.cli.feedback import FEEDBACK_SETTINGS, after_runs, print_feedback, with_feedback
from buyersync.cli.interrupt import STOP, Interrupted
from buyersync.cli.output import plain, term
from buyersync.errors import SyncRefused
from buyersync.rules.backoff import BackoffPolicy
from buyersync.services.sync import SyncEngine, SyncReport
from buyersync.settings import parse_options


def progress_bar(ctx: Context, label: str):  # type: ignore[no-untyped-def]
    """A rich progress bar on stderr when it is a terminal; otherwise None."""
    if ctx.json or not sys.stderr.isatty():
        return None, None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

    bar = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=True,
    )
    task = bar.add_task(label, total=None)

    def update(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)

    return bar, update


def print_report(report: SyncReport, *, title: str = "sync") -> None:
    """The human summary of a sync on stdout."""
    from rich.table import Table

    console = stdout_console()
    state = {"succeeded": "[green]succeeded[/]", "dry_run": "[cyan]dry run[/]"}.get(
        str(report.status), f"[yellow]{report.status}[/]"
    )
    console.print(f"{term(title)} {term(report.run_id)}: {state} — source {term(report.source)}")
    table = Table(show_header=False, box=None, padding=(0, 2))
    for label, value in (
        ("rows read", report.rows_read),
        ("written", _written(report)),
        ("failed", report.failed),
        ("not written (the run stopped)", report.not_written),
        ("queued for retry", report.queued_for_retry),
        ("blank rows skipped", report.skipped_blank),
        ("section rows skipped", report.section_rows),
        ("batches", f"{report.batches} of {report.batch_size}"),
        ("duration", f"{report.duration_s:.2f} s ({report.rows_per_s:,.0f} rows/s)"),
    ):
        table.add_row(label, str(value))
    console.print(table)
    if report.failures:
        console.print(
            "failures by type: "
            + ", ".join(f"{term(k)} {v}" for k, v in report.failures_by_type().items())
        )
        for f in report.failures[:10]:
            console.print(
                f"  row {f.row_number}: [{plain(f.category)}] {plain(f.message)}", markup=False
            )
        if report.failed > 10:
            console.print(f"  … and {report.failed - 10} more")
        if not report.dry_run:
            console.print(
                f"see them all: buyersync errors --run {plain(report.run_id)}", markup=False
            )
    if report.not_written:
        console.print(f"stopped: {plain(report.message)}", markup=False, style="yellow")
    change = report.header_change
    if change is not None and not change.empty:
        console.print(
            f"headers against the last successful sync: {plain(change.describe())}", markup=False
        )
    for w in report.warnings:
        console.print(f"warning: {plain(w)}", markup=False, style="yellow")
    if report.dry_run:
        print_verdict(report)
        console.print("dry run: nothing was written")


def _written(report: SyncReport) -> str:
    """``inserted 0, changed 1, unchanged 4`` (a dry run: what a real sync would write)."""
    if report.dry_run:
        return (
            f"would be inserted {report.inserted}, changed {report.changed}, "
            f"unchanged {report.unchanged}"
        )
    return f"inserted {report.inserted}, changed {report.changed}, unchanged {report.unchanged}"


def print_verdict(report: SyncReport) -> None:
    """What a real sync would decide, before anything is written."""
    console = stdout_console()
    if report.would_refuse:
        console.print("[red]verdict: a real sync would be refused[/] (exit 3):")
        for reason in report.would_refuse:
            console.print(f"  - {plain(reason)}", markup=False)
    else:
        console.print(
            f"verdict: a real sync would run: would insert {report.inserted}, "
            f"would update {report.updated} (change {report.changed}, leave "
            f"{report.unchanged} unchanged), would fail {report.failed}"
        )
    change = report.header_change
    if change is not None and not change.has_baseline:
        console.print("headers: no earlier successful sync of this source to compare with")
    elif change is not None and change.empty:
        console.print("headers: the same as the last successful sync")
    if report.share is not None:
        share = report.share
        parts = []
        if share.key_share is not None:
            parts.append(
                f"{share.shared_keys} of {share.sheet_keys} buyer numbers already in the "
                f"database ({share.key_share:.0%})"
            )
        if share.header_share is not None:
            parts.append(
                f"{share.shared_headers} of {share.fed_columns} fed columns in the sheet "
                f"({share.header_share:.0%})"
            )
        if parts:
            console.print("sheet vs database: " + "; ".join(parts))


def engine_options(ctx: Context, **extra: Any) -> dict[str, Any]:
    s = ctx.settings
    return dict(
        key_column=s.key_column,
        key_case=s.key_case,
        mapping=s.mapping,
        batch_size=s.batch_size,
        max_shrink_ratio=s.max_shrink_ratio,
        min_key_share=s.min_key_share,
        min_header_share=s.min_header_share,
        retry=BackoffPolicy.from_settings(s),
        lock_wait_seconds=s.lock_wait_seconds,
        parse_options=parse_options(s),
        row_lock_timeout_seconds=s.row_lock_timeout_seconds,
        problems_retention_days=s.problems_retention_days,
        **extra,
    )


@click.command()
@click.option(
    "--dry-run",
    is_flag=True,
    help="Check every row and show the verdict (would the guards refuse, the header "
    "change, the counts); write nothing.",
)
@click.option(
    "--accept-header-change",
    is_flag=True,
    help="Accept the sheet's current header change against the last successful sync "
    "(a renamed or deleted column) once; it is recorded and becomes the new baseline.",
)
@command_settings(
    DB_SETTINGS,
    SOURCE_SETTINGS,
    TYPED_SETTINGS,
    "batch_size",
    "max_shrink_ratio",
    "min_key_share",
    "min_header_share",
    "lock_wait_seconds",
    "row_lock_timeout_seconds",
    "problems_retention_days",
    RETRY_SETTINGS,
    "alert_slow_sync_seconds",
    FEEDBACK_SETTINGS,
)
def sync(ctx: Context, dry_run: bool, accept_header_change: bool) -> int:
    """Sync every buyer from the sheet into the database.

    Rows are checked, written in batches (--batch-size), and every row that
    fails is logged with its category and sheet row (see `buyersync errors`);
    retryable failures are queued for `buyersync retry`. An empty or sharply
    shrunken sheet, a sheet that shares too few buyers or columns with the
    database, and a column the last sync fed that is now renamed or deleted
    are refused (exit 3) while the database has buyers; sync never deletes
    buyers. Exits 1 when any row failed.
    """
    source = ctx.open_source()
    with ctx.database() as db:
        bar, update = progress_bar(ctx, "syncing")

        def progress(done: int, total: int) -> None:
            # Merging has begun: a signal now stops at the next batch boundary, where
            # the merged count is exact.
            STOP.defer()
            if update is not None:
                update(done, total)
            STOP.checkpoint()

        engine = SyncEngine(
            db,
            source,
            **engine_options(ctx, progress=progress, accept_header_change=accept_header_change),
        )
        try:
            with STOP.deferring():
                if bar is not None:
                    with bar:
                        report = engine.run(dry_run=dry_run)
                else:
                    report = engine.run(dry_run=dry_run)
        except SyncRefused as refused:
            from buyersync.services.monitor import after_refused

            after_refused(db, ctx.settings, refused.message, hint=refused.hint)
            raise
        except Interrupted as stop:
            if dry_run:
                raise  # nothing was being written: the plain "interrupted" is the whole story
            return interrupted(ctx, engine.report, stop)
        after_sync(ctx, db, report)
        fed = after_runs(ctx, db, source, [report.run_id]) if not report.dry_run else None
    if ctx.json:
        emit_json(with_feedback(report.to_json(), fed))
    else:
        print_report(report)
        print_feedback(fed)
    return 0 if report.failed == 0 and report.not_written == 0 else 1


def interrupted(ctx: Context, report: SyncReport | None, stop: Interrupted) -> int:
    """Say how far an interrupted sync got and that running it again finishes the job."""
    merged = (report.inserted + report.updated) if report is not None else 0
    message = (
        f"{stop} after {merged:,} rows were merged into buyers"
        + (f" (run {report.run_id})" if report is not None else "")
        + "; the rows merged stay merged"
    )
    hint = "run buyersync sync again to finish the job"
    click.echo(f"buyersync: {message} ({hint})", err=True)
    if ctx.json:
        doc = report.to_json() if report is not None else {}
        doc.update(failure_document(message, exit_code=stop.exit_code, hint=hint))
        doc.update(interrupted=True, signal=stop.signal_name, merged=merged)
        emit_json(doc)
    return stop.exit_code


def after_sync(ctx: Context, db: Any, report: SyncReport) -> None:
    """Hooks that run after a sync (the slow-sync alert lives in the monitor)."""
    if report.dry_run:
        return
    from buyersync.services.monitor import after_sync as monitor_after_sync

    monitor_after_sync(db, ctx.settings, report)
