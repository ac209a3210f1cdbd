"""The delivery rules (pure): the status and text of every outcome, and that only an
accepted alert starts the cooldown — also for news that returns inside the cooldown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from buyersync.rules import alerts as rules
from buyersync.rules import delivery as D

NOW = datetime(2026, 12, 2, 3, 0, tzinfo=UTC)
ALERT = rules.Alert(rules.Condition.MISSING_BUYERS, "3 missing", "3 missing.", "buyersync missing")


def R(channel: str, ok: bool, error: str | None = None) -> D.ChannelResult:
    return D.ChannelResult(channel, ok, error)


def test_outcome_texts() -> None:
    assert D.outcome([R("console", True)])[:2] == (
        D.DeliveryStatus.NO_CHANNEL,
        "not sent: no channel configured",
    )
    assert D.outcome([R("console", True)], no_alerts=True)[1] == "not sent: --no-alerts"
    sent = D.outcome([R("console", True), R("email", True), R("webhook", True)])
    assert sent[:3] == (D.DeliveryStatus.SENT, "sent to e-mail, webhook", ("email", "webhook"))
    partly = D.outcome([R("email", False, "smtp://h:25: refused"), R("webhook", True)])
    assert partly[1] == "sent to webhook; e-mail failed (smtp://h:25: refused)"
    failed = D.outcome([R("console", True), R("webhook", False, "HTTP 500")])
    assert failed[:2] == (D.DeliveryStatus.FAILED, "not sent: webhook failed (HTTP 500)")
    assert not D.accepted([R("console", True), R("webhook", False)])
    assert D.accepted([R("webhook", True)])


def _plan(previous: dict[str, rules.AlertState]) -> rules.Plan:
    return rules.plan(previous, [ALERT], now=NOW, cooldown_seconds=3600)


def test_news_returning_inside_the_cooldown_that_reached_nobody_stays_due() -> None:
    # Sent (accepted) 10 minutes ago, recovered, back now: news, sent at once.
    earlier = rules.AlertState(
        "missing_buyers", False, NOW - timedelta(minutes=20), NOW - timedelta(minutes=10), "x"
    )
    plan = _plan({"missing_buyers": earlier})
    assert plan.send == (ALERT,)
    settled = D.settle(plan, {"missing_buyers": earlier}, delivered=False)
    (state,) = settled.states
    assert state.active and state.last_sent_at is None
    # So the next check sends it again instead of holding it back.
    again = rules.plan({"missing_buyers": state}, [ALERT], now=NOW, cooldown_seconds=3600)
    assert again.send == (ALERT,)


def test_an_accepted_alert_starts_the_cooldown_and_says_until_when() -> None:
    plan = _plan({})
    (state,) = D.settle(plan, {}, delivered=True).states
    assert state.last_sent_at == NOW
    later = NOW + timedelta(minutes=5)
    held = rules.plan({"missing_buyers": state}, [ALERT], now=later, cooldown_seconds=3600)
    (item,) = D.deliveries(held, [], {"missing_buyers": state}, now=later, cooldown_seconds=3600)
    assert item.status is D.DeliveryStatus.SUPPRESSED
    assert item.until == NOW + timedelta(hours=1)
    assert item.text == "suppressed: cooldown until 2026-12-02 04:00Z"


def test_a_reminder_that_failed_keeps_the_last_real_send() -> None:
    sent_at = NOW - timedelta(hours=2)
    active = rules.AlertState("missing_buyers", True, sent_at, sent_at, "3 missing")
    plan = _plan({"missing_buyers": active})
    assert plan.send == (ALERT,)  # cooled: a reminder
    (state,) = D.settle(plan, {"missing_buyers": active}, delivered=False).states
    assert state.last_sent_at == sent_at


def test_an_undelivered_permanent_failure_is_still_news() -> None:
    never = rules.AlertState("permanent_failure:B1", True, NOW, None, None)
    delivered = rules.AlertState("permanent_failure:B2", True, NOW, NOW, "sent")
    known = rules.known_permanent({s.key: s for s in (never, delivered)})
    assert known == frozenset({"B2"})
