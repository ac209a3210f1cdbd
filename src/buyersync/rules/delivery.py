"""What happened to an alert: sent, not sent, or held back (pure, no I/O).

Every alert a check or a sync raises gets one :class:`AlertDelivery`:

* ``sent`` — a channel (e-mail, webhook) accepted it: "sent to e-mail, webhook"; a
  channel that failed at the same time is named too;
* ``failed`` — every configured channel refused it: "not sent: e-mail failed (…)";
* ``no_channel`` — only the log is configured: "not sent: no channel configured";
* ``no_alerts`` — ``health --no-alerts``: "not sent: --no-alerts";
* ``suppressed`` — sent before, still within the cooldown:
  "suppressed: cooldown until 2026-12-02 03:00Z".

An alert counts as sent — its cooldown starts — only when a channel accepted it
(:func:`settle`): an alert that was not delivered is sent at the next check, and a
permanent failure that was never delivered is still news.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from buyersync.rules.alerts import Alert, AlertState, Plan

#: The channel that is always on; it writes the log and delivers to nobody.
LOG_CHANNEL = "console"
#: How channels are named to an operator.
CHANNEL_LABELS = {"email": "e-mail", "webhook": "webhook"}


class DeliveryStatus(enum.StrEnum):
    SENT = "sent"
    FAILED = "failed"
    NO_CHANNEL = "no_channel"
    NO_ALERTS = "no_alerts"
    SUPPRESSED = "suppressed"


@dataclass(frozen=True)
class ChannelResult:
    """What one channel did with the notification (``notify.Delivery`` as plain data)."""

    channel: str
    ok: bool
    error: str | None = None


@dataclass(frozen=True)
class AlertDelivery:
    """What happened to one alert."""

    condition: str
    title: str
    status: DeliveryStatus
    text: str  # "sent to e-mail, webhook", "not sent: --no-alerts", …
    channels: tuple[str, ...] = ()  # the channels that accepted it
    failures: tuple[tuple[str, str], ...] = ()  # (channel, error) of those that did not
    until: datetime | None = None  # the end of the cooldown, when suppressed

    @property
    def sent(self) -> bool:
        return self.status is DeliveryStatus.SENT

    def to_json(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "title": self.title,
            "status": str(self.status),
            "text": self.text,
            "channels": list(self.channels),
            "failed_channels": [{"channel": c, "error": e} for c, e in self.failures],
            "until": self.until.isoformat() if self.until else None,
        }


def label(channel: str) -> str:
    return CHANNEL_LABELS.get(channel, channel)


def outcome(
    results: Sequence[ChannelResult], *, no_alerts: bool = False
) -> tuple[DeliveryStatus, str, tuple[str, ...], tuple[tuple[str, str], ...]]:
    """Status, text, accepting channels and failures of one notification's results."""
    if no_alerts:
        return DeliveryStatus.NO_ALERTS, "not sent: --no-alerts", (), ()
    real = [r for r in results if r.channel != LOG_CHANNEL]
    if not real:
        return DeliveryStatus.NO_CHANNEL, "not sent: no channel configured", (), ()
    accepted = tuple(r.channel for r in real if r.ok)
    failures = tuple((r.channel, r.error or "failed") for r in real if not r.ok)
    failed_text = ", ".join(f"{label(c)} failed ({e})" for c, e in failures)
    if accepted:
        text = "sent to " + ", ".join(label(c) for c in accepted)
        if failures:
            text += f"; {failed_text}"
        return DeliveryStatus.SENT, text, accepted, failures
    return DeliveryStatus.FAILED, f"not sent: {failed_text}", (), failures


def cooldown_end(
    state: AlertState | None, cooldown_seconds: float, now: datetime
) -> datetime | None:
    """When an alert held back by the cooldown may be sent again."""
    if state is None or state.last_sent_at is None:
        return None
    return max(now, state.last_sent_at + timedelta(seconds=cooldown_seconds))


def deliveries(
    plan: Plan,
    results: Sequence[ChannelResult],
    previous: Mapping[str, AlertState],
    *,
    now: datetime,
    cooldown_seconds: float,
    no_alerts: bool = False,
) -> list[AlertDelivery]:
    """One :class:`AlertDelivery` per alert of ``plan`` (sent ones, then suppressed)."""
    status, text, accepted, failures = outcome(results, no_alerts=no_alerts)
    out = [
        AlertDelivery(str(a.condition), a.title, status, text, accepted, failures)
        for a in plan.send
    ]
    for a in plan.suppressed:
        until = cooldown_end(previous.get(a.keys[0]), cooldown_seconds, now)
        shown = f"{until:%Y-%m-%d %H:%M}Z" if until else "the next check"
        out.append(
            AlertDelivery(
                str(a.condition),
                a.title,
                DeliveryStatus.SUPPRESSED,
                f"suppressed: cooldown until {shown}",
                until=until,
            )
        )
    return out


def accepted(results: Sequence[ChannelResult]) -> bool:
    """Whether a channel other than the log accepted the notification."""
    return any(r.ok and r.channel != LOG_CHANNEL for r in results)


def settle(plan: Plan, previous: Mapping[str, AlertState], *, delivered: bool) -> Plan:
    """``plan`` with the states it stores when its alerts were (not) delivered.

    :func:`buyersync.rules.alerts.plan` records every alert it sends as sent now;
    when no channel accepted them, their last send stays what it was, so the
    cooldown does not start and the next check sends them again.
    """
    if delivered or not plan.send:
        return plan
    unsent = {k for a in plan.send for k in a.keys}
    states = []
    for s in plan.states:
        if s.key in unsent:
            # A reminder keeps the last real send (long enough ago: it was due); news —
            # a condition that was not active — was never delivered in this episode.
            before = previous.get(s.key)
            kept = before if before is not None and before.active else None
            s = replace(
                s,
                last_sent_at=kept.last_sent_at if kept else None,
                last_message=kept.last_message if kept else None,
            )
        states.append(s)
    return replace(plan, states=tuple(states))


def by_condition(items: Sequence[AlertDelivery]) -> dict[str, AlertDelivery]:
    return {d.condition: d for d in items}


def for_alerts(alerts: Sequence[Alert], items: Sequence[AlertDelivery]) -> list[AlertDelivery]:
    """The delivery of each alert, in the alerts' order."""
    found = by_condition(items)
    return [found[str(a.condition)] for a in alerts if str(a.condition) in found]
