"""The one interface every sheet reader implements.

A :class:`Source` reads the header row (``header_row``, 1-based; rows above it are a
title block and are ignored) and yields every row below it as a
:class:`~buyersync.records.SheetRow` carrying the sheet's own row number, cells as
the text a person sees (``""`` for an empty cell), padded or cut to the header's
width. Entirely blank rows are yielded too (the sync skips and counts them); a
source may stop after the last non-blank row.
"""

from __future__ import annotations

import abc
from collections.abc import Iterator
from dataclasses import dataclass, field

from buyersync.records import SheetRow
from buyersync.rules.normalize import column_letter


@dataclass
class SheetData:
    """A sheet being read: its header and a one-shot iterator over its rows."""

    header: tuple[str, ...]
    header_row: int
    rows: Iterator[SheetRow]
    description: str
    #: Things the reader noticed while reading (merged cells…), complete once ``rows``
    #: is exhausted; the sync adds them to its report.
    warnings: list[str] = field(default_factory=list)


class Source(abc.ABC):
    """A readable sheet. ``description`` is safe to print and store (no secrets)."""

    description: str

    @abc.abstractmethod
    def read(self) -> SheetData:
        """Read the header and return the rows as a lazy iterator.

        Raises :class:`buyersync.errors.SourceError` (or a subclass) when the sheet
        cannot be read, :class:`buyersync.errors.EncodingProblem` for undecodable
        bytes. An error raised while iterating means the sheet was not read whole:
        callers must not treat the rows seen so far as the whole sheet.
        """

    def read_column(self, header_index: int) -> tuple[tuple[str, ...], Iterator[tuple[int, str]]]:
        """The header and ``(row_number, value)`` of one column, for cheap key scans.

        Sources that can fetch a single column (Google Sheets) override this.
        """
        data = self.read()

        def values() -> Iterator[tuple[int, str]]:
            for row in data.rows:
                if any(v.strip() for v in row.values):
                    value = row.values[header_index] if header_index < len(row.values) else ""
                    yield row.row_number, value

        return data.header, values()


def make_row(
    row_number: int,
    values: list[str] | tuple[str, ...],
    width: int,
    problems: tuple[tuple[int, str], ...] = (),
) -> SheetRow:
    """Build a row of exactly ``width`` cells: pad a ragged row with ``""``.

    A non-empty cell beyond the last header is never dropped silently: the row gets
    a problem naming the cell, and the sync logs it as ``data_format``.
    """
    if len(values) <= width:
        return SheetRow(row_number, tuple(values) + ("",) * (width - len(values)), problems)
    extra = [
        (i, f"cell {column_letter(i)}{row_number} holds a value but its column has no header")
        for i in range(width, len(values))
        if str(values[i]).strip()
    ]
    return SheetRow(row_number, tuple(values[:width]), problems + tuple(extra))
