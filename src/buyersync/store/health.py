"""``sync_health_metrics`` and ``alert_state``: what each health check measured, and
which alert conditions are active (requirement 5.1; the cooldown lives in the rows).

Also the read of permanently failed ``retry_queue`` entries the alert rules need.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from buyersync.rules.alerts import AlertState, PermanentFailure
from buyersync.store.db import Database

_METRIC_FIELDS = (
    "check_time",
    "spreadsheet_count",
    "database_count",
    "missing_count",
    "extra_count",
    "error_rate",
    "retry_queue_depth",
    "permanent_failures",
    "minutes_since_last_success",
    "healthy",
    "alerts",
    "details",
)


@dataclass(frozen=True)
class HealthRecord:
    """One ``sync_health_metrics`` row."""

    check_time: datetime
    spreadsheet_count: int | None
    database_count: int | None
    missing_count: int | None
    extra_count: int | None
    error_rate: float | None
    retry_queue_depth: int | None
    permanent_failures: int | None
    minutes_since_last_success: float | None
    healthy: bool
    alerts: list[dict[str, Any]]
    details: dict[str, Any]
    id: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "check_time": self.check_time.isoformat(),
            "healthy": self.healthy,
            "spreadsheet_count": self.spreadsheet_count,
            "database_count": self.database_count,
            "missing_count": self.missing_count,
            "extra_count": self.extra_count,
            "error_rate": self.error_rate,
            "retry_queue_depth": self.retry_queue_depth,
            "permanent_failures": self.permanent_failures,
            "minutes_since_last_success": self.minutes_since_last_success,
            "alerts": self.alerts,
        }


def insert(db: Database, record: HealthRecord) -> int:
    """Store one health check; return its id."""
    values = [
        db.ts(record.check_time),
        record.spreadsheet_count,
        record.database_count,
        record.missing_count,
        record.extra_count,
        record.error_rate,
        record.retry_queue_depth,
        record.permanent_failures,
        record.minutes_since_last_success,
        bool(record.healthy),
        db.json(record.alerts),
        db.json(record.details),
    ]
    marks = ", ".join(["%s"] * len(values))
    with db.transaction():
        return int(
            db.query_value(
                f"INSERT INTO sync_health_metrics ({', '.join(_METRIC_FIELDS)}) "
                f"VALUES ({marks}) RETURNING id",
                values,
            )
        )


def _record(db: Database, r: dict[str, Any]) -> HealthRecord:
    return HealthRecord(
        id=int(r["id"]),
        check_time=db.read_ts(r["check_time"]),  # type: ignore[arg-type]
        spreadsheet_count=r["spreadsheet_count"],
        database_count=r["database_count"],
        missing_count=r["missing_count"],
        extra_count=r["extra_count"],
        error_rate=r["error_rate"],
        retry_queue_depth=r["retry_queue_depth"],
        permanent_failures=r["permanent_failures"],
        minutes_since_last_success=r["minutes_since_last_success"],
        healthy=bool(r["healthy"]),
        alerts=db.read_json(r["alerts"]) or [],
        details=db.read_json(r["details"]) or {},
    )


def latest(db: Database) -> HealthRecord | None:
    """The most recent health check, or ``None``."""
    row = db.query_one(
        f"SELECT id, {', '.join(_METRIC_FIELDS)} FROM sync_health_metrics "
        "ORDER BY check_time DESC, id DESC LIMIT 1"
    )
    return _record(db, row) if row else None


def history(db: Database, *, limit: int = 50, since: datetime | None = None) -> list[HealthRecord]:
    """Health checks, newest first."""
    where, params = "", []
    if since is not None:
        where, params = " WHERE check_time >= %s", [db.ts(since)]
    rows = db.query(
        f"SELECT id, {', '.join(_METRIC_FIELDS)} FROM sync_health_metrics{where} "
        "ORDER BY check_time DESC, id DESC LIMIT %s",
        [*params, int(limit)],
    )
    return [_record(db, r) for r in rows]


# -- alert_state ------------------------------------------------------------------


def alert_states(db: Database) -> dict[str, AlertState]:
    """Every stored alert condition, by key."""
    rows = db.query(
        "SELECT condition, active, first_seen_at, last_sent_at, last_message FROM alert_state"
    )
    return {
        r["condition"]: AlertState(
            key=r["condition"],
            active=bool(r["active"]),
            first_seen_at=db.read_ts(r["first_seen_at"]),
            last_sent_at=db.read_ts(r["last_sent_at"]),
            last_message=r["last_message"],
        )
        for r in rows
    }


def save_alert_states(db: Database, states: Iterable[AlertState]) -> None:
    """Insert or update the given states (one transaction)."""
    rows = [
        (
            s.key,
            bool(s.active),
            db.ts(s.first_seen_at),
            db.ts(s.last_sent_at),
            (s.last_message or "")[:2000] or None,
        )
        for s in states
    ]
    if not rows:
        return
    with db.transaction():
        db.executemany(
            """
            INSERT INTO alert_state (condition, active, first_seen_at, last_sent_at, last_message)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (condition) DO UPDATE SET
                active = excluded.active,
                first_seen_at = excluded.first_seen_at,
                last_sent_at = excluded.last_sent_at,
                last_message = excluded.last_message
            """,
            rows,
        )


def active_alerts(db: Database) -> list[AlertState]:
    """The conditions active now, oldest first."""
    return sorted(
        (s for s in alert_states(db).values() if s.active),
        key=lambda s: (s.first_seen_at is None, s.first_seen_at, s.key),
    )


# -- retry_queue reads for the alert rules ---------------------------------------------

PERMANENTLY_FAILED = "permanently_failed"  # buyersync.store.retryqueue.QueueStatus value


def permanent_failures(db: Database, *, limit: int | None = None) -> list[PermanentFailure]:
    """Permanently failed retry entries, oldest first (every one when ``limit`` is None)."""
    sql = (
        "SELECT buyer_number, row_number, error_type, last_error, attempt_count "
        "FROM retry_queue WHERE status = %s ORDER BY updated_at, buyer_number"
    )
    params: list[Any] = [PERMANENTLY_FAILED]
    if limit is not None:
        sql += " LIMIT %s"
        params.append(int(limit))
    return [
        PermanentFailure(
            r["buyer_number"],
            r["row_number"],
            r["error_type"],
            r["last_error"],
            int(r["attempt_count"] or 0),
        )
        for r in db.query(sql, params)
    ]
