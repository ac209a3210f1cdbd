"""Problems: what a failure is about, and the one fix that fits its cause (pure).

A failure is about a *subject*: its buyer (``buyer:B100``), or — for a row without a
buyer number, or a duplicate row whose buyer landed from its first row — its sheet
row (``row:42``), or the run itself when the run could not go on (``run:sync``).
The store keeps one problem per subject (:mod:`buyersync.store.problems`).

:func:`fix_for` is the one place that chooses the fix from the category: the CLI,
the verification report, the alerts and the page all ask it, so the advice is the
same everywhere and always fits the cause (``sync-missing`` cannot help a
``value_too_long`` buyer before the schema fix).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from buyersync.errors import ErrorCategory

#: Longest example cell text kept with a problem.
EXAMPLE_CHARS = 200


class Kind(enum.StrEnum):
    """What a problem is about."""

    BUYER = "buyer"  # one buyer number: resolved when that buyer is written
    ROW = "row"  # one sheet row without a buyer of its own: resolved when it stops failing
    RUN = "run"  # a whole run: resolved when a later run of that operation completes


def buyer_subject(key: str) -> str:
    return f"{Kind.BUYER}:{key}"


def run_subject(operation: str) -> str:
    return f"{Kind.RUN}:{operation}"


def is_run_subject(key: str) -> bool:
    """Whether a retry-queue key is a run's resume entry rather than a buyer."""
    return key.startswith(f"{Kind.RUN}:")


def subject_of(
    category: ErrorCategory | str, buyer_number: str | None, row_number: int | None
) -> tuple[Kind, str]:
    """The kind and subject key of one row failure."""
    if buyer_number and str(category) != ErrorCategory.DUPLICATE_KEY:
        return Kind.BUYER, buyer_subject(buyer_number)
    # A duplicate row's buyer is written from its first row: the problem is the row.
    return Kind.ROW, f"{Kind.ROW}:{row_number if row_number is not None else '?'}"


def column_of(details: Mapping[str, Any]) -> str | None:
    """The column a failure names (the first one when it names several)."""
    if details.get("column"):
        return str(details["column"])
    for listed in ("columns", "cells"):
        items = details.get(listed)
        if isinstance(items, list) and items and isinstance(items[0], Mapping):
            column = items[0].get("column")
            if column:
                return str(column)
    return None


def example_of(
    category: ErrorCategory | str,
    row_number: int | None,
    details: Mapping[str, Any],
    message: str,
) -> str:
    """A short description of the failing cell: where it is and what is wrong with it."""
    where = f"row {row_number}" if row_number is not None else "the run"
    columns = details.get("columns")
    if isinstance(columns, list) and columns and isinstance(columns[0], Mapping):
        c = columns[0]
        unit = c.get("unit", "characters")
        text = f"{where}, {c.get('column')}: {c.get('length')} {unit} (limit {c.get('limit')})"
    elif details.get("column"):
        text = f"{where}, {details['column']}: {message}"
    else:
        text = message
    return text[:EXAMPLE_CHARS]


@dataclass(frozen=True)
class Fix:
    """What fixes a problem: the command to run (if any) and the step in words."""

    command: str
    text: str

    def to_json(self) -> dict[str, str]:
        return {"command": self.command, "text": self.text}


_TRANSIENT = frozenset(
    {
        ErrorCategory.DATABASE_CONNECTION,
        ErrorCategory.TIMEOUT,
        ErrorCategory.RATE_LIMIT,
        ErrorCategory.SOURCE_UNAVAILABLE,
        ErrorCategory.UNKNOWN,
    }
)
_SHEET = frozenset(
    {ErrorCategory.VALIDATION, ErrorCategory.DUPLICATE_KEY, ErrorCategory.DATA_FORMAT}
)


def fix_for(category: ErrorCategory | str, kind: Kind | str = Kind.BUYER) -> Fix:
    """The fix for a problem of this category (the one place that decides it)."""
    try:
        cat = ErrorCategory(str(category))
    except ValueError:
        cat = ErrorCategory.UNKNOWN
    if str(kind) == Kind.RUN:
        if cat is ErrorCategory.SCHEMA_MISMATCH:
            return Fix("buyersync schema check", "fix the header or the buyers table, then sync")
        return Fix(
            "buyersync retry",
            "the run stopped before writing every row; once the cause is gone, "
            "retry resumes it (or the next sync does)",
        )
    if cat is ErrorCategory.VALUE_TOO_LONG:
        return Fix(
            "buyersync schema fix --apply && buyersync sync-missing",
            "convert the length-limited columns to TEXT (Migration 050), then sync the "
            "buyers that did not fit",
        )
    if cat in _SHEET:
        what = {
            ErrorCategory.VALIDATION: "fill in or correct the cell in the sheet",
            ErrorCategory.DUPLICATE_KEY: "merge the duplicate row into the first one, or give "
            "it its own buyer number, in the sheet",
            ErrorCategory.DATA_FORMAT: "correct the cell in the sheet",
        }[cat]
        return Fix("buyersync sync", f"{what}; the next sync writes the row")
    if cat is ErrorCategory.SCHEMA_MISMATCH:
        return Fix("buyersync schema check", "make the buyers table fit the sheet, then sync")
    if cat is ErrorCategory.CONSTRAINT:
        return Fix(
            "buyersync errors --type constraint",
            "a database constraint refused the row: correct the row in the sheet or the "
            "constraint, then sync",
        )
    if cat in _TRANSIENT:
        return Fix(
            "buyersync retry", "a passing failure: retry writes the buyer once the cause is gone"
        )
    return Fix("buyersync errors", "see the error log for the reason")
