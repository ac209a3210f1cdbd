"""``job_turns``: which process runs a scheduled job's turn (one interval of it).

Time is cut into turns of the job's interval on a fixed grid (multiples of the
interval since the Unix epoch), so every ``buyersync serve`` replica with the same
settings names the same turns. Claiming a turn is one ``INSERT … ON CONFLICT DO
NOTHING`` of the row keyed by job and turn start: the database lets exactly one
process insert it, whichever comes first; the others see it taken and skip the turn.
That holds on PostgreSQL between any number of replicas; on SQLite it holds between
processes sharing the file too, but one ``serve`` per SQLite file is the supported
deployment (docs/deployment.md).
"""

from __future__ import annotations

import enum
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from buyersync.store.db import Database, utcnow

TABLE = "job_turns"
#: Turns older than this are deleted when a newer one of the job is claimed.
KEEP_DAYS = 7


class Outcome(enum.StrEnum):
    """How a claimed turn ended (``job_turns.outcome``)."""

    RAN = "ran"  # the job ran to the end
    FAILED = "failed"  # the job raised
    SKIPPED = "skipped"  # the job found its lock held (a cron sync, a person) and did not run
    STOPPED = "stopped"  # the server shut down during the run


@dataclass(frozen=True)
class Turn:
    """One interval of one job, and the process that claimed it."""

    job: str
    start: datetime
    interval_seconds: float
    host: str | None = None
    pid: int | None = None
    outcome: str | None = None

    @property
    def holder(self) -> str:
        return f"pid {self.pid} on {self.host}" if self.host else "another process"


def _interval_ms(interval_seconds: float) -> int:
    return max(1, round(interval_seconds * 1000))


def turn_start(now: datetime, interval_seconds: float) -> datetime:
    """The start of the turn ``now`` falls in: the last multiple of the interval (in
    whole milliseconds since the epoch) at or before ``now``. Integer arithmetic, so
    every process computes the same instant for the same turn."""
    step = _interval_ms(interval_seconds)
    epoch = datetime(1970, 1, 1, tzinfo=UTC)
    ms = (now - epoch) // timedelta(milliseconds=1)
    return epoch + timedelta(milliseconds=ms - ms % step)


def next_turn_start(start: datetime, interval_seconds: float) -> datetime:
    """The turn after the one starting at ``start``."""
    return start + timedelta(milliseconds=_interval_ms(interval_seconds))


def claim(db: Database, job: str, start: datetime, interval_seconds: float) -> Turn | None:
    """Claim ``job``'s turn starting at ``start``: None if this process got it, else
    the turn as another process claimed it."""
    inserted = db.execute(
        f"INSERT INTO {TABLE} (job, turn_start, interval_seconds, claimed_at, host, pid) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (job, turn_start) DO NOTHING",
        (job, db.ts(start), interval_seconds, db.ts(utcnow()), socket.gethostname(), os.getpid()),
    )
    if inserted:
        db.execute(
            f"DELETE FROM {TABLE} WHERE job = %s AND turn_start < %s",
            (job, db.ts(start - timedelta(days=KEEP_DAYS))),
        )
        return None
    row = db.query_one(
        f"SELECT job, turn_start, interval_seconds, host, pid, outcome FROM {TABLE} "
        "WHERE job = %s AND turn_start = %s",
        (job, db.ts(start)),
    )
    return _turn(db, row) if row else Turn(job, start, interval_seconds)


def finish(db: Database, job: str, start: datetime, outcome: Outcome) -> None:
    """Record how this process's turn ended."""
    db.execute(
        f"UPDATE {TABLE} SET outcome = %s, finished_at = %s WHERE job = %s AND turn_start = %s",
        (str(outcome), db.ts(utcnow()), job, db.ts(start)),
    )


def finished(db: Database, job: str, start: datetime) -> bool:
    """Whether the turn's claimant recorded its end (or nobody claimed it)."""
    row = db.query_one(
        f"SELECT outcome FROM {TABLE} WHERE job = %s AND turn_start = %s", (job, db.ts(start))
    )
    return row is None or row["outcome"] is not None


def recent(db: Database, job: str | None = None, limit: int = 100) -> list[Turn]:
    """The latest turns, newest first."""
    where, params = ("WHERE job = %s ", [job]) if job else ("", [])
    rows = db.query(
        f"SELECT job, turn_start, interval_seconds, host, pid, outcome FROM {TABLE} "
        f"{where}ORDER BY turn_start DESC LIMIT %s",
        [*params, limit],
    )
    return [_turn(db, r) for r in rows]


def _turn(db: Database, row: dict[str, Any]) -> Turn:
    start = db.read_ts(row["turn_start"])
    assert start is not None
    return Turn(
        row["job"],
        start,
        float(row["interval_seconds"]),
        row["host"],
        None if row["pid"] is None else int(row["pid"]),
        row["outcome"],
    )
