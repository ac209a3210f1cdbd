"""Excel workbooks (.xlsx / .xlsm): cells as the text a person sees.

Two readers sit behind :class:`XlsxSource`, chosen per sheet by the size of the sheet's
XML part (known from the zip directory without reading it):

* **python-calamine** (Rust, :mod:`.xlsx.calamine`) for sheets up to
  :data:`STREAM_THRESHOLD_BYTES` of XML (about 120,000 rows x 15 columns). It is the
  fastest reader we measured, but it loads the whole sheet into memory (about 1.1 GB
  for 1,000,000 x 15 cells) and it returns Excel error cells (``#REF!`` ...) as ``""``.
* **A streaming reader** (:mod:`.xlsx.streaming`) above that size: it decompresses the
  sheet XML in chunks and keeps one chunk of rows in memory, so a 1,000,000-row sheet
  reads in bounded memory.

Both produce identical text (the tests compare them on every real workbook). An error
cell or a formula without a saved value reads ``""`` and its row carries a problem
naming the cell; so does a number Excel has already rounded (16 or more digits).

Before either reader runs, one byte-level scan of the sheet XML (:mod:`.xlsx.scan`)
finds the merged ranges and, independently of the reader, the rows that hold a value:
when the rows are exhausted the two must agree, or the read fails. Every part is
checked against the ``xlsx_*`` limits before it is inflated (:mod:`.xlsx.limits`).

What happens with awkward content (see docs/sources.md): a title merged across the
table is a section row (``SheetRow.section``, every value ``""``); other merged cells
hold their value in the top-left cell only, the others read ``""``, and a warning
names them; numbers in a zero-padding or literal format read as Excel shows them;
hidden rows and columns are read
like any other (a sync mirrors the sheet); blank rows in the middle are yielded as blank
rows; rows above ``header_row`` are a title block and ignored; formulas read as their
cached value; dates are ISO 8601 in either date system (1900 or 1904).
"""

from __future__ import annotations

import contextlib
import itertools
import zipfile
from collections.abc import Iterator
from pathlib import Path

from buyersync.errors import ConfigError, SourceContentError, SourceError
from buyersync.records import SheetRow
from buyersync.sources.base import SheetData, Source, make_row
from buyersync.sources.xlsx.calamine import calamine_rows
from buyersync.sources.xlsx.cells import RawRow, cell_text
from buyersync.sources.xlsx.formats import load_number_formats
from buyersync.sources.xlsx.limits import DEFAULT_LIMITS, XlsxLimits
from buyersync.sources.xlsx.scan import Merge, SheetScan, blank_shared_strings, scan_sheet
from buyersync.sources.xlsx.streaming import StreamingSheet
from buyersync.sources.xlsx.workbook import SheetInfo, Workbook

#: How many merged ranges or rows a warning names before it says "and N more".
_NAMED = 10

#: Sheets whose XML part is larger than this are read by the streaming reader.
#: 64 MiB of XML is about 120,000 rows x 15 columns; calamine needs ~140 MB for it.
STREAM_THRESHOLD_BYTES = 64 * 1024 * 1024


@contextlib.contextmanager
def _damaged(what: str) -> Iterator[None]:
    """Turn a zip that breaks while being read into a one-line SourceError."""
    try:
        yield
    except zipfile.BadZipFile as exc:
        raise SourceError(
            f"{what} is damaged: {exc}",
            hint="open it in Excel or LibreOffice and save it again",
        ) from None


def _take_header(
    raw: Iterator[RawRow], header_row: int
) -> tuple[list[str] | None, Iterator[RawRow]]:
    """The header row's cells and the rows after it; None when the sheet ends first.

    A blank header row is missing from the XML: it reads as an empty header and the
    first row after it is kept."""
    for row in raw:
        if row[0] == header_row:
            return row[1], raw
        if row[0] > header_row:
            return [], itertools.chain((row,), raw)
    return None, raw


class XlsxSource(Source):
    """One sheet of an .xlsx/.xlsm workbook.

    ``sheet`` picks a sheet by name (default: the first visible sheet; hidden and
    very-hidden sheets are skipped for the default but can be named). Row numbers are
    the sheet's own, as Excel shows them. ``stream_threshold`` (bytes of sheet XML)
    picks the reader; tests set it to 0 to force the streaming reader.
    """

    def __init__(
        self,
        path: str | Path,
        *,
        sheet: str | None = None,
        header_row: int = 1,
        stream_threshold: int = STREAM_THRESHOLD_BYTES,
        limits: XlsxLimits = DEFAULT_LIMITS,
    ) -> None:
        self.path = Path(path)
        self.sheet = sheet
        if header_row < 1:
            raise ConfigError(f"header row must be 1 or more, not {header_row}")
        self.header_row = header_row
        self.stream_threshold = stream_threshold
        self.limits = limits
        self.description = f"xlsx:{self.path.name}" + (f"[{sheet}]" if sheet else "")

    def _pick(self, book: Workbook) -> SheetInfo:
        if self.sheet is not None:
            for info in book.sheets:
                if info.name == self.sheet:
                    return info
            names = ", ".join(repr(s.name) for s in book.sheets) or "none"
            raise ConfigError(
                f"{self.path.name} has no sheet named {self.sheet!r}; its sheets are: {names}",
                hint="pass --sheet with one of those names",
            )
        for info in book.sheets:
            if info.visible:
                return info
        raise SourceError(
            f"{self.path.name} has no visible worksheet",
            hint="unhide a sheet, or name one with --sheet",
        )

    def _scan(self, book: Workbook, info: SheetInfo, *, streaming: bool) -> SheetScan:
        name = self.path.name
        blank = blank_shared_strings(book.zip, name, book.shared_strings_part, self.limits)
        formats = [] if streaming else load_number_formats(book.zip, book.styles_part)
        return scan_sheet(
            book.zip,
            name,
            info.part,
            self.limits,
            formats,
            cells=not streaming,
            blank_strings=blank,
        )

    def _raw_rows(self, book: Workbook, info: SheetInfo) -> tuple[Iterator[RawRow], SheetScan]:
        book.check_sheet(info.part)
        if book.part_size(info.part) > self.stream_threshold:
            return StreamingSheet(book, info.part).rows(), self._scan(book, info, streaming=True)
        scan = self._scan(book, info, streaming=False)
        return calamine_rows(self.path, info.name, scan.notes), scan

    def read(self) -> SheetData:
        if not self.path.exists():
            raise SourceError(
                f"source file {self.path} does not exist", hint="check --source / BUYERSYNC_SOURCE"
            )
        with contextlib.ExitStack() as stack:
            book = stack.enter_context(Workbook(self.path, self.limits))
            with _damaged(self.path.name):
                info = self._pick(book)
                raw_rows, scan = self._raw_rows(book, info)
                header, raw = _take_header(raw_rows, self.header_row)
            if header is None:
                raise SourceError(
                    f"{self.path.name}: sheet {info.name!r} has no header row on row "
                    f"{self.header_row} (the sheet is empty or shorter)",
                    hint="check --header-row and --sheet",
                )
            while header and not header[-1].strip():
                header.pop()  # trailing blank header cells: the width is the last named column
            warnings: list[str] = []
            sections = self._merges(scan.merges, header, info.name, warnings)
            # From here the row iterator owns the open workbook and closes it when done.
            rows = self._rows(raw, len(header), info.name, stack.pop_all(), sections, scan)
        return SheetData(tuple(header), self.header_row, rows, self.description, warnings)

    def _merges(
        self, merges: list[Merge], header: list[str], name: str, warnings: list[str]
    ) -> dict[int, Merge]:
        """Merged ranges below the header: the candidates for section rows (a range on one
        row from the table's first column to its last), and a warning naming the others."""
        width = len(header)
        first = next((i for i, h in enumerate(header) if h.strip()), 0)
        sections: dict[int, Merge] = {}
        others: list[Merge] = []
        for m in merges:
            if m.last_row <= self.header_row:
                continue  # the title block or the header itself
            if (
                m.first_row == m.last_row
                and m.first_row > self.header_row
                and m.first_col <= first
                and m.last_col >= width - 1
                and width > 1
            ):
                sections[m.first_row] = m
            else:
                others.append(m)
        if others:
            others.sort(key=lambda m: (m.first_row, m.first_col))
            named = ", ".join(m.ref for m in others[:_NAMED])
            more = f" and {len(others) - _NAMED} more" if len(others) > _NAMED else ""
            warnings.append(
                f"sheet {name!r} has merged cells in the data ({named}{more}): only the "
                "top-left cell of a merged range holds its value, the other cells read empty"
            )
        return sections

    def _rows(
        self,
        raw: Iterator[RawRow],
        width: int,
        name: str,
        workbook: contextlib.ExitStack,
        sections: dict[int, Merge],
        scan: SheetScan,
    ) -> Iterator[SheetRow]:
        expected = self.header_row + 1
        returned: list[int] = []
        with workbook, _damaged(f"{self.path.name}: sheet {name!r}"):
            for number, cells, problems in raw:
                if not problems and not any(cells):
                    # A blank row is yielded only once a non-blank row follows it:
                    # formatted-but-empty rows after the data (and a Gnumeric row
                    # 1048576) are not part of the sheet a person sees.
                    continue
                if problems or any(c.strip() for c in cells):
                    returned.append(number)
                # Rows missing from the XML are blank rows in the sheet: yield them
                # so row numbers and blank-row counts stay true.
                while expected < number:
                    yield make_row(expected, (), width)
                    expected += 1
                merge = sections.get(number)
                if merge is not None and _is_section(cells, problems, merge.first_col):
                    yield SheetRow(number, ("",) * width, section=cells[merge.first_col].strip())
                else:
                    yield make_row(number, cells, width, problems)
                expected = number + 1
            self._check_complete(name, returned, scan)

    def _check_complete(self, name: str, returned: list[int], scan: SheetScan) -> None:
        """The rows returned must be the rows the sheet's XML holds values in, counted
        by the independent scan; anything else means rows were lost or invented."""
        in_xml = [r for r in scan.value_rows if r > self.header_row]
        got = [r for r in returned if r > self.header_row]
        repeated = next((b for a, b in zip(in_xml, in_xml[1:], strict=False) if b <= a), None)
        if repeated is not None:
            # Excel never writes this; readers disagree on which copy wins.
            raise SourceContentError(
                f"{self.path.name}: sheet {name!r}: row {repeated} appears in the sheet's XML "
                "twice or out of order; the sheet cannot be read whole, nothing is written",
                hint="open the workbook in Excel or LibreOffice and save it again",
            )
        if in_xml == got:
            return
        lost = sorted(set(in_xml) - set(got))
        extra = sorted(set(got) - set(in_xml))
        detail = []
        if lost:
            detail.append("rows not returned: " + _some(lost))
        if extra:
            detail.append("rows returned that the XML does not hold: " + _some(extra))
        raise SourceContentError(
            f"{self.path.name}: sheet {name!r}: the reader returned {len(got)} rows with "
            f"values, but the sheet's XML has {len(in_xml)} such rows "
            f"({'; '.join(detail) or 'in another order'}); the sheet was not read whole, "
            "nothing is written",
            hint="open the workbook in Excel or LibreOffice and save it again; if it "
            "persists, report it with the file",
        )


def _is_section(cells: list[str], problems: tuple[tuple[int, str], ...], col: int) -> bool:
    """A row whose only value is the top-left cell of a merge across the table."""
    if problems or col >= len(cells) or not cells[col].strip():
        return False
    return not any(c.strip() for i, c in enumerate(cells) if i != col)


def _some(rows: list[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:_NAMED])
    return shown + (f" and {len(rows) - _NAMED} more" if len(rows) > _NAMED else "")


__all__ = ["STREAM_THRESHOLD_BYTES", "XlsxSource", "cell_text"]
