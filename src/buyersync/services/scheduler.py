"""The jobs ``buyersync serve`` runs on a timer: sync, retry pass, health check, verification.

Each job runs in its own thread, one run after the other, so a job never overlaps
itself; different jobs may run at the same time (the sync lock and the database
keep them apart). A run that raises is logged and counted; the job runs again at its
next tick — a failing job never stops the scheduler or the server.

Every run opens its own database connection and closes it. :meth:`Scheduler.stop`
(called on SIGTERM) stops scheduling and sets the stop event each run receives: the
sync job checks it after every batch and abandons the run there (the sync engine
records the run as ``failed`` with the reason), so no run is left ``running``.

Jobs are plain callables ``fn(stop_event) -> dict | None``; :func:`default_jobs`
builds them from :class:`~buyersync.settings.Settings`, opening the database and
the sheet through :mod:`buyersync.wiring` on every run.

Several replicas (``serve`` processes on one PostgreSQL database): with ``turns``
(:class:`DatabaseTurns`, what ``serve`` passes), runs start on a fixed grid of each
job's interval and each turn is claimed in the database first (:mod:`buyersync.store.turns`):
one process runs it, the others skip it quietly. A sync turn that finds the sync lock
held (a cron ``buyersync sync``, a person) is recorded in ``sync_runs`` as ``skipped``,
not failed, and alerts nobody.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from buyersync import wiring
from buyersync.errors import BuyersyncError, LockHeld, SyncRefused
from buyersync.redact import redact
from buyersync.rules.backoff import BackoffPolicy
from buyersync.services import feedback, integrity, monitor, retry
from buyersync.services.sync import SyncEngine, _new_run_id
from buyersync.settings import Settings, parse_options
from buyersync.store import runs, turns

log = logging.getLogger(__name__)

#: A job: receives the stop event, returns a small summary (shown by the API) or None.
JobFn = Callable[[threading.Event], "dict[str, Any] | None"]


class JobCancelled(Exception):  # control flow, not an operator-facing error
    """Raised inside a job when the scheduler is stopping (after the current batch)."""


class TurnSkipped(Exception):  # control flow, not an operator-facing error
    """Raised inside a job that did not run because another process holds its lock."""


class Turns(Protocol):
    """Where replicas claim the turns of their jobs (see :class:`DatabaseTurns`)."""

    def claim(self, job: str, start: datetime, interval_seconds: float) -> str | None:
        """None if this process got the turn, else who has it."""

    def finish(self, job: str, start: datetime, outcome: turns.Outcome) -> None:
        """Record how this process's turn ended."""

    def finished(self, job: str, start: datetime) -> bool:
        """Whether the process that claimed the turn has recorded its end."""


class DatabaseTurns:
    """Turns claimed in the ``job_turns`` table of ``settings``' database."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def claim(self, job: str, start: datetime, interval_seconds: float) -> str | None:
        with wiring.database(self.settings) as db:
            other = turns.claim(db, job, start, interval_seconds)
        return None if other is None else other.holder

    def finish(self, job: str, start: datetime, outcome: turns.Outcome) -> None:
        with wiring.database(self.settings) as db:
            turns.finish(db, job, start, outcome)

    def finished(self, job: str, start: datetime) -> bool:
        with wiring.database(self.settings) as db:
            return turns.finished(db, job, start)


@dataclass(frozen=True)
class Job:
    """A job and its timing."""

    name: str
    interval_seconds: float  # time between the starts of two runs
    fn: JobFn
    run_at_start: bool = True  # False: the first run waits one interval
    after: str | None = None  # first run only once this job's first run has ended


def next_run_at(started: datetime, interval_seconds: float, now: datetime) -> datetime:
    """When a job that started at ``started`` runs next.

    One interval after the last start; if the run took longer than that, right
    away (``now``) — a late job runs once, it does not catch up missed ticks.
    """
    due = started + timedelta(seconds=interval_seconds)
    return due if due > now else now


@dataclass
class JobState:
    """What the API shows about one job (mutated only by the job's own thread)."""

    name: str
    interval_seconds: float
    runs: int = 0
    failures: int = 0
    skipped: int = 0  # turns not run here: another replica's, or the lock was held
    running: bool = False
    last_started_at: datetime | None = None
    last_finished_at: datetime | None = None
    last_duration_s: float | None = None
    last_ok: bool | None = None
    last_error: str | None = None
    last_result: dict[str, Any] | None = None
    last_skipped: str | None = None  # why the last skipped turn was skipped
    next_run_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        def iso(value: datetime | None) -> str | None:
            return value.isoformat() if value else None

        return {
            "name": self.name,
            "interval_seconds": self.interval_seconds,
            "runs": self.runs,
            "failures": self.failures,
            "skipped": self.skipped,
            "running": self.running,
            "last_started_at": iso(self.last_started_at),
            "last_finished_at": iso(self.last_finished_at),
            "last_duration_s": (
                round(self.last_duration_s, 3) if self.last_duration_s is not None else None
            ),
            "last_ok": self.last_ok,
            "last_error": self.last_error,
            "last_result": self.last_result,
            "last_skipped": self.last_skipped,
            "next_run_at": iso(self.next_run_at),
        }


class Scheduler:
    """Runs each :class:`Job` in its own thread until :meth:`stop`.

    ``secrets`` are scrubbed from every error message the scheduler logs or shows.
    With ``turns``, runs start on the grid of each job's interval and a turn runs only
    where it was claimed (one process per turn across replicas).
    """

    def __init__(
        self, jobs: list[Job], *, secrets: list[str] | None = None, turns: Turns | None = None
    ) -> None:
        self.jobs = [j for j in jobs if j.interval_seconds > 0]
        self.turns = turns
        self._secrets = list(secrets or [])
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._states = {j.name: JobState(j.name, j.interval_seconds) for j in self.jobs}
        self._first_done = {j.name: threading.Event() for j in self.jobs}

    # -- control -------------------------------------------------------------
    def start(self) -> None:
        """Start one thread per job (jobs with interval 0 are off)."""
        for job in self.jobs:
            thread = threading.Thread(
                target=self._loop, args=(job,), name=f"job-{job.name}", daemon=True
            )
            self._threads.append(thread)
            thread.start()
        log.info(
            "scheduler started: %s",
            ", ".join(f"{j.name} every {j.interval_seconds:g}s" for j in self.jobs) or "no jobs",
        )

    def request_stop(self) -> None:
        """Stop scheduling; running jobs abandon their work at the next safe point."""
        self._stop.set()

    def stop(self, timeout: float = 30.0) -> bool:
        """Stop and wait up to ``timeout`` seconds in all; True if every job thread ended."""
        self.request_stop()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("jobs still running at shutdown: %s", ", ".join(alive))
        return not alive

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def status(self) -> list[dict[str, Any]]:
        """Every job's state, for ``/api/scheduler``."""
        return [self._states[j.name].to_json() for j in self.jobs]

    # -- the loop ------------------------------------------------------------
    def _loop(self, job: Job) -> None:
        state = self._states[job.name]
        if job.after in self._first_done:
            # e.g. a health check right at start would report every buyer of a
            # database the first sync is still filling as missing.
            first = self._first_done[job.after]
            while not first.is_set() and not self._stop.is_set():
                first.wait(0.2)
        if self.turns is not None:
            self._turn_loop(job, state)
            return
        now = datetime.now(UTC)
        state.next_run_at = (
            now if job.run_at_start else now + timedelta(seconds=job.interval_seconds)
        )
        while not self._stop.is_set():
            wait = (state.next_run_at - datetime.now(UTC)).total_seconds()
            if wait > 0 and self._stop.wait(wait):
                break
            started = datetime.now(UTC)
            self.run_once(job, state)
            self._first_done[job.name].set()
            state.next_run_at = next_run_at(started, job.interval_seconds, datetime.now(UTC))

    def _turn_loop(self, job: Job, state: JobState) -> None:
        """Run ``job`` at the start of each turn of the grid (the current one at once
        when ``run_at_start``); a run that outlasts its turn is followed right away by
        the turn it ended in — usually already taken by another replica, then skipped."""
        interval = job.interval_seconds
        now = datetime.now(UTC)
        start = turns.turn_start(now, interval)
        if not job.run_at_start:
            start = turns.next_turn_start(start, interval)
        while not self._stop.is_set():
            state.next_run_at = max(now, start)
            wait = (state.next_run_at - datetime.now(UTC)).total_seconds()
            if wait > 0 and self._stop.wait(wait):
                break
            self.run_once(job, state, turn=start)
            if not self._first_done[job.name].is_set() and state.runs == 0:
                # The first turn was another replica's: the jobs that wait for this
                # one's first run (a health check after the first sync) wait for it.
                self._await_turn(job, start)
            self._first_done[job.name].set()
            now = datetime.now(UTC)
            current = turns.turn_start(now, interval)
            start = current if current > start else turns.next_turn_start(start, interval)

    def _await_turn(self, job: Job, start: datetime) -> None:
        """Wait (at most one interval) until another process's turn has ended."""
        assert self.turns is not None
        deadline = time.monotonic() + job.interval_seconds
        while not self._stop.is_set() and time.monotonic() < deadline:
            try:
                if self.turns.finished(job.name, start):
                    return
            except Exception:  # the database is away: the next turn will say so
                return
            self._stop.wait(0.2)

    def run_once(
        self, job: Job, state: JobState | None = None, *, turn: datetime | None = None
    ) -> JobState:
        """Run ``job`` once now, recording the outcome; never raises (except to exit).

        With ``turn`` (and ``turns``), the turn starting then is claimed first; a turn
        another process holds is skipped without running.
        """
        state = state or self._states.setdefault(job.name, JobState(job.name, job.interval_seconds))
        claimed = False
        outcome = turns.Outcome.RAN
        try:
            if self.turns is not None and turn is not None:
                holder = self.turns.claim(job.name, turn, job.interval_seconds)
                if holder is not None:
                    state.skipped += 1
                    state.last_skipped = f"the turn of {turn.isoformat()} is run by {holder}"
                    log.debug("job %s: %s", job.name, state.last_skipped)
                    return state
                claimed = True
        except Exception as exc:  # the database is unreachable: the job would fail too
            state.runs += 1
            self._failed(job, state, exc)
            return state
        state.running = True
        state.last_started_at = datetime.now(UTC)
        clock = time.perf_counter()
        try:
            state.last_result = job.fn(self._stop)
            state.last_ok, state.last_error = True, None
        except JobCancelled:
            outcome = turns.Outcome.STOPPED
            state.last_ok, state.last_error = False, "stopped: the server is shutting down"
            log.info("job %s stopped at shutdown", job.name)
        except (LockHeld, TurnSkipped) as exc:
            # Another sync (cron, a person) holds the lock: not a failure of this job.
            outcome = turns.Outcome.SKIPPED
            state.skipped += 1
            state.last_ok, state.last_error = True, None
            state.last_skipped = redact(str(exc), self._secrets)
            log.info("job %s skipped this turn: %s", job.name, state.last_skipped)
        except Exception as exc:  # a failing job must never kill the server
            outcome = turns.Outcome.FAILED
            self._failed(job, state, exc)
        finally:
            state.runs += 1
            state.running = False
            state.last_finished_at = datetime.now(UTC)
            state.last_duration_s = time.perf_counter() - clock
            if claimed and self.turns is not None and turn is not None:
                try:
                    self.turns.finish(job.name, turn, outcome)
                except Exception as exc:  # the outcome is a record, not the work
                    log.warning(
                        "could not record the end of job %s's turn: %s",
                        job.name,
                        redact(str(exc), self._secrets).splitlines()[0][:200],
                    )
        return state

    def _failed(self, job: Job, state: JobState, exc: Exception) -> None:
        # A bug's traceback once per streak of failures, not on every tick.
        trace = not isinstance(exc, BuyersyncError) and state.last_ok is not False
        state.failures += 1
        state.last_ok = False
        kind = "" if isinstance(exc, BuyersyncError) else f"{type(exc).__name__}: "
        state.last_error = redact(f"{kind}{exc}", self._secrets).splitlines()[0][:500]
        log.error(
            "job %s failed (next try in %gs): %s",
            job.name,
            job.interval_seconds,
            state.last_error,
            exc_info=trace,
        )


# -- the default jobs ------------------------------------------------------------
def sync_job(settings: Settings) -> JobFn:
    """A full sync of ``settings.source``; abandons the run after a batch when stopping."""

    def run(stop: threading.Event) -> dict[str, Any]:
        def check_stop(done: int, total: int) -> None:
            if stop.is_set():
                raise JobCancelled("the server is shutting down; the next sync writes the rest")

        s = settings
        source = wiring.open_source(s)
        with wiring.database(s) as db:
            engine = SyncEngine(
                db,
                source,
                key_column=s.key_column,
                mapping=s.mapping,
                batch_size=s.batch_size,
                max_shrink_ratio=s.max_shrink_ratio,
                min_key_share=s.min_key_share,
                min_header_share=s.min_header_share,
                retry=BackoffPolicy.from_settings(s),
                lock_wait_seconds=0.0,
                row_lock_timeout_seconds=s.row_lock_timeout_seconds,
                problems_retention_days=s.problems_retention_days,
                progress=check_stop,
                parse_options=parse_options(s),
                key_case=s.key_case,
            )
            try:
                report = engine.run()
            except LockHeld as held:
                # A cron sync or a person's: this turn is skipped, and says so.
                holder = runs.running(db, "sync")
                by = (
                    f"; run {holder.run_id} (pid {holder.pid} on {holder.host}) is still running"
                    if holder
                    else ""
                )
                message = f"scheduled sync skipped: {held.message}{by}"
                runs.record_skipped(
                    db, _new_run_id(), "sync", source=source.description, message=message
                )
                raise TurnSkipped(message) from None
            except SyncRefused as refused:
                # A scheduled sync keeps refusing (and alerting) until a person acts.
                monitor.after_refused(db, s, refused.message, hint=refused.hint)
                raise
            monitor.after_sync(db, s, report)
            fed = feedback.after_run(db, s, source, [report.run_id])
        return {
            "run_id": report.run_id,
            "status": str(report.status),
            "rows_read": report.rows_read,
            "failed": report.failed,
            **({"sheet_feedback_error": fed.error} if fed is not None and fed.error else {}),
        }

    return run


def retry_job(settings: Settings) -> JobFn:
    """One pass over the due retry-queue entries."""

    def run(stop: threading.Event) -> dict[str, Any] | None:
        source = wiring.optional_source(settings)
        with wiring.database(settings) as db:
            result = retry.process_due(db, settings, source=source)
            feedback.after_run(db, settings, source, result.run_ids)
        return _summary(result)

    return run


def health_job(settings: Settings) -> JobFn:
    """A health check: store metrics, send alerts."""

    def run(stop: threading.Event) -> dict[str, Any] | None:
        source = wiring.optional_source(settings)
        with wiring.database(settings) as db:
            report = monitor.SyncMonitor.from_settings(db, settings, source=source).check_health()
        return _summary(report)

    return run


def verify_job(settings: Settings, sample_size: int = 100) -> JobFn:
    """An integrity verification: completeness plus a field-by-field sample."""

    def run(stop: threading.Event) -> dict[str, Any] | None:
        source = wiring.open_source(settings)
        with wiring.database(settings) as db:
            report = integrity.IntegrityChecker(
                db,
                source,
                key_column=settings.key_column,
                mapping=settings.mapping,
                parse_options=parse_options(settings),
                key_case=settings.key_case,
            ).verify(integrity.VerifyMode.SAMPLE, sample_size=sample_size)
        if not report.ok:
            log.warning(
                "verification found problems: %d missing, %d extra, %d mismatched buyers",
                len(report.missing),
                len(report.extra),
                report.mismatched_buyers,
            )
        return _summary(report)

    return run


def _summary(result: Any) -> dict[str, Any] | None:
    """A few scalar fields of a service's result, for the API (never whole rows)."""
    if result is None:
        return None
    doc = result.to_json() if hasattr(result, "to_json") else result
    if not isinstance(doc, dict):
        return {"result": str(doc)[:200]}
    return {k: v for k, v in doc.items() if isinstance(v, (bool, int, float, str)) or v is None}


def default_jobs(settings: Settings) -> list[Job]:
    """The four scheduled jobs with their intervals from ``settings`` (0 turns one off).

    Without a source there is nothing to sync or verify, so those two are off. The
    retry pass and the health check first run once the first sync has ended.
    """
    s = settings
    jobs = [
        Job("sync", s.sync_interval_seconds if s.source else 0, sync_job(s)),
        Job("retry", s.retry_interval_seconds, retry_job(s), after="sync"),
        Job("health", s.health_interval_seconds, health_job(s), after="sync"),
        # A verification reads the whole sheet: do not pay for it on every restart.
        Job(
            "verify",
            s.verify_interval_seconds if s.source else 0,
            verify_job(s),
            run_at_start=False,
        ),
    ]
    return jobs
