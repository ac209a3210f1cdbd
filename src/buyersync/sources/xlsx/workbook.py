"""Opening an .xlsx/.xlsm package: what it is, its sheets and the parts both readers need.

A file that is not a zip package is told apart here: an encrypted workbook and an
old binary ``.xls`` are both OLE compound files, anything else is simply not a
workbook; each gets its own message and fix.
"""

from __future__ import annotations

import posixpath
import zipfile
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from xml.etree import ElementTree as ET

from buyersync.errors import SourceError
from buyersync.sources.xlsx.limits import DEFAULT_LIMITS, LimitExceeded, XlsxLimits, check_part
from buyersync.sources.xlsx.limits import read_part as _read_part

MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


@dataclass(frozen=True)
class SheetInfo:
    """One worksheet of the workbook."""

    name: str
    visible: bool  # false for hidden and very-hidden sheets
    part: str  # path of the worksheet XML inside the zip


def not_a_workbook(path: Path) -> SourceError:
    """The error for a file that is not an .xlsx package, naming what it is instead."""
    try:
        with path.open("rb") as fh:
            magic = fh.read(8)
    except OSError:
        magic = b""
    if magic == _OLE_MAGIC:
        return SourceError(
            f"{path.name} is password-protected (encrypted) or an old binary .xls file",
            hint="remove the password (File > Info > Protect Workbook) or save it as .xlsx",
        )
    return SourceError(
        f"{path.name} is not an Excel .xlsx workbook (it is not a zip package)",
        hint="check the --source path; export the sheet as .xlsx or CSV",
    )


class Workbook:
    """The parts of a workbook package both readers need (names, paths, date system).

    Opening reads only the zip directory and the small workbook parts. Use it as a
    context manager (or call :meth:`close`): it holds the file open. Every part is
    checked against ``limits`` before it is inflated, including the shared strings and
    styles both readers load whole.
    """

    def __init__(self, path: Path, limits: XlsxLimits = DEFAULT_LIMITS) -> None:
        self.path = path
        self.limits = limits
        try:
            self.zip = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise not_a_workbook(path) from None
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror}") from None
        try:
            self._load()
        except LimitExceeded:
            self.zip.close()
            raise
        except (KeyError, ET.ParseError, zipfile.BadZipFile, ValueError) as exc:
            self.zip.close()
            raise SourceError(
                f"{path.name} is not a readable Excel workbook ({type(exc).__name__}: {exc})",
                hint="open it in Excel or LibreOffice and save it again as .xlsx",
            ) from None

    def _load(self) -> None:
        names = set(self.zip.namelist())
        book_part = "xl/workbook.xml"
        if book_part not in names:
            root_rels = ET.fromstring(self.read_part("_rels/.rels"))
            for rel in root_rels:
                if rel.get("Type", "").endswith("/officeDocument"):
                    book_part = rel.get("Target", "").lstrip("/")
        book = ET.fromstring(self.read_part(book_part))
        base = posixpath.dirname(book_part)
        rels_part = posixpath.join(base, "_rels", posixpath.basename(book_part) + ".rels")
        targets: dict[str, str] = {}
        self.shared_strings_part: str | None = None
        self.styles_part: str | None = None
        for rel in ET.fromstring(self.read_part(rels_part)):
            target = rel.get("Target", "")
            part = (
                target.lstrip("/")
                if target.startswith("/")
                else posixpath.normpath(posixpath.join(base, target))
            )
            targets[rel.get("Id", "")] = part
            kind = rel.get("Type", "")
            if kind.endswith("/sharedStrings"):
                self.shared_strings_part = part
            elif kind.endswith("/styles"):
                self.styles_part = part
        pr = book.find(f"{{{MAIN_NS}}}workbookPr")
        self.date1904 = pr is not None and pr.get("date1904", "").lower() in ("1", "true")
        self.sheets: list[SheetInfo] = []
        for el in book.iter(f"{{{MAIN_NS}}}sheet"):
            rid = el.get(f"{{{_REL_NS}}}id", "")
            part = targets.get(rid, "")
            if part not in names:
                continue  # a chart sheet or a dangling relation: nothing to read
            self.sheets.append(
                SheetInfo(el.get("name", ""), el.get("state", "visible") == "visible", part)
            )
        for loaded_whole in (self.shared_strings_part, self.styles_part):
            if loaded_whole is not None and loaded_whole in names:
                check_part(self.zip, self.path.name, loaded_whole, self.limits)
            elif loaded_whole is not None:
                # A relation to a part that is not there: read as if it were absent.
                if loaded_whole == self.shared_strings_part:
                    self.shared_strings_part = None
                else:
                    self.styles_part = None

    def read_part(self, part: str) -> bytes:
        """A small part read whole, within the part limit."""
        return _read_part(self.zip, self.path.name, part, self.limits)

    def check_sheet(self, part: str) -> None:
        """Refuse a sheet whose XML is over the sheet limit or inflates like a bomb."""
        check_part(self.zip, self.path.name, part, self.limits, sheet=True)

    def part_size(self, part: str) -> int:
        """Uncompressed size of a part, from the zip directory (nothing is read)."""
        return self.zip.getinfo(part).file_size

    def close(self) -> None:
        self.zip.close()

    def __enter__(self) -> Workbook:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


__all__ = ["MAIN_NS", "SheetInfo", "Workbook", "not_a_workbook"]
