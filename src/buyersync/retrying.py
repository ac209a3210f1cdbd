"""The one in-process retry loop: try, and on a transient failure wait and try again.

Every loop that retries within one command uses it: merging a slice of rows
(:mod:`buyersync.services.sync`), a Google Sheets request
(:mod:`buyersync.sources.gsheets`), connecting to PostgreSQL
(:mod:`buyersync.store.postgres`) and taking the table lock of Migration 050
(:mod:`buyersync.store.schemafix`). The waits are a :class:`BackoffPolicy`'s
(:mod:`buyersync.rules.backoff`: the base doubling per retry, capped, jittered); a
server's ``Retry-After``, when given, is waited at least. The clock, the sleep and
the random draws are injected, so tests drive the loop on a fake clock without
sleeping.

The retry queue (failed rows retried by a later ``buyersync retry``) uses the same
policy and arithmetic, but waits in the database rather than in a loop.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from buyersync.rules.backoff import BackoffPolicy, Random, retry_after_seconds

T = TypeVar("T")

#: Seconds → None; ``time.sleep`` unless a test injects a fake.
Sleep = Callable[[float], None]
#: The current UTC time (for ``Retry-After`` dates).
Clock = Callable[[], datetime]


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Failure:
    """One failed try, as passed to ``on_failure``."""

    attempt: int  # the try that failed (1 = the first try; retry n is try n + 1)
    error: Exception
    delay: float | None  # seconds about to be slept; None: giving up, the error is raised
    waited: float  # seconds slept before this failure


class Retrying:
    """Call a function; retry the failures of the ``retry_on`` classes with backoff.

    A first try, then up to ``policy.max_attempts`` retries; retry ``n`` waits
    ``policy.delay(n)``, or the server's ``Retry-After`` (read from the error by
    ``retry_after``) when that is longer. With ``max_wait``, it gives up rather than
    sleep past that many seconds in total. Giving up re-raises the last error
    unchanged; errors of other classes are raised at once. After :meth:`call`,
    ``attempts`` and ``waited`` say how many tries were made and how long it slept.
    """

    def __init__(
        self,
        policy: BackoffPolicy,
        *,
        retry_on: type[Exception] | tuple[type[Exception], ...],
        retry_after: Callable[[Exception], str | None] | None = None,
        max_wait: float | None = None,
        on_failure: Callable[[Failure], None] | None = None,
        sleep: Sleep = time.sleep,
        clock: Clock = _utcnow,
        rand: Random = random.random,
    ) -> None:
        self.policy = policy
        self.retry_on = retry_on
        self.retry_after = retry_after
        self.max_wait = max_wait
        self.on_failure = on_failure
        self.sleep = sleep
        self.clock = clock
        self.rand = rand
        self.attempts = 0
        self.waited = 0.0

    def call(self, fn: Callable[[], T]) -> T:
        """``fn()``, retried as the policy allows; raises its last error on giving up."""
        self.attempts, self.waited = 0, 0.0
        while True:
            self.attempts += 1
            try:
                return fn()
            except self.retry_on as exc:
                delay = self.next_delay(exc)
                if self.on_failure is not None:
                    self.on_failure(Failure(self.attempts, exc, delay, self.waited))
                if delay is None:
                    raise
                self.sleep(delay)
                self.waited += delay

    def next_delay(self, exc: Exception) -> float | None:
        """Seconds to wait before trying again after ``exc``; None to give up."""
        retry = self.attempts  # the retry about to be made: 1 after the first try
        if retry > self.policy.max_attempts:
            return None
        delay = self.policy.delay(retry, self.rand)
        if self.retry_after is not None:
            asked = retry_after_seconds(self.retry_after(exc), self.clock())
            if asked is not None:
                delay = max(delay, asked)
        if math.isinf(delay):
            return None
        if self.max_wait is not None and self.waited + delay > self.max_wait:
            return None
        return delay
