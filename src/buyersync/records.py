"""Plain records passed between sources, rules, services and the store."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from buyersync.errors import ErrorCategory


@dataclass(frozen=True, slots=True)
class SheetRow:
    """One row as read from the sheet.

    ``row_number`` is the sheet's own row number (header on row 1 → first buyer on
    row 2). ``values`` are the cells as text a person sees, one per header column
    (shorter rows are padded with ``""``). ``problems`` lists cells the reader could
    not turn into text (for example an ``#N/A`` error cell), as
    ``(column_index, message)``.

    ``section`` is the title of a *section row* (a category title merged across the
    table, not a buyer); such a row has every value ``""``, so any reader of rows that
    does not look at ``section`` skips it as blank, and the sync counts it apart.
    """

    row_number: int
    values: tuple[str, ...]
    problems: tuple[tuple[int, str], ...] = ()
    section: str | None = None


@dataclass(frozen=True, slots=True)
class RowFailure:
    """A row that did not land in ``buyers``; becomes one ``sync_error_log`` entry."""

    category: ErrorCategory
    message: str
    row_number: int | None
    buyer_number: str | None
    details: dict[str, Any] = field(default_factory=dict)
    retryable: bool = False
    operation: str = "sync"


class RunStatus(enum.StrEnum):
    """State of a ``sync_runs`` row."""

    RUNNING = "running"  # in progress, or the process died (see INCOMPLETE)
    SUCCEEDED = "succeeded"  # every row read landed
    COMPLETED_WITH_ERRORS = "completed_with_errors"  # ran to the end; some rows failed
    FAILED = "failed"  # stopped early with an error (database lost, source unreadable…)
    REFUSED = "refused"  # a safety rule refused the run before writing (empty sheet…)
    INCOMPLETE = "incomplete"  # the process died mid-run; found and marked by a later run
    DRY_RUN = "dry_run"  # --dry-run: nothing was written to buyers
    SKIPPED = "skipped"  # a scheduled turn found another sync holding the lock: not run


@dataclass(frozen=True)
class ErrorEntry:
    """A ``sync_error_log`` row as read back."""

    id: int
    buyer_number: str | None
    row_number: int | None
    error_type: str
    error_message: str
    details: dict[str, Any]
    operation: str
    run_id: str | None
    retryable: bool
    created_at: datetime
    #: When the problem this entry belongs to was resolved, and by which run.
    resolved_at: datetime | None = None
    resolved_by_run: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "buyer_number": self.buyer_number,
            "row_number": self.row_number,
            "error_type": self.error_type,
            "error_message": self.error_message,
            "details": self.details,
            "operation": self.operation,
            "run_id": self.run_id,
            "retryable": self.retryable,
            "created_at": self.created_at.isoformat(),
            "resolved_at": self.resolved_at.isoformat() if self.resolved_at else None,
            "resolved_by_run": self.resolved_by_run,
        }


@dataclass(frozen=True)
class ErrorQuery:
    """Filters for the error log (requirement 3.4). ``None`` means "any"."""

    error_type: str | None = None
    buyer_number: str | None = None
    run_id: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    limit: int | None = 100
    offset: int = 0  # entries skipped (paging); applies with a limit
