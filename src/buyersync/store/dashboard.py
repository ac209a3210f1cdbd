"""Read-only queries behind the dashboard, the HTTP API and ``/metrics``.

Nothing here writes. The tables belong to their own repositories
(:mod:`~buyersync.store.runs`, :mod:`~buyersync.store.retryqueue`, the monitor's
``sync_health_metrics``); these are the aggregate reads the API needs.
"""

from __future__ import annotations

from typing import Any

from buyersync.store.db import Database

_HEALTH_COLUMNS = (
    "id, check_time, spreadsheet_count, database_count, missing_count, extra_count, error_rate, "
    "retry_queue_depth, permanent_failures, minutes_since_last_success, healthy, alerts"
)
_QUEUE_COLUMNS = (
    "buyer_number, row_number, status, attempt_count, max_attempts, next_retry_at, error_type, "
    "last_error, run_id, created_at, updated_at"
)


def _iso(db: Database, value: Any) -> str | None:
    ts = db.read_ts(value)
    return ts.isoformat() if ts else None


def health_history(db: Database, limit: int = 100) -> list[dict[str, Any]]:
    """The latest ``limit`` health checks, newest first (alerts as a list of texts)."""
    if not db.table_exists("sync_health_metrics"):
        return []
    rows = db.query(
        f"SELECT {_HEALTH_COLUMNS} FROM sync_health_metrics "
        "ORDER BY check_time DESC, id DESC LIMIT %s",
        (limit,),
    )
    out = []
    for r in rows:
        item = dict(r)
        item["check_time"] = _iso(db, r["check_time"])
        item["healthy"] = bool(r["healthy"])
        item["alerts"] = db.read_json(r["alerts"]) or []
        for key in ("error_rate", "minutes_since_last_success"):
            item[key] = float(r[key]) if r[key] is not None else None
        out.append(item)
    return out


def queue_entries(db: Database, *, status: str | None = None,
                  limit: int = 200) -> list[dict[str, Any]]:
    """Retry-queue entries (one status, or all), soonest due first."""
    where, params = "", []
    if status:
        where, params = " WHERE status = %s", [status]
    rows = db.query(
        f"SELECT {_QUEUE_COLUMNS} FROM retry_queue{where} "
        "ORDER BY next_retry_at, buyer_number LIMIT %s",
        [*params, limit],
    )
    out = []
    for r in rows:
        item = dict(r)
        for key in ("next_retry_at", "created_at", "updated_at"):
            item[key] = _iso(db, r[key])
        out.append(item)
    return out


def run_totals(db: Database) -> dict[str, Any]:
    """Sums over every stored run: rows written, runs per status, durations, last success."""
    written = db.query_value(
        "SELECT coalesce(sum(inserted + updated), 0) AS n FROM sync_runs")
    by_status = {
        r["status"]: int(r["n"])
        for r in db.query("SELECT status, count(*) AS n FROM sync_runs GROUP BY status")
    }
    durations = [
        float(d) for (d,) in db.iterate(
            "SELECT duration_s FROM sync_runs WHERE duration_s IS NOT NULL AND finished_at IS NOT NULL")
    ]
    last = db.query_value(
        "SELECT max(finished_at) AS t FROM sync_runs WHERE status IN ('succeeded', "
        "'completed_with_errors') AND operation = 'sync'")
    last_ts = db.read_ts(last)
    return {
        "rows_synced": int(written or 0),
        "runs_by_status": by_status,
        "durations": durations,
        "last_success_at": last_ts,
    }
