"""``buyersync retry``: process the retry queue (due entries, all, or one buyer by hand)."""

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
from buyersync.cli.output import plain, term
from buyersync.errors import ConfigError
from buyersync.services.retry import (
    DEFAULT_CLAIM_SIZE,
    DEFAULT_LEASE_SECONDS,
    RetryReport,
    manager_for,
)
from buyersync.store import migrations, retryqueue

_STYLE = {
    "succeeded": "green",
    "gone_from_sheet": "cyan",
    "rescheduled": "yellow",
    "permanently_failed": "red",
    "not_retryable": "red",
    "released": "magenta",
}


@click.command()
@click.option(
    "--all",
    "any_time",
    is_flag=True,
    help="Retry every pending entry now, ignoring its next retry time.",
)
@click.option(
    "--buyer",
    metavar="BUYER_NUMBER",
    help="Retry this one buyer now, even if it is permanently failed.",
)
@click.option(
    "--permanent",
    is_flag=True,
    help="Also retry the permanently failed entries (after fixing their cause).",
)
@click.option(
    "--list",
    "list_only",
    is_flag=True,
    help="Show the queue (every entry, soonest due first) and retry nothing.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=None,
    help="Attempt at most this many entries in this run.",
)
@click.option(
    "--claim-size",
    type=click.IntRange(min=1),
    default=DEFAULT_CLAIM_SIZE,
    show_default=True,
    help="Entries taken (and synced from one read of the sheet) per pass.",
)
@click.option(
    "--lease-seconds",
    type=click.FloatRange(min=1),
    default=DEFAULT_LEASE_SECONDS,
    show_default=True,
    help="How long claimed entries stay with this process; a "
    "process that dies gives them back after this.",
)
@command_settings(
    DB_SETTINGS, SOURCE_SETTINGS, TYPED_SETTINGS, "batch_size", RETRY_SETTINGS, FEEDBACK_SETTINGS
)
def retry(
    ctx: Context,
    any_time: bool,
    buyer: str | None,
    permanent: bool,
    list_only: bool,
    limit: int | None,
    claim_size: int,
    lease_seconds: float,
) -> int:
    """Retry the failures waiting in the retry queue.

    Each due buyer is re-read from the sheet (which may have been fixed since) and
    written again. A success removes the entry; a failure is tried again later with
    exponential backoff (--retry-base-seconds doubling up to --retry-max-seconds)
    until --retry-max-attempts, then the entry is permanently failed and only a
    person retries it (--buyer B, or --permanent for all of them). Several retry
    processes may run at once: each entry is taken by one of them. Exits 1 when
    any attempt failed.
    """
    if buyer is not None and (any_time or permanent or limit):
        raise ConfigError(
            "--buyer retries one buyer; it cannot be combined with --all, --permanent or --limit"
        )
    if list_only:
        return _list(ctx)
    source = ctx.open_source() if ctx.settings.source else None
    with ctx.database() as db:
        manager = manager_for(
            db, ctx.settings, source, claim_size=claim_size, lease_seconds=lease_seconds
        )
        if buyer is not None:
            report = manager.retry_buyer(buyer)
        else:
            report = manager.process_queue(any_time=any_time, permanent=permanent, limit=limit)
        fed = after_runs(ctx, db, source, report.run_ids)
    if ctx.json:
        emit_json(with_feedback(report.to_json(), fed))
    else:
        _print(report)
        print_feedback(fed)
    return 0 if report.ok else 1


def _list(ctx: Context) -> int:
    with ctx.database() as db:
        if migrations.current_version(db) == 0:
            entries, depth = [], {}
        else:
            entries, depth = retryqueue.list_entries(db), retryqueue.depth(db)
    if ctx.json:
        emit_json({"entries": [e.to_json() for e in entries], "by_status": depth})
        return 0
    from rich.table import Table

    console = stdout_console()
    if not entries:
        console.print("the retry queue is empty")
        return 0
    table = Table(
        title="retry queue: " + ", ".join(f"{term(k)} {v}" for k, v in sorted(depth.items()))
    )
    for col in ("buyer", "row", "status", "attempts", "next retry (UTC)", "type", "last error"):
        table.add_column(col, overflow="fold")
    for e in entries:
        table.add_row(
            term(e.buyer_number),
            str(e.row_number or ""),
            term(e.status),
            f"{e.attempt_count}/{e.max_attempts}",
            e.next_retry_at.strftime("%Y-%m-%d %H:%M:%S"),
            term(e.error_type),
            term(e.last_error or ""),
        )
    console.print(table)
    return 0


def _print(report: RetryReport) -> None:
    from rich.table import Table

    console = stdout_console()
    for key in report.not_in_queue:
        console.print(
            f"buyer {plain(key)} is not in the retry queue: nothing to retry "
            f"(see: buyersync errors --buyer {plain(key)})",
            markup=False,
        )
    if report.results:
        table = Table(
            title=f"retried {report.processed} entr{'y' if report.processed == 1 else 'ies'}"
        )
        for col in ("buyer", "row", "attempt", "outcome", "next retry (UTC)", "reason"):
            table.add_column(col, overflow="fold")
        for r in report.results[:200]:
            style = _STYLE.get(str(r.verdict), "")
            table.add_row(
                term(r.buyer_number),
                str(r.row_number or ""),
                str(r.attempt),
                f"[{style}]{term(r.verdict)}[/]" if style else term(r.verdict),
                r.next_retry_at.strftime("%Y-%m-%d %H:%M:%S") if r.next_retry_at else "",
                term(r.message or ""),
            )
        console.print(table)
        if len(report.results) > 200:
            console.print(f"… and {len(report.results) - 200} more (use --json for all)")
    elif not report.not_in_queue:
        console.print("no retry-queue entries are due")
    console.print(
        f"succeeded {report.succeeded}, failed {report.failed} "
        f"(permanently {report.permanently_failed}), queue now: "
        + (", ".join(f"{plain(k)} {v}" for k, v in sorted(report.queue.items())) or "empty"),
        markup=False,
    )
    for key in report.expired:
        console.print(
            f"buyer {plain(key)} permanently failed: its retry process stopped during the last "
            "allowed attempt",
            markup=False,
            style="red",
        )
    if report.permanently_failed:
        console.print(
            "retry a permanently failed buyer by hand, once its cause is fixed: "
            "buyersync retry --buyer BUYER_NUMBER",
            markup=False,
        )
    for w in report.warnings:
        console.print(f"warning: {plain(w)}", markup=False, style="yellow")
