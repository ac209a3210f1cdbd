"""Row checks before anything is written: blank rows, keys, duplicates, bad cells.

:class:`RowChecker` sees the rows in sheet order and decides, for each, whether it
is blank (skipped, not a buyer), a failure (logged with its category), or a buyer to
write. The first occurrence of a buyer number wins; a later row with the same
normalized number (compared as :mod:`buyersync.rules.keys` says: by default letter
case does not count) is a ``duplicate_key`` failure naming the first row. This is
decided here, before the database sees anything, so PostgreSQL and SQLite behave
identically.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

from buyersync.errors import ErrorCategory
from buyersync.records import RowFailure, SheetRow
from buyersync.rules.categories import is_retryable
from buyersync.rules.coltypes import ColumnType
from buyersync.rules.keys import FirstSeen, Fold
from buyersync.rules.lengths import ColumnLimit, excess
from buyersync.rules.normalize import ColumnMap, column_letter, normalize_key
from buyersync.rules.typed import ParseOptions, Problem, parse
from buyersync.rules.typedcells import canonical_text, cell_problem, problems_message

FIX_SCHEMA = "buyersync schema fix --apply"


@dataclass(frozen=True, slots=True)
class Accepted:
    """A row to write: its normalized key and the values of the stored columns."""

    row_number: int
    key: str
    values: tuple[str | None, ...]


def failure(
    category: ErrorCategory,
    message: str,
    row_number: int | None,
    key: str | None,
    details: dict[str, Any] | None = None,
    operation: str = "sync",
) -> RowFailure:
    """A RowFailure whose ``retryable`` flag follows from its category."""
    return RowFailure(
        category=category,
        message=message,
        row_number=row_number,
        buyer_number=key or None,
        details=dict(details or {}),
        retryable=is_retryable(category),
        operation=operation,
    )


class RowChecker:
    """Classifies rows; keeps the keys seen so far (first occurrence wins)."""

    def __init__(
        self,
        colmap: ColumnMap,
        stored_columns: Sequence[str],
        *,
        limits: Mapping[str, int | ColumnLimit] | None = None,
        operation: str = "sync",
        types: Mapping[str, ColumnType] | None = None,
        parse_options: ParseOptions | None = None,
        booleans: tuple[str, str] = ("true", "false"),
        fold: Fold = None,
    ) -> None:
        self.colmap = colmap
        self.key_index = colmap.key_index
        index_of = {c: i for i, c in enumerate(colmap.columns) if c is not None}
        self.stored_columns = tuple(stored_columns)
        self.stored_indexes = tuple(index_of[c] for c in self.stored_columns)
        self.limits = dict(limits or {})
        self.limited = [
            (i, c, self.limits[c])
            for i, c in zip(self.stored_indexes, self.stored_columns, strict=True)
            if c in self.limits
        ]
        self.key_limit = self.limits.get("buyer_number")
        self.width = len(colmap.headers)
        #: The buyers seen so far (first row wins), compared under ``fold``.
        self.seen = FirstSeen(fold)
        self.first_row: dict[str, int] = self.seen.first_row
        self.operation = operation
        # check() runs once per sheet row (a million times for a big sheet): the
        # stored cells are picked in C rather than by a Python loop.
        self._pick = _picker(self.stored_indexes)
        # Typed columns only: a text column gets no per-cell work.
        types = types or {}
        self.typed = tuple(
            (pos, column, sheet_index, types[column])
            for pos, (sheet_index, column) in enumerate(
                zip(self.stored_indexes, self.stored_columns, strict=True)
            )
            if column in types and types[column].typed
        )
        self.parse_options = parse_options or ParseOptions()
        self.booleans = booleans
        # An error value (#REF!, #N/A) in an ignored column is not stored, so it fails nothing.
        self._ignored = frozenset(i for i, c in enumerate(colmap.columns) if c is None)

    def _problems(self, row: SheetRow) -> Sequence[tuple[int, str]]:
        if not row.problems or not self._ignored:
            return row.problems
        return tuple(p for p in row.problems if p[0] not in self._ignored)

    def is_blank(self, row: SheetRow) -> bool:
        # One join instead of a strip per cell: some cell has a non-space character
        # exactly when the joined text has one.
        if row.problems and self._problems(row):
            return False
        return not "".join(row.values).strip()

    def check(self, row: SheetRow) -> Accepted | RowFailure:
        """Accept the row or say why it fails. Call only for non-blank rows, in sheet order."""
        n = row.row_number
        values = row.values
        width = self.width
        key = normalize_key(values[self.key_index]) if self.key_index < len(values) else ""
        op = self.operation
        if not key:
            key_cell = f"{column_letter(self.key_index)}{n}"
            on_key = [m for i, m in row.problems if i == self.key_index]
            if on_key:
                # An error value in the key cell (#REF!, #N/A…) is not an empty cell.
                return failure(
                    ErrorCategory.DATA_FORMAT,
                    f"row {n} has no usable buyer number: {on_key[0]}",
                    n,
                    None,
                    {"cells": [{"column": column_letter(self.key_index), "problem": on_key[0]}]},
                    op,
                )
            return failure(
                ErrorCategory.VALIDATION,
                f"row {n} has no buyer number (cell {key_cell} is empty); "
                "fill it in, or delete the row if it is not a buyer",
                n,
                None,
                {"column": self.colmap.headers[self.key_index]},
                op,
            )
        earlier = self.seen.earlier(key)
        if earlier is not None:
            first = self.first_row[earlier]
            same = (
                f"buyer number {key!r}"
                if earlier == key
                else (
                    f"buyer number {key!r}, the same buyer as {earlier!r} (letter case does "
                    "not count: key_case)"
                )
            )
            return failure(
                ErrorCategory.DUPLICATE_KEY,
                f"row {n} repeats {same} already on row {first}; "
                f"row {first} wins — merge the two rows or give row {n} its own number",
                n,
                key,
                {"first_row": first, **({"first_key": earlier} if earlier != key else {})},
                op,
            )
        self.seen.add(key, n)
        row_problems = self._problems(row) if row.problems else ()
        if row_problems or len(values) > width:
            problems = list(row_problems) + [
                (i, f"cell {column_letter(i)}{n} holds a value but its column has no header")
                for i in range(width, len(values))
                if values[i].strip()
            ]
            if problems:
                cells = "; ".join(msg for _, msg in problems)
                return failure(
                    ErrorCategory.DATA_FORMAT,
                    f"row {n} (buyer {key}): {cells}; correct the cell in the sheet",
                    n,
                    key,
                    {"cells": [{"column": column_letter(i), "problem": m} for i, m in problems]},
                    op,
                )
            values = values[:width]
        if "\x00" in "".join(values):
            i, value = next((i, v) for i, v in enumerate(values) if "\x00" in v)
            return failure(
                ErrorCategory.DATA_FORMAT,
                f"row {n} (buyer {key}): cell {column_letter(i)}{n} contains a NUL "
                "character, which the database cannot store; remove it in the sheet",
                n,
                key,
                {"column": self.colmap.headers[i], "position": value.index("\x00")},
                op,
            )
        if self.limited or self.key_limit is not None:
            # lengths.excess decides as the database does (PostgreSQL cuts excess trailing
            # spaces of a varchar(n)/char(n) value instead of refusing the row).
            too_long = [
                e.to_json(c)
                for i, c, limit in self.limited
                if (e := excess(values[i], limit)) is not None
            ]
            if self.key_limit is not None and (e := excess(key, self.key_limit)) is not None:
                too_long.insert(0, e.to_json("buyer_number"))
            if too_long:
                shown = ", ".join(
                    f"{t['column']} is {t['length']} {t.get('unit', 'characters')} (limit {t['limit']})"
                    for t in too_long
                )
                return failure(
                    ErrorCategory.VALUE_TOO_LONG,
                    f"row {n} (buyer {key}) does not fit the buyers table: {shown}; "
                    f"convert the columns to TEXT with: {FIX_SCHEMA}",
                    n,
                    key,
                    {"columns": too_long, "fix": FIX_SCHEMA},
                    op,
                )
        stored: tuple[str | None, ...] = self._pick(values)
        if "" in stored:
            stored = tuple([v or None for v in stored])
        if self.typed:
            return self._parse_typed(n, key, stored)
        return Accepted(n, key, stored)

    def _parse_typed(
        self, n: int, key: str, stored: tuple[str | None, ...]
    ) -> Accepted | RowFailure:
        """Parse the typed cells: canonical text for each, or one failure naming every
        cell that does not parse (the row is not written; other rows are)."""
        values = list(stored)
        bad: list[dict[str, Any]] = []
        for pos, column, sheet_index, ctype in self.typed:
            text = values[pos]
            if text is None:
                continue
            parsed = parse(text, ctype, self.parse_options)
            if isinstance(parsed, Problem):
                bad.append(cell_problem(column, sheet_index, n, text, parsed))
            else:
                values[pos] = canonical_text(parsed, self.booleans)
        if bad:
            return failure(
                ErrorCategory.DATA_FORMAT,
                problems_message(n, key, bad),
                n,
                key,
                {"cells": bad},
                self.operation,
            )
        return Accepted(n, key, tuple(values))


def _picker(indexes: Sequence[int]) -> Callable[[Sequence[str]], tuple[str, ...]]:
    """A function returning ``tuple(values[i] for i in indexes)``, done in C."""
    if not indexes:
        return lambda values: ()
    if len(indexes) == 1:
        only = indexes[0]
        return lambda values: (values[only],)
    return itemgetter(*indexes)
