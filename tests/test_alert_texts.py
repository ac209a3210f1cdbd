"""What each alert tells the operator: its numbers, the buyers and rows it names, the
commands it recommends (each one the CLI accepts), and the states the cooldown keeps.

The assertions are on meaning, not on sentences: the numbers a title carries, the buyer
numbers and sheet rows a message lists, the commands as whole words, the ``numbers``
mapping the JSON and the webhook carry. A reworded sentence keeps these tests green; a
wrong number, a lost buyer or a mistyped command does not.
"""

from __future__ import annotations

import re
import shlex
from datetime import UTC, datetime, timedelta

import click
import pytest

from buyersync.cli.main import cli
from buyersync.rules import alerts as R
from buyersync.rules.alerts import (
    AlertState,
    Condition,
    HealthFacts,
    PermanentFailure,
    RunFacts,
    Thresholds,
)
from buyersync.rules.problems import fix_for

T0 = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


def numbers_in(text: str) -> list[str]:
    """The numbers a line states, as written (``12``, ``4.0``, ``12.5%``, ``1,234``), in
    any order (a reworded sentence may move them)."""
    return sorted(_numbers(text))


def _numbers(text: str) -> list[str]:
    return re.findall(r"\d+(?:,\d{3})*(?:\.\d+)?%?", text)


def has_command(text: str, command: str) -> bool:
    """``command`` appears in ``text`` as whole words (not glued to other letters)."""
    return re.search(rf"(?<![\w-]){re.escape(command)}(?![\w-])", text) is not None


def assert_cli_accepts(command: str) -> None:
    """The CLI parses ``command`` (its subcommand and options exist, values convert)."""
    words = shlex.split(command)
    assert words[0] == "buyersync", command
    ctx = click.Context(cli, info_name="buyersync")
    sub = cli.get_command(ctx, words[1])
    assert sub is not None, command
    sub.make_context(words[1], words[2:], parent=ctx)


def assert_sentence_case(text: str) -> None:
    """Messages are written in sentence case: nothing shouted, no glued markers (the
    inputs of these tests are lower case, so every capital comes from the message)."""
    assert not re.search(r"[A-Z]{2,}", text), text
    for line in text.splitlines()[1:]:  # the first line is the title, in lower case
        assert line[:1].isupper() or line.startswith("buyersync"), line


def assert_recommends(alert: R.Alert, *commands: str) -> None:
    assert has_command(alert.text, alert.command), (alert.command, alert.text)
    for command in (alert.command, *commands):
        assert has_command(alert.text, command), (command, alert.text)
        assert_cli_accepts(command)


def run_facts(**kw: object) -> RunFacts:
    base: dict[str, object] = dict(run_id="r-7", rows_read=200, failed=25, duration_s=12.0)
    base.update(kw)
    return RunFacts(**base)  # type: ignore[arg-type]


# -- missing buyers -----------------------------------------------------------------


def test_missing_alert_counts_names_and_commands() -> None:
    missing = tuple((f"b{i}", i + 2) for i in range(12))
    f = HealthFacts(
        checked_at=T0,
        spreadsheet_count=40,
        database_count=31,
        missing=missing,
        extra=("x1", "x2", "x3"),
        last_success_at=T0,
    )
    (alert,) = R.evaluate(f, Thresholds(missing=4))
    assert alert.condition is Condition.MISSING_BUYERS
    assert numbers_in(alert.title) == sorted(["12", "4"])  # missing, and the threshold
    lines = alert.text.splitlines()
    assert lines[0].startswith(alert.title)
    # sheet, database, missing and extra, on one line
    counts = next(line for line in lines[1:] if "40" in line)
    assert numbers_in(counts) == sorted(["40", "31", "12", "3"])
    listed = next(line for line in lines if "b0 (row 2)" in line)
    for key, row in missing[:10]:
        assert f"{key} (row {row})" in listed
    assert "b10" not in listed and "b11" not in listed
    assert numbers_in(listed.split("b9 (row 11)")[1]) == sorted(["2"])  # "and 2 more"
    assert alert.command == "buyersync sync-missing"
    assert_recommends(alert, "buyersync missing", "buyersync errors --since 1h")
    assert_sentence_case(alert.text)
    assert alert.numbers == {
        "missing_count": 12,
        "threshold": 4,
        "spreadsheet_count": 40,
        "database_count": 31,
    }
    assert alert.subjects == tuple(k for k, _ in missing)


def test_a_list_of_exactly_ten_has_no_more() -> None:
    missing = tuple((f"b{i}", i + 2) for i in range(R.SHOWN))
    f = HealthFacts(checked_at=T0, spreadsheet_count=10, database_count=0, missing=missing)
    (alert,) = (a for a in R.evaluate(f, Thresholds()) if a.condition is Condition.MISSING_BUYERS)
    listed = next(line for line in alert.text.splitlines() if "b0 (row 2)" in line)
    assert listed.rstrip(".").endswith("b9 (row 11)")
    assert "more" not in listed
    assert ", ".join(f"b{i} (row {i + 2})" for i in range(R.SHOWN)) in listed


# -- error rate -----------------------------------------------------------------------


def test_error_rate_alert_numbers_rows_types_and_fixes() -> None:
    first = tuple((f"b{i}", i + 2) for i in range(9)) + ((None, 40),)
    run = run_facts(
        errors_by_type={"value_too_long": 10, "constraint": 15},
        first_failures=first,
        failed_then=30,
    )
    (alert,) = R.evaluate(
        HealthFacts(
            checked_at=T0,
            spreadsheet_count=200,
            database_count=200,
            last_run=run,
            error_rate=0.125,
            last_success_at=T0,
        ),
        Thresholds(error_rate=0.05),
    )
    assert alert.condition is Condition.ERROR_RATE
    # still failing, rows read, the rate, the threshold, and failed when it ran
    assert numbers_in(alert.title) == sorted(["25", "200", "12.5%", "5.0%", "30"])
    lines = alert.text.splitlines()
    assert lines[0].startswith(alert.title)
    by_type = next(line for line in lines[1:] if "value_too_long 10" in line)
    assert "r-7" in by_type
    assert re.search(r"constraint 15\W+value_too_long 10", by_type), by_type
    rows = next(line for line in lines if "b0 (row 2)" in line)
    for b, r in first[:9]:
        assert f"{b} (row {r})" in rows
    assert "(no buyer number) (row 40)" in rows
    assert numbers_in(rows.split("(row 40)")[1]) == sorted(["15"])  # 25 failing, 10 shown
    # the command goes to the most frequent type (not the last name)
    assert alert.command == "buyersync errors --run r-7 --type constraint"
    fixes = {c: fix_for(c) for c in ("constraint", "value_too_long")}
    fix_lines = [line for line in lines if line.startswith("Fix")]
    assert len(fix_lines) == 2
    for line, (cat, fix) in zip(fix_lines, sorted(fixes.items()), strict=True):
        assert cat in line and fix.command in line and fix.text in line
    assert_recommends(alert, "buyersync problems", *(f.command for f in fixes.values()))
    assert alert.numbers == {
        "error_rate": 0.125,
        "threshold": 0.05,
        "failed": 25,
        "failed_when_run": 30,
        "rows_read": 200,
        "run_id": "r-7",
    }
    assert alert.subjects == tuple(f"b{i}" for i in range(9))  # the row without a number: none


def test_error_rate_alert_ties_go_to_the_later_type_name() -> None:
    run = run_facts(errors_by_type={"constraint": 5, "value_too_long": 5, "timeout": 2})
    alert = R._error_rate_alert(run, 0.06, Thresholds())
    assert alert.command == "buyersync errors --run r-7 --type value_too_long"
    assert_cli_accepts(alert.command)


def test_error_rate_alert_without_types_or_repairs() -> None:
    run = run_facts(failed=3, rows_read=20, first_failures=(("b1", 2),))
    alert = R._error_rate_alert(run, 0.15, Thresholds(error_rate=0.1))
    assert numbers_in(alert.title) == sorted(
        ["3", "20", "15.0%", "10.0%"]
    )  # no "failed when it ran"
    assert alert.numbers["failed_when_run"] == 3
    assert alert.command == "buyersync errors --run r-7"
    assert "unknown" in alert.text  # the failures by type
    assert [line for line in alert.text.splitlines() if line.startswith("Fix")] == [
        "Fix: buyersync problems"
    ]
    assert "more" not in next(line for line in alert.text.splitlines() if "b1 (row 2)" in line)
    assert_recommends(alert, "buyersync problems")
    assert_sentence_case(alert.text)
    # the same failed count when it ran: said once
    same = R._error_rate_alert(
        run_facts(failed=3, rows_read=20, failed_then=3), 0.15, Thresholds(error_rate=0.1)
    )
    assert same.title == alert.title


# -- permanent failures ---------------------------------------------------------------


def test_permanent_alert_names_the_new_buyers_and_the_first_ones_error() -> None:
    new = [
        PermanentFailure("b1", 5, "timeout", "statement timeout", 5),
        PermanentFailure("b2", None, "unknown", None, 5),
    ]
    old = PermanentFailure("b0", 3, "timeout", "x", 5)
    f = HealthFacts(
        checked_at=T0,
        spreadsheet_count=5,
        database_count=5,
        permanent_failures=(old, *new),
        last_success_at=T0,
    )
    (alert,) = R.evaluate(f, Thresholds(), known_permanent={"b0"})
    assert alert.condition is Condition.PERMANENT_FAILURE
    assert numbers_in(alert.title) == sorted(["2", "3"])  # new ones, all permanently failed
    assert "entries" in alert.title
    text = alert.text
    assert "b1 (row 5, timeout)" in text and "b2 (row None, unknown)" in text
    assert "b0" not in text
    assert re.search(r"b1\W+statement timeout", text)
    assert alert.command == "buyersync retry --buyer b1"
    assert_recommends(alert, "buyersync errors --buyer b1")
    assert alert.numbers == {"new_permanent_failures": 2, "permanent_failures": 3}
    assert alert.subjects == ("b1", "b2")
    assert alert.keys == ("permanent_failure:b1", "permanent_failure:b2")


def test_one_permanent_failure_is_one_entry_and_without_an_error_no_reason() -> None:
    one = R._permanent_alert([PermanentFailure("b9", 4, "unknown")], 1)
    assert "entry " in one.title and "entries" not in one.title
    assert numbers_in(one.title) == sorted(["1", "1"])
    assert "b9 (row 4, unknown)" in one.text
    assert "None" not in one.text and "error of" not in one.text
    assert len(one.text.splitlines()) == 4  # title, new, investigate, retry
    assert_sentence_case(one.text)
    two = R._permanent_alert([PermanentFailure("b1", 4, "unknown")] * 2, 2)
    assert "entries" in two.title


# -- slow and stale syncs -------------------------------------------------------------


def test_slow_sync_alert_minutes_speed_and_numbers() -> None:
    run = run_facts(rows_read=123_456, duration_s=1530.0, rows_per_s=1234.4)
    (alert,) = R.evaluate(
        HealthFacts(
            checked_at=T0, spreadsheet_count=1, database_count=1, last_run=run, last_success_at=T0
        ),
        Thresholds(slow_sync_seconds=900.0),
    )
    assert alert.condition is Condition.SLOW_SYNC
    assert "r-7" in alert.title
    assert numbers_in(alert.title.replace("r-7", "")) == sorted(["25.5", "15.0"])  # minutes, limit
    assert "123456" in alert.text and "1,234 rows/s" in alert.text
    assert alert.command == "buyersync sync --dry-run -v"
    assert_recommends(alert, "buyersync health")
    assert has_command(alert.text, "--batch-size")
    assert_cli_accepts("buyersync sync --batch-size 2000")
    assert_sentence_case(alert.text)
    assert alert.numbers == {
        "duration_s": 1530.0,
        "limit_s": 900.0,
        "rows_read": 123_456,
        "rows_per_s": 1234.4,
        "run_id": "r-7",
    }
    assert R.evaluate_sync(run, Thresholds(slow_sync_seconds=900.0)) == (alert,)


def test_slow_sync_alert_without_a_speed_or_a_duration() -> None:
    alert = R.slow_sync_alert(run_facts(duration_s=None, rows_per_s=None), 60.0)
    assert "unknown speed" in alert.text
    assert alert.numbers["duration_s"] == 0.0
    assert numbers_in(alert.title.replace("r-7", "")) == sorted(["0.0", "1.0"])
    assert_sentence_case(alert.text)


def test_stale_alert_minutes_and_never() -> None:
    f = HealthFacts(
        checked_at=T0,
        spreadsheet_count=1,
        database_count=1,
        last_success_at=T0 - timedelta(minutes=150),
    )
    (alert,) = R.evaluate(f, Thresholds(stale_seconds=7200.0))
    assert alert.condition is Condition.STALE_SYNC
    assert numbers_in(alert.title) == sorted(["150", "120"])
    assert alert.command == "buyersync sync"
    assert_recommends(alert, "buyersync errors --since 24h")
    assert_sentence_case(alert.text)
    assert alert.numbers == {"seconds_since_last_success": 9000.0, "limit_s": 7200.0}
    never = R.evaluate(
        HealthFacts(checked_at=T0, spreadsheet_count=1, database_count=1),
        Thresholds(stale_seconds=7200.0),
    )
    (n,) = never
    assert "ever" in n.title and not numbers_in(n.title)
    assert n.text.startswith(n.title)
    assert n.numbers == {"seconds_since_last_success": None, "limit_s": 7200.0}
    assert_sentence_case(n.text)


# -- the sheet, refusals, JSON --------------------------------------------------------


def test_sheet_alert_carries_the_problem_and_the_command() -> None:
    f = HealthFacts(
        checked_at=T0,
        spreadsheet_count=None,
        database_count=3,
        sheet_problem="the tab is gone",
        last_success_at=T0,
    )
    (alert,) = R.evaluate(f, Thresholds())
    assert alert.condition is Condition.SHEET_UNREADABLE
    assert "sheet" in alert.title and alert.text.startswith(alert.title)
    assert "the tab is gone" in alert.text
    assert alert.command == "buyersync sync --dry-run -v"
    assert_recommends(alert)
    assert_sentence_case(alert.text)
    assert alert.numbers == {}
    assert alert.to_json()["command"] == "buyersync sync --dry-run -v"


def test_refused_alert_says_why_and_the_way_forward() -> None:
    alert = R.refused_alert("the sheet has 3 rows, the table 300")
    assert alert.condition is Condition.SYNC_REFUSED
    assert "refused" in alert.title and alert.text.startswith(alert.title)
    assert "the sheet has 3 rows, the table 300" in alert.text
    assert alert.command == "buyersync sync --dry-run -v"
    assert_recommends(alert, "buyersync sync --max-shrink-ratio 0")
    assert_sentence_case(alert.text)
    assert alert.numbers == {"reason": "the sheet has 3 rows, the table 300"}
    hinted = R.refused_alert("headers changed", hint="accept them: buyersync sync --accept-headers")
    assert "accept them: buyersync sync --accept-headers" in hinted.text
    assert "--max-shrink-ratio" not in hinted.text


def test_to_json_carries_every_part_and_at_most_a_hundred_buyers() -> None:
    missing = tuple((f"b{i}", i + 2) for i in range(101))
    f = HealthFacts(checked_at=T0, spreadsheet_count=101, database_count=0, missing=missing)
    alert = next(a for a in R.evaluate(f, Thresholds()) if a.condition is Condition.MISSING_BUYERS)
    assert alert.to_json() == {
        "condition": "missing_buyers",
        "title": alert.title,
        "message": alert.text,
        "command": "buyersync sync-missing",
        "numbers": dict(alert.numbers),
        "buyers": [f"b{i}" for i in range(100)],
    }


# -- small rules ----------------------------------------------------------------------


def test_rows_per_second_below_one_second() -> None:
    assert R.rows_per_second(10, 0.5) == 20.0
    assert R.rows_per_second(10, 2.0) == 5.0
    assert R.rows_per_second(10, 0.0) == 0.0
    assert R.rows_per_second(10, 1e-320) == 0.0  # infinite: not a JSON number


def test_state_keys_and_their_parts() -> None:
    assert R.state_key(Condition.ERROR_RATE) == "error_rate"
    assert R.state_key(Condition.PERMANENT_FAILURE, "b1") == "permanent_failure:b1"
    assert R.split_key("error_rate") == (Condition.ERROR_RATE, None)
    assert R.split_key("permanent_failure:b1") == (Condition.PERMANENT_FAILURE, "b1")
    assert R.split_key("permanent_failure:") == (Condition.PERMANENT_FAILURE, "")
    assert R.split_key("nonsense:b1") == (None, None)


def test_known_permanent_is_active_permanent_failure_states_only() -> None:
    states = {
        "error_rate": AlertState("error_rate", active=True),
        "permanent_failure": AlertState("permanent_failure", active=True),
        "permanent_failure:b1": AlertState("permanent_failure:b1", active=True, last_sent_at=T0),
        "permanent_failure:b2": AlertState("permanent_failure:b2", active=False, last_sent_at=T0),
        # active, but no channel accepted its alert: still news
        "permanent_failure:b3": AlertState("permanent_failure:b3", active=True),
    }
    assert R.known_permanent(states) == frozenset({"b1"})


# -- the plan: what is sent, and the states stored ------------------------------------


def _alert(condition: Condition = Condition.ERROR_RATE, *subjects: str) -> R.Alert:
    return R.Alert(condition, f"title {condition}", "text", "buyersync health", {}, subjects)


def test_plan_keeps_first_seen_and_last_message_of_a_suppressed_alert() -> None:
    now = T0 + timedelta(minutes=10)
    before = AlertState("error_rate", True, T0 - timedelta(hours=5), T0, "old title")
    p = R.plan({"error_rate": before}, [_alert()], now=now, cooldown_seconds=3600)
    assert p.suppressed and not p.send
    assert p.states == (before,)


def test_plan_sends_a_new_alert_and_stamps_it() -> None:
    p = R.plan({}, [_alert()], now=T0, cooldown_seconds=3600)
    assert [a.condition for a in p.send] == [Condition.ERROR_RATE]
    assert p.states == (AlertState("error_rate", True, T0, T0, "title error_rate"),)


def test_plan_repeat_after_cooldown_keeps_first_seen() -> None:
    first_seen = T0 - timedelta(hours=5)
    before = AlertState("error_rate", True, first_seen, T0, "old title")
    now = T0 + timedelta(seconds=3600)  # exactly the cooldown: due
    p = R.plan({"error_rate": before}, [_alert()], now=now, cooldown_seconds=3600)
    assert p.send and not p.suppressed
    assert p.states == (AlertState("error_rate", True, first_seen, now, "title error_rate"),)


def test_plan_a_condition_back_after_it_cleared_is_first_seen_now() -> None:
    before = AlertState("error_rate", False, T0 - timedelta(hours=5), T0, "old title")
    now = T0 + timedelta(minutes=1)
    p = R.plan({"error_rate": before}, [_alert()], now=now, cooldown_seconds=3600)
    assert p.send
    assert p.states == (AlertState("error_rate", True, now, now, "title error_rate"),)


def test_plan_an_active_state_never_sent_is_due() -> None:
    before = AlertState("error_rate", True, T0, None, None)
    p = R.plan({"error_rate": before}, [_alert()], now=T0, cooldown_seconds=3600)
    assert p.send and not p.suppressed


def test_plan_holding_without_an_alert_becomes_active_once() -> None:
    key = "permanent_failure:b1"
    p = R.plan({}, [], holding={key}, now=T0, cooldown_seconds=3600)
    assert p.states == (AlertState(key, True, T0),)
    assert not p.send and not p.recoveries
    inactive = {key: AlertState(key, False, T0 - timedelta(days=1), T0, "t")}
    p = R.plan(inactive, [], holding={key}, now=T0, cooldown_seconds=3600)
    assert p.states == (AlertState(key, True, T0),)
    active = {key: AlertState(key, True, T0 - timedelta(days=1), T0, "t")}
    p = R.plan(active, [], holding={key}, now=T0, cooldown_seconds=3600)
    assert p.states == () and not p.recoveries


def test_plan_recovers_every_cleared_condition_past_inactive_ones() -> None:
    since = T0 - timedelta(hours=2)
    previous = {
        "error_rate": AlertState("error_rate", False, T0, T0, "t"),  # sorts first, skipped
        "missing_buyers": AlertState("missing_buyers", True, since, T0, "t"),
        "permanent_failure:b1": AlertState("permanent_failure:b1", True, since, T0, "t"),
    }
    p = R.plan(previous, [], now=T0, cooldown_seconds=3600)
    assert [(r.key, r.condition, r.subject, r.since) for r in p.recoveries] == [
        ("missing_buyers", Condition.MISSING_BUYERS, None, since),
        ("permanent_failure:b1", Condition.PERMANENT_FAILURE, "b1", since),
    ]
    assert [r.text for r in p.recoveries][1].count("b1") == 1
    assert {s.key: s.active for s in p.states} == {
        "missing_buyers": False,
        "permanent_failure:b1": False,
    }


@pytest.mark.parametrize("limit", [0.0, 900.0])
def test_evaluate_slow_only_over_an_enabled_limit(limit: float) -> None:
    run = run_facts(failed=0, duration_s=901.0)
    f = HealthFacts(
        checked_at=T0, spreadsheet_count=1, database_count=1, last_run=run, last_success_at=T0
    )
    fired = R.evaluate(f, Thresholds(slow_sync_seconds=limit))
    assert [a.condition for a in fired] == ([Condition.SLOW_SYNC] if limit else [])
