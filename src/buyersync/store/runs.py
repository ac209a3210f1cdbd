"""``sync_runs``: one row per sync (counts, duration, throughput)."""

from __future__ import annotations

import dataclasses
import os
import socket
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from buyersync.records import RunStatus
from buyersync.store.db import Database, utcnow


@dataclass(frozen=True)
class RunRecord:
    run_id: str
    operation: str
    status: str
    started_at: datetime
    finished_at: datetime | None
    source: str | None
    rows_read: int
    inserted: int
    updated: int
    changed: int
    unchanged: int
    failed: int
    not_written: int
    skipped_blank: int
    queued_for_retry: int
    duration_s: float | None
    rows_per_s: float | None
    batch_size: int | None
    batches: int
    pid: int | None
    host: str | None
    message: str | None

    def to_json(self) -> dict[str, Any]:
        out = {f: getattr(self, f) for f in _FIELDS}
        out["started_at"] = self.started_at.isoformat()
        out["finished_at"] = self.finished_at.isoformat() if self.finished_at else None
        return out


#: The columns read back, in RunRecord's order: the record is the one list of them.
_FIELDS = tuple(f.name for f in dataclasses.fields(RunRecord))
#: Counters stored as NULL until a run sets them, read back as 0.
_COUNTERS = tuple(f.name for f in dataclasses.fields(RunRecord) if f.type == "int")
_SELECT = f"SELECT {', '.join(_FIELDS)} FROM sync_runs"


def start(
    db: Database,
    run_id: str,
    operation: str,
    *,
    source: str | None,
    batch_size: int | None,
    started_at: datetime,
) -> None:
    db.execute(
        "INSERT INTO sync_runs (run_id, operation, status, started_at, source, batch_size, pid, host)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            run_id,
            operation,
            str(RunStatus.RUNNING),
            db.ts(started_at),
            source,
            batch_size,
            os.getpid(),
            socket.gethostname(),
        ),
    )


def finish(
    db: Database, run_id: str, *, status: RunStatus, finished_at: datetime, **counts: Any
) -> None:
    """Record the outcome. ``counts`` are columns of sync_runs (rows_read, inserted …)."""
    allowed = set(_FIELDS) - {"run_id", "operation", "started_at", "pid", "host"}
    unknown = set(counts) - allowed
    if unknown:
        raise ValueError(f"unknown sync_runs columns: {sorted(unknown)}")
    sets = ["status = %s", "finished_at = %s"] + [f"{k} = %s" for k in counts]
    db.execute(
        f"UPDATE sync_runs SET {', '.join(sets)} WHERE run_id = %s",
        [str(status), db.ts(finished_at), *counts.values(), run_id],
    )


def record_skipped(
    db: Database, run_id: str, operation: str, *, source: str | None, message: str
) -> None:
    """Record a scheduled run that did not run because another process held its lock."""
    now = utcnow()
    db.execute(
        "INSERT INTO sync_runs (run_id, operation, status, started_at, finished_at, source, "
        "pid, host, message) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
        (
            run_id,
            operation,
            str(RunStatus.SKIPPED),
            db.ts(now),
            db.ts(now),
            source,
            os.getpid(),
            socket.gethostname(),
            message[:500],
        ),
    )


def running(db: Database, operation: str) -> RunRecord | None:
    """The run of ``operation`` recorded as running now (the lock holder's), if any."""
    row = db.query_one(
        f"SELECT {', '.join(_FIELDS)} FROM sync_runs WHERE operation = %s AND status = %s "
        "ORDER BY started_at DESC LIMIT 1",
        (operation, str(RunStatus.RUNNING)),
    )
    return _record(db, row) if row else None


def mark_abandoned(db: Database, operation: str) -> int:
    """Mark runs of ``operation`` still 'running' as 'incomplete'.

    Call only while holding that operation's lock: then no such run is alive.
    """
    return db.execute(
        "UPDATE sync_runs SET status = %s, finished_at = %s, "
        "message = coalesce(message, 'the process stopped before the run finished') "
        "WHERE status = %s AND operation = %s",
        (str(RunStatus.INCOMPLETE), db.ts(utcnow()), str(RunStatus.RUNNING), operation),
    )


def _record(db: Database, r: dict[str, Any]) -> RunRecord:
    values = {f: r.get(f) for f in _FIELDS}
    values["started_at"] = db.read_ts(r["started_at"])
    values["finished_at"] = db.read_ts(r["finished_at"])
    for f in _COUNTERS:
        values[f] = int(values[f] or 0)
    return RunRecord(**values)  # type: ignore[arg-type]


def recent(db: Database, limit: int = 20, operation: str | None = None) -> list[RunRecord]:
    where, params = "", []
    if operation:
        where, params = " WHERE operation = %s", [operation]
    rows = db.query(
        f"{_SELECT}{where} ORDER BY started_at DESC LIMIT %s",
        [*params, limit],
    )
    return [_record(db, r) for r in rows]


def get(db: Database, run_id: str) -> RunRecord | None:
    row = db.query_one(f"{_SELECT} WHERE run_id = %s", (run_id,))
    return _record(db, row) if row else None


def last_successful(db: Database, operation: str = "sync") -> RunRecord | None:
    row = db.query_one(
        f"{_SELECT} WHERE operation = %s AND status IN (%s, %s) ORDER BY finished_at DESC LIMIT 1",
        (operation, str(RunStatus.SUCCEEDED), str(RunStatus.COMPLETED_WITH_ERRORS)),
    )
    return _record(db, row) if row else None
