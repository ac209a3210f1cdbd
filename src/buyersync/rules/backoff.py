"""Retry decisions: when the next attempt is, and what becomes of a queue entry.

Pure arithmetic over facts (attempts made, the clock, the policy, what the attempt
did); the retry service does the I/O around it. Counting convention used everywhere:
the sync that first failed is attempt 0 (it is not a retry); retry number ``n``
(1, 2, …) waits ``delay_seconds(n)`` after the attempt before it failed. So an entry
is queued for ``now + delay_seconds(1)`` = the base delay, and after ``max_attempts``
failed retries it is given up (permanently failed). The in-process loops
(:mod:`buyersync.retrying`) count the same way: a first try, then up to
``max_attempts`` retries.
"""

from __future__ import annotations

import enum
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Protocol

#: A source of uniform floats in [0, 1); injected so tests are deterministic.
Random = Callable[[], float]


class RetrySettings(Protocol):
    """The settings a policy is built from (:class:`buyersync.settings.Settings`)."""

    @property
    def retry_max_attempts(self) -> int: ...
    @property
    def retry_base_seconds(self) -> float: ...
    @property
    def retry_max_seconds(self) -> float: ...
    @property
    def retry_jitter(self) -> float: ...


@dataclass(frozen=True)
class BackoffPolicy:
    """How often and how long a retryable failure is retried.

    The defaults are the contract's, and the settings' defaults are read from here
    (:data:`DEFAULT_POLICY`), so the two cannot drift.
    """

    max_attempts: int = 5  # retries after the first failure (0: never retried)
    base_seconds: float = 60.0  # delay before the first retry; doubles per attempt
    max_seconds: float = 21600.0  # cap on any single delay (6 h)
    jitter: float = 0.1  # up to this fraction of the delay is added at random (0..1)

    def __post_init__(self) -> None:
        if self.max_attempts < 0:
            raise ValueError("max_attempts cannot be negative")
        if self.base_seconds < 0 or self.max_seconds < 0:
            raise ValueError("retry delays cannot be negative")
        if not 0 <= self.jitter <= 1:
            raise ValueError("jitter is a fraction between 0 and 1")

    @classmethod
    def from_settings(cls, settings: RetrySettings) -> BackoffPolicy:
        """The retry-queue policy of the resolved settings (read at the edge).

        A jitter outside 0..1 is clamped, as the setting has always been read.
        """
        return cls(
            max_attempts=settings.retry_max_attempts,
            base_seconds=settings.retry_base_seconds,
            max_seconds=settings.retry_max_seconds,
            jitter=min(max(settings.retry_jitter, 0.0), 1.0),
        )

    def delay(self, attempt: int, rand: Random = random.random) -> float:
        """Seconds to wait before retry number ``attempt`` (see :func:`delay_seconds`)."""
        return delay_seconds(attempt, self.base_seconds, self.max_seconds, self.jitter, rand)


#: The contract's policy; the retry settings take their defaults from it.
DEFAULT_POLICY = BackoffPolicy()


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
    return now + timedelta(seconds=policy.delay(attempt, rand))


def retry_after_seconds(value: str | None, now: datetime) -> float | None:
    """Seconds a server's ``Retry-After`` asks us to wait, counted from ``now``.

    The header is either delay-seconds (``120``) or an HTTP date; ``None`` when absent
    or unreadable (then our own backoff applies). Never negative.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # RFC 9110 dates are GMT
            when = when.replace(tzinfo=now.tzinfo)
        seconds = (when - now).total_seconds()
    if math.isnan(seconds):
        return None
    return max(0.0, seconds)


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
