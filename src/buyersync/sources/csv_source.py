"""CSV files: UTF-8 with or without BOM by default, any Python codec with ``--encoding``."""

from __future__ import annotations

import codecs
import csv
import sys
from collections.abc import Iterator
from pathlib import Path

from buyersync.errors import EncodingProblem, SourceError
from buyersync.records import SheetRow
from buyersync.sources.base import SheetData, Source, make_row

csv.field_size_limit(sys.maxsize)


class CsvSource(Source):
    """A CSV file. Quoted fields may hold commas and newlines (CRLF or LF)."""

    def __init__(self, path: str | Path, *, encoding: str = "utf-8", header_row: int = 1) -> None:
        self.path = Path(path)
        self.encoding = "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") \
            else encoding
        self.header_row = header_row
        self.description = f"csv:{self.path.name}"
        try:
            codecs.lookup(self.encoding)
        except LookupError:
            raise EncodingProblem(
                f"unknown encoding {encoding!r}",
                hint="use a Python codec name such as utf-8, cp932, shift_jis or latin-1",
            ) from None

    def _check_decodes(self) -> None:
        """Decode the whole file once before any row is used: nothing is written
        from a file that turns out to be in another encoding halfway through."""
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="strict")
        offset = 0
        line = 1
        try:
            with self.path.open("rb") as fh:
                while chunk := fh.read(1 << 20):
                    try:
                        text = decoder.decode(chunk)
                    except UnicodeDecodeError as exc:
                        bad = offset + exc.start
                        with self.path.open("rb") as again:
                            line = again.read(bad).count(b"\n") + 1
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
            raise SourceError(f"cannot read {self.path}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise EncodingProblem(
                f"{self.path.name} ends in the middle of a character for {self.encoding}",
                hint="pass --encoding with the file's encoding",
            ) from None

    def read(self) -> SheetData:
        if not self.path.exists():
            raise SourceError(f"source file {self.path} does not exist",
                              hint="check --source / BUYERSYNC_SOURCE")
        self._check_decodes()
        fh = self.path.open("r", encoding=self.encoding, newline="")
        reader = csv.reader(fh)
        header: list[str] = []
        try:
            for _ in range(self.header_row):
                header = next(reader)
        except StopIteration:
            fh.close()
            raise SourceError(
                f"{self.path.name} has no header row on line {self.header_row}",
                hint="the file is empty, or --header-row points past its end",
            ) from None
        except csv.Error as exc:
            fh.close()
            raise SourceError(f"{self.path.name} is not valid CSV: {exc}") from None
        width = len(header)

        def rows() -> Iterator[SheetRow]:
            try:
                # reader.line_num counts physical lines; a quoted newline spans several.
                # The sheet row number is the record number, as a spreadsheet shows it.
                number = self.header_row
                for record in reader:
                    number += 1
                    yield make_row(number, record, width)
            except csv.Error as exc:
                raise SourceError(
                    f"{self.path.name} is not valid CSV near record {number + 1}: {exc}"
                ) from None
            finally:
                fh.close()

        return SheetData(tuple(header), self.header_row, rows(), self.description)
