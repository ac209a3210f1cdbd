"""``buyersync health``: run the health check, store it, send alerts, show the dashboard."""

from __future__ import annotations

from typing import Any

import click

from buyersync.cli.common import (
    ALERT_SETTINGS,
    DB_SETTINGS,
    SOURCE_SETTINGS,
    Context,
    command_settings,
    emit_json,
    stdout_console,
)


@click.command()
@click.option(
    "--no-alerts",
    is_flag=True,
    help="Run and store the check but send no alert; an unsent alert does not start its "
    "cooldown, so the next check sends it.",
)
@command_settings(DB_SETTINGS, SOURCE_SETTINGS, ALERT_SETTINGS)
def health(ctx: Context, no_alerts: bool) -> int:
    """Run the health check, store it, send alerts, and print the dashboard.

    Compares the sheet's buyer numbers with the database (reading only the key
    column where the source allows), the last sync's error rate, the retry queue,
    permanent failures, and the time since the last successful sync. Alerts go to
    the log, and to e-mail (--smtp-host, --smtp-to) and a webhook (--webhook-url)
    when configured; the same alert is not repeated within --alert-cooldown-seconds.
    Each alert says what happened to it: "sent to e-mail, webhook", "not sent: no
    channel configured", "not sent: --no-alerts", "suppressed: cooldown until …", or
    which channel failed; only an alert a channel accepted starts the cooldown.
    Exits 1 when unhealthy.

    Example (cron, every 5 minutes): buyersync health --json
    """
    from buyersync.services.monitor import SyncMonitor, get_dashboard_data

    source = ctx.open_source()
    with ctx.database() as db:
        monitor = SyncMonitor.from_settings(db, ctx.settings, source=source)
        report = monitor.check_health(send=not no_alerts)
        from buyersync.store.feedback import last as last_feedback

        fed = last_feedback(db)
        dashboard = (
            None
            if ctx.json
            else get_dashboard_data(db, ctx.settings, history_limit=8, runs_limit=5)
        )

    doc = report.to_json()
    doc["sheet_feedback"] = fed  # the last write-back to the sheet (docs/sheet-feedback.md)
    if ctx.json:
        emit_json(doc)
    else:
        _print(doc, dashboard or {})
    return 0 if report.healthy else 1


def _print(doc: dict[str, Any], dash: dict[str, Any]) -> None:
    from rich.table import Table

    console = stdout_console()
    state = "[green]HEALTHY[/]" if doc["healthy"] else "[bold red]UNHEALTHY[/]"
    console.print(
        f"buyersync health: {state}  (check {doc['health_check_id']} at {doc['check_time'][:19]}Z)"
    )
    since = doc["minutes_since_last_success"]
    table = Table(show_header=False, box=None, padding=(0, 2))
    for label, value in (
        ("buyers in the sheet", doc["spreadsheet_count"]),
        ("buyers in the database", doc["database_count"]),
        ("missing from the database", doc["missing_count"]),
        ("in the database, not the sheet", doc["extra_count"]),
        ("error rate now (last sync's rows still failing)", f"{doc['error_rate']:.1%}"),
        ("error rate when the last sync ran", f"{doc['last_sync_error_rate']:.1%}"),
        ("problems open now", doc["open_problems"]),
        ("retry queue (pending)", doc["retry_queue_depth"]),
        ("permanently failed", doc["permanent_failures"]),
        ("since the last successful sync", "never" if since is None else f"{since:,.0f} min"),
    ):
        table.add_row(label, "—" if value is None else str(value))
    console.print(table)
    if doc["sheet_problem"]:
        console.print(f"sheet: {doc['sheet_problem']}", style="yellow", markup=False)
    fed = doc.get("sheet_feedback")
    if fed and fed.get("error"):
        console.print(
            f"sheet feedback ({fed['mode']}) failed: {fed['error']}", style="yellow", markup=False
        )
    for alert in doc["alerts"]:
        how = alert.get("delivery_text") or ("sent" if alert["sent"] else "not sent")
        console.print(f"\nALERT [{alert['condition']}] ({how})", style="bold red", markup=False)
        console.print(alert["message"], markup=False)
    for line in doc["recoveries"]:
        console.print(line, style="green", markup=False)
    for d in doc["deliveries"]:
        if not d["ok"]:
            console.print(
                f"could not send by {d['channel']}: {d['error']}", style="yellow", markup=False
            )
    if doc["missing"]:
        shown = ", ".join(
            f"{m['buyer_number']} (row {m['row_number']})" for m in doc["missing"][:10]
        )
        console.print(
            f"\nmissing: {shown}" + (" …" if doc["missing_count"] > 10 else ""), markup=False
        )
    groups = [g for g in dash.get("problems", []) if g["open"]]
    if groups:
        console.print(
            "\nopen problems by cause: "
            + ", ".join(
                f"{g['category']}{' in ' + g['column'] if g['column'] else ''} {g['count']}"
                for g in groups
            )
            + " — details and fixes: buyersync problems",
            markup=False,
        )
    queue = dash.get("retry_queue", {}).get("by_status")
    if queue:
        console.print(
            "retry queue: " + ", ".join(f"{k} {v}" for k, v in sorted(queue.items())), markup=False
        )
    if dash.get("runs"):
        runs = Table(title="recent runs", title_justify="left")
        for col in ("run", "operation", "status", "read", "failed", "duration", "rows/s"):
            runs.add_column(col)
        for r in dash["runs"]:
            runs.add_row(
                r["run_id"],
                r["operation"],
                r["status"],
                str(r["rows_read"]),
                str(r["failed"]),
                "" if r["duration_s"] is None else f"{r['duration_s']:.2f} s",
                "" if r["rows_per_s"] is None else f"{r['rows_per_s']:,.0f}",
            )
        console.print(runs)
    if dash.get("health_history"):
        hist = Table(title="health history", title_justify="left")
        for col in ("time", "healthy", "sheet", "database", "missing", "error rate", "queue"):
            hist.add_column(col)
        for h in dash["health_history"]:
            hist.add_row(
                h["check_time"][:19],
                "yes" if h["healthy"] else "no",
                *(
                    "—" if h[k] is None else str(h[k])
                    for k in ("spreadsheet_count", "database_count", "missing_count")
                ),
                "—" if h["error_rate"] is None else f"{h['error_rate']:.1%}",
                str(h["retry_queue_depth"]),
            )
        console.print(hist)
