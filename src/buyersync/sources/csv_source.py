"""CSV files: UTF-8 with or without BOM by default, any Python codec with ``--encoding``."""

from __future__ import annotations

import codecs
import csv
import sys
import weakref
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

from buyersync.errors import EncodingProblem, SourceError
from buyersync.records import SheetRow
from buyersync.sources.base import SheetData, Source, make_row

csv.field_size_limit(sys.maxsize)


class CsvSource(Source):
    """A CSV file. Quoted fields may hold commas and newlines (CRLF or LF)."""

    def __init__(self, path: str | Path, *, encoding: str = "utf-8", header_row: int = 1) -> None:
        self.path = Path(path)
        self.encoding = (
            "utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding
        )
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
        """Find the first undecodable byte and raise :class:`EncodingProblem` naming it.

        Called only once reading has met an undecodable byte (the reader decodes as it
        goes; a separate decoding pass before reading cost a fifth of a sync).
        """
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

    def _decode_failed(self) -> NoReturn:
        self._check_decodes()
        raise EncodingProblem(  # the file changed between the two reads
            f"{self.path.name} is not valid {self.encoding.replace('-sig', '')}; "
            "nothing was written",
            hint="pass --encoding with the file's encoding",
        )

    def read(self) -> SheetData:
        """Open the file and read its header; rows are decoded and parsed as they are
        iterated. Undecodable bytes raise :class:`EncodingProblem` (naming the byte and
        line) when they are reached, from ``read()`` or from the row iterator."""
        if not self.path.exists():
            raise SourceError(
                f"source file {self.path} does not exist", hint="check --source / BUYERSYNC_SOURCE"
            )
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
        except UnicodeDecodeError:
            fh.close()
            self._decode_failed()
        width = len(header)

        def rows() -> Iterator[SheetRow]:
            try:
                # reader.line_num counts physical lines; a quoted newline spans several.
                # The sheet row number is the record number, as a spreadsheet shows it.
                number = self.header_row
                for record in reader:
                    number += 1
                    if len(record) == width:  # the common case, without make_row's checks
                        yield SheetRow(number, tuple(record), ())
                    else:
                        yield make_row(number, record, width)
            except csv.Error as exc:
                raise SourceError(
                    f"{self.path.name} is not valid CSV near record {number + 1}: {exc}"
                ) from None
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
