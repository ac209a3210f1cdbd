"""The dashboard's data (requirement 5.5): read from the store, never measured here.

:func:`get_dashboard_data` is what the dashboard page and ``/api/dashboard`` show; it is
also importable from :mod:`buyersync.services.monitor`.
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import datetime
from typing import Any

from buyersync.records import ErrorQuery
from buyersync.services.healthreport import thresholds_from
from buyersync.settings import Settings
from buyersync.store import buyers, errorlog, problems, retryqueue, runs
from buyersync.store import health as store
from buyersync.store.db import Database, utcnow


def get_dashboard_data(
    db: Database,
    settings: Settings | None = None,
    *,
    history_limit: int = 50,
    runs_limit: int = 20,
    permanent_limit: int = 200,
) -> dict[str, Any]:
    """Everything the dashboard and ``/api/dashboard`` show, read from the store.

    Every number equals the stored data (property 16): counts come from the latest
    health check, error counts from ``sync_error_log``, queue depth from
    ``retry_queue``, runs from ``sync_runs``. Read-only; on a database without
    buyersync's tables the sections are empty.
    """
    doc: dict[str, Any] = {
        "generated_at": utcnow().isoformat(),
        "healthy": None,
        "current": None,
        "counts": {
            "spreadsheet_count": None,
            "database_count": None,
            "missing_count": None,
            "extra_count": None,
            "buyers_now": buyers.count(db),
        },
        "missing": [],
        "extra": [],
        "errors": {"counts_by_type": {}, "total": 0},
        "retry_queue": {"by_status": {}, "depth": 0, "permanent_failures": 0},
        "runs": [],
        "health_history": [],
        "permanent_failures": [],
        "active_alerts": [],
        "problems": [],
        "open_problems": 0,
    }
    if settings is not None:
        doc["thresholds"] = asdict(thresholds_from(settings))
    if not db.table_exists("sync_health_metrics"):
        return doc
    latest = store.latest(db)
    if latest is not None:
        doc["healthy"] = latest.healthy
        doc["current"] = latest.to_json()
        doc["counts"].update(
            spreadsheet_count=latest.spreadsheet_count,
            database_count=latest.database_count,
            missing_count=latest.missing_count,
            extra_count=latest.extra_count,
        )
        doc["missing"] = latest.details.get("missing", [])
        doc["extra"] = latest.details.get("extra", [])
    counts = errorlog.counts_by_type(db, ErrorQuery(limit=None))
    doc["errors"] = {"counts_by_type": counts, "total": sum(counts.values())}
    if db.table_exists(problems.TABLE):
        # What is wrong now, by cause, with an example and the fix (the error counts
        # above are the whole history).
        doc["problems"] = [g.to_json() for g in problems.groups(db)]
        doc["open_problems"] = problems.open_count(db)
    depth = retryqueue.depth(db)
    doc["retry_queue"] = {
        "by_status": depth,
        "depth": depth.get("pending", 0) + depth.get("processing", 0),
        "permanent_failures": depth.get(store.PERMANENTLY_FAILED, 0),
    }
    doc["runs"] = [r.to_json() for r in runs.recent(db, runs_limit)]
    doc["health_history"] = [h.to_json() for h in store.history(db, limit=history_limit)]
    doc["permanent_failures"] = [
        asdict(p) for p in store.permanent_failures(db, limit=permanent_limit)
    ]
    doc["active_alerts"] = [
        {
            "condition": s.key,
            "first_seen_at": _iso(s.first_seen_at),
            "last_sent_at": _iso(s.last_sent_at),
            "last_message": s.last_message,
        }
        for s in store.active_alerts(db)
    ]
    return doc


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None
