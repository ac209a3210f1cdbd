"""``buyersync feedback``: the problems written back to a Google Sheet (docs/sheet-feedback.md).

Also the hook the sync, sync-missing and retry commands call once their run is over
(:func:`after_runs`): it never fails the command.
"""

from __future__ import annotations

from collections.abc import Sequence
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
from buyersync.services.feedback import FeedbackReport
from buyersync.sources.base import Source

#: The settings of the write-back, for every command that runs it.
FEEDBACK_SETTINGS = ("sheet_feedback", "sheet_feedback_tab", "sheet_feedback_max_notes")


def after_runs(
    ctx: Context, db: Any, source: Source | None, run_ids: Sequence[str]
) -> FeedbackReport | None:
    """The write-back after a command's runs (None when sheet_feedback is off)."""
    from buyersync.services.feedback import after_run

    return after_run(db, ctx.settings, source, run_ids)


def with_feedback(doc: dict[str, Any], report: FeedbackReport | None) -> dict[str, Any]:
    """A command's JSON document with its ``sheet_feedback`` (when on)."""
    if report is not None:
        doc["sheet_feedback"] = report.to_json()
    return doc


def print_feedback(report: FeedbackReport | None) -> None:
    """One line about the write-back (on stdout; a failure in yellow)."""
    if report is None:
        return
    console = stdout_console()
    if report.skipped:
        console.print(f"sheet feedback: {report.skipped}", markup=False)
        return
    if report.error:
        console.print(
            f"sheet feedback FAILED (the sync itself is not affected): {report.error}",
            markup=False,
            style="yellow",
        )
        return
    parts = [
        f"{report.notes_written} notes written",
        f"{report.notes_removed} removed",
        f"{report.notes_kept} unchanged",
    ]
    if report.mode == "tab":
        parts = []
    if report.person_notes:
        parts.append(f"{report.person_notes} cells with a person's note (listed on the tab)")
    if report.capped:
        parts.append(f"{report.capped} over the cap (listed on the tab)")
    if report.tab_rows or report.mode == "tab":
        parts.append(f"problems tab: {report.tab_rows} lines")
    console.print(
        f"sheet feedback ({report.mode}): " + ", ".join(parts) + f"; {report.requests} request(s)",
        markup=False,
    )


@click.command()
@click.argument("action", required=False, default="status", type=click.Choice(["status", "clear"]))
@command_settings(DB_SETTINGS, SOURCE_SETTINGS, "sheet_feedback_tab")
def feedback(ctx: Context, action: str) -> int:
    """The problems written back to a Google Sheet (setting sheet_feedback).

    With sheet_feedback = notes, each sync puts a note on every failing cell; with
    tab, it rewrites a problems tab (docs/sheet-feedback.md). `buyersync feedback`
    shows what the last write-back did, and exits 1 when it failed.

    `buyersync feedback clear` removes every note buyersync wrote on the synced tab
    and empties the problems tab: run it after turning sheet_feedback off. Only notes
    that start with buyersync's prefix are removed; a note a person wrote stays. It
    needs the read-write scope; exits 3 when Google refused the write.

    Example: buyersync feedback clear
    """
    if action == "status":
        return _status(ctx)
    from buyersync.services.feedback import clear as clear_feedback

    source = ctx.open_source()
    with ctx.database() as db:
        report = clear_feedback(db, ctx.settings, source)
    if ctx.json:
        emit_json(report.to_json())
    elif report.skipped:
        click.echo(f"nothing to clear: {report.skipped}")
    else:
        click.echo(f"removed {report.notes_removed} buyersync notes; {report.requests} request(s)")
    return 0


def _status(ctx: Context) -> int:
    from buyersync.store import feedback as feedback_store

    with ctx.database() as db:
        last = feedback_store.last(db)
    if ctx.json:
        emit_json({"last": last, "mode": ctx.settings.sheet_feedback})
    elif last is None:
        click.echo(f"sheet_feedback is {ctx.settings.sheet_feedback}; nothing written back yet")
    else:
        state = f"FAILED: {last['error']}" if last["error"] else "ok"
        click.echo(
            f"last write-back ({last['mode']}, run {last['run_id']}, {last['at']}): {state}; "
            f"{last['notes_written']} notes written, {last['notes_removed']} removed, "
            f"{last['person_notes']} cells with a person's note, {last['tab_rows']} tab lines"
        )
    return 1 if last is not None and last["error"] else 0
