"""Alert rules (properties 13, 14, 15, 22) and the cooldown / recovery decision."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from buyersync.rules import alerts as R
from buyersync.rules.alerts import (
    AlertState,
    Condition,
    HealthFacts,
    PermanentFailure,
    RunFacts,
    Thresholds,
)

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)
keys = st.text(alphabet="AB0123456789-", min_size=1, max_size=6)


def facts(**kw: object) -> HealthFacts:
    base: dict[str, object] = dict(
        checked_at=T0, spreadsheet_count=10, database_count=10, last_success_at=T0
    )
    base.update(kw)
    run = base.get("last_run")
    if isinstance(run, RunFacts) and "error_rate" not in kw:
        # what the monitor measures (SyncMonitor.calculate_error_rate), computed here
        base["error_rate"] = run.failed / run.rows_read if run.rows_read else 0.0
    return HealthFacts(**base)  # type: ignore[arg-type]


def conditions(alerts: tuple[R.Alert, ...]) -> set[Condition]:
    return {a.condition for a in alerts}


# -- property 13: missing count threshold --------------------------------------------


@given(st.lists(keys, unique=True, max_size=30), st.integers(min_value=0, max_value=35))
def test_missing_alert_iff_count_over_threshold(missing: list[str], threshold: int) -> None:
    f = facts(missing=tuple((k, i + 2) for i, k in enumerate(missing)))
    fired = R.evaluate(f, Thresholds(missing=threshold))
    assert (Condition.MISSING_BUYERS in conditions(fired)) == (len(missing) > threshold)
    for a in fired:
        if a.condition is Condition.MISSING_BUYERS:
            assert a.numbers["missing_count"] == len(missing)
            # names the first buyers with their sheet rows, and the fixing command
            k, row = f.missing[0]
            assert f"{k} (row {row})" in a.text
            assert "buyersync sync-missing" in a.text and "buyersync missing" in a.text
            assert a.subjects == tuple(missing)


def test_missing_alert_default_threshold_is_zero() -> None:
    assert not R.evaluate(facts(), Thresholds())
    fired = R.evaluate(facts(missing=(("B7", 9),)), Thresholds())
    assert conditions(fired) == {Condition.MISSING_BUYERS}
    assert "B7 (row 9)" in fired[0].text


def test_unreadable_sheet_alerts_instead_of_missing() -> None:
    fired = R.evaluate(facts(spreadsheet_count=None, sheet_problem="no such file"), Thresholds())
    assert conditions(fired) == {Condition.SHEET_UNREADABLE}
    assert "no such file" in fired[0].text


# -- property 14: error rate threshold -----------------------------------------------


@given(
    st.integers(min_value=0, max_value=500),
    st.integers(min_value=0, max_value=500),
    st.floats(min_value=0, max_value=1),
)
def test_error_rate_alert_iff_rate_over_threshold(
    failed: int, extra: int, threshold: float
) -> None:
    rows = failed + extra
    run = RunFacts(
        "r1",
        rows_read=rows,
        failed=failed,
        duration_s=1.0,
        errors_by_type={"value_too_long": failed} if failed else {},
        first_failures=tuple((f"B{i}", i + 2) for i in range(min(failed, 3))),
    )
    rate = R.error_rate(failed, rows)
    assert 0 <= rate <= 1
    fired = R.evaluate(facts(last_run=run), Thresholds(error_rate=threshold))
    assert (Condition.ERROR_RATE in conditions(fired)) == (rate > threshold)
    for a in fired:
        if a.condition is Condition.ERROR_RATE:
            assert a.command == "buyersync errors --run r1 --type value_too_long"
            assert "B0 (row 2)" in a.text


def test_error_rate_is_zero_without_rows() -> None:
    assert R.error_rate(0, 0) == 0.0
    assert R.error_rate(3, 0) == 0.0
    assert R.error_rate(1, 20) == 0.05
    # exactly at the threshold is not over it
    run = RunFacts("r", rows_read=20, failed=1, duration_s=1.0)
    assert not R.evaluate(facts(last_run=run), Thresholds(error_rate=0.05))


# -- property 15: every new permanent failure alerts ---------------------------------


@given(
    st.lists(keys, unique=True, max_size=20),
    st.sets(keys, max_size=20),
    st.floats(min_value=0, max_value=1e6),
)
def test_every_new_permanent_failure_alerts(
    current: list[str], known: set[str], cooldown: float
) -> None:
    perms = tuple(PermanentFailure(k, i + 2, "timeout", "lost", 5) for i, k in enumerate(current))
    fired = R.evaluate(facts(permanent_failures=perms), Thresholds(), known_permanent=known)
    new = [k for k in current if k not in known]
    perm_alerts = [a for a in fired if a.condition is Condition.PERMANENT_FAILURE]
    if not new:
        assert not perm_alerts
        return
    (alert,) = perm_alerts
    assert alert.subjects == tuple(new)
    assert f"buyersync retry --buyer {new[0]}" in alert.text
    # whatever the stored states and cooldown, a new permanent failure is sent
    previous = {
        R.state_key(Condition.PERMANENT_FAILURE, k): AlertState(
            R.state_key(Condition.PERMANENT_FAILURE, k), True, T0, T0
        )
        for k in known
    }
    previous[str(Condition.PERMANENT_FAILURE)] = AlertState("permanent_failure", True, T0, T0)
    p = R.plan(
        previous,
        fired,
        holding=R.active_keys(facts(permanent_failures=perms), fired),
        now=T0 + timedelta(seconds=1),
        cooldown_seconds=cooldown,
    )
    assert alert in p.send
    # and afterwards every current failure is known: none alerts again
    stored = {**previous, **{s.key: s for s in p.states}}
    assert R.known_permanent(stored) >= set(current)
    again = R.evaluate(
        facts(permanent_failures=perms), Thresholds(), known_permanent=R.known_permanent(stored)
    )
    assert Condition.PERMANENT_FAILURE not in conditions(again)


def test_permanent_failure_that_cleared_recovers_once() -> None:
    perms = (PermanentFailure("B1", 2, "timeout"), PermanentFailure("B2", 3, "timeout"))
    f1 = facts(permanent_failures=perms)
    a1 = R.evaluate(f1, Thresholds())
    p1 = R.plan({}, a1, holding=R.active_keys(f1, a1), now=T0, cooldown_seconds=3600)
    states = {s.key: s for s in p1.states}
    f2 = facts(permanent_failures=perms[1:])
    a2 = R.evaluate(f2, Thresholds(), known_permanent=R.known_permanent(states))
    p2 = R.plan(states, a2, holding=R.active_keys(f2, a2), now=T0, cooldown_seconds=3600)
    assert not p2.send
    assert [r.text for r in p2.recoveries] == [
        "recovered: buyer B1 is no longer permanently failed"
    ]


# -- property 22 and requirement 8.5: performance ------------------------------------


@given(
    st.integers(min_value=0, max_value=10**6),
    st.floats(min_value=0, max_value=1e5),
    st.floats(min_value=0, max_value=1e5),
)
def test_throughput_and_slow_sync(rows: int, duration: float, limit: float) -> None:
    speed = R.rows_per_second(rows, duration)
    assert speed >= 0 and math.isfinite(speed)
    if speed > 0:
        assert abs(speed * duration - rows) <= 1e-6 * max(rows, 1)
    run = RunFacts("r9", rows_read=rows, failed=0, duration_s=duration, rows_per_s=speed)
    fired = R.evaluate_sync(run, Thresholds(slow_sync_seconds=limit))
    assert bool(fired) == (limit > 0 and duration > limit)
    for a in fired:
        assert a.condition is Condition.SLOW_SYNC and "r9" in a.text
        assert "buyersync" in a.command


def test_stale_sync_dead_mans_switch() -> None:
    old = facts(last_success_at=T0 - timedelta(hours=3))
    assert Condition.STALE_SYNC in conditions(R.evaluate(old, Thresholds(stale_seconds=7200)))
    assert not R.evaluate(old, Thresholds(stale_seconds=0))  # 0 disables
    assert not R.evaluate(old, Thresholds(stale_seconds=4 * 3600))
    never = facts(last_success_at=None)
    (a,) = R.evaluate(never, Thresholds())
    assert a.condition is Condition.STALE_SYNC and a.command == "buyersync sync"


@given(
    st.one_of(st.none(), st.floats(min_value=0, max_value=1e7)),
    st.floats(min_value=0, max_value=1e7),
)
def test_stale_rule(since: float | None, limit: float) -> None:
    expected = limit > 0 and (since is None or since > limit)
    assert R.stale(since, limit) == expected


# -- cooldown and recovery -----------------------------------------------------------

steps = st.lists(
    st.tuples(st.integers(min_value=0, max_value=7200), st.booleans()), min_size=1, max_size=40
)


@settings(max_examples=300)
@given(
    steps,
    st.integers(min_value=1, max_value=5000),
    st.sampled_from([Condition.MISSING_BUYERS, Condition.ERROR_RATE, Condition.STALE_SYNC]),
)
def test_cooldown_and_recovery(
    timeline: list[tuple[int, bool]], cooldown: int, condition: Condition
) -> None:
    """A scalar condition over time: sent when it starts, repeated no sooner than the
    cooldown while it lasts, one recovery when it clears, sent at once when it returns."""
    alert = R.Alert(condition, "t", "text", "buyersync x")
    states: dict[str, AlertState] = {}
    now = T0
    active = False
    last_sent: datetime | None = None
    for gap, holds in timeline:
        now += timedelta(seconds=gap)
        p = R.plan(states, (alert,) if holds else (), now=now, cooldown_seconds=cooldown)
        states.update({s.key: s for s in p.states})
        sent = alert in p.send
        if holds and not active:
            assert sent, "a condition that starts is sent at once"
        elif holds:
            assert last_sent is not None
            assert sent == ((now - last_sent).total_seconds() >= cooldown)
            assert sent or alert in p.suppressed
        else:
            assert not sent
        assert len(p.recoveries) == (1 if (active and not holds) else 0)
        if sent:
            last_sent = now
        active = holds
        assert states[str(condition)].active == holds if str(condition) in states else not holds


def test_recovery_only_for_evaluated_conditions() -> None:
    states = {"missing_buyers": AlertState("missing_buyers", True, T0, T0)}
    p = R.plan(states, (), evaluated=R.SYNC_CONDITIONS, now=T0, cooldown_seconds=60)
    assert not p.recoveries and not p.states
    p = R.plan(states, (), now=T0, cooldown_seconds=60)
    assert [r.key for r in p.recoveries] == ["missing_buyers"]
    assert p.states[0].active is False and p.states[0].last_sent_at == T0


@given(st.integers(min_value=0, max_value=50), st.integers(min_value=1, max_value=50))
def test_error_rate_is_failed_over_rows_read_from_one_row_on(failed: int, rows: int) -> None:
    failed = min(failed, rows)
    assert R.error_rate(failed, rows) == failed / rows  # a one-row sync that failed is 100 %
    assert R.error_rate(failed, 0) == 0.0
