"""What one health check reports, and how its alerts are worded.

:class:`HealthReport` is the outcome of :meth:`buyersync.services.monitor.SyncMonitor.check_health`
(its ``to_json`` is the contract's ``health --json``); :func:`compose` words the one
notification a plan sends; :func:`thresholds_from` reads the alert limits of the settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from buyersync.rules import delivery as outcome
from buyersync.rules.alerts import Alert, HealthFacts, Plan, Thresholds
from buyersync.services.notify import Delivery, Notification
from buyersync.settings import Settings


def thresholds_from(settings: Settings) -> Thresholds:
    """The alert limits of ``settings``."""
    return Thresholds(
        missing=settings.alert_missing_threshold,
        error_rate=settings.alert_error_rate_threshold,
        slow_sync_seconds=settings.alert_slow_sync_seconds,
        stale_seconds=settings.alert_stale_seconds,
        cooldown_seconds=settings.alert_cooldown_seconds,
    )


@dataclass
class HealthReport:
    """The outcome of one health check. ``to_json`` is the contract's ``health --json``."""

    facts: HealthFacts
    alerts: tuple[Alert, ...]
    plan: Plan
    healthy: bool
    deliveries: list[Delivery] = field(default_factory=list)
    record_id: int | None = None
    #: What happened to each alert (sent, not sent, suppressed), in the alerts' order.
    outcomes: list[outcome.AlertDelivery] = field(default_factory=list)

    def outcome_of(self, alert: Alert) -> outcome.AlertDelivery | None:
        return outcome.by_condition(self.outcomes).get(str(alert.condition))

    def to_json(self) -> dict[str, Any]:
        f = self.facts
        since = f.seconds_since_last_success
        return {
            "healthy": self.healthy,
            "check_time": f.checked_at.isoformat(),
            "spreadsheet_count": f.spreadsheet_count,
            "database_count": f.database_count,
            "missing_count": f.missing_count,
            "extra_count": len(f.extra),
            "error_rate": round(f.error_rate, 6),
            "last_sync_error_rate": round(f.last_sync_error_rate, 6),
            "open_problems": f.open_problems,
            "acknowledged_problems": f.acknowledged_problems,
            "still_failing_of_last_sync": f.last_run.failed if f.last_run else 0,
            "retry_queue_depth": f.retry_queue_depth,
            "permanent_failures": len(f.permanent_failures),
            "minutes_since_last_success": None if since is None else round(since / 60, 2),
            "last_run_id": f.last_run.run_id if f.last_run else None,
            "missing": [{"buyer_number": k, "row_number": r} for k, r in f.missing[:100]],
            "extra": list(f.extra[:100]),
            "sheet_problem": f.sheet_problem,
            "alerts": [self._alert_json(a) for a in self.alerts],
            "recoveries": [r.text for r in self.plan.recoveries],
            "deliveries": [d.to_json() for d in self.deliveries],
            "health_check_id": self.record_id,
            "alert_deliveries": [d.to_json() for d in self.outcomes],
        }

    def _alert_json(self, alert: Alert) -> dict[str, Any]:
        got = self.outcome_of(alert)
        return {
            **alert.to_json(),
            "sent": bool(got and got.sent),
            "delivery": got.to_json() if got else None,
            "delivery_status": str(got.status) if got else None,
            "delivery_text": got.text if got else None,
        }


def compose(plan: Plan, *, healthy: bool, database: str = "") -> Notification:
    """Word one notification for a plan: the alerts sent, recoveries, what stays active."""
    parts: list[str] = []
    if plan.send:
        first = plan.send[0].title
        more = f" (+{len(plan.send) - 1} more)" if len(plan.send) > 1 else ""
        subject = f"buyersync: UNHEALTHY — {first}{more}"
    else:
        subject = f"buyersync: recovered — {plan.recoveries[0].text.removeprefix('recovered: ')}"
    if database:
        parts.append(f"Database: {database}")
    for alert in plan.send:
        parts.append(f"ALERT [{alert.condition}] {alert.text}")
    if plan.recoveries:
        parts.append("\n".join(r.text for r in plan.recoveries))
    if plan.suppressed:
        parts.append(
            "Still active (already reported): " + "; ".join(a.title for a in plan.suppressed)
        )
    return Notification(
        subject=subject,
        text="\n\n".join(parts),
        healthy=healthy,
        alerts=tuple(a.to_json() for a in plan.send),
        recoveries=tuple(r.text for r in plan.recoveries),
        database=database,
    )
