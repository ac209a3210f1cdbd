"""Retry decisions: when the next attempt is, and what becomes of a queue entry.

Pure arithmetic over facts (attempts made, the clock, the policy, what the attempt
did); the retry service does the I/O around it. Counting convention used everywhere:
the sync that first failed is attempt 0 (it is not a retry); retry number ``n``
(1, 2, …) waits ``delay_seconds(n)`` after the attempt before it failed. So an entry
is queued for ``now + delay_seconds(1)`` = the base delay, and after ``max_attempts``
failed retries it is given up (permanently failed).
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

#: A source of uniform floats in [0, 1); injected so tests are deterministic.
Random = Callable[[], float]


@dataclass(frozen=True)
class BackoffPolicy:
    """How often and how long a retryable failure is retried (the contract's defaults)."""

    max_attempts: int = 5  # retries before the entry is permanently failed
    base_seconds: float = 60.0  # delay before the first retry; doubles per attempt
    max_seconds: float = 21600.0  # cap on any single delay (6 h)
    jitter: float = 0.0  # up to this fraction of the delay is added at random (0..1)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_seconds < 0 or self.max_seconds < 0:
            raise ValueError("retry delays cannot be negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction between 0 and 1")


def delay_seconds(
    attempt: int,
    base_seconds: float,
    max_seconds: float,
    jitter: float = 0.0,
    rand: Random = random.random,
) -> float:
    """Seconds to wait before retry number ``attempt`` (1 = the first retry).

    ``base * 2**(attempt-1)``, capped at ``max_seconds``; then, when ``jitter`` > 0,
    up to ``jitter`` × that delay is added (``rand()`` in [0, 1) picks how much) and
    the result capped again. So the result lies in
    ``[d, min(cap, d * (1 + jitter))]`` for the deterministic delay ``d``, never
    exceeds the cap, and is non-decreasing in ``attempt`` for any random draws
    (jitter ≤ 1 can at most double a delay, which the next attempt already does).
    """
    if attempt < 1:
        raise ValueError(f"attempt numbers start at 1 (got {attempt})")
    cap = max(0.0, float(max_seconds))
    try:
        exact = min(cap, math.ldexp(max(0.0, float(base_seconds)), attempt - 1))
    except OverflowError:  # an absurd attempt number: the delay is far beyond any cap
        exact = cap
    if jitter <= 0 or exact == 0:
        return exact
    return min(cap, exact * (1.0 + min(jitter, 1.0) * rand()))


def next_retry_at(
    now: datetime, attempt: int, policy: BackoffPolicy, rand: Random = random.random
) -> datetime:
    """When retry number ``attempt`` is due, counted from ``now``."""
    seconds = delay_seconds(attempt, policy.base_seconds, policy.max_seconds, policy.jitter, rand)
    return now + timedelta(seconds=seconds)


class Verdict(enum.StrEnum):
    """What becomes of a queue entry after an attempt."""

    SUCCEEDED = "succeeded"  # the buyer was written: remove the entry
    GONE = "gone_from_sheet"  # the buyer is no longer in the sheet: nothing to retry, remove
    RESCHEDULED = "rescheduled"  # failed retryably with attempts left: try again later
    PERMANENTLY_FAILED = "permanently_failed"  # failed at or beyond the maximum: a person decides
    NOT_RETRYABLE = "not_retryable"  # now fails for a reason retrying cannot fix: remove, logged
    RELEASED = "released"  # the attempt never ran (sheet unreadable…): back to pending, not counted


@dataclass(frozen=True)
class Decision:
    """The verdict for one entry and, when rescheduled, when it is due again."""

    verdict: Verdict
    retry_at: datetime | None = None  # set only for RESCHEDULED

    @property
    def removes_entry(self) -> bool:
        """Whether the entry leaves the queue."""
        return self.verdict in (Verdict.SUCCEEDED, Verdict.GONE, Verdict.NOT_RETRYABLE)


def decide(
    *,
    attempts_made: int,
    succeeded: bool,
    gone: bool,
    retryable: bool,
    now: datetime,
    policy: BackoffPolicy,
    rand: Random = random.random,
) -> Decision:
    """The fate of an entry after its ``attempts_made``-th retry (this one included).

    Success wins; then "gone from the sheet"; a failure that is no longer retryable
    leaves the queue (it stays in the error log for a person, requirement 4.5); a
    retryable failure is rescheduled with the backoff while attempts remain, and is
    permanently failed once ``attempts_made`` reaches ``policy.max_attempts``.
    """
    if succeeded:
        return Decision(Verdict.SUCCEEDED)
    if gone:
        return Decision(Verdict.GONE)
    if not retryable:
        return Decision(Verdict.NOT_RETRYABLE)
    if attempts_made >= policy.max_attempts:
        return Decision(Verdict.PERMANENTLY_FAILED)
    return Decision(Verdict.RESCHEDULED, next_retry_at(now, attempts_made + 1, policy, rand))
