"""The sync monitor: health checks, alerts, performance metrics, dashboard data.

:class:`SyncMonitor` gathers the facts of one health check (sheet keys against the
database, the last sync's error rate, the retry queue, time since the last successful
sync), asks :mod:`buyersync.rules.alerts` what holds and what to send, sends it with
:mod:`buyersync.services.notify`, and stores the check in ``sync_health_metrics`` and
the alert states in ``alert_state`` (requirement 5).

:func:`after_sync` runs after every real sync (``cli/sync.py`` calls it): it logs the
duration and throughput and fires the slow-sync alert (requirements 8.4, 8.5). It
never raises: monitoring must not turn a good sync into a failed command.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict
from datetime import datetime
from typing import Any

from buyersync import wiring
from buyersync.errors import ConfigError, HeaderError, SourceError
from buyersync.rules import alerts as rules
from buyersync.rules import delivery as outcome
from buyersync.rules.alerts import Alert, HealthFacts, Plan, RunFacts, Thresholds
from buyersync.rules.diff import KeyDiff, KeyMatch
from buyersync.rules.keys import DEFAULT_KEY_CASE, FirstSeen, key_fold
from buyersync.rules.normalize import map_headers, normalize_key
from buyersync.services.dashboard import get_dashboard_data
from buyersync.services.healthreport import HealthReport, compose, thresholds_from
from buyersync.services.notify import Channel, ConsoleChannel, Delivery, deliver
from buyersync.settings import Settings
from buyersync.sources.base import Source
from buyersync.store import buyers, deliveries, problems, retryqueue, runs, sheettabs
from buyersync.store import health as store
from buyersync.store.db import Database, utcnow
from buyersync.store.migrations import ensure_schema

__all__ = [
    "ALERT_LOCK",
    "HealthReport",
    "SyncMonitor",
    "after_refused",
    "after_sync",
    "compose",
    "get_dashboard_data",
    "thresholds_from",
]

log = logging.getLogger(__name__)

#: The lock that makes deciding, sending and storing alerts one step per database.
ALERT_LOCK = "alerts"
#: Seconds to wait for another check's alerts (each channel times out after 10 s).
ALERT_LOCK_WAIT = 60.0
#: How many missing buyers / extra keys a stored health check keeps in ``details``.
KEPT_IN_DETAILS = 1000


class SyncMonitor:
    """Health checks and alerts for one database (and, for counts, one sheet).

    ``source`` may be ``None``: the check then skips the sheet comparison and says so.
    ``key_case`` is the comparison of buyer numbers (:mod:`buyersync.rules.keys`), the
    same one ``missing``, ``verify``, the sync and ``retry`` make.
    ``channels`` default to the console only; ``secrets`` are scrubbed from channel
    errors. ``clock`` returns the current UTC time (tests move it).
    """

    def __init__(
        self,
        db: Database,
        *,
        source: Source | None = None,
        key_column: str = "buyer_number",
        key_case: str = DEFAULT_KEY_CASE,
        mapping: Mapping[str, str] | None = None,
        thresholds: Thresholds | None = None,
        channels: Sequence[Channel] | None = None,
        secrets: Sequence[str] = (),
        database_display: str = "",
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db = db
        self.source = source
        self.key_column = key_column
        self.fold = key_fold(key_case)
        self.mapping = dict(mapping or {})
        self.thresholds = thresholds or Thresholds()
        self.channels = list(channels) if channels is not None else [ConsoleChannel()]
        self.secrets = list(secrets)
        self.database_display = database_display or getattr(db, "display", "")
        self.clock = clock

    @classmethod
    def from_settings(
        cls, db: Database, settings: Settings, *, source: Source | None = None
    ) -> SyncMonitor:
        return cls(
            db,
            source=source,
            key_column=settings.key_column,
            key_case=settings.key_case,
            mapping=settings.mapping,
            thresholds=thresholds_from(settings),
            channels=wiring.alert_channels(settings),
            secrets=settings.secrets(),
            database_display=settings.database_display,
        )

    # -- facts ------------------------------------------------------------------
    def sheet_keys(self) -> dict[str, int]:
        """Normalized buyer number → first sheet row, reading only the key column
        where the source can. Blank keys are skipped; a key that is one buyer with an
        earlier one under ``key_case`` keeps the earlier spelling. Raises
        :class:`SourceError` or :class:`HeaderError`."""
        if self.source is None:
            return {}
        seen = FirstSeen(self.fold)
        for row_number, value in _key_column(self.source, self.key_column, self.mapping):
            key = normalize_key(value)
            if key and seen.earlier(key) is None:
                seen.add(key, row_number)
        return seen.first_row

    def compare_counts(self) -> KeyDiff:
        """The key difference between the sheet and ``buyers`` (requirement 2.1–2.2),
        under ``key_case`` as ``missing`` compares them.

        What the health check reports (missing and extra buyers, both counts). Raises
        :class:`SourceError` or :class:`HeaderError` when the sheet cannot be read.
        """
        sheet = self.sheet_keys()
        match = KeyMatch(set(buyers.iter_keys(self.db)), self.fold)
        match.take_all(sheet.items())
        return match.finish(len(sheet))

    def calculate_error_rate(self, run: RunFacts | None = None) -> float:
        """The error rate of the present (property 14): the rows of the last completed
        full sync (default) still failing now — open, unacknowledged row problems it
        logged — over the rows it read; 0 without one. Repairs since that sync
        (schema fix, sync-missing, retry) bring it down without another full sync."""
        if run is None:
            run = self._last_run()
        return rules.error_rate(run.failed, run.rows_read) if run else 0.0

    def _last_run(self) -> RunFacts | None:
        """The last completed full sync, its failures counted as they stand now."""
        last = runs.last_successful(self.db, "sync")
        if last is None:
            return None
        still: int = 0
        by_type: dict[str, int] = {}
        first: list[tuple[str | None, int | None]] = []
        if last.failed and self.db.table_exists(problems.TABLE):
            still, by_type, first = problems.open_for_run(self.db, last.run_id)
        return RunFacts(
            last.run_id,
            last.rows_read,
            still,
            last.duration_s,
            last.rows_per_s,
            by_type,
            tuple(first[: rules.SHOWN]),
            failed_then=last.failed,
        )

    def gather(self) -> HealthFacts:
        """Measure everything a health check needs (reads only)."""
        now = self.clock()
        problem: str | None = None
        diff: KeyDiff | None = None
        if self.source is None:
            problem = "no source is configured, so the sheet was not compared (set --source)"
        else:
            try:
                diff = self.compare_counts()
                sheettabs.remember(self.db, self.source)
            except (SourceError, HeaderError, ConfigError) as exc:
                problem = str(exc)
        depth = retryqueue.depth(self.db)
        last = runs.last_successful(self.db, "sync")
        last_run = self._last_run()
        tracked = self.db.table_exists(problems.TABLE)
        acked = problems.acknowledged_buyers(self.db) if tracked else frozenset()
        permanent = tuple(
            p for p in store.permanent_failures(self.db) if p.buyer_number not in acked
        )
        return HealthFacts(
            checked_at=now,
            spreadsheet_count=diff.sheet_count if diff else None,
            database_count=diff.database_count if diff else buyers.count(self.db),
            missing=diff.missing if diff else (),
            extra=diff.extra if diff else (),
            last_run=last_run,
            error_rate=self.calculate_error_rate(last_run),
            retry_queue_depth=depth.get("pending", 0) + depth.get("processing", 0),
            permanent_failures=permanent,
            last_success_at=last.finished_at if last else None,
            sheet_problem=problem,
            open_problems=problems.open_count(self.db) if tracked else 0,
            acknowledged_problems=(
                problems.open_count(self.db)
                - problems.open_count(self.db, include_acknowledged=False)
                if tracked
                else 0
            ),
            acknowledged=acked,
            last_sync_error_rate=(
                rules.error_rate(last_run.failed_then or 0, last_run.rows_read) if last_run else 0.0
            ),
        )

    # -- the check --------------------------------------------------------------
    def check_health(self, *, send: bool = True) -> HealthReport:
        """Run one health check: measure, decide, send alerts, store the check.

        Sending never raises (a channel that is down is logged and reported in
        ``deliveries``); reading or writing the database may raise StoreError.
        """
        ensure_schema(self.db)
        facts = self.gather()
        # Two checks at once (cron and serve) would both see "not sent yet" and both send.
        with self.db.lock(ALERT_LOCK, wait_seconds=ALERT_LOCK_WAIT):
            states = store.alert_states(self.db)
            alerts = rules.evaluate(
                facts, self.thresholds, known_permanent=rules.known_permanent(states)
            )
            plan = rules.plan(
                states,
                alerts,
                holding=rules.active_keys(facts, alerts),
                now=facts.checked_at,
                cooldown_seconds=self.thresholds.cooldown_seconds,
            )
            healthy = not alerts and not facts.permanent_failures
            report = HealthReport(facts, alerts, plan, healthy)
            if send and plan.anything_to_send:
                report.deliveries = self.send_alert(plan, healthy=healthy)
            report.plan = self._settle(report.plan, states, report.deliveries, no_alerts=not send)
            report.outcomes = self._outcomes(plan, states, report.deliveries, no_alerts=not send)
            report.record_id = store.insert(self.db, self._record(report))
            deliveries.record(
                self.db,
                report.outcomes,
                at=facts.checked_at,
                origin="health",
                health_check_id=report.record_id,
            )
            # States are saved after sending: a crash in between re-sends rather than loses.
            store.save_alert_states(self.db, report.plan.states)
        log.info(
            "health check %s: %s, %d missing, error rate %.1f%%, %d alert(s) sent",
            report.record_id,
            "healthy" if healthy else "UNHEALTHY",
            facts.missing_count,
            facts.error_rate * 100,
            sum(1 for d in report.outcomes if d.sent),
        )
        return report

    def apply(
        self, alerts: Sequence[Alert], *, evaluated: frozenset[rules.Condition], healthy: bool
    ) -> tuple[Plan, list[Delivery]]:
        """Plan, send and store alerts for a partial evaluation (e.g. after a sync)."""
        with self.db.lock(ALERT_LOCK, wait_seconds=ALERT_LOCK_WAIT):
            states = store.alert_states(self.db)
            plan = rules.plan(
                states,
                alerts,
                evaluated=evaluated,
                now=self.clock(),
                cooldown_seconds=self.thresholds.cooldown_seconds,
            )
            now = self.clock()
            sent = self.send_alert(plan, healthy=healthy) if plan.anything_to_send else []
            settled = self._settle(plan, states, sent)
            deliveries.record(self.db, self._outcomes(plan, states, sent), at=now, origin="sync")
            store.save_alert_states(self.db, settled.states)
        return settled, sent

    def _results(self, sent: Sequence[Delivery]) -> list[outcome.ChannelResult]:
        return [outcome.ChannelResult(d.channel, d.ok, d.error) for d in sent]

    def _settle(
        self,
        plan: Plan,
        states: Mapping[str, rules.AlertState],
        sent: Sequence[Delivery],
        *,
        no_alerts: bool = False,
    ) -> Plan:
        """The plan's states as stored: an alert no channel accepted did not start
        its cooldown (nor, for a permanent failure, count as reported)."""
        delivered = not no_alerts and outcome.accepted(self._results(sent))
        return outcome.settle(plan, states, delivered=delivered)

    def _outcomes(
        self,
        plan: Plan,
        states: Mapping[str, rules.AlertState],
        sent: Sequence[Delivery],
        *,
        no_alerts: bool = False,
    ) -> list[outcome.AlertDelivery]:
        return outcome.deliveries(
            plan,
            self._results(sent),
            states,
            now=self.clock(),
            cooldown_seconds=self.thresholds.cooldown_seconds,
            no_alerts=no_alerts,
        )

    def send_alert(self, plan: Plan, *, healthy: bool) -> list[Delivery]:
        """Send the plan's alerts and recoveries on every channel; never raises."""
        note = compose(plan, healthy=healthy, database=self.database_display)
        return deliver(note, self.channels, secrets=self.secrets)

    def _record(self, report: HealthReport) -> store.HealthRecord:
        f = report.facts
        since = f.seconds_since_last_success
        return store.HealthRecord(
            check_time=f.checked_at,
            spreadsheet_count=f.spreadsheet_count,
            database_count=f.database_count,
            missing_count=None if f.spreadsheet_count is None else f.missing_count,
            extra_count=None if f.spreadsheet_count is None else len(f.extra),
            error_rate=f.error_rate,
            retry_queue_depth=f.retry_queue_depth,
            permanent_failures=len(f.permanent_failures),
            minutes_since_last_success=None if since is None else since / 60,
            healthy=report.healthy,
            alerts=[
                {
                    "condition": str(a.condition),
                    "title": a.title,
                    "command": a.command,
                    "sent": bool((got := report.outcome_of(a)) and got.sent),
                    "delivery": got.text if got else None,
                }
                for a in report.alerts
            ],
            details={
                "missing": [
                    {"buyer_number": k, "row_number": r} for k, r in f.missing[:KEPT_IN_DETAILS]
                ],
                "extra": list(f.extra[:KEPT_IN_DETAILS]),
                "last_run_id": f.last_run.run_id if f.last_run else None,
                "sheet_problem": f.sheet_problem,
                "recoveries": [r.text for r in report.plan.recoveries],
                "deliveries": [d.to_json() for d in report.deliveries],
                "thresholds": asdict(self.thresholds),
            },
        )

    def get_dashboard_data(self, **kw: Any) -> dict[str, Any]:
        return get_dashboard_data(self.db, **kw)


def _key_column(
    source: Source, key_column: str, mapping: Mapping[str, str]
) -> Iterator[tuple[int, str]]:
    """``(row_number, key cell)`` of every non-blank row, fetching as little as possible.

    A source that overrides :meth:`Source.read_column` (Google Sheets) is asked for
    column A to learn the header, then for the key column only; the base
    implementation reads every row anyway, so one pass does it.
    """
    if type(source).read_column is Source.read_column:
        data = source.read()
        index = map_headers(data.header, key_header=key_column, mapping=mapping).key_index
        for row in data.rows:
            if any(v.strip() for v in row.values):
                yield row.row_number, row.values[index] if index < len(row.values) else ""
        return
    header, values = source.read_column(0)
    index = map_headers(header, key_header=key_column, mapping=mapping).key_index
    if index != 0:
        close = getattr(values, "close", None)
        if close is not None:
            close()
        _, values = source.read_column(index)
    yield from values


# -- after every sync (requirements 8.4, 8.5) --------------------------------------


def after_sync(db: Database, settings: Settings, report: Any) -> None:
    """Log the sync's duration and throughput and fire the slow-sync alert.

    ``report`` is a :class:`buyersync.services.sync.SyncReport`. Never raises.
    """
    try:
        speed = rules.rows_per_second(report.rows_read, report.duration_s)
        log.info(
            "sync %s performance: %d buyers in %.2f s = %.0f buyers/s",
            report.run_id,
            report.rows_read,
            report.duration_s,
            speed,
            extra={"run_id": report.run_id},
        )
        if getattr(report, "dry_run", False) or report.operation != "sync":
            return
        run = RunFacts(report.run_id, report.rows_read, report.failed, report.duration_s, speed)
        monitor = SyncMonitor.from_settings(db, settings)
        alerts = rules.evaluate_sync(run, monitor.thresholds)
        monitor.apply(alerts, evaluated=rules.SYNC_CONDITIONS, healthy=not alerts)
    except Exception:  # monitoring must never fail a sync that worked
        log.exception("the post-sync monitoring step failed (the sync itself is recorded)")


def after_refused(
    db: Database, settings: Settings, reason: str, *, hint: str | None = None
) -> None:
    """Alert that a sync refused the sheet (empty, shrunken, another sheet, or its
    headers changed). Never raises."""
    try:
        monitor = SyncMonitor.from_settings(db, settings)
        monitor.apply(
            [rules.refused_alert(reason, hint=hint)],
            evaluated=frozenset({rules.Condition.SYNC_REFUSED}),
            healthy=False,
        )
    except Exception:  # alerting must never hide the refusal itself
        log.exception("could not send the sync-refused alert")
