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
import os
import re
import stat
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO, NoReturn

from buyersync.errors import (
    EncodingProblem,
    HeaderError,
    SourceContentError,
    SourceError,
)
from buyersync.records import SheetRow
from buyersync.rules.normalize import column_letter
from buyersync.sources.base import SheetData, Source, make_row

log = logging.getLogger(__name__)

#: The delimiters detection chooses from, with the names used in messages and flags.
DELIMITERS: dict[str, str] = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
#: Names accepted by ``--delimiter`` besides the character itself.
DELIMITER_NAMES: dict[str, str] = {name: char for char, name in DELIMITERS.items()}

#: Defaults of the size settings (docs/sources.md explains the choice).
MAX_FIELD_CHARS = 1_000_000
MAX_LINE_CHARS = 4_000_000
MAX_FIELD_LINES = 20

#: How much of the file delimiter detection and the binary check look at.
_SAMPLE_BYTES = 64 * 1024
#: Leading bytes of binary formats a CSV path is sometimes given by mistake.
_BINARY_MAGIC = (
    (b"PK\x03\x04", "a ZIP archive (an .xlsx workbook?)"),
    (b"\xd0\xcf\x11\xe0", "an old binary Office file (.xls?)"),
    (b"%PDF", "a PDF document"),
    (b"\x89PNG", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"\x7fELF", "a program (ELF)"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"SQLite format 3\x00", "an SQLite database"),
)
_NUMBER = re.compile(r"^[+-]?\d+(?:[.,]\d+)?$")


def parse_delimiter(value: str | None) -> str | None:
    """``","``, ``"comma"``, ``"\\t"``, ``"tab"``… → the character; ``None``/``""`` → detect."""
    if value is None or value == "" or value.lower() == "auto":
        return None
    if value in DELIMITERS:
        return value
    if value in ("\\t", "TAB"):
        return "\t"
    char = DELIMITER_NAMES.get(value.lower())
    if char is None:
        from buyersync.errors import ConfigError

        names = ", ".join(f"{n} ({c!r})" for c, n in DELIMITERS.items())
        raise ConfigError(
            f"unknown CSV delimiter {value!r}",
            hint=f"use one of {names}, or leave it unset to detect it",
        )
    return char


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

    # ------------------------------------------------------------------ opening

    def _open_regular(self) -> BinaryIO:
        """The file opened for binary reading, or a clear error; never blocks.

        ``O_NONBLOCK`` keeps an ``open()`` of a FIFO from waiting for a writer; the
        type is checked on the opened descriptor, so a path swapped after the check
        cannot slip a device in.
        """
        name = self.path.name
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise SourceError(
                f"source file {self.path} does not exist",
                hint="check --source / BUYERSYNC_SOURCE",
            ) from None
        except IsADirectoryError:
            raise self._not_regular("a directory") from None
        except PermissionError:
            raise SourceError(
                f"cannot read {name}: permission denied",
                hint="give the user running buyersync read access to the file",
            ) from None
        except OSError as exc:
            raise SourceError(f"cannot open {name}: {exc.strerror}") from None
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            os.close(fd)
            kind = (
                "a directory"
                if stat.S_ISDIR(mode)
                else "a FIFO (named pipe)"
                if stat.S_ISFIFO(mode)
                else "a device"
                if stat.S_ISCHR(mode) or stat.S_ISBLK(mode)
                else "a socket"
                if stat.S_ISSOCK(mode)
                else "not a regular file"
            )
            raise self._not_regular(kind)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")

    def _not_regular(self, kind: str) -> SourceError:
        via = " (through a symbolic link)" if self.path.is_symlink() else ""
        return SourceError(
            f"{self.path.name} is {kind}{via}, not a regular file; only regular files are read",
            hint="point --source at the exported .csv file itself",
        )

    def _check_text(self, sample: bytes) -> None:
        """Refuse a binary file without showing any of its bytes.

        A NUL inside a cell is a row problem the sync logs (the row is named), and in a
        header a header error; a file that starts like a known binary format is not a
        CSV export at all. Other binary content fails to decode (EncodingProblem names
        the byte, never the text).
        """
        if "utf-16" in self.encoding or "utf-32" in self.encoding:
            return
        kind = next((k for magic, k in _BINARY_MAGIC if sample.startswith(magic)), None)
        if kind is not None:
            raise SourceContentError(
                f"{self.path.name} is not a text file (it starts like {kind}); nothing was read",
                hint="point --source at a CSV export; an .xlsx workbook needs the .xlsx suffix",
            )

    # ------------------------------------------------------------------ decoding errors

    def _check_decodes(self) -> None:
        """Find the first undecodable byte and raise :class:`EncodingProblem` naming it.

        Called only once reading has met an undecodable byte (the reader decodes as it
        goes; a separate decoding pass before reading cost a fifth of a sync).
        """
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="strict")
        offset = 0
        line = 1
        try:
            with self._open_regular() as fh:
                while chunk := fh.read(1 << 20):
                    try:
                        text = decoder.decode(chunk)
                    except UnicodeDecodeError as exc:
                        bad = offset + exc.start
                        with self.path.open("rb") as again:
                            line = _count_newlines(again, bad) + 1
                        raise EncodingProblem(
                            f"{self.path.name} is not valid {self.encoding.replace('-sig', '')}: "
                            f"undecodable byte 0x{exc.object[exc.start]:02x} at byte {bad} "
                            f"(line {line}); nothing was written",
                            hint="pass --encoding with the file's encoding, e.g. --encoding cp932 "
                            "for Japanese Excel exports or --encoding latin-1",
                        ) from None
                    del text
                    offset += len(chunk)
                decoder.decode(b"", final=True)
        except OSError as exc:
            raise SourceError(f"cannot read {self.path.name}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise EncodingProblem(
                f"{self.path.name} ends in the middle of a character for {self.encoding}",
                hint="pass --encoding with the file's encoding",
            ) from None

    def _decode_failed(self) -> NoReturn:
        self._check_decodes()
        raise EncodingProblem(  # the file changed between the two reads
            f"{self.path.name} is not valid {self.encoding.replace('-sig', '')}; "
            "nothing was written",
            hint="pass --encoding with the file's encoding",
        )

    # ------------------------------------------------------------------ dialect

    def _detect(self, sample: bytes) -> str:
        """The delimiter that splits the header and the rows under it most consistently."""
        text = sample.decode(self.encoding, errors="replace")
        if len(sample) == _SAMPLE_BYTES:  # the last line may be cut: leave it out
            text = text[: max(text.rfind("\n"), 0)]
        best, best_score = ",", (0, 0, 0)
        for delimiter in DELIMITERS:
            try:
                records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
            except csv.Error:
                continue
            if len(records) < self.header_row:
                continue
            width = len(records[self.header_row - 1])
            body = [r for r in records[self.header_row : self.header_row + 50] if r]
            same = sum(1 for r in body if len(r) == width)
            score = (int(width > 1), same, width)
            if score > best_score:
                best, best_score = delimiter, score
        return best

    # ------------------------------------------------------------------ reading

    def read(self) -> SheetData:
        """Open the file and read its header; rows are decoded and parsed as they are
        iterated. Undecodable bytes raise :class:`EncodingProblem` (naming the byte and
        line) when they are reached, from ``read()`` or from the row iterator; the
        completeness checks raise :class:`SourceError` from the iterator."""
        raw = self._open_regular()
        try:
            sample = raw.read(_SAMPLE_BYTES)
            self._check_text(sample)
            delimiter = self.delimiter or self._detect(sample)
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
            raise self._csv_error(exc, 1, reader.line_num) from None
        except UnicodeDecodeError:
            fh.close()
            self._decode_failed()
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
            self._check_header(header, delimiter)
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
                        self._check_multiline(record, last_line + 1, taken, width, delimiter)
                    last_line = line
                    number += 1
                    if len(record) == width:  # the common case, without make_row's checks
                        yield SheetRow(number, tuple(record), ())
                    else:
                        yield make_row(number, record, width)
                self._check_line_count(last_line)
            except csv.Error as exc:
                raise self._csv_error(exc, last_line + 1, reader.line_num) from None
            except UnicodeDecodeError:
                # Undecodable bytes are found as they are read. The sync stages every
                # row before it writes any, so nothing has been written yet.
                self._decode_failed()
            finally:
                fh.close()

        iterator = rows()
        # A caller that reads only the header never starts the iterator, so its
        # ``finally`` would not run: close the file when the iterator goes away.
        weakref.finalize(iterator, fh.close)
        return SheetData(tuple(header), self.header_row, iterator, self.description)

    # ------------------------------------------------------------------ checks

    def _check_header(self, header: list[str], delimiter: str) -> None:
        """Refuse a first row that is data rather than a header, naming cells, not values."""
        if len(header) == 1 and self.key_header is not None:
            # One column that is not the key: not a table of buyers (a text file, a
            # system file behind a link). Its first line is never shown.
            from buyersync.rules.normalize import normalize_header

            if normalize_header(header[0]) != normalize_header(self.key_header):
                raise HeaderError(
                    f"{self.path.name} does not look like a CSV table of buyers: its header "
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
                f"{self.path.name}: row {self.header_row} looks like data, not a header row: "
                f"{len(numbers)} of its {len(filled)} filled columns hold numbers ({cells}{more})",
                hint="add a header row naming the columns (one of them the buyer number), "
                "or point --header-row at it",
                details={"numeric_cells": len(numbers), "delimiter": DELIMITERS.get(delimiter)},
            )

    def _check_multiline(
        self, record: list[str], first_line: int, taken: int, width: int, delimiter: str
    ) -> None:
        """A record spanning several physical lines: legitimate, or a stray quote?"""
        opened = first_line
        for index, field in enumerate(record):
            breaks = field.count("\n") + field.count("\r") - field.count("\r\n")
            if not breaks:
                continue
            if breaks + 1 > self.max_field_lines:
                raise SourceContentError(
                    f"{self.path.name}: the quoted field opened on line {opened} "
                    f"(column {column_letter(index)}) takes in {breaks + 1} lines, more than "
                    f"csv_max_field_lines ({self.max_field_lines}); a quote is probably not "
                    "closed; nothing was written",
                    hint="close the quote in the file, or raise csv_max_field_lines "
                    "(--csv-max-field-lines) if the field really has that many lines",
                    details={"line": opened, "lines": breaks + 1},
                )
            if width >= 3:
                for offset, inner in enumerate(field.splitlines()[1:], start=1):
                    if inner.count(delimiter) >= width - 1 and _fields(inner, delimiter) == width:
                        raise SourceContentError(
                            f"{self.path.name}: the quoted field opened on line {opened} "
                            f"(column {column_letter(index)}) takes in {breaks + 1} lines, and "
                            f"line {opened + offset} inside it looks like a record of its own "
                            f"({width} fields); a quote is probably not closed; nothing was "
                            "written",
                            hint="close the quote on that line in the file (a quote inside a "
                            'quoted field is written twice: "")',
                            details={"line": opened, "lines": breaks + 1},
                        )
            opened += breaks

    def _csv_error(self, exc: csv.Error, first_line: int, line: int) -> SourceError:
        """The parser's error as a message naming the lines (never their content)."""
        text = str(exc)
        name = self.path.name
        if "field larger than field limit" in text:
            return SourceContentError(
                f"{name}: a field of the record starting on line {first_line} is longer than "
                f"{self.max_field_chars:,} characters (the csv_max_field_chars limit); "
                "nothing was written",
                hint="raise csv_max_field_chars (--csv-max-field-chars) if the file is right, "
                "or check that line for a quote that is not closed",
            )
        opened = self._quote_opened_line(first_line, line)
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

    def _quote_opened_line(self, first_line: int, last_line: int) -> int | None:
        """The line where the last quote opened by ``last_line`` was opened.

        Re-reads lines ``first_line..last_line`` (only when an error is reported) and
        follows the quoting as the parser does: a quote opens a field only at its start,
        a doubled quote inside it is a literal quote.
        """
        delimiter = self.used_delimiter or ","
        opened: int | None = None
        quoted = at_start = False
        try:
            with self._open_regular() as raw:
                fh = io.TextIOWrapper(raw, encoding=self.encoding, newline="", errors="replace")
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

    def _check_line_count(self, consumed: int) -> None:
        """Compare the lines the parser consumed with line breaks counted in the bytes."""
        probe = '\r\n,;|\t"'
        encoder = codecs.getincrementalencoder(self.encoding)()
        try:
            encoder.encode("a")  # a byte-order mark, if the codec writes one, comes first
            if encoder.encode(probe) != probe.encode("ascii"):
                return  # UTF-16/32: line breaks are not single bytes
        except UnicodeError:
            return
        with self._open_regular() as fh:
            physical = _count_lines(fh)
        if physical != consumed:
            raise SourceContentError(
                f"{self.path.name}: the CSV parser consumed {consumed} lines but the file has "
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


def _count_lines(fh: BinaryIO) -> int:
    """Physical lines as a line reader splits them (LF, CRLF or a lone CR end a line)."""
    lines = 0
    last = b""
    carry_cr = False
    while chunk := fh.read(1 << 20):
        lines += chunk.count(b"\n") + chunk.count(b"\r") - chunk.count(b"\r\n")
        if carry_cr and chunk.startswith(b"\n"):
            lines -= 1  # a CRLF split across two chunks
        carry_cr = chunk.endswith(b"\r")
        last = chunk[-1:]
    if last and last not in (b"\n", b"\r"):
        lines += 1  # the last line has no line break
    return lines


def _count_newlines(fh: BinaryIO, upto: int) -> int:
    count = 0
    while upto > 0 and (chunk := fh.read(min(1 << 20, upto))):
        count += chunk.count(b"\n")
        upto -= len(chunk)
    return count
