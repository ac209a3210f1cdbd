"""``sheet_feedback_runs``: what each write-back to the sheet did, and whether it failed.

A failed write-back never fails its sync; it is recorded here, where ``problems``
(and its ``--json``) shows the last one.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from buyersync.store.db import Database

TABLE = "sheet_feedback_runs"
_COUNTS = (
    "notes_written",
    "notes_removed",
    "notes_kept",
    "person_notes",
    "capped",
    "tab_rows",
    "requests",
)


def record(db: Database, doc: dict[str, Any], *, at: datetime) -> None:
    """Store one feedback outcome (``FeedbackReport.to_json()``)."""
    cols = ["run_id", "mode", "at", *_COUNTS, "error"]
    values = [
        doc.get("run_id"),
        doc["mode"],
        db.ts(at),
        *(int(doc.get(c) or 0) for c in _COUNTS),
        doc.get("error") or None,
    ]
    db.execute(
        f"INSERT INTO {TABLE} ({', '.join(cols)}) VALUES ({', '.join(['%s'] * len(cols))})",
        values,
    )


def last(db: Database) -> dict[str, Any] | None:
    """The most recent feedback outcome, or None."""
    if not db.table_exists(TABLE):
        return None
    rows = db.query(
        f"SELECT run_id, mode, at, {', '.join(_COUNTS)}, error FROM {TABLE} ORDER BY id DESC LIMIT 1"
    )
    if not rows:
        return None
    r = rows[0]
    at = db.read_ts(r["at"])
    return {
        "run_id": r["run_id"],
        "mode": r["mode"],
        "at": at.isoformat() if at else None,
        **{c: int(r[c] or 0) for c in _COUNTS},
        "error": r["error"],
    }
