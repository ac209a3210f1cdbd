"""The values the alert rules work on: conditions, limits, facts, alerts, stored states.

Pure data, no I/O; the rules are :mod:`buyersync.rules.alerts` (which re-exports every
name here), their wording :mod:`buyersync.rules.alert_texts`.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

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
