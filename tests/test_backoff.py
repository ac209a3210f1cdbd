"""Property tests of the backoff rule and the per-entry retry decision (pure, no I/O)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from buyersync.rules.backoff import (
    BackoffPolicy,
    Decision,
    Verdict,
    decide,
    delay_seconds,
    next_retry_at,
)

attempts = st.integers(min_value=1, max_value=200)
bases = st.floats(min_value=0, max_value=1e6, allow_nan=False)
caps = st.floats(min_value=0, max_value=1e9, allow_nan=False)
jitters = st.floats(min_value=0, max_value=1, allow_nan=False)
draws = st.floats(min_value=0, max_value=1, exclude_max=True, allow_nan=False)
NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def test_contract_defaults_double_from_a_minute_to_the_six_hour_cap() -> None:
    got = [delay_seconds(n, 60, 21600) for n in range(1, 12)]
    assert got == [60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 21600, 21600]
    assert BackoffPolicy() == BackoffPolicy(
        max_attempts=5, base_seconds=60, max_seconds=21600, jitter=0.1
    )


def test_the_settings_defaults_are_the_policy_defaults() -> None:
    """One source of truth: the settings (and so docs/configuration.md) read the rule's."""
    from buyersync.settings import SPECS, Settings

    assert BackoffPolicy.from_settings(Settings()) == BackoffPolicy()
    for name, value in (
        ("retry_max_attempts", 5),
        ("retry_base_seconds", 60.0),
        ("retry_max_seconds", 21600.0),
        ("retry_jitter", 0.1),
    ):
        assert SPECS[name].default == value == getattr(Settings(), name)


@given(attempts, bases, caps)
def test_deterministic_without_jitter(n: int, base: float, cap: float) -> None:
    expected = min(cap, base * 2.0 ** (n - 1))
    got = delay_seconds(n, base, cap, 0.0, rand=lambda: pytest.fail("no random without jitter"))
    assert got == pytest.approx(expected)
    assert got == delay_seconds(n, base, cap)


@given(attempts, bases, caps, jitters, draws, draws)
def test_monotone_in_attempts_even_with_jitter(
    n: int, base: float, cap: float, jitter: float, u1: float, u2: float
) -> None:
    first = delay_seconds(n, base, cap, jitter, rand=lambda: u1)
    later = delay_seconds(n + 1, base, cap, jitter, rand=lambda: u2)
    assert later >= first


@given(attempts, bases, caps, jitters, draws)
def test_never_beyond_the_cap_nor_below_zero(
    n: int, base: float, cap: float, jitter: float, u: float
) -> None:
    assert 0 <= delay_seconds(n, base, cap, jitter, rand=lambda: u) <= cap


@given(attempts, bases, caps, jitters, draws)
def test_jitter_stays_within_its_bounds(
    n: int, base: float, cap: float, jitter: float, u: float
) -> None:
    exact = delay_seconds(n, base, cap)
    got = delay_seconds(n, base, cap, jitter, rand=lambda: u)
    assert exact <= got <= min(cap, exact * (1 + jitter)) * (1 + 1e-12)


def test_huge_attempt_numbers_stay_at_the_cap() -> None:
    assert delay_seconds(10**9, 60, 21600) == 21600
    assert delay_seconds(5000, 1e-300, 1e10) == 1e10


def test_attempt_numbers_start_at_one() -> None:
    with pytest.raises(ValueError):
        delay_seconds(0, 60, 21600)


@pytest.mark.parametrize(
    "kwargs", [{"max_attempts": -1}, {"base_seconds": -1}, {"max_seconds": -1}, {"jitter": 1.5}]
)
def test_policy_rejects_values_that_cannot_work(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        BackoffPolicy(**kwargs)


@given(st.integers(min_value=1, max_value=10), attempts, draws)
def test_next_retry_at_adds_the_delay(max_attempts: int, n: int, u: float) -> None:
    policy = BackoffPolicy(max_attempts=max_attempts, jitter=0.1)
    due = next_retry_at(NOW, n, policy, rand=lambda: u)
    assert due - NOW == timedelta(seconds=delay_seconds(n, 60, 21600, 0.1, rand=lambda: u))


@given(
    made=st.integers(min_value=1, max_value=20),
    max_attempts=st.integers(min_value=1, max_value=10),
    succeeded=st.booleans(),
    gone=st.booleans(),
    retryable=st.booleans(),
)
def test_decision_covers_every_case_exactly_once(
    made: int, max_attempts: int, succeeded: bool, gone: bool, retryable: bool
) -> None:
    policy = BackoffPolicy(max_attempts=max_attempts, jitter=0.0)
    d = decide(
        attempts_made=made,
        succeeded=succeeded,
        gone=gone,
        retryable=retryable,
        now=NOW,
        policy=policy,
    )
    if succeeded:
        assert d == Decision(Verdict.SUCCEEDED)
    elif gone:
        assert d == Decision(Verdict.GONE)
    elif not retryable:
        # property 12: a failure retrying cannot fix never stays queued
        assert d.verdict is Verdict.NOT_RETRYABLE and d.removes_entry
    elif made >= max_attempts:
        # property 10: nothing is scheduled beyond the maximum
        assert d == Decision(Verdict.PERMANENTLY_FAILED)
        assert not d.removes_entry
    else:
        assert d.verdict is Verdict.RESCHEDULED
        assert d.retry_at == NOW + timedelta(seconds=delay_seconds(made + 1, 60, 21600))
    assert (d.retry_at is not None) == (d.verdict is Verdict.RESCHEDULED)


@given(max_attempts=st.integers(min_value=1, max_value=12))
def test_a_failing_entry_is_attempted_exactly_max_attempts_times(max_attempts: int) -> None:
    """Property 10, on the rule alone: keep failing until the rule stops scheduling."""
    policy = BackoffPolicy(max_attempts=max_attempts)
    made, now = 0, NOW
    while True:
        made += 1
        d = decide(
            attempts_made=made, succeeded=False, gone=False, retryable=True, now=now, policy=policy
        )
        if d.verdict is not Verdict.RESCHEDULED:
            break
        assert d.retry_at is not None and d.retry_at > now
        now = d.retry_at
    assert d.verdict is Verdict.PERMANENTLY_FAILED
    assert made == max_attempts


def test_a_policy_with_negative_attempts_is_refused_with_its_reason() -> None:
    assert BackoffPolicy(max_attempts=0).max_attempts == 0  # never retried: allowed
    with pytest.raises(ValueError, match="^max_attempts cannot be negative$"):
        BackoffPolicy(max_attempts=-1)


def test_a_rescheduled_retry_draws_its_jitter_from_the_given_source() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    policy = BackoffPolicy(max_attempts=5, base_seconds=60, max_seconds=10**6, jitter=0.5)
    d = decide(
        attempts_made=1,
        succeeded=False,
        gone=False,
        retryable=True,
        now=now,
        policy=policy,
        rand=lambda: 0.5,
    )
    # attempt 2: 60 · 2 = 120 s, plus half of the 50 % jitter
    assert d == Decision(Verdict.RESCHEDULED, now + timedelta(seconds=150))
