"""Proof that a CSV file was read whole, and errors that name lines, never their content.

A first row that is data, a quoted field that runs on (to the end of the file, past
``max_field_lines``, or over lines that look like records), a field or line over its
limit, and a parser whose line count disagrees with the line breaks in the bytes.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass

from buyersync.errors import HeaderError, SourceContentError, SourceError
from buyersync.rules.normalize import column_letter, normalize_header
from buyersync.sources.csvfile.dialect import DELIMITERS
from buyersync.sources.csvfile.files import CsvFile, count_lines

_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")


@dataclass(frozen=True)
class CsvChecks:
    """The checks of one read: the file, where its header is, its delimiter and limits."""

    file: CsvFile
    header_row: int
    key_header: str | None
    delimiter: str
    max_field_chars: int
    max_line_chars: int
    max_field_lines: int

    def header(self, header: list[str]) -> None:
        """Refuse a first row that is data rather than a header, naming cells, not values."""
        if len(header) == 1 and self.key_header is not None:
            # One column that is not the key: not a table of buyers (a text file, a
            # system file behind a link). Its first line is never shown.
            if normalize_header(header[0]) != normalize_header(self.key_header):
                raise HeaderError(
                    f"{self.file.name} does not look like a CSV table of buyers: its header "
                    f"row {self.header_row} has one column (no comma, semicolon, tab or pipe) "
                    f"and it is not headed {self.key_header!r}",
                    hint="point --source at the exported sheet; pass --delimiter if it uses "
                    "another separator, or --key with its header",
                )
        filled = [i for i, h in enumerate(header) if h.strip()]
        numbers = [i for i in filled if _NUMBER.match(header[i].strip())]
        if (
            numbers
            and (len(numbers) * 2 >= len(filled))
            and (len(numbers) >= 2 or len(filled) == 1)
        ):
            cells = ", ".join(f"{column_letter(i)}{self.header_row}" for i in numbers[:8])
            more = f" and {len(numbers) - 8} more" if len(numbers) > 8 else ""
            raise HeaderError(
                f"{self.file.name}: row {self.header_row} looks like data, not a header row: "
                f"{len(numbers)} of its {len(filled)} filled columns hold numbers ({cells}{more})",
                hint="add a header row naming the columns (one of them the buyer number), "
                "or point --header-row at it",
                details={
                    "numeric_cells": len(numbers),
                    "delimiter": DELIMITERS.get(self.delimiter),
                },
            )

    def multiline(self, record: list[str], first_line: int, width: int) -> None:
        """A record spanning several physical lines: legitimate, or a stray quote?"""
        opened = first_line
        for index, field in enumerate(record):
            breaks = field.count("\n") + field.count("\r") - field.count("\r\n")
            if not breaks:
                continue
            if breaks + 1 > self.max_field_lines:
                raise SourceContentError(
                    f"{self.file.name}: the quoted field opened on line {opened} "
                    f"(column {column_letter(index)}) takes in {breaks + 1} lines, more than "
                    f"csv_max_field_lines ({self.max_field_lines}); a quote is probably not "
                    "closed; nothing was written",
                    hint="close the quote in the file, or raise csv_max_field_lines "
                    "(--csv-max-field-lines) if the field really has that many lines",
                    details={"line": opened, "lines": breaks + 1},
                )
            if width >= 3:
                for offset, inner in enumerate(field.splitlines()[1:], start=1):
                    if (
                        inner.count(self.delimiter) >= width - 1
                        and _fields(inner, self.delimiter) == width
                    ):
                        raise SourceContentError(
                            f"{self.file.name}: the quoted field opened on line {opened} "
                            f"(column {column_letter(index)}) takes in {breaks + 1} lines, and "
                            f"line {opened + offset} inside it looks like a record of its own "
                            f"({width} fields); a quote is probably not closed; nothing was "
                            "written",
                            hint="close the quote on that line in the file (a quote inside a "
                            'quoted field is written twice: "")',
                            details={"line": opened, "lines": breaks + 1},
                        )
            opened += breaks

    def csv_error(self, exc: csv.Error, first_line: int, line: int) -> SourceError:
        """The parser's error as a message naming the lines (never their content)."""
        text = str(exc)
        name = self.file.name
        if "field larger than field limit" in text:
            return SourceContentError(
                f"{name}: a field of the record starting on line {first_line} is longer than "
                f"{self.max_field_chars:,} characters (the csv_max_field_chars limit); "
                "nothing was written",
                hint="raise csv_max_field_chars (--csv-max-field-chars) if the file is right, "
                "or check that line for a quote that is not closed",
            )
        opened = self.quote_opened_line(first_line, line)
        where = f"the quoted field opened on line {opened}" if opened else "a quoted field"
        if "unexpected end of data" in text:
            taken = line - (opened or first_line) + 1
            return SourceContentError(
                f"{name}: {where} is never closed: it takes in the {taken} line(s) to the end "
                "of the file; nothing was written",
                hint='close the quote in the file (a quote inside a quoted field is written twice: "")',
                details={"line": opened or first_line, "lines": taken},
            )
        if "expected after" in text:
            taken = line - (opened or first_line) + 1
            return SourceContentError(
                f"{name}: {where} is closed on line {line} and followed by more text, so it "
                f"takes in {taken} line(s); a quote is probably not closed, or a quote inside "
                "a quoted field is not doubled; nothing was written",
                hint='fix the quote in the file (a quote inside a quoted field is written twice: "")',
                details={"line": opened or first_line, "lines": taken},
            )
        return SourceContentError(
            f"{name} is not valid CSV in the record starting on line {first_line}: {text}",
        )

    def quote_opened_line(self, first_line: int, last_line: int) -> int | None:
        """The line where the last quote opened by ``last_line`` was opened.

        Re-reads lines ``first_line..last_line`` (only when an error is reported) and
        follows the quoting as the parser does: a quote opens a field only at its start,
        a doubled quote inside it is a literal quote.
        """
        delimiter = self.delimiter
        opened: int | None = None
        quoted = at_start = False
        try:
            with self.file.open_regular() as raw:
                fh = io.TextIOWrapper(
                    raw, encoding=self.file.encoding, newline="", errors="replace"
                )
                for number, line in enumerate(
                    iter(lambda: fh.readline(self.max_line_chars), ""), 1
                ):
                    if number < first_line:
                        continue
                    if number > last_line:
                        break
                    if not quoted:
                        at_start = True
                    i, end = 0, len(line)
                    while i < end:
                        ch = line[i]
                        if quoted:
                            if ch == '"':
                                if i + 1 < end and line[i + 1] == '"':
                                    i += 1
                                else:
                                    quoted = False
                        elif ch == '"' and at_start:
                            quoted, opened = True, number
                        at_start = not quoted and ch in (delimiter, "\n", "\r")
                        i += 1
        except (OSError, SourceError):
            return None
        return opened

    def line_count(self, consumed: int) -> None:
        """Compare the lines the parser consumed with line breaks counted in the bytes."""
        probe = '\r\n,;|\t"'
        encoder = codecs.getincrementalencoder(self.file.encoding)()
        try:
            encoder.encode("a")  # a byte-order mark, if the codec writes one, comes first
            if encoder.encode(probe) != probe.encode("ascii"):
                return  # UTF-16/32: line breaks are not single bytes
        except UnicodeError:
            return
        with self.file.open_regular() as fh:
            physical = count_lines(fh)
        if physical != consumed:
            raise SourceContentError(
                f"{self.file.name}: the CSV parser consumed {consumed} lines but the file has "
                f"{physical}; the file was not read whole (did it change while it was read?); "
                "nothing was written",
                hint="run the sync again once the file is no longer being written",
                details={"consumed": consumed, "physical": physical},
            )


def _fields(line: str, delimiter: str) -> int:
    try:
        return len(next(csv.reader([line], delimiter=delimiter), []))
    except csv.Error:
        return 0
