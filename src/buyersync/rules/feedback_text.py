"""What a sheet editor reads about a problem: a cell note, a line of the problems tab (pure).

The people who fix a bad row edit the sheet; they never see buyersync's log. These
texts speak their language — the cell, what is wrong with it, what to do — and
never a command line. :data:`PREFIX` starts every note buyersync writes: only a note
that still starts with it is buyersync's to replace or remove (:func:`is_ours`); any
other note on a cell was written by a person and is left alone.

The operator's fix for the same problem stays :func:`buyersync.rules.problems.fix_for`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from buyersync.errors import ErrorCategory

#: The first characters of every note buyersync writes.
PREFIX = "buyersync: "
#: Longest note written (Google takes far more; a note is read on hover).
MAX_NOTE_CHARS = 500

#: The problems tab's columns, in order.
TAB_COLUMNS = ("row", "buyer number", "column", "what is wrong", "what to do", "since")

_TRANSIENT = frozenset(
    {
        ErrorCategory.DATABASE_CONNECTION,
        ErrorCategory.TIMEOUT,
        ErrorCategory.RATE_LIMIT,
        ErrorCategory.SOURCE_UNAVAILABLE,
        ErrorCategory.UNKNOWN,
    }
)
_LENGTH = re.compile(r"(\d+) (characters|bytes) \(limit (\d+)\)")
_FIRST_ROW = re.compile(r"already on row (\d+)")
_ROW_PREFIX = re.compile(r"^row \d+( \(buyer [^)]*\))?:\s*")


def is_ours(note: str | None) -> bool:
    """Whether a cell's note is one buyersync wrote (and may replace or remove)."""
    return bool(note) and str(note).startswith(PREFIX)


@dataclass(frozen=True)
class Advice:
    """What is wrong with a cell and what the person editing the sheet can do."""

    wrong: str
    todo: str

    def note(self) -> str:
        """The cell note: the prefix, then ``wrong — todo``."""
        text = f"{PREFIX}{self.wrong} — {self.todo}"
        return text if len(text) <= MAX_NOTE_CHARS else text[: MAX_NOTE_CHARS - 1] + "…"


def _reason(message: str) -> str:
    """The failure message without its ``row N (buyer B):`` lead and the operator's
    closing advice, for a sheet editor."""
    text = _ROW_PREFIX.sub("", message.strip())
    for cut in ("; correct the cell", "; convert the columns", "; fill it in"):
        at = text.find(cut)
        if at > 0:
            text = text[:at]
    return text[:200]


def advice(
    category: ErrorCategory | str,
    *,
    column: str | None,
    message: str,
    example: str | None = None,
    kind: str = "buyer",
    column_limited: bool = True,
    key_label: str = "buyer number",
) -> Advice:
    """The advice for one open problem.

    ``column`` is the sheet column's header (or the database column) the problem is
    about; ``column_limited`` says whether the database still limits that column's
    length (False once the schema fix has converted it to TEXT).
    """
    try:
        cat = ErrorCategory(str(category))
    except ValueError:
        cat = ErrorCategory.UNKNOWN
    what = column or "value"
    if kind == "run":
        return Advice(
            f"the last sync stopped before it saved every row: {_reason(message)}",
            "nothing to do in the sheet: buyersync (or the person who runs it) finishes the job",
        )
    if cat is ErrorCategory.VALUE_TOO_LONG:
        found = _LENGTH.search(example or "") or _LENGTH.search(message)
        length = f"{found.group(1)} {found.group(2)}" if found else "too long"
        limit = f"{found.group(3)} {found.group(2)}" if found else "the limit"
        if not column_limited:
            return Advice(
                f"this {what} is {length}; the database accepts it after the next sync",
                "nothing to do",
            )
        return Advice(
            f"this {what} is {length}; the database holds at most {limit}",
            f"shorten it to {limit} or less, or ask the person who runs buyersync to widen "
            "the column; the row is saved at the next sync after either",
        )
    if cat is ErrorCategory.DUPLICATE_KEY:
        first = _FIRST_ROW.search(message)
        where = f"row {first.group(1)}" if first else "an earlier row"
        return Advice(
            f"this {key_label} is already used on {where}",
            f"give this row its own number (or merge it into {where}); until then only "
            f"{where} is saved",
        )
    if cat is ErrorCategory.VALIDATION:
        if "no buyer number" in message or kind == "row":
            return Advice(
                f"this row has no {key_label}",
                f"fill in the {key_label}, or delete the row if it is not a buyer",
            )
        return Advice(
            f"this {what} cannot be saved: {_reason(message)}",
            "correct the cell; the next sync saves the row",
        )
    if cat is ErrorCategory.DATA_FORMAT:
        return Advice(
            f"this cell cannot be read: {_reason(message)}",
            "correct the cell (type the value itself, not an error or a formula that fails); "
            "the next sync saves the row",
        )
    if cat is ErrorCategory.CONSTRAINT:
        return Advice(
            f"the database refused this row: {_reason(message)}",
            "check the value against the rules of the buyers list, or ask the person who "
            "runs buyersync",
        )
    if cat is ErrorCategory.SCHEMA_MISMATCH:
        return Advice(
            f"the database has no place for this {what}",
            "nothing to do here: the person who runs buyersync has to change the database",
        )
    if cat in _TRANSIENT:
        return Advice(
            "this row was not saved because of a passing fault (the database or the "
            "network was unavailable)",
            "nothing to do: buyersync tries again by itself",
        )
    return Advice(
        f"this row was not saved: {_reason(message)}",
        "ask the person who runs buyersync",
    )


def advice_for(problem: Any, *, column_label: str | None, column_limited: bool) -> Advice:
    """:func:`advice` for a :class:`buyersync.store.problems.Problem`."""
    return advice(
        problem.category,
        column=column_label,
        message=problem.message,
        example=problem.example,
        kind=problem.kind,
        column_limited=column_limited,
    )


def row_link(sheet_id: int, cell: str) -> str:
    """The link that opens ``cell`` (A1) of tab ``sheet_id`` inside the same spreadsheet."""
    return f"#gid={sheet_id}&range={cell}"


def hyperlink_formula(url: str, label: str) -> str:
    """``=HYPERLINK("url","label")`` with quotes doubled as Sheets formulas need."""
    return (
        f'=HYPERLINK("{url.replace(chr(34), chr(34) * 2)}","{label.replace(chr(34), chr(34) * 2)}")'
    )
