"""``sync_run_headers`` and ``header_changes``: the header map of every run, and accepted changes.

The header contract's baseline (see :mod:`buyersync.rules.headers`) is the map of the
last successful full sync (``operation = 'sync'``) of the same source. Runs recorded
before this table existed have no map: the first sync after the upgrade sets one.
"""

from __future__ import annotations

import getpass
import socket
from collections.abc import Sequence
from typing import Any

from buyersync.records import RunStatus
from buyersync.rules.headers import HeaderDiff, HeaderEntry
from buyersync.store.db import Database, utcnow

_SUCCESS = (str(RunStatus.SUCCEEDED), str(RunStatus.COMPLETED_WITH_ERRORS))


def record(db: Database, run_id: str, header_map: Sequence[HeaderEntry]) -> None:
    """Store the header map run ``run_id`` read."""
    db.executemany(
        "INSERT INTO sync_run_headers (run_id, position, header, column_name, fed) "
        "VALUES (%s, %s, %s, %s, %s)",
        [(run_id, i, e.header, e.column, e.fed) for i, e in enumerate(header_map)],
    )


def _last_mapped_run(db: Database, source: str | None) -> str | None:
    """The last successful full sync with a recorded map (of ``source``, or of any source)."""
    where = "" if source is None else " AND r.source = %s"
    params: list[Any] = ["sync", *_SUCCESS] + ([] if source is None else [source])
    row = db.query_one(
        "SELECT r.run_id FROM sync_runs r WHERE r.operation = %s AND r.status IN (%s, %s)"
        + where
        + " AND EXISTS (SELECT 1 FROM sync_run_headers h WHERE h.run_id = r.run_id)"
        " ORDER BY r.finished_at DESC LIMIT 1",
        params,
    )
    return str(row["run_id"]) if row else None


def header_map(db: Database, run_id: str) -> tuple[HeaderEntry, ...]:
    rows = db.query(
        "SELECT header, column_name, fed FROM sync_run_headers WHERE run_id = %s ORDER BY position",
        (run_id,),
    )
    return tuple(HeaderEntry(r["header"], r["column_name"], bool(r["fed"])) for r in rows)


def baseline(db: Database, source: str | None) -> tuple[HeaderEntry, ...] | None:
    """The header map of the last successful full sync of ``source`` (None: any source).

    None when there is none (a first sync, or a database older than this table).
    """
    if not db.table_exists("sync_run_headers"):
        return None
    run_id = _last_mapped_run(db, source)
    return header_map(db, run_id) if run_id else None


def record_accepted(db: Database, run_id: str, source: str, change: HeaderDiff) -> None:
    """Record that run ``run_id`` accepted ``change`` (``sync --accept-header-change``)."""
    db.execute(
        "INSERT INTO header_changes (run_id, source, change, accepted_at, accepted_by) "
        "VALUES (%s, %s, %s, %s, %s)",
        (run_id, source, db.json(change.to_json()), db.ts(utcnow()), _who()),
    )


def accepted(db: Database, limit: int = 20) -> list[dict[str, Any]]:
    """The latest accepted header changes, newest first."""
    if not db.table_exists("header_changes"):
        return []
    rows = db.query(
        "SELECT run_id, source, change, accepted_at, accepted_by FROM header_changes "
        "ORDER BY accepted_at DESC LIMIT %s",
        (limit,),
    )
    return [
        {
            "run_id": r["run_id"],
            "source": r["source"],
            "change": db.read_json(r["change"]),
            "accepted_at": _iso(db.read_ts(r["accepted_at"])),
            "accepted_by": r["accepted_by"],
        }
        for r in rows
    ]


def _iso(value: Any) -> str | None:
    return value.isoformat() if value else None


def _who() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no user name in a container: the host still says where
        user = "?"
    return f"{user}@{socket.gethostname()}"
