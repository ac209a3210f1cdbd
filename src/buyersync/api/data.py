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
from buyersync.settings import Settings
from buyersync.store import buyers, errorlog, migrations, retryqueue, runs
from buyersync.store import dashboard as reads
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
    return reads.health_history(db, limit) if _migrated(db) else []


def errors(db: Database, query: ErrorQuery) -> dict[str, Any]:
    """The ``buyersync errors --json`` document for ``query``."""
    if not _migrated(db):
        return {"errors": [], "counts_by_type": {}, "total": 0}
    counts = errorlog.counts_by_type(db, query)
    return {"errors": [e.to_json() for e in errorlog.query(db, query)],
            "counts_by_type": counts, "total": sum(counts.values())}


def retry_queue(db: Database, *, status: str | None, limit: int) -> dict[str, Any]:
    if not _migrated(db):
        return {"entries": [], **queue_summary({})}
    return {"entries": reads.queue_entries(db, status=status, limit=limit),
            **queue_summary(retryqueue.depth(db))}


def dashboard_doc(db: Database, *, now: datetime | None = None) -> dict[str, Any]:
    """Everything the page shows, from the stored data (property 16)."""
    now = now or datetime.now(UTC)
    doc: dict[str, Any] = {
        "generated_at": now.isoformat(),
        "migrated": _migrated(db),
        "database_count": buyers.count(db),
    }
    if not doc["migrated"]:
        doc.update(healthy=None, spreadsheet_count=None, missing_count=None, extra_count=None,
                   error_rate=None, last_check_at=None, alerts=[],
                   errors={"total": 0, "last_24h": 0, "by_type": {}},
                   retry_queue=queue_summary({}), last_sync=None, recent_runs=[],
                   health_history=[], latest_errors=[], permanent_failures=[])
        return doc
    history = reads.health_history(db, 100)
    latest = history[0] if history else {}
    by_type = errorlog.counts_by_type(db)
    day = errorlog.counts_by_type(db, ErrorQuery(since=now - timedelta(days=1), limit=None))
    last = runs.last_successful(db)
    doc.update(
        healthy=latest.get("healthy"),
        spreadsheet_count=latest.get("spreadsheet_count"),
        missing_count=latest.get("missing_count"),
        extra_count=latest.get("extra_count"),
        error_rate=latest.get("error_rate"),
        last_check_at=latest.get("check_time"),
        alerts=latest.get("alerts") or [],
        errors={"total": sum(by_type.values()), "last_24h": sum(day.values()),
                "by_type": by_type},
        retry_queue=queue_summary(retryqueue.depth(db)),
        last_sync=last.to_json() if last else None,
        recent_runs=[r.to_json() for r in runs.recent(db, 20)],
        health_history=history,
        latest_errors=[e.to_json() for e in errorlog.query(db, ErrorQuery(limit=20))],
        permanent_failures=reads.queue_entries(db, status=PERMANENT, limit=50),
    )
    return doc


def dashboard(db: Database, settings: Settings) -> dict[str, Any]:
    """The ``/api/dashboard`` document."""
    return dashboard_doc(db)


def metrics_snapshot(db: Database) -> MetricsSnapshot:
    """The facts ``/metrics`` reports."""
    count = buyers.count(db)
    if not _migrated(db):
        return MetricsSnapshot(database_count=count, spreadsheet_count=None, missing_count=None,
                               error_rate=None, healthy=None)
    history = reads.health_history(db, 1)
    latest = history[0] if history else {}
    totals = reads.run_totals(db)
    last = totals["last_success_at"]
    return MetricsSnapshot(
        database_count=count,
        spreadsheet_count=latest.get("spreadsheet_count"),
        missing_count=latest.get("missing_count"),
        error_rate=latest.get("error_rate"),
        healthy=latest.get("healthy"),
        queue_by_status=retryqueue.depth(db),
        rows_synced=totals["rows_synced"],
        rows_failed_by_category=errorlog.counts_by_type(db),
        runs_by_status=totals["runs_by_status"],
        durations=totals["durations"],
        last_success_timestamp=last.timestamp() if last else None,
    )
