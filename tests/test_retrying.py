"""The one in-process retry loop (buyersync.retrying) on a fake clock: no real sleeping.

Also the loops that use it: a Google Sheets request (the local stand-in answering
429 with Retry-After) and connecting to PostgreSQL (a port nobody listens on), each
with an injected sleep.
"""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buyersync.errors import RateLimited, SourceUnavailable, StoreConnectionError
from buyersync.retrying import Failure, Retrying
from buyersync.rules.backoff import BackoffPolicy, delay_seconds, retry_after_seconds
from buyersync.sources.gsheets import GoogleSheetsSource
from buyersync.testing.sheets_server import SheetsServer

T0 = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


class FakeClock:
    """A clock that only moves when the loop sleeps; records every sleep."""

    def __init__(self, start: datetime = T0) -> None:
        self.now = start
        self.sleeps: list[float] = []

    def __call__(self) -> datetime:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds >= 0
        self.sleeps.append(seconds)
        self.now += timedelta(seconds=seconds)


class Flaky(Exception):
    """A transient failure, optionally with the server's Retry-After."""

    def __init__(self, retry_after: str | None = None) -> None:
        super().__init__("flaky")
        self.retry_after = retry_after


def failing(n: int, error: type[Exception] = Flaky, **kw: object):  # type: ignore[no-untyped-def]
    """A function failing its first ``n`` calls, then returning the number of calls."""
    calls = {"n": 0}

    def fn() -> int:
        calls["n"] += 1
        if calls["n"] <= n:
            raise error(**kw)
        return calls["n"]

    fn.calls = calls  # type: ignore[attr-defined]
    return fn


def retrying(policy: BackoffPolicy, clock: FakeClock, **kw: object) -> Retrying:
    return Retrying(
        policy,
        retry_on=Flaky,
        retry_after=lambda e: getattr(e, "retry_after", None),
        sleep=clock.sleep,
        clock=clock,
        **kw,  # type: ignore[arg-type]
    )


policies = st.builds(
    BackoffPolicy,
    max_attempts=st.integers(min_value=0, max_value=8),
    base_seconds=st.floats(min_value=0, max_value=100, allow_nan=False),
    max_seconds=st.floats(min_value=0, max_value=1000, allow_nan=False),
    jitter=st.floats(min_value=0, max_value=1, allow_nan=False),
)
draws = st.floats(min_value=0, max_value=1, exclude_max=True, allow_nan=False)


@given(policies, st.integers(min_value=0, max_value=12), draws)
def test_tries_once_plus_max_attempts_retries_waiting_the_policy_delays(
    policy: BackoffPolicy, failures: int, u: float
) -> None:
    clock = FakeClock()
    loop = retrying(policy, clock, rand=lambda: u)
    fn = failing(failures)
    if failures <= policy.max_attempts:
        assert loop.call(fn) == failures + 1
    else:
        with pytest.raises(Flaky):
            loop.call(fn)
    calls = min(failures, policy.max_attempts) + 1
    assert fn.calls["n"] == loop.attempts == calls  # type: ignore[attr-defined]
    # retry n waited exactly the policy's delay for n, computed independently here
    expected = [
        min(
            policy.max_seconds,
            min(policy.max_seconds, policy.base_seconds * 2.0 ** (n - 1)) * (1 + policy.jitter * u),
        )
        for n in range(1, calls)
    ]
    assert clock.sleeps == pytest.approx(expected)
    assert loop.waited == pytest.approx(sum(expected))
    assert clock.sleeps == sorted(clock.sleeps)  # never a shorter wait after a longer one


@given(
    st.floats(min_value=0.01, max_value=10, allow_nan=False),
    st.floats(min_value=0, max_value=60, allow_nan=False),
    st.integers(min_value=0, max_value=20),
)
def test_never_sleeps_beyond_max_wait(base: float, max_wait: float, failures: int) -> None:
    clock = FakeClock()
    policy = BackoffPolicy(max_attempts=20, base_seconds=base, max_seconds=1e6, jitter=0.0)
    loop = retrying(policy, clock, max_wait=max_wait)
    try:
        loop.call(failing(failures))
    except Flaky:
        # it gave up only because the next wait would have crossed the budget
        next_wait = delay_seconds(loop.attempts, base, 1e6)
        assert loop.waited + next_wait > max_wait
    assert sum(clock.sleeps) <= max_wait + 1e-9


def test_the_last_error_is_raised_unchanged_and_others_at_once() -> None:
    clock = FakeClock()
    policy = BackoffPolicy(max_attempts=2, base_seconds=1, jitter=0.0)
    seen: list[Failure] = []
    loop = retrying(policy, clock, on_failure=seen.append)
    errors = [Flaky(), Flaky(), Flaky()]

    def fn() -> None:
        raise errors[len(seen)]

    with pytest.raises(Flaky) as info:
        loop.call(fn)
    assert info.value is errors[2]
    assert [(f.attempt, f.delay) for f in seen] == [(1, 1.0), (2, 2.0), (3, None)]
    assert clock.sleeps == [1.0, 2.0]

    other = FakeClock()
    with pytest.raises(KeyError):
        retrying(policy, other).call(failing(1, KeyError))
    assert other.sleeps == []


def test_retry_after_in_seconds_is_waited_when_longer_than_the_backoff() -> None:
    clock = FakeClock()
    policy = BackoffPolicy(max_attempts=3, base_seconds=1, jitter=0.0)
    assert retrying(policy, clock).call(failing(2, retry_after="7")) == 3
    assert clock.sleeps == [7.0, 7.0]
    short = FakeClock()
    retrying(policy, short).call(failing(2, retry_after="0"))
    assert short.sleeps == [1.0, 2.0]  # a shorter Retry-After never shortens the backoff


def test_retry_after_as_an_http_date_is_counted_from_the_injected_clock() -> None:
    clock = FakeClock()
    when = format_datetime(T0 + timedelta(seconds=30), usegmt=True)
    policy = BackoffPolicy(max_attempts=1, base_seconds=1, jitter=0.0)
    retrying(policy, clock).call(failing(1, retry_after=when))
    assert clock.sleeps == [30.0]


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (None, None),
        ("", None),
        ("soon", None),
        ("120", 120.0),
        ("-5", 0.0),
        ("nan", None),
        ("Sat, 28 Nov 2026 12:01:00 GMT", 60.0),
        ("Sat, 28 Nov 2026 11:00:00 GMT", 0.0),  # in the past: no extra wait
    ],
)
def test_retry_after_values(value: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(value, T0) == seconds


# -- the loops that use it -----------------------------------------------------------


def test_google_sheets_retries_429_on_the_injected_sleep_honouring_retry_after() -> None:
    clock = FakeClock()
    with SheetsServer() as server:
        server.add_sheet("s1", "Buyers", [["buyer_number"], ["B1"], ["B2"]])
        server.fail_next(2, 429, retry_after=9)
        source = GoogleSheetsSource(
            "s1", api_url=server.url, sleep=clock.sleep, clock=clock, rand=lambda: 0.0
        )
        data = source.read()
        assert [r.values for r in data.rows] == [("B1",), ("B2",)]
    assert clock.sleeps == [9.0, 9.0]


def test_google_sheets_gives_up_as_rate_limited_with_what_it_tried() -> None:
    clock = FakeClock()
    with SheetsServer() as server:
        server.add_sheet("s1", "Buyers", [["buyer_number"], ["B1"]])
        server.fail_next(10, 429)
        source = GoogleSheetsSource(
            "s1",
            api_url=server.url,
            max_attempts=3,
            backoff=2.0,
            sleep=clock.sleep,
            clock=clock,
            rand=lambda: 0.0,
        )
        with pytest.raises(RateLimited) as info:
            source.read()
    assert isinstance(info.value, SourceUnavailable) and info.value.retryable
    assert clock.sleeps == [2.0, 4.0]
    assert info.value.details == {"attempts": 3, "waited_seconds": 6.0}
    assert "after 3 attempts and 6.0 s of waiting" in info.value.message


def test_postgres_connect_backs_off_on_the_injected_sleep() -> None:
    from buyersync.store.postgres import connect

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again below: nobody listens there
    sleeps: list[float] = []
    with pytest.raises(StoreConnectionError) as info:
        connect(
            f"postgresql://postgres:s3cret@127.0.0.1:{port}/x",
            timeout=1,
            attempts=3,
            sleep=sleeps.append,
        )
    assert sleeps == [0.5, 1.0]
    assert "after 3 attempt(s)" in info.value.message
    assert "s3cret" not in str(info.value)
