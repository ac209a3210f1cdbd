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

Every alert says what is wrong, with the numbers, the first buyer numbers and sheet
rows concerned, and the exact command that fixes or investigates it.
"""

from __future__ import annotations

import enum
import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from buyersync.rules.problems import fix_for

#: How many buyer numbers an alert names before it says "and N more".
SHOWN = 10


class Condition(enum.StrEnum):
    """A kind of problem the monitor alerts on; the key of ``alert_state`` rows."""

    MISSING_BUYERS = "missing_buyers"  # more sheet buyers missing from the database than allowed
    ERROR_RATE = "error_rate"  # the last sync's failed / rows read is over the threshold
    PERMANENT_FAILURE = "permanent_failure"  # a retry entry gave up; keyed per buyer
    SLOW_SYNC = "slow_sync"  # the last sync took longer than the slow-sync limit
    STALE_SYNC = "stale_sync"  # no sync has succeeded for longer than the staleness limit
    SHEET_UNREADABLE = "sheet_unreadable"  # the health check could not read the sheet's keys
    SYNC_REFUSED = "sync_refused"  # a sync refused an empty or sharply shrunken sheet


#: Conditions a health check evaluates (all but what only a sync can see).
HEALTH_CONDITIONS: frozenset[Condition] = frozenset(Condition) - {Condition.SYNC_REFUSED}
#: Conditions the end of a sync evaluates (only what the sync itself measured).
SYNC_CONDITIONS: frozenset[Condition] = frozenset({Condition.SLOW_SYNC, Condition.SYNC_REFUSED})


@dataclass(frozen=True)
class Thresholds:
    """The alert limits (settings ``alert_*``); 0 disables the slow and stale rules."""

    missing: int = 0
    error_rate: float = 0.05
    slow_sync_seconds: float = 900.0
    stale_seconds: float = 7200.0
    cooldown_seconds: float = 3600.0


@dataclass(frozen=True)
class RunFacts:
    """The last completed sync, as the alert rules need it."""

    run_id: str
    rows_read: int
    failed: int
    duration_s: float | None
    rows_per_s: float | None = None
    errors_by_type: Mapping[str, int] = field(default_factory=dict)
    #: ``(buyer_number, row_number)`` of the first failed rows of that run.
    first_failures: tuple[tuple[str | None, int | None], ...] = ()
    #: Rows that failed when it ran (``failed`` is those still failing, when known).
    failed_then: int | None = None


@dataclass(frozen=True)
class PermanentFailure:
    """A retry-queue entry that reached its maximum attempts."""

    buyer_number: str
    row_number: int | None
    error_type: str
    last_error: str | None = None
    attempts: int = 0


@dataclass(frozen=True)
class HealthFacts:
    """Everything one health check measured. ``spreadsheet_count`` is ``None`` when the
    sheet could not be read (``sheet_problem`` says why); then nothing is missing."""

    checked_at: datetime
    spreadsheet_count: int | None
    database_count: int
    missing: tuple[tuple[str, int], ...] = ()  # (buyer_number, sheet row), by row
    extra: tuple[str, ...] = ()  # in the database, not in the sheet
    last_run: RunFacts | None = None
    retry_queue_depth: int = 0
    permanent_failures: tuple[PermanentFailure, ...] = ()
    last_success_at: datetime | None = None
    sheet_problem: str | None = None
    #: failed / rows read of ``last_run``, as measured (``SyncMonitor.calculate_error_rate``)
    error_rate: float = 0.0
    #: The failed / rows read of the last full sync when it ran, repairs since ignored.
    last_sync_error_rate: float = 0.0
    #: Problems open now (every kind), and how many of them an operator acknowledged.
    open_problems: int = 0
    acknowledged_problems: int = 0
    #: Buyers whose open problem an operator acknowledged: known, so no alert names them.
    acknowledged: frozenset[str] = frozenset()

    @property
    def alerting_missing(self) -> tuple[tuple[str, int], ...]:
        """Missing buyers not acknowledged (those an alert counts and names)."""
        if not self.acknowledged:
            return self.missing
        return tuple(m for m in self.missing if m[0] not in self.acknowledged)

    @property
    def missing_count(self) -> int:
        return len(self.missing)

    @property
    def seconds_since_last_success(self) -> float | None:
        if self.last_success_at is None:
            return None
        return max(0.0, (self.checked_at - self.last_success_at).total_seconds())


@dataclass(frozen=True)
class Alert:
    """One condition that holds now, with the message that explains it."""

    condition: Condition
    title: str  # one line: what is wrong, with the main number
    text: str  # the full message: numbers, first buyers and rows, the command
    command: str  # the exact command that fixes or investigates it
    numbers: Mapping[str, Any] = field(default_factory=dict)
    #: The buyers concerned; for PERMANENT_FAILURE each is its own state key.
    subjects: tuple[str, ...] = ()

    @property
    def keys(self) -> tuple[str, ...]:
        """The ``alert_state`` keys this alert stands for."""
        if self.condition is Condition.PERMANENT_FAILURE:
            return tuple(state_key(self.condition, s) for s in self.subjects)
        return (str(self.condition),)

    def to_json(self) -> dict[str, Any]:
        return {
            "condition": str(self.condition),
            "title": self.title,
            "message": self.text,
            "command": self.command,
            "numbers": dict(self.numbers),
            "buyers": list(self.subjects[:100]),
        }


@dataclass(frozen=True)
class AlertState:
    """One ``alert_state`` row: whether a condition was active at the last check."""

    key: str  # a Condition value, or "permanent_failure:<buyer_number>"
    active: bool
    first_seen_at: datetime | None = None
    last_sent_at: datetime | None = None
    last_message: str | None = None


@dataclass(frozen=True)
class Recovery:
    """A condition that was active and has cleared; announced once."""

    key: str
    condition: Condition
    subject: str | None  # the buyer number for a permanent failure
    since: datetime | None  # when it was first seen

    @property
    def text(self) -> str:
        if self.condition is Condition.PERMANENT_FAILURE:
            return f"recovered: buyer {self.subject} is no longer permanently failed"
        return f"recovered: {_RECOVERY_TEXT[self.condition]}"


_RECOVERY_TEXT = {
    Condition.MISSING_BUYERS: "missing buyers are back within the threshold",
    Condition.ERROR_RATE: "the last sync's error rate is back within the threshold",
    Condition.PERMANENT_FAILURE: "a permanent failure cleared",
    Condition.SLOW_SYNC: "the last sync finished within the slow-sync limit",
    Condition.STALE_SYNC: "a sync has succeeded again",
    Condition.SHEET_UNREADABLE: "the sheet can be read again",
    Condition.SYNC_REFUSED: "a sync accepted the sheet again",
}


@dataclass(frozen=True)
class Plan:
    """What to do after a check: messages to send, and the states to store."""

    send: tuple[Alert, ...]  # new, or repeated after the cooldown
    suppressed: tuple[Alert, ...]  # still active, already sent within the cooldown
    recoveries: tuple[Recovery, ...]
    states: tuple[AlertState, ...]  # every state row that changed (upsert these)

    @property
    def anything_to_send(self) -> bool:
        return bool(self.send or self.recoveries)


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


def state_key(condition: Condition, subject: str | None = None) -> str:
    return f"{condition}:{subject}" if subject is not None else str(condition)


def split_key(key: str) -> tuple[Condition | None, str | None]:
    """The condition and subject of a state key (``None`` for an unknown condition)."""
    name, _, subject = key.partition(":")
    try:
        condition = Condition(name)
    except ValueError:
        return None, None
    return condition, (subject if _ else None)


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


# -- the messages ---------------------------------------------------------------


def _first(items: Sequence[str], total: int | None = None) -> str:
    total = len(items) if total is None else total
    shown = ", ".join(items[:SHOWN])
    return shown + (f" and {total - SHOWN} more" if total > SHOWN else "")


def _missing_alert(facts: HealthFacts, thresholds: Thresholds) -> Alert:
    missing = facts.alerting_missing
    n = len(missing)
    listed = _first([f"{key} (row {row})" for key, row in missing], n)
    title = (
        f"{n} buyer(s) in the sheet are missing from the database (threshold {thresholds.missing})"
    )
    command = "buyersync sync-missing"
    text = (
        f"{title}.\nSheet {facts.spreadsheet_count} buyers, database {facts.database_count}, "
        f"missing {n}, extra {len(facts.extra)}.\nMissing: {listed}.\n"
        f"List them: buyersync missing\nFix: {command}  (then: buyersync errors --since 1h "
        "for any that fail)"
    )
    return Alert(
        Condition.MISSING_BUYERS,
        title,
        text,
        command,
        {
            "missing_count": n,
            "threshold": thresholds.missing,
            "spreadsheet_count": facts.spreadsheet_count,
            "database_count": facts.database_count,
        },
        tuple(key for key, _ in missing),
    )


def _error_rate_alert(run: RunFacts, rate: float, thresholds: Thresholds) -> Alert:
    top = max(run.errors_by_type.items(), key=lambda kv: (kv[1], kv[0]), default=None)
    by_type = ", ".join(f"{k} {v}" for k, v in sorted(run.errors_by_type.items())) or "unknown"
    command = (
        f"buyersync errors --run {run.run_id} --type {top[0]}"
        if top
        else f"buyersync errors --run {run.run_id}"
    )
    rows = _first(
        [f"{b or '(no buyer number)'} (row {r})" for b, r in run.first_failures], run.failed
    )
    then = run.failed if run.failed_then is None else run.failed_then
    title = (
        f"{run.failed} of the {run.rows_read} rows the last sync read still fail "
        f"({rate:.1%}, threshold {thresholds.error_rate:.1%})"
    )
    if then != run.failed:
        title += f"; {then} failed when it ran"
    fixes = (
        "\n".join(
            f"Fix {cat}: {fix.command}  ({fix.text})"
            for cat, fix in ((c, fix_for(c)) for c in sorted(run.errors_by_type))
        )
        or "Fix: buyersync problems"
    )
    text = (
        f"{title}.\nRun {run.run_id}; still failing by type: {by_type}.\n"
        f"First failing rows: {rows}.\nInvestigate: {command}\n{fixes}\n"
        "What is open now, by cause: buyersync problems"
    )
    return Alert(
        Condition.ERROR_RATE,
        title,
        text,
        command,
        {
            "error_rate": rate,
            "threshold": thresholds.error_rate,
            "failed": run.failed,
            "failed_when_run": then,
            "rows_read": run.rows_read,
            "run_id": run.run_id,
        },
        tuple(b for b, _ in run.first_failures if b),
    )


def _permanent_alert(new: Sequence[PermanentFailure], total: int) -> Alert:
    first = new[0]
    listed = _first([f"{p.buyer_number} (row {p.row_number}, {p.error_type})" for p in new])
    command = f"buyersync retry --buyer {first.buyer_number}"
    title = (
        f"{len(new)} retry entr{'y' if len(new) == 1 else 'ies'} gave up and became "
        f"permanently failed ({total} permanently failed in all)"
    )
    reason = f"\nLast error of {first.buyer_number}: {first.last_error}" if first.last_error else ""
    text = (
        f"{title}.\nNew: {listed}.{reason}\n"
        f"Investigate: buyersync errors --buyer {first.buyer_number}\n"
        f"Retry by hand once the cause is fixed: {command}"
    )
    return Alert(
        Condition.PERMANENT_FAILURE,
        title,
        text,
        command,
        {"new_permanent_failures": len(new), "permanent_failures": total},
        tuple(p.buyer_number for p in new),
    )


def slow_sync_alert(run: RunFacts, limit_s: float) -> Alert:
    """The requirement 8.5 alert for a sync that took longer than ``limit_s``."""
    duration = run.duration_s or 0.0
    speed = f"{run.rows_per_s:,.0f} rows/s" if run.rows_per_s is not None else "unknown speed"
    title = f"sync {run.run_id} took {duration / 60:.1f} minutes (limit {limit_s / 60:.1f} minutes)"
    command = "buyersync sync --dry-run -v"
    text = (
        f"{title}.\nRows read {run.rows_read}, {speed}.\n"
        f"Investigate: {command}  (time spent reading the sheet alone), and compare recent "
        "runs with: buyersync health\nCheck database load and locks; a larger "
        "--batch-size reduces round trips."
    )
    return Alert(
        Condition.SLOW_SYNC,
        title,
        text,
        command,
        {
            "duration_s": duration,
            "limit_s": limit_s,
            "rows_read": run.rows_read,
            "rows_per_s": run.rows_per_s,
            "run_id": run.run_id,
        },
    )


def _stale_alert(since: float | None, limit_s: float) -> Alert:
    if since is None:
        title = "no sync has ever succeeded on this database"
    else:
        title = (
            f"no sync has succeeded for {since / 60:.0f} minutes (limit {limit_s / 60:.0f} minutes)"
        )
    command = "buyersync sync"
    text = (
        f"{title}.\nThe scheduled sync (cron or buyersync serve) may have stopped, or every "
        f"run fails.\nRun it now: {command}\nThen check the schedule, and earlier failures "
        "with: buyersync errors --since 24h"
    )
    return Alert(
        Condition.STALE_SYNC,
        title,
        text,
        command,
        {"seconds_since_last_success": since, "limit_s": limit_s},
    )


def refused_alert(reason: str, *, hint: str | None = None) -> Alert:
    """The alert a refused sync raises; ``hint`` is the refusal's own way forward
    (without one: the shrink guard's)."""
    title = "a sync refused the sheet"
    command = "buyersync sync --dry-run -v"
    forward = (
        hint or "if the sheet really shrank, sync once with: buyersync sync --max-shrink-ratio 0"
    )
    text = (
        f"{title}: {reason}\nNothing was written and no buyer was deleted. Check the sheet "
        f"(was it emptied, filtered, replaced, or were its headers changed?) and investigate "
        f"with: {command}\nThen: {forward}"
    )
    return Alert(Condition.SYNC_REFUSED, title, text, command, {"reason": reason})


def _sheet_alert(problem: str) -> Alert:
    title = "the health check could not read the sheet"
    command = "buyersync sync --dry-run -v"
    text = f"{title}: {problem}\nInvestigate: {command}"
    return Alert(Condition.SHEET_UNREADABLE, title, text, command, {})
