"""``sync_outcomes``: what happened to each buyer a sync-missing run attempted (requirement 2.5).

One row per attempted buyer and run: ``synced``, ``failed`` (with the category and the
message also written to ``sync_error_log``), or ``not_found`` (the buyer left the sheet
between the scan and the sync).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from buyersync.store.db import Database, utcnow


class Outcome(enum.StrEnum):
    """What happened to one attempted buyer."""

    SYNCED = "synced"  # the buyer's row was written to buyers
    FAILED = "failed"  # the row was refused; the reason is in sync_error_log too
    NOT_FOUND = "not_found"  # the buyer was no longer in the sheet when the sync read it


@dataclass(frozen=True)
class BuyerOutcome:
    """The outcome of one buyer in one run."""

    buyer_number: str
    row_number: int | None
    outcome: Outcome
    error_type: str | None = None
    message: str | None = None
    run_id: str | None = None
    created_at: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "buyer_number": self.buyer_number,
            "row_number": self.row_number,
            "outcome": str(self.outcome),
            "error_type": self.error_type,
            "message": self.message,
            "run_id": self.run_id,
            "created_at": self.created_at.isoformat() if self.created_at else None,
        }


_INSERT = (
    "INSERT INTO sync_outcomes "
    "(run_id, buyer_number, row_number, outcome, error_type, message, created_at) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s)"
)
_SELECT = (
    "SELECT run_id, buyer_number, row_number, outcome, error_type, message, created_at "
    "FROM sync_outcomes"
)


def record(
    db: Database,
    run_id: str | None,
    outcomes: Sequence[BuyerOutcome],
    *,
    at: datetime | None = None,
) -> None:
    """Store one row per outcome, in one transaction."""
    if not outcomes:
        return
    when = db.ts(at or utcnow())
    rows = [
        (run_id, o.buyer_number, o.row_number, str(o.outcome), o.error_type, o.message, when)
        for o in outcomes
    ]
    with db.transaction():
        db.executemany(_INSERT, rows)


def query(
    db: Database,
    *,
    run_id: str | None = None,
    buyer_number: str | None = None,
    limit: int | None = None,
) -> list[BuyerOutcome]:
    """Stored outcomes, newest first, filtered by run and/or buyer."""
    clauses: list[str] = []
    params: list[Any] = []
    if run_id:
        clauses.append("run_id = %s")
        params.append(run_id)
    if buyer_number:
        clauses.append("buyer_number = %s")
        params.append(buyer_number)
    where = f" WHERE {' AND '.join(clauses)}" if clauses else ""
    tail = ""
    if limit:
        tail = " LIMIT %s"
        params.append(int(limit))
    # Only fixed fragments are joined here; every value is a parameter.
    sql = _SELECT + where + " ORDER BY created_at DESC, id DESC" + tail
    rows = db.query(sql, params)
    return [
        BuyerOutcome(
            buyer_number=r["buyer_number"],
            row_number=r["row_number"],
            outcome=Outcome(r["outcome"]),
            error_type=r["error_type"],
            message=r["message"],
            run_id=r["run_id"],
            created_at=db.read_ts(r["created_at"]),
        )
        for r in rows
    ]
