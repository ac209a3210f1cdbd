"""The checks of ``POST /api/sync``, made in the database so they hold across replicas.

- *Is a sync running?* The sync lock (an advisory lock on PostgreSQL, a lock file
  beside an SQLite database) is what every sync holds; whoever holds it, in any
  process on any host, is running. The running run's id comes from ``sync_runs``.
- *Was one started too recently?* One row of ``api_sync_gate`` per gate, claimed by
  one conditional ``UPDATE``: of two replicas asking at once, exactly one changes
  the row (PostgreSQL re-checks the condition after the other's commit; SQLite
  writes one at a time).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from buyersync.errors import LockHeld
from buyersync.records import RunStatus
from buyersync.store.db import Database

GATE = "api_sync"


def running_sync(db: Database) -> tuple[bool, str | None]:
    """Whether a sync holds the sync lock now, and the id of the newest running run."""
    try:
        with db.lock("sync", wait_seconds=0):
            return False, None
    except LockHeld:
        pass
    rows = db.query(
        "SELECT run_id FROM sync_runs WHERE status = %s ORDER BY started_at DESC LIMIT 1",
        (str(RunStatus.RUNNING),),
    )
    return True, (rows[0]["run_id"] if rows else None)


def claim(db: Database, *, now: datetime, min_interval_seconds: float) -> float | None:
    """Claim the right to start a sync now: None when claimed, else the seconds until
    the next claim can succeed."""
    db.execute(
        "INSERT INTO api_sync_gate (name, last_at) VALUES (%s, NULL) ON CONFLICT (name) DO NOTHING",
        (GATE,),
    )
    cutoff = now - timedelta(seconds=min_interval_seconds)
    changed = db.execute(
        "UPDATE api_sync_gate SET last_at = %s "
        "WHERE name = %s AND (last_at IS NULL OR last_at <= %s)",
        (db.ts(now), GATE, db.ts(cutoff)),
    )
    if changed == 1:
        return None
    last = db.read_ts(db.query_value("SELECT last_at FROM api_sync_gate WHERE name = %s", (GATE,)))
    if last is None:
        return 0.0
    return max(0.0, (last + timedelta(seconds=min_interval_seconds) - now).total_seconds())
