"""What is wrong now, for the page and ``/api/dashboard`` (read-only, no sheet read).

The page must not replay the last sync's history as if it were the present: its
alert texts are the alert rules applied to the state *now* —

* buyers missing now: those the latest health check found missing that are still
  not in ``buyers`` (a ``sync-missing`` since has brought the rest);
* the error rate now: the last full sync's rows still failing (open problems);
* permanent failures, queue depth and time since the last successful sync, now;

each with what happened to its latest delivery (``alert_deliveries``). The
problems come grouped by cause with the cell of an example and the fix; the sheet
and database watched are named without any secret.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any

from buyersync.redact import database_label
from buyersync.rules import alerts as rules
from buyersync.rules.links import place_of, place_of_source
from buyersync.services.monitor import SyncMonitor
from buyersync.settings import Settings
from buyersync.store import buyers, deliveries, problems, runs, sheettabs
from buyersync.store import health as store
from buyersync.store.cells import Locator
from buyersync.store.db import Database, utcnow


def still_missing(db: Database, missing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The entries of a stored ``missing`` list whose buyer is still not in ``buyers``."""
    keys = [str(m["buyer_number"]) for m in missing if m.get("buyer_number")]
    if not keys:
        return []
    there = buyers.fetch(db, keys, ())
    return [m for m in missing if m.get("buyer_number") not in there]


def present_facts(db: Database, settings: Settings, *, now: datetime | None = None) -> Any:
    """The health facts of now, from the store (the sheet is not read)."""
    monitor = SyncMonitor.from_settings(db, settings)
    facts = monitor.gather()  # no source: the sheet comparison is left out
    latest = store.latest(db) if db.table_exists("sync_health_metrics") else None
    missing: tuple[tuple[str, int], ...] = ()
    sheet_count = None
    if latest is not None and latest.spreadsheet_count is not None:
        sheet_count = latest.spreadsheet_count
        missing = tuple(
            (str(m["buyer_number"]), int(m.get("row_number") or 0))
            for m in still_missing(db, list(latest.details.get("missing", [])))
        )
    return replace(
        facts,
        checked_at=now or facts.checked_at,
        spreadsheet_count=sheet_count,
        missing=missing,
        extra=tuple(latest.details.get("extra", [])) if latest else (),
        sheet_problem=None if latest is not None else facts.sheet_problem,
    )


def present_alerts(db: Database, settings: Settings) -> tuple[Any, list[dict[str, Any]]]:
    """The facts of now and the alerts that hold now, each with its latest delivery."""
    facts = present_facts(db, settings)
    thresholds = SyncMonitor.from_settings(db, settings).thresholds
    held = rules.evaluate(facts, thresholds)
    last = deliveries.latest_by_condition(db)
    out = []
    for alert in held:
        doc = alert.to_json()
        doc["delivery"] = last.get(str(alert.condition))
        out.append(doc)
    return facts, out


def watching(db: Database, settings: Settings) -> dict[str, Any]:
    """The sheet and database this page watches, without user, password or URL."""
    place = place_of_source(settings.source, sheet=settings.sheet)
    last = runs.last_successful(db, "sync") if db.table_exists("sync_runs") else None
    if last is not None and last.source:
        tab = sheettabs.get(db, last.source) or {}
        recorded = place_of(last.source, gid=tab.get("gid"))
        if recorded is not None and (place is None or recorded.name == place.name):
            if recorded.tab is None and tab.get("title"):
                recorded = replace(recorded, tab=tab["title"])
            place = recorded
    return {
        "sheet": place.to_json() if place else None,
        "database": database_label(settings.database_url),
    }


def sections(db: Database, settings: Settings) -> dict[str, Any]:
    """The page's first sections: what watches what, what is wrong now, with links."""
    doc: dict[str, Any] = {
        "watching": watching(db, settings),
        "generated_now": utcnow().isoformat(),
    }
    locate = Locator(db)
    tracked = db.table_exists(problems.TABLE)
    groups = problems.groups(db, include_resolved=True) if tracked else []
    doc["problems"] = [locate.group_json(g) for g in groups if g.open]
    doc["resolved_problem_groups"] = [locate.group_json(g) for g in groups if not g.open]
    doc["open_problems"] = sum(g.count for g in groups if g.open)
    doc["resolved_problems"] = sum(g.count for g in groups if not g.open)
    facts, alerts = present_alerts(db, settings)
    doc["present_alerts"] = alerts
    doc["healthy_now"] = not alerts and not facts.permanent_failures
    doc["now"] = {
        "missing_count": None if facts.spreadsheet_count is None else len(facts.missing),
        "missing": [{"buyer_number": k, "row_number": r} for k, r in facts.missing[:100]],
        "error_rate": facts.error_rate,
        "last_sync_error_rate": facts.last_sync_error_rate,
        "open_problems": facts.open_problems,
        "acknowledged_problems": facts.acknowledged_problems,
        "retry_queue_depth": facts.retry_queue_depth,
        "permanent_failures": len(facts.permanent_failures),
        "minutes_since_last_success": (
            None
            if facts.seconds_since_last_success is None
            else round(facts.seconds_since_last_success / 60, 2)
        ),
    }
    doc["alert_deliveries"] = sorted(
        deliveries.latest_by_condition(db).values(), key=lambda d: d["id"], reverse=True
    )
    doc["delivery_history"] = deliveries.recent(db, 20)
    return doc
