"""Alert rules: which conditions hold, and which messages to send (requirement 5, 8.5).

Two pure steps, no I/O (the monitor does the reading and the sending):

1. :func:`evaluate` turns the facts of one health check (:class:`HealthFacts`) into
   the :class:`Alert` records that hold now — missing buyers over the threshold
   (property 13), an error rate over the threshold (property 14), permanently failed
   retry entries not alerted before (property 15), a slow last sync (requirement
   8.5), no successful sync for too long (the dead-man's switch), a sheet that
   cannot be read. :func:`evaluate_sync` does the same for one finished sync.
2. :func:`plan` compares those with the stored ``alert_state`` and decides what to
   send: a new condition is sent at once; a condition still active is repeated only
   after the cooldown; a condition that cleared is announced once as a recovery.
   A permanent failure is keyed per buyer, so every new one is sent whatever the
   cooldown, and a buyer already reported is never reported twice.

The values (facts, alerts, states) are :mod:`buyersync.rules.alert_facts`, the
messages :mod:`buyersync.rules.alert_texts`; every name of both is importable from here.
Every alert says what is wrong, with the numbers, the first buyer numbers and sheet
rows concerned, and the exact command that fixes or investigates it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import replace
from datetime import datetime

from buyersync.rules.alert_facts import HEALTH_CONDITIONS as HEALTH_CONDITIONS
from buyersync.rules.alert_facts import SHOWN as SHOWN
from buyersync.rules.alert_facts import SYNC_CONDITIONS as SYNC_CONDITIONS
from buyersync.rules.alert_facts import Alert as Alert
from buyersync.rules.alert_facts import AlertState as AlertState
from buyersync.rules.alert_facts import Condition as Condition
from buyersync.rules.alert_facts import HealthFacts as HealthFacts
from buyersync.rules.alert_facts import PermanentFailure as PermanentFailure
from buyersync.rules.alert_facts import Plan as Plan
from buyersync.rules.alert_facts import Recovery as Recovery
from buyersync.rules.alert_facts import RunFacts as RunFacts
from buyersync.rules.alert_facts import Thresholds as Thresholds
from buyersync.rules.alert_facts import split_key as split_key
from buyersync.rules.alert_facts import state_key as state_key
from buyersync.rules.alert_texts import _error_rate_alert as _error_rate_alert
from buyersync.rules.alert_texts import _missing_alert, _sheet_alert, _stale_alert
from buyersync.rules.alert_texts import _permanent_alert as _permanent_alert
from buyersync.rules.alert_texts import refused_alert as refused_alert
from buyersync.rules.alert_texts import slow_sync_alert as slow_sync_alert

# -- the rules ------------------------------------------------------------------


def error_rate(failed: int, rows_read: int) -> float:
    """Failed rows / rows read; 0 when nothing was read."""
    if rows_read <= 0:
        return 0.0
    return failed / rows_read


def rows_per_second(rows: int, duration_s: float) -> float:
    """Throughput of a sync (requirement 8.4); 0 when the duration is too small to
    divide by (the result would be infinite, which JSON cannot carry)."""
    if duration_s <= 0:
        return 0.0
    speed = rows / duration_s
    return speed if math.isfinite(speed) else 0.0


def missing_over(missing_count: int, threshold: int) -> bool:
    """Property 13: alert iff more buyers are missing than the threshold allows."""
    return missing_count > threshold


def error_rate_over(rate: float, threshold: float) -> bool:
    """Property 14: alert iff the error rate is over the threshold."""
    return rate > threshold


def too_slow(duration_s: float | None, limit_s: float) -> bool:
    """Requirement 8.5: the sync took longer than the limit (0 disables)."""
    return limit_s > 0 and duration_s is not None and duration_s > limit_s


def stale(seconds_since_success: float | None, limit_s: float) -> bool:
    """Dead-man's switch: no successful sync for longer than the limit (0 disables).

    A database where no sync ever succeeded is stale: nothing proves it is in step.
    """
    if limit_s <= 0:
        return False
    return seconds_since_success is None or seconds_since_success > limit_s


def new_permanent_failures(
    current: Sequence[PermanentFailure], known: Collection[str]
) -> tuple[PermanentFailure, ...]:
    """Property 15: the permanent failures not alerted before, in the given order."""
    known_set = set(known)
    return tuple(p for p in current if p.buyer_number not in known_set)


def evaluate(
    facts: HealthFacts, thresholds: Thresholds, *, known_permanent: Collection[str] = ()
) -> tuple[Alert, ...]:
    """The alerts that hold for these facts.

    ``known_permanent`` holds the buyer numbers whose permanent failure was already
    alerted (active ``alert_state`` rows); only the others make an alert.
    """
    alerts: list[Alert] = []
    if facts.sheet_problem is not None:
        alerts.append(_sheet_alert(facts.sheet_problem))
    elif missing_over(len(facts.alerting_missing), thresholds.missing):
        alerts.append(_missing_alert(facts, thresholds))
    run = facts.last_run
    if run is not None and error_rate_over(facts.error_rate, thresholds.error_rate):
        alerts.append(_error_rate_alert(run, facts.error_rate, thresholds))
    new = new_permanent_failures(facts.permanent_failures, known_permanent)
    if new:
        alerts.append(_permanent_alert(new, len(facts.permanent_failures)))
    if run is not None and too_slow(run.duration_s, thresholds.slow_sync_seconds):
        alerts.append(slow_sync_alert(run, thresholds.slow_sync_seconds))
    since = facts.seconds_since_last_success
    if stale(since, thresholds.stale_seconds):
        alerts.append(_stale_alert(since, thresholds.stale_seconds))
    return tuple(alerts)


def evaluate_sync(run: RunFacts, thresholds: Thresholds) -> tuple[Alert, ...]:
    """The alerts one finished sync raises by itself (the slow-sync alert)."""
    if too_slow(run.duration_s, thresholds.slow_sync_seconds):
        return (slow_sync_alert(run, thresholds.slow_sync_seconds),)
    return ()


def active_keys(facts: HealthFacts, alerts: Sequence[Alert]) -> frozenset[str]:
    """Every state key that holds now: the alerts' keys, and every permanent failure
    (also those alerted before, which stay active without a new message)."""
    keys = {k for a in alerts for k in a.keys}
    keys.update(
        state_key(Condition.PERMANENT_FAILURE, p.buyer_number) for p in facts.permanent_failures
    )
    return frozenset(keys)


def known_permanent(states: Mapping[str, AlertState]) -> frozenset[str]:
    """Buyers whose permanent failure is already alerted (active state rows of an
    alert a channel accepted)."""
    found = set()
    for key, state in states.items():
        condition, subject = split_key(key)
        # Only a delivered alert is known: one no channel accepted is still news.
        if (
            condition is Condition.PERMANENT_FAILURE
            and subject is not None
            and state.active
            and state.last_sent_at is not None
        ):
            found.add(subject)
    return frozenset(found)


def plan(
    previous: Mapping[str, AlertState],
    alerts: Sequence[Alert],
    *,
    holding: Collection[str] | None = None,
    evaluated: Collection[Condition] = HEALTH_CONDITIONS,
    now: datetime,
    cooldown_seconds: float,
) -> Plan:
    """Decide what to send, given the stored states and the alerts that hold now.

    ``holding`` is every state key that holds now (default: the alerts' keys; see
    :func:`active_keys`). Only conditions in ``evaluated`` can recover: a sync that
    checks only its own speed must not announce that missing buyers recovered.

    - a condition not active before is sent now;
    - a condition active before is sent again only when its last message is at least
      ``cooldown_seconds`` old;
    - a permanent-failure alert is always sent (it only names new buyers);
    - an active condition in ``evaluated`` that no longer holds is one recovery, and
      becomes inactive (so a later return is news again, sent at once).
    """
    holding_keys = set(holding) if holding is not None else {k for a in alerts for k in a.keys}
    holding_keys.update(k for a in alerts for k in a.keys)
    send: list[Alert] = []
    suppressed: list[Alert] = []
    states: dict[str, AlertState] = {}
    for alert in alerts:
        if alert.condition is Condition.PERMANENT_FAILURE:
            due = True
        else:
            before = previous.get(alert.keys[0])
            due = before is None or not before.active or _cooled(before, now, cooldown_seconds)
        (send if due else suppressed).append(alert)
        for key in alert.keys:
            before = previous.get(key)
            was_active = before is not None and before.active
            states[key] = AlertState(
                key=key,
                active=True,
                first_seen_at=before.first_seen_at if was_active and before else now,
                last_sent_at=now if due else (before.last_sent_at if before else None),
                last_message=alert.title if due else (before.last_message if before else None),
            )
    for key in holding_keys - set(states):
        before = previous.get(key)
        if before is None or not before.active:
            # Holds without an alert of its own (cannot happen for the built-in rules).
            states[key] = AlertState(key=key, active=True, first_seen_at=now)
    recoveries: list[Recovery] = []
    for key in sorted(previous):
        before = previous[key]
        condition, subject = split_key(key)
        if (
            not before.active
            or condition is None
            or condition not in evaluated
            or key in holding_keys
        ):
            continue
        recoveries.append(Recovery(key, condition, subject, before.first_seen_at))
        states[key] = replace(before, active=False)
    return Plan(
        send=tuple(send),
        suppressed=tuple(suppressed),
        recoveries=tuple(recoveries),
        states=tuple(states[k] for k in sorted(states)),
    )


def _cooled(state: AlertState, now: datetime, cooldown_seconds: float) -> bool:
    if state.last_sent_at is None:
        return True
    return (now - state.last_sent_at).total_seconds() >= cooldown_seconds
