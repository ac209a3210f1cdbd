"""Read-only aggregates behind ``/metrics`` (sums over every stored run).

Nothing here writes; ``sync_runs`` belongs to :mod:`~buyersync.store.runs`.
"""

from __future__ import annotations

from typing import Any

from buyersync.store.db import Database


def open_problems_by_category(db: Database) -> dict[str, int]:
    """Problems open now, per category (acknowledged ones included)."""
    if not db.table_exists("problems"):
        return {}
    return {
        r["category"]: int(r["n"])
        for r in db.query(
            "SELECT category, count(*) AS n FROM problems WHERE resolved_at IS NULL "
            "GROUP BY category"
        )
    }


def run_totals(db: Database) -> dict[str, Any]:
    """Sums over every stored run: rows written, runs per status, durations, last success."""
    written = db.query_value("SELECT coalesce(sum(inserted + updated), 0) AS n FROM sync_runs")
    by_status = {
        r["status"]: int(r["n"])
        for r in db.query("SELECT status, count(*) AS n FROM sync_runs GROUP BY status")
    }
    durations = [
        float(d)
        for (d,) in db.iterate(
            "SELECT duration_s FROM sync_runs WHERE duration_s IS NOT NULL AND finished_at IS NOT NULL"
        )
    ]
    last = db.query_value(
        "SELECT max(finished_at) AS t FROM sync_runs WHERE status IN ('succeeded', "
        "'completed_with_errors') AND operation = 'sync'"
    )
    last_ts = db.read_ts(last)
    return {
        "rows_synced": int(written or 0),
        "runs_by_status": by_status,
        "durations": durations,
        "last_success_at": last_ts,
    }
