"""``alert_deliveries``: what happened to every alert (sent, failed, not sent, suppressed).

One row per alert per check (or per sync that alerted). ``health``, the API, the
page and ``/metrics`` read it; the cooldown itself lives in ``alert_state``
(:mod:`buyersync.store.health`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from buyersync.rules.delivery import AlertDelivery
from buyersync.store.db import Database

TABLE = "alert_deliveries"

_FIELDS = (
    "id, created_at, origin, condition, title, status, message, channels, failures, "
    "until_at, health_check_id"
)


def record(
    db: Database,
    items: Sequence[AlertDelivery],
    *,
    at: datetime,
    origin: str,
    health_check_id: int | None = None,
) -> None:
    """Store the deliveries of one check or sync."""
    if not items:
        return
    rows = [
        (
            db.ts(at),
            origin,
            d.condition,
            d.title[:2000],
            str(d.status),
            d.text[:2000],
            db.json(list(d.channels)),
            db.json([{"channel": c, "error": e} for c, e in d.failures]),
            db.ts(d.until),
            health_check_id,
        )
        for d in items
    ]
    with db.transaction():
        db.executemany(
            "INSERT INTO alert_deliveries (created_at, origin, condition, title, status, "
            "message, channels, failures, until_at, health_check_id) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
            rows,
        )


def _row(db: Database, r: dict[str, Any]) -> dict[str, Any]:
    def iso(v: Any) -> str | None:
        t = db.read_ts(v)
        return t.isoformat() if t else None

    return {
        "id": int(r["id"]),
        "created_at": iso(r["created_at"]),
        "origin": r["origin"],
        "condition": r["condition"],
        "title": r["title"],
        "status": r["status"],
        "text": r["message"],
        "channels": db.read_json(r["channels"]) or [],
        "failed_channels": db.read_json(r["failures"]) or [],
        "until": iso(r["until_at"]),
        "health_check_id": r["health_check_id"],
    }


def recent(db: Database, limit: int = 50) -> list[dict[str, Any]]:
    """The latest deliveries, newest first."""
    if not db.table_exists(TABLE):
        return []
    rows = db.query(
        f"SELECT {_FIELDS} FROM alert_deliveries ORDER BY created_at DESC, id DESC LIMIT %s",
        (int(limit),),
    )
    return [_row(db, r) for r in rows]


def latest_by_condition(db: Database) -> dict[str, dict[str, Any]]:
    """The latest delivery of each condition."""
    if not db.table_exists(TABLE):
        return {}
    rows = db.query(
        f"SELECT {_FIELDS} FROM alert_deliveries WHERE id IN "
        "(SELECT max(id) FROM alert_deliveries GROUP BY condition)"
    )
    return {r["condition"]: _row(db, r) for r in rows}


def counts_by_status(db: Database) -> dict[str, int]:
    """Stored deliveries per status."""
    if not db.table_exists(TABLE):
        return {}
    return {
        r["status"]: int(r["n"])
        for r in db.query("SELECT status, count(*) AS n FROM alert_deliveries GROUP BY status")
    }
