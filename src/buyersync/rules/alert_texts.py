"""The alerts' words: what is wrong, with the numbers, the first buyers and rows, the fix.

Each function builds the :class:`~buyersync.rules.alert_facts.Alert` of one condition;
:func:`buyersync.rules.alerts.evaluate` decides which hold.
"""

from __future__ import annotations

from collections.abc import Sequence

from buyersync.rules.alert_facts import (
    SHOWN,
    Alert,
    Condition,
    HealthFacts,
    PermanentFailure,
    RunFacts,
    Thresholds,
)
from buyersync.rules.problems import fix_for


def _first(items: Sequence[str], total: int | None = None) -> str:
    total = len(items) if total is None else total
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {total - SHOWN} more" if total > SHOWN else "")


def _missing_alert(facts: HealthFacts, thresholds: Thresholds) -> Alert:
    missing = facts.alerting_missing
    n = len(missing)
    listed = _first([f"{key} (row {row})" for key, row in missing], n)
    title = (
        f"{n} buyer(s) in the sheet are missing from the database (threshold {thresholds.missing})"
    )
    command = "buyersync sync-missing"
    text = (
        f"{title}.\nSheet {facts.spreadsheet_count} buyers, database {facts.database_count}, "
        f"missing {n}, extra {len(facts.extra)}.\nMissing: {listed}.\n"
        f"List them: buyersync missing\nFix: {command}  (then: buyersync errors --since 1h "
        "for any that fail)"
    )
    return Alert(
        Condition.MISSING_BUYERS,
        title,
        text,
        command,
        {
            "missing_count": n,
            "threshold": thresholds.missing,
            "spreadsheet_count": facts.spreadsheet_count,
            "database_count": facts.database_count,
        },
        tuple(key for key, _ in missing),
    )


def _error_rate_alert(run: RunFacts, rate: float, thresholds: Thresholds) -> Alert:
    top = max(run.errors_by_type.items(), key=lambda kv: (kv[1], kv[0]), default=None)
    by_type = ", ".join(f"{k} {v}" for k, v in sorted(run.errors_by_type.items())) or "unknown"
    command = (
        f"buyersync errors --run {run.run_id} --type {top[0]}"
        if top
        else f"buyersync errors --run {run.run_id}"
    )
    rows = _first(
        [f"{b or '(no buyer number)'} (row {r})" for b, r in run.first_failures], run.failed
    )
    then = run.failed if run.failed_then is None else run.failed_then
    title = (
        f"{run.failed} of the {run.rows_read} rows the last sync read still fail "
        f"({rate:.1%}, threshold {thresholds.error_rate:.1%})"
    )
    if then != run.failed:
        title += f"; {then} failed when it ran"
    fixes = (
        "\n".join(
            f"Fix {cat}: {fix.command}  ({fix.text})"
            for cat, fix in ((c, fix_for(c)) for c in sorted(run.errors_by_type))
        )
        or "Fix: buyersync problems"
    )
    text = (
        f"{title}.\nRun {run.run_id}; still failing by type: {by_type}.\n"
        f"First failing rows: {rows}.\nInvestigate: {command}\n{fixes}\n"
        "What is open now, by cause: buyersync problems"
    )
    return Alert(
        Condition.ERROR_RATE,
        title,
        text,
        command,
        {
            "error_rate": rate,
            "threshold": thresholds.error_rate,
            "failed": run.failed,
            "failed_when_run": then,
            "rows_read": run.rows_read,
            "run_id": run.run_id,
        },
        tuple(b for b, _ in run.first_failures if b),
    )


def _permanent_alert(new: Sequence[PermanentFailure], total: int) -> Alert:
    first = new[0]
    listed = _first([f"{p.buyer_number} (row {p.row_number}, {p.error_type})" for p in new])
    command = f"buyersync retry --buyer {first.buyer_number}"
    title = (
        f"{len(new)} retry entr{'y' if len(new) == 1 else 'ies'} gave up and became "
        f"permanently failed ({total} permanently failed in all)"
    )
    reason = f"\nLast error of {first.buyer_number}: {first.last_error}" if first.last_error else ""
    text = (
        f"{title}.\nNew: {listed}.{reason}\n"
        f"Investigate: buyersync errors --buyer {first.buyer_number}\n"
        f"Retry by hand once the cause is fixed: {command}"
    )
    return Alert(
        Condition.PERMANENT_FAILURE,
        title,
        text,
        command,
        {"new_permanent_failures": len(new), "permanent_failures": total},
        tuple(p.buyer_number for p in new),
    )


def slow_sync_alert(run: RunFacts, limit_s: float) -> Alert:
    """The requirement 8.5 alert for a sync that took longer than ``limit_s``."""
    duration = run.duration_s or 0.0
    speed = f"{run.rows_per_s:,.0f} rows/s" if run.rows_per_s is not None else "unknown speed"
    title = f"sync {run.run_id} took {duration / 60:.1f} minutes (limit {limit_s / 60:.1f} minutes)"
    command = "buyersync sync --dry-run -v"
    text = (
        f"{title}.\nRows read {run.rows_read}, {speed}.\n"
        f"Investigate: {command}  (time spent reading the sheet alone), and compare recent "
        "runs with: buyersync health\nCheck database load and locks; a larger "
        "--batch-size reduces round trips."
    )
    return Alert(
        Condition.SLOW_SYNC,
        title,
        text,
        command,
        {
            "duration_s": duration,
            "limit_s": limit_s,
            "rows_read": run.rows_read,
            "rows_per_s": run.rows_per_s,
            "run_id": run.run_id,
        },
    )


def _stale_alert(since: float | None, limit_s: float) -> Alert:
    if since is None:
        title = "no sync has ever succeeded on this database"
    else:
        title = (
            f"no sync has succeeded for {since / 60:.0f} minutes (limit {limit_s / 60:.0f} minutes)"
        )
    command = "buyersync sync"
    text = (
        f"{title}.\nThe scheduled sync (cron or buyersync serve) may have stopped, or every "
        f"run fails.\nRun it now: {command}\nThen check the schedule, and earlier failures "
        "with: buyersync errors --since 24h"
    )
    return Alert(
        Condition.STALE_SYNC,
        title,
        text,
        command,
        {"seconds_since_last_success": since, "limit_s": limit_s},
    )


def refused_alert(reason: str, *, hint: str | None = None) -> Alert:
    """The alert a refused sync raises; ``hint`` is the refusal's own way forward
    (without one: the shrink guard's)."""
    title = "a sync refused the sheet"
    command = "buyersync sync --dry-run -v"
    forward = (
        hint or "if the sheet really shrank, sync once with: buyersync sync --max-shrink-ratio 0"
    )
    text = (
        f"{title}: {reason}\nNothing was written and no buyer was deleted. Check the sheet "
        f"(was it emptied, filtered, replaced, or were its headers changed?) and investigate "
        f"with: {command}\nThen: {forward}"
    )
    return Alert(Condition.SYNC_REFUSED, title, text, command, {"reason": reason})


def _sheet_alert(problem: str) -> Alert:
    title = "the health check could not read the sheet"
    command = "buyersync sync --dry-run -v"
    text = f"{title}: {problem}\nInvestigate: {command}"
    return Alert(Condition.SHEET_UNREADABLE, title, text, command, {})
