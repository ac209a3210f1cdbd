"""The documents the API serves, assembled from the store (no SQL here).

Every function takes an open :class:`Database` and returns plain JSON-ready values.
Before ``buyersync migrate`` has created the tool's tables they return empty
documents (with ``"migrated": false``) instead of failing.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from buyersync.api.metrics import MetricsSnapshot
from buyersync.records import ErrorQuery
from buyersync.services import monitor, present
from buyersync.settings import Settings
from buyersync.store import buyers, deliveries, errorlog, health, migrations, retryqueue, runs
from buyersync.store import dashboard as reads
from buyersync.store.cells import Locator
from buyersync.store.db import Database

PERMANENT = "permanently_failed"


def _migrated(db: Database) -> bool:
    return migrations.current_version(db) > 0


def queue_summary(by_status: dict[str, int]) -> dict[str, Any]:
    """Queue counts: per status, the automatic-retry depth, and the permanent failures."""
    return {
        "by_status": dict(sorted(by_status.items())),
        "depth": sum(n for s, n in by_status.items() if s != PERMANENT),
        "permanent_failures": by_status.get(PERMANENT, 0),
    }


def recent_runs(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    if not _migrated(db):
        return []
    return [r.to_json() for r in runs.recent(db, limit)]


def health_history(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    """Stored health checks, newest first."""
    if not db.table_exists("sync_health_metrics"):
        return []
    return [h.to_json() for h in health.history(db, limit=limit)]


def errors(db: Database, query: ErrorQuery) -> dict[str, Any]:
    """The ``buyersync errors --json`` document for ``query``."""
    if not _migrated(db):
        return {"errors": [], "counts_by_type": {}, "total": 0}
    counts = errorlog.counts_by_type(db, query)
    locate = Locator(db)
    return {
        "errors": [locate.entry_json(e.to_json()) for e in errorlog.query(db, query)],
        "counts_by_type": counts,
        "total": sum(counts.values()),
    }


def retry_queue(db: Database, *, status: str | None, limit: int) -> dict[str, Any]:
    """Queue entries (soonest due first) and the counts per status."""
    if not _migrated(db):
        return {"entries": [], **queue_summary({})}
    entries = retryqueue.list_entries(db, status=status, limit=limit)
    return {"entries": [e.to_json() for e in entries], **queue_summary(retryqueue.depth(db))}


def dashboard(db: Database, settings: Settings, *, now: datetime | None = None) -> dict[str, Any]:
    """The ``/api/dashboard`` document (property 16: every number is the stored data).

    The monitor's :func:`~buyersync.services.monitor.get_dashboard_data` document,
    plus flat fields the page reads: ``spreadsheet_count``/``missing_count``/
    ``error_rate`` (latest health check), ``database_count`` (buyers now),
    ``recent_runs``, ``last_sync``, ``latest_errors`` (each with its cell ``link``),
    ``alerts`` (the titles of the alerts that hold *now*) and
    ``errors.by_type``/``errors.last_24h``; and what is wrong now
    (:func:`buyersync.services.present.sections`): ``watching`` (the sheet and the
    database, no secret), ``problems`` (open, by cause, each with its cell ``link``),
    ``present_alerts`` with their latest delivery, ``now``, ``alert_deliveries``
    and ``delivery_history``.
    """
    now = now or datetime.now(UTC)
    doc = monitor.get_dashboard_data(db, settings)
    counts = doc.get("counts", {})
    current = doc.get("current") or {}
    migrated = _migrated(db)
    doc.update(
        migrated=migrated,
        spreadsheet_count=counts.get("spreadsheet_count"),
        database_count=counts.get("buyers_now"),
        missing_count=counts.get("missing_count"),
        extra_count=counts.get("extra_count"),
        error_rate=current.get("error_rate"),
        last_check_at=current.get("check_time"),
        alerts=[],
        recent_runs=doc.get("runs", []),
        last_sync=None,
        latest_errors=[],
    )
    errors_doc = doc.setdefault("errors", {"counts_by_type": {}, "total": 0})
    errors_doc["by_type"] = errors_doc.get("counts_by_type", {})
    errors_doc["last_24h"] = 0
    if migrated:
        day = errorlog.counts_by_type(db, ErrorQuery(since=now - timedelta(days=1), limit=None))
        errors_doc["last_24h"] = sum(day.values())
        last = runs.last_successful(db)
        doc["last_sync"] = last.to_json() if last else None
        locate = Locator(db)
        doc["latest_errors"] = [
            locate.entry_json(e.to_json()) for e in errorlog.query(db, ErrorQuery(limit=20))
        ]
        doc.update(present.sections(db, settings))
        doc["alerts"] = [a["title"] for a in doc["present_alerts"]]
    else:
        doc["watching"] = present.watching(db, settings)
    return doc


def metrics_snapshot(db: Database) -> MetricsSnapshot:
    """The facts ``/metrics`` reports."""
    count = buyers.count(db)
    if not _migrated(db):
        return MetricsSnapshot(
            database_count=count,
            spreadsheet_count=None,
            missing_count=None,
            error_rate=None,
            healthy=None,
        )
    latest = health.latest(db) if db.table_exists("sync_health_metrics") else None
    totals = reads.run_totals(db)
    last = totals["last_success_at"]
    return MetricsSnapshot(
        database_count=count,
        spreadsheet_count=latest.spreadsheet_count if latest else None,
        missing_count=latest.missing_count if latest else None,
        error_rate=latest.error_rate if latest else None,
        healthy=latest.healthy if latest else None,
        queue_by_status=retryqueue.depth(db),
        rows_synced=totals["rows_synced"],
        rows_failed_by_category=errorlog.counts_by_type(db),
        runs_by_status=totals["runs_by_status"],
        durations=totals["durations"],
        last_success_timestamp=last.timestamp() if last else None,
        open_problems_by_category=reads.open_problems_by_category(db),
        alert_deliveries_by_status=deliveries.counts_by_status(db),
    )
