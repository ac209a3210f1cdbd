"""CSV files: UTF-8 with or without BOM by default, any Python codec with ``--encoding``.

The reader proves it read the whole file (see docs/sources.md, "CSV"):

- only a regular file is opened (a FIFO, device or directory is refused before any
  read, so a FIFO cannot block the sync);
- the delimiter (comma, semicolon, tab or pipe) is detected from the header and the
  rows under it unless ``delimiter`` is given;
- a quoted field that runs to the end of the file, that takes in more than
  ``max_field_lines`` physical lines, or that swallows lines which themselves look like
  records, stops the read with an error naming the line where the quote opened;
- no physical line longer than ``max_line_chars`` and no field longer than
  ``max_field_chars`` is ever held in memory whole;
- after the last record, the physical lines the parser consumed are compared with a
  separate count of line breaks in the raw bytes; a disagreement stops the read.

Every such error is raised from the row iterator before the sync writes anything.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import weakref
from collections.abc import Iterator
from pathlib import Path

from buyersync.errors import EncodingProblem, SourceContentError, SourceError
from buyersync.records import SheetRow
from buyersync.sources.base import SheetData, Source, make_row
from buyersync.sources.csvfile.checks import CsvChecks
from buyersync.sources.csvfile.dialect import (
    DELIMITER_NAMES,
    DELIMITERS,
    SAMPLE_BYTES,
    detect,
    parse_delimiter,
)
from buyersync.sources.csvfile.files import CsvFile

log = logging.getLogger(__name__)

#: Defaults of the size settings (docs/sources.md explains the choice).
MAX_FIELD_CHARS = 1_000_000
MAX_LINE_CHARS = 4_000_000
MAX_FIELD_LINES = 20

__all__ = [
    "DELIMITERS",
    "DELIMITER_NAMES",
    "MAX_FIELD_CHARS",
    "MAX_FIELD_LINES",
    "MAX_LINE_CHARS",
    "CsvSource",
    "parse_delimiter",
]


class CsvSource(Source):
    """A CSV file. Quoted fields may hold delimiters and newlines (CRLF or LF)."""

    def __init__(
        self,
        path: str | Path,
        *,
        encoding: str = "utf-8",
        header_row: int = 1,
        delimiter: str | None = None,
        max_field_chars: int = MAX_FIELD_CHARS,
        max_line_chars: int = MAX_LINE_CHARS,
        max_field_lines: int = MAX_FIELD_LINES,
        key_header: str | None = None,
    ) -> None:
        self.path = Path(path)
        self.encoding = (
            "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
        )
        self.header_row = header_row
        self.delimiter = parse_delimiter(delimiter)
        self.max_field_chars = max_field_chars
        self.max_line_chars = max_line_chars
        self.max_field_lines = max_field_lines
        self.key_header = key_header
        #: The delimiter of the last read (given or detected).
        self.used_delimiter: str | None = None
        self.description = f"csv:{self.path.name}"
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise EncodingProblem(
                f"unknown encoding {encoding!r}",
                hint="use a Python codec name such as utf-8, cp932, shift_jis or latin-1",
            ) from None

    @property
    def _file(self) -> CsvFile:
        return CsvFile(self.path, self.encoding)

    def read(self) -> SheetData:
        """Open the file and read its header; rows are decoded and parsed as they are
        iterated. Undecodable bytes raise :class:`EncodingProblem` (naming the byte and
        line) when they are reached, from ``read()`` or from the row iterator; the
        completeness checks raise :class:`SourceError` from the iterator."""
        file = self._file
        raw = file.open_regular()
        try:
            sample = raw.read(SAMPLE_BYTES)
            file.check_text(sample)
            delimiter = self.delimiter or detect(sample, self.encoding, self.header_row)
            raw.seek(0)
        except OSError as exc:
            raw.close()
            raise SourceError(f"cannot read {self.path.name}: {exc.strerror}") from None
        except BaseException:
            raw.close()
            raise
        self.used_delimiter = delimiter
        log.info(
            "%s: delimiter %s (%s)",
            self.path.name,
            DELIMITERS.get(delimiter, repr(delimiter)),
            "given" if self.delimiter else "detected",
        )
        checks = CsvChecks(
            file=file,
            header_row=self.header_row,
            key_header=self.key_header,
            delimiter=delimiter,
            max_field_chars=self.max_field_chars,
            max_line_chars=self.max_line_chars,
            max_field_lines=self.max_field_lines,
        )
        fh = io.TextIOWrapper(raw, encoding=self.encoding, newline="")
        name = self.path.name
        max_line, max_field = self.max_line_chars, self.max_field_chars

        def lines() -> Iterator[str]:
            readline = fh.readline
            number = 0
            while line := readline(max_line + 1):
                number += 1
                if len(line) > max_line and not line.endswith(("\n", "\r")):
                    raise SourceContentError(
                        f"{name}: line {number} is longer than {max_line:,} characters "
                        f"(the csv_max_line_chars limit); nothing was written",
                        hint="raise csv_max_line_chars (--csv-max-line-chars) if the file is "
                        "right, or export the sheet again",
                    )
                yield line

        csv.field_size_limit(max_field)
        # strict: a closing quote must be followed by a delimiter or a line end, and a
        # quoted field may not run into the end of the file. Both are how a stray
        # opening quote shows itself; every real export tried passes.
        reader = csv.reader(lines(), delimiter=delimiter, strict=True)
        header: list[str] = []
        try:
            for _ in range(self.header_row):
                header = next(reader)
        except StopIteration:
            header = []
        except csv.Error as exc:
            fh.close()
            raise checks.csv_error(exc, 1, reader.line_num) from None
        except UnicodeDecodeError:
            fh.close()
            file.decode_failed()
        except BaseException:
            fh.close()
            raise
        if not header:
            fh.close()
            raise SourceError(
                f"{name} has no header row on line {self.header_row}",
                hint="the file is empty, or --header-row points past its end",
            )
        try:
            checks.header(header)
        except BaseException:
            fh.close()
            raise
        width = len(header)
        header_lines = reader.line_num

        def rows() -> Iterator[SheetRow]:
            number = self.header_row
            last_line = header_lines
            try:
                # reader.line_num counts physical lines; a quoted newline spans several.
                # The sheet row number is the record number, as a spreadsheet shows it.
                for record in reader:
                    line = reader.line_num
                    taken = line - last_line
                    if taken > 1:
                        checks.multiline(record, last_line + 1, width)
                    last_line = line
                    number += 1
                    if len(record) == width:  # the common case, without make_row's checks
                        yield SheetRow(number, tuple(record), ())
                    else:
                        yield make_row(number, record, width)
                checks.line_count(last_line)
            except csv.Error as exc:
                raise checks.csv_error(exc, last_line + 1, reader.line_num) from None
            except UnicodeDecodeError:
                # Undecodable bytes are found as they are read. The sync stages every
                # row before it writes any, so nothing has been written yet.
                file.decode_failed()
            finally:
                fh.close()

        iterator = rows()
        # A caller that reads only the header never starts the iterator, so its
        # ``finally`` would not run: close the file when the iterator goes away.
        weakref.finalize(iterator, fh.close)
        return SheetData(tuple(header), self.header_row, iterator, self.description)
