"""The CSV file itself: opened only when it is a regular file, refused when it is binary,
and its first undecodable byte named (never its text)."""

from __future__ import annotations

import codecs
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, NoReturn

from buyersync.errors import EncodingProblem, SourceContentError, SourceError

#: Leading bytes of binary formats a CSV path is sometimes given by mistake.
BINARY_MAGIC = (
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


@dataclass(frozen=True)
class CsvFile:
    """A CSV path and the codec it is read with (``utf-8-sig`` for UTF-8)."""

    path: Path
    encoding: str

    @property
    def name(self) -> str:
        return self.path.name

    def open_regular(self) -> BinaryIO:
        """The file opened for binary reading, or a clear error; never blocks.

        ``O_NONBLOCK`` keeps an ``open()`` of a FIFO from waiting for a writer; the
        type is checked on the opened descriptor, so a path swapped after the check
        cannot slip a device in.
        """
        name = self.name
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
        except FileNotFoundError:
            raise SourceError(
                f"source file {self.path} does not exist",
                hint="check --source / BUYERSYNC_SOURCE",
            ) from None
        except IsADirectoryError:
            raise self.not_regular("a directory") from None
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
            raise self.not_regular(kind)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")

    def not_regular(self, kind: str) -> SourceError:
        via = " (through a symbolic link)" if self.path.is_symlink() else ""
        return SourceError(
            f"{self.name} is {kind}{via}, not a regular file; only regular files are read",
            hint="point --source at the exported .csv file itself",
        )

    def check_text(self, sample: bytes) -> None:
        """Refuse a binary file without showing any of its bytes.

        A NUL inside a cell is a row problem the sync logs (the row is named), and in a
        header a header error; a file that starts like a known binary format is not a
        CSV export at all. Other binary content fails to decode (EncodingProblem names
        the byte, never the text).
        """
        if "utf-16" in self.encoding or "utf-32" in self.encoding:
            return
        kind = next((k for magic, k in BINARY_MAGIC if sample.startswith(magic)), None)
        if kind is not None:
            raise SourceContentError(
                f"{self.name} is not a text file (it starts like {kind}); nothing was read",
                hint="point --source at a CSV export; an .xlsx workbook needs the .xlsx suffix",
            )

    def check_decodes(self) -> None:
        """Find the first undecodable byte and raise :class:`EncodingProblem` naming it.

        Called only once reading has met an undecodable byte (the reader decodes as it
        goes; a separate decoding pass before reading cost a fifth of a sync).
        """
        decoder = codecs.getincrementaldecoder(self.encoding)(errors="strict")
        offset = 0
        line = 1
        try:
            with self.open_regular() as fh:
                while chunk := fh.read(1 << 20):
                    try:
                        text = decoder.decode(chunk)
                    except UnicodeDecodeError as exc:
                        bad = offset + exc.start
                        with self.path.open("rb") as again:
                            line = count_newlines(again, bad) + 1
                        raise EncodingProblem(
                            f"{self.name} is not valid {self.encoding.replace('-sig', '')}: "
                            f"undecodable byte 0x{exc.object[exc.start]:02x} at byte {bad} "
                            f"(line {line}); nothing was written",
                            hint="pass --encoding with the file's encoding, e.g. --encoding cp932 "
                            "for Japanese Excel exports or --encoding latin-1",
                        ) from None
                    del text
                    offset += len(chunk)
                decoder.decode(b"", final=True)
        except OSError as exc:
            raise SourceError(f"cannot read {self.name}: {exc.strerror}") from None
        except UnicodeDecodeError:
            raise EncodingProblem(
                f"{self.name} ends in the middle of a character for {self.encoding}",
                hint="pass --encoding with the file's encoding",
            ) from None

    def decode_failed(self) -> NoReturn:
        self.check_decodes()
        raise EncodingProblem(  # the file changed between the two reads
            f"{self.name} is not valid {self.encoding.replace('-sig', '')}; nothing was written",
            hint="pass --encoding with the file's encoding",
        )


def count_lines(fh: BinaryIO) -> int:
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


def count_newlines(fh: BinaryIO, upto: int) -> int:
    count = 0
    while upto > 0 and (chunk := fh.read(min(1 << 20, upto))):
        count += chunk.count(b"\n")
        upto -= len(chunk)
    return count
