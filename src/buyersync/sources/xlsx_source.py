"""Excel workbooks (.xlsx / .xlsm): cells as the text a person sees.

Two readers sit behind :class:`XlsxSource`, chosen per sheet by the size of the sheet's
XML part (known from the zip directory without reading it):

* **python-calamine** (Rust) for sheets up to :data:`STREAM_THRESHOLD_BYTES` of XML
  (about 120,000 rows x 15 columns). It is the fastest reader we measured, but it
  loads the whole sheet into memory (about 1.1 GB for 1,000,000 x 15 cells) and it
  returns Excel error cells (``#REF!`` ...) as ``""``.
* **A streaming reader** (:class:`_StreamingSheet`) above that size: it decompresses the
  sheet XML in chunks and keeps one chunk of rows in memory, so a 1,000,000-row sheet
  reads in bounded memory.

Both produce identical text (the tests compare them on every real workbook). Error
cells are found by scanning the sheet XML for ``t="e"`` cells; such a cell reads ``""``
and its row carries a problem naming the cell and the error.

What happens with awkward content (see docs/sources.md): merged cells hold their value
in the top-left cell only, the other cells read ``""``; hidden rows and columns are read
like any other (a sync mirrors the sheet); blank rows in the middle are yielded as blank
rows; rows above ``header_row`` are a title block and ignored; formulas read as their
cached value; dates are ISO 8601 in either date system (1900 or 1904).
"""

from __future__ import annotations

import datetime as dt
import html
import posixpath
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

from buyersync.errors import ConfigError, SourceError
from buyersync.records import SheetRow
from buyersync.rules.normalize import column_letter
from buyersync.sources.base import SheetData, Source, make_row

#: Sheets whose XML part is larger than this are read by the streaming reader.
#: 64 MiB of XML is about 120,000 rows x 15 columns; calamine needs ~140 MB for it.
STREAM_THRESHOLD_BYTES = 64 * 1024 * 1024

_ERRORS = frozenset(
    {
        "#N/A",
        "#REF!",
        "#DIV/0!",
        "#NAME?",
        "#VALUE!",
        "#NULL!",
        "#NUM!",
        "#GETTING_DATA",
        "#SPILL!",
        "#CALC!",
    }
)
_MAIN_NS = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
_REL_NS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
_PKG_REL_NS = "http://schemas.openxmlformats.org/package/2006/relationships"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


# --------------------------------------------------------------------------- values


def _number_text(value: float) -> str:
    """A number as a person reads it: ``10001.0`` → ``"10001"``, else shortest repr."""
    if value.is_integer() and abs(value) < 1e16:
        return str(int(value))
    return repr(value)


def _duration_text(value: dt.timedelta) -> str:
    """A duration as Excel's ``[h]:mm:ss`` shows it: total hours, e.g. ``"255:10:54"``."""
    seconds = round(value.total_seconds())
    sign = "-" if seconds < 0 else ""
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{sign}{hours}:{minutes:02d}:{secs:02d}"


def cell_text(value: Any) -> str:
    """The text a person sees for a value as python-calamine returns it."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return _number_text(value)
    if isinstance(value, dt.datetime):
        return value.isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    if isinstance(value, dt.timedelta):
        return _duration_text(value)
    return "" if value is None else str(value)


_XESC = re.compile(r"_x([0-9A-Fa-f]{4})_")


def _unescape(text: str) -> str:
    """Undo XML entities and OOXML's ``_xHHHH_`` escapes (``_x000D_`` is a CR)."""
    if "&" in text:
        text = html.unescape(text)
    if "_x" in text:
        text = _XESC.sub(lambda m: chr(int(m.group(1), 16)), text)
    return text


def _col_index(ref: str) -> int:
    """0-based column of a cell reference such as ``"AB12"``."""
    n = 0
    for ch in ref:
        if "A" <= ch <= "Z":
            n = n * 26 + ord(ch) - 64
        elif "a" <= ch <= "z":
            n = n * 26 + ord(ch) - 96
        else:
            break
    return n - 1


def _row_of(ref: str) -> int:
    digits = ref.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
    return int(digits) if digits.isdigit() else 0


# --------------------------------------------------------------------------- workbook


@dataclass(frozen=True)
class _SheetInfo:
    name: str
    visible: bool
    part: str  # path of the worksheet XML inside the zip


class _Workbook:
    """The parts of a workbook package both readers need (names, paths, date system)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        try:
            self.zip = zipfile.ZipFile(path)
        except zipfile.BadZipFile:
            raise _not_a_workbook(path) from None
        except OSError as exc:
            raise SourceError(f"cannot read {path}: {exc.strerror}") from None
        try:
            self._load()
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
            root_rels = ET.fromstring(self.zip.read("_rels/.rels"))
            for rel in root_rels:
                if rel.get("Type", "").endswith("/officeDocument"):
                    book_part = rel.get("Target", "").lstrip("/")
        book = ET.fromstring(self.zip.read(book_part))
        base = posixpath.dirname(book_part)
        rels_part = posixpath.join(base, "_rels", posixpath.basename(book_part) + ".rels")
        targets: dict[str, str] = {}
        self.shared_strings_part: str | None = None
        self.styles_part: str | None = None
        for rel in ET.fromstring(self.zip.read(rels_part)):
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
        pr = book.find(f"{{{_MAIN_NS}}}workbookPr")
        self.date1904 = pr is not None and pr.get("date1904", "").lower() in ("1", "true")
        self.sheets: list[_SheetInfo] = []
        for el in book.iter(f"{{{_MAIN_NS}}}sheet"):
            rid = el.get(f"{{{_REL_NS}}}id", "")
            part = targets.get(rid, "")
            if part not in names:
                continue  # a chart sheet or a dangling relation: nothing to read
            self.sheets.append(
                _SheetInfo(el.get("name", ""), el.get("state", "visible") == "visible", part)
            )

    def part_size(self, part: str) -> int:
        return self.zip.getinfo(part).file_size

    def close(self) -> None:
        self.zip.close()


def _not_a_workbook(path: Path) -> SourceError:
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


# --------------------------------------------------------------------------- error cells

_ERR_CELL = re.compile(rb"<(?:\w+:)?c\b[^>]*\bt=\"e\"[^>]*>")
_REF_ATTR = re.compile(rb"\br=\"([A-Za-z]+[0-9]+)\"")
_V_ELEM = re.compile(rb"<(?:\w+:)?v>([^<]*)</(?:\w+:)?v>")


def _scan_errors(zf: zipfile.ZipFile, part: str) -> dict[tuple[int, int], str] | None:
    """Error cells of a sheet as ``{(row, col): "#REF!"}`` (row 1-based, col 0-based).

    calamine reads an error cell as ``""``; this finds them in the raw XML. A byte
    search skips chunks without ``t="e"``, so a sheet without errors costs one
    decompression. Returns ``None`` when an error cell has no ``r=`` reference (its
    position is implied by order): the caller then uses the streaming reader.
    """
    found: dict[tuple[int, int], str] = {}
    tail = b""
    with zf.open(part) as fh:
        while chunk := fh.read(1 << 20):
            buf = tail + chunk
            # Keep enough of the end to hold a whole error cell split across chunks.
            cut = max(0, len(buf) - 4096)
            if b't="e"' in buf:
                for m in _ERR_CELL.finditer(buf):
                    if m.start() >= cut:
                        break
                    ref = _REF_ATTR.search(m.group(0))
                    if not ref:
                        return None
                    r = ref.group(1).decode()
                    found[(_row_of(r), _col_index(r))] = _error_value(buf, m.end())
                    cut = max(cut, m.end())
            tail = buf[cut:]
        for m in _ERR_CELL.finditer(tail):
            ref = _REF_ATTR.search(m.group(0))
            if not ref:
                return None
            r = ref.group(1).decode()
            found[(_row_of(r), _col_index(r))] = _error_value(tail, m.end())
    return found


_CELL_END = re.compile(rb"</(?:\w+:)?c>")


def _error_value(buf: bytes, pos: int) -> str:
    """The cached ``<v>`` of the error cell whose start tag ends at ``pos``."""
    close = _CELL_END.search(buf, pos)
    v = _V_ELEM.search(buf, pos, close.start() if close else len(buf))
    return html.unescape(v.group(1).decode("utf-8", "replace")) if v else "#N/A"


def _error_problem(row: int, col: int, error: str) -> tuple[int, str]:
    return (
        col,
        f"cell {column_letter(col)}{row} holds the error {error}; "
        "fix the formula or its inputs in the sheet",
    )


# --------------------------------------------------------------------------- calamine


def _calamine_rows(
    path: Path, name: str, errors: dict[tuple[int, int], str]
) -> Iterator[tuple[int, list[str], tuple[tuple[int, str], ...]]]:
    """``(row_number, cells, problems)`` for every row of the sheet's used range."""
    import python_calamine

    try:
        with python_calamine.CalamineWorkbook.from_path(str(path)) as book:
            sheet = book.get_sheet_by_name(name)
    except python_calamine.PasswordError:
        raise _not_a_workbook(path) from None
    except Exception as exc:  # calamine raises several unrelated exception types
        raise SourceError(
            f"{path.name}: sheet {name!r} could not be read ({type(exc).__name__}: {exc})",
            hint="open the workbook in Excel or LibreOffice and save it again as .xlsx",
        ) from None
    start, end = sheet.start, sheet.end
    if start is None or end is None:
        return
    # Measured on python-calamine 0.9: the range starts at the first non-empty cell
    # (``start``), but iter_rows() yields rows from row 1 (A1's row) down to ``end``,
    # with columns from ``start``'s column. The count is checked at the end, so a
    # release that changes this fails loudly instead of shifting row numbers.
    first_row, first_col = 1, start[1]
    expected_rows = end[0] + 1
    lead = [""] * first_col
    offset = -1
    by_row: dict[int, list[tuple[int, str]]] = {}
    for (r, c), e in errors.items():
        by_row.setdefault(r, []).append((c, e))
    for offset, raw in enumerate(sheet.iter_rows()):
        number = first_row + offset
        # Most cells are text: skip the call for them (a fifth of the read at 100,000 rows).
        cells = lead + [v if type(v) is str else cell_text(v) for v in raw]
        problems: tuple[tuple[int, str], ...] = ()
        found = by_row.get(number)
        if found:
            for c, _error in found:
                if c < len(cells):
                    cells[c] = ""
            problems = tuple(_error_problem(number, c, e) for c, e in sorted(found))
        yield number, cells, problems
    if offset + 1 != expected_rows:
        raise SourceError(
            f"{path.name}: sheet {name!r}: the reader returned {offset + 1} rows for a range "
            f"ending on row {expected_rows}; row numbers cannot be trusted",
            hint="this python-calamine version behaves differently; report it",
        )


# --------------------------------------------------------------------------- streaming

_BUILTIN_DATE_FMTS = frozenset(
    {
        14,
        15,
        16,
        17,
        18,
        19,
        20,
        21,
        22,
        45,
        47,
        27,
        28,
        29,
        30,
        31,
        32,
        33,
        34,
        35,
        36,
        50,
        51,
        52,
        53,
        54,
        55,
        56,
        57,
        58,
    }
)
_BUILTIN_DURATION_FMTS = frozenset({46})
_FMT_NOISE = re.compile(r'"[^"]*"|\\.|_.|\*.')
_FMT_BRACKET = re.compile(r"\[([^\]]*)\]")


def _format_kind(code: str) -> str | None:
    """``"date"``, ``"duration"`` or ``None`` for a custom number format code."""
    code = _FMT_NOISE.sub("", code.split(";")[0])
    elapsed = False
    for inner in _FMT_BRACKET.findall(code):
        if inner.lower().strip("hms") == "" and inner:
            elapsed = True
    code = _FMT_BRACKET.sub("", code).lower()
    if elapsed:
        return "duration"
    if any(ch in code for ch in "dmyhse") and "general" not in code:
        return "date"
    return None


def _load_styles(zf: zipfile.ZipFile, part: str | None) -> list[str | None]:
    """Per cell style index: ``"date"``, ``"duration"`` or ``None`` (a plain number)."""
    if part is None:
        return []
    root = ET.fromstring(zf.read(part))
    custom: dict[int, str | None] = {}
    fmts = root.find(f"{{{_MAIN_NS}}}numFmts")
    for el in fmts if fmts is not None else []:
        custom[int(el.get("numFmtId", "0"))] = _format_kind(el.get("formatCode", ""))
    kinds: list[str | None] = []
    xfs = root.find(f"{{{_MAIN_NS}}}cellXfs")
    for xf in xfs if xfs is not None else []:
        fid = int(xf.get("numFmtId", "0"))
        if fid in custom:
            kinds.append(custom[fid])
        elif fid in _BUILTIN_DATE_FMTS:
            kinds.append("date")
        elif fid in _BUILTIN_DURATION_FMTS:
            kinds.append("duration")
        else:
            kinds.append(None)
    return kinds


def _si_text(si: ET.Element) -> str:
    """A shared string's text: its ``<t>`` or rich-text runs, never the phonetic ``<rPh>``."""
    parts: list[str] = []
    for child in si:
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "t":
            parts.append(child.text or "")
        elif tag == "r":
            for t in child:
                if t.tag.rsplit("}", 1)[-1] == "t":
                    parts.append(t.text or "")
    text = "".join(parts)
    return _XESC.sub(lambda m: chr(int(m.group(1), 16)), text) if "_x" in text else text


def _load_shared_strings(zf: zipfile.ZipFile, part: str | None) -> list[str]:
    if part is None:
        return []
    strings: list[str] = []
    si_tag = f"{{{_MAIN_NS}}}si"
    with zf.open(part) as fh:
        for _event, el in ET.iterparse(fh, events=("end",)):
            if el.tag == si_tag:
                strings.append(_si_text(el))
                el.clear()
    return strings


_ROW = re.compile(rb"<(?:\w+:)?row\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?row>)", re.S)
_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_ATTR = re.compile(rb"\b([rts])=\"([^\"]*)\"")
_INLINE_T = re.compile(rb"<(?:\w+:)?t\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?t>)", re.S)
_RPH = re.compile(rb"<(?:\w+:)?rPh\b.*?</(?:\w+:)?rPh>", re.S)
_EPOCH_1900 = dt.datetime(1899, 12, 30)
_EPOCH_1904 = dt.datetime(1904, 1, 1)


class _StreamingSheet:
    """Reads one sheet's XML in 1 MiB chunks; memory does not grow with the row count."""

    def __init__(self, book: _Workbook, part: str) -> None:
        self.zf = book.zip
        self.part = part
        self.epoch = _EPOCH_1904 if book.date1904 else _EPOCH_1900
        self.date1904 = book.date1904
        self.kinds = _load_styles(self.zf, book.styles_part)
        self.strings = _load_shared_strings(self.zf, book.shared_strings_part)

    def _serial(self, value: float, kind: str) -> str:
        if kind == "duration":
            return _duration_text(dt.timedelta(days=value))
        ms = round(value * 86_400_000)
        if value < 1:  # a time of day without a date
            return (dt.datetime.min + dt.timedelta(milliseconds=ms)).time().isoformat()
        if not self.date1904 and value < 60:
            ms += 86_400_000  # Excel's 1900 leap-year bug: serials below 60 are one day off
        when = self.epoch + dt.timedelta(milliseconds=ms)
        if ms % 86_400_000 == 0:
            return when.date().isoformat()
        return when.isoformat()

    def _cell(self, attrs: dict[bytes, bytes], body: bytes | None) -> tuple[str, str | None]:
        """``(text, error)`` of one ``<c>`` element."""
        kind = attrs.get(b"t", b"n")
        if kind == b"inlineStr":
            if not body:
                return "", None
            body = _RPH.sub(b"", body)
            parts = []
            for t in _INLINE_T.finditer(body):
                text = t.group(2) or b""
                # calamine trims inline text not marked xml:space="preserve"; so do we,
                # so that both readers give the same text.
                parts.append(text if b"preserve" in t.group(1) else text.strip())
            return _unescape(b"".join(parts).decode("utf-8")), None
        if not body:
            return "", None
        v = _V_ELEM.search(body)
        if v is None:
            return "", None
        raw = v.group(1).decode("utf-8")
        if kind == b"s":
            try:
                return self.strings[int(raw)], None
            except (ValueError, IndexError):
                return "", None
        if kind == b"str" or kind == b"d":
            return _unescape(raw), None
        if kind == b"b":
            return ("TRUE" if raw.strip() in ("1", "true") else "FALSE"), None
        if kind == b"e":
            return "", _unescape(raw)
        try:
            value = float(raw)
        except ValueError:
            return _unescape(raw), None
        style = attrs.get(b"s")
        if style is not None and self.kinds:
            idx = int(style)
            fmt = self.kinds[idx] if idx < len(self.kinds) else None
            if fmt is not None:
                try:
                    return self._serial(value, fmt), None
                except (OverflowError, ValueError):
                    pass  # a serial outside the calendar: show the number
        return _number_text(value), None

    def rows(self) -> Iterator[tuple[int, list[str], tuple[tuple[int, str], ...]]]:
        number = 0
        tail = b""
        with self.zf.open(self.part) as fh:
            while True:
                chunk = fh.read(1 << 20)
                buf = tail + chunk
                end = 0
                for m in _ROW.finditer(buf):
                    end = m.end()
                    attrs = dict(_ATTR.findall(m.group(1)))
                    r = attrs.get(b"r")
                    number = int(r) if r else number + 1
                    cells: list[str] = []
                    problems: list[tuple[int, str]] = []
                    body = m.group(2)
                    if body:
                        col = -1
                        for c in _CELL.finditer(body):
                            cattrs = dict(_ATTR.findall(c.group(1)))
                            ref = cattrs.get(b"r")
                            col = _col_index(ref.decode()) if ref else col + 1
                            text, error = self._cell(cattrs, c.group(2))
                            if col >= len(cells):
                                cells.extend([""] * (col - len(cells) + 1))
                            cells[col] = text
                            if error is not None:
                                problems.append(_error_problem(number, col, error))
                    yield number, cells, tuple(problems)
                tail = buf[end:]
                if not chunk:
                    break


# --------------------------------------------------------------------------- source


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
    ) -> None:
        self.path = Path(path)
        self.sheet = sheet
        if header_row < 1:
            raise ConfigError(f"header row must be 1 or more, not {header_row}")
        self.header_row = header_row
        self.stream_threshold = stream_threshold
        self.description = f"xlsx:{self.path.name}" + (f"[{sheet}]" if sheet else "")

    def _pick(self, book: _Workbook) -> _SheetInfo:
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

    def _raw_rows(
        self, book: _Workbook, info: _SheetInfo
    ) -> Iterator[tuple[int, list[str], tuple[tuple[int, str], ...]]]:
        if book.part_size(info.part) > self.stream_threshold:
            return _StreamingSheet(book, info.part).rows()
        errors = _scan_errors(book.zip, info.part)
        if errors is None:  # error cells without positions: only the streamer can place them
            return _StreamingSheet(book, info.part).rows()
        return _calamine_rows(self.path, info.name, errors)

    def read(self) -> SheetData:
        if not self.path.exists():
            raise SourceError(
                f"source file {self.path} does not exist", hint="check --source / BUYERSYNC_SOURCE"
            )
        book = _Workbook(self.path)
        try:
            info = self._pick(book)
            raw = self._raw_rows(book, info)
            header: list[str] | None = None
            for number, cells, _problems in raw:
                if number == self.header_row:
                    header = cells
                    break
                if number > self.header_row:
                    # The header row itself is blank: read it as an empty header.
                    header = []
                    raw = _chain_one((number, cells, _problems), raw)
                    break
        except zipfile.BadZipFile as exc:
            book.close()
            raise SourceError(
                f"{self.path.name} is damaged: {exc}",
                hint="open it in Excel or LibreOffice and save it again",
            ) from None
        except BaseException:
            book.close()
            raise
        if header is None:
            book.close()
            raise SourceError(
                f"{self.path.name}: sheet {info.name!r} has no header row on row "
                f"{self.header_row} (the sheet is empty or shorter)",
                hint="check --header-row and --sheet",
            )
        while header and not header[-1].strip():
            header.pop()  # trailing blank header cells: the width is the last named column
        width = len(header)
        name = info.name
        header_row = self.header_row

        def rows() -> Iterator[SheetRow]:
            expected = header_row + 1
            try:
                for number, cells, problems in raw:
                    if not problems and not any(cells):
                        # A blank row is yielded only once a non-blank row follows it:
                        # formatted-but-empty rows after the data (and a Gnumeric row
                        # 1048576) are not part of the sheet a person sees.
                        continue
                    # Rows missing from the XML are blank rows in the sheet: yield them
                    # so row numbers and blank-row counts stay true.
                    while expected < number:
                        yield make_row(expected, (), width)
                        expected += 1
                    yield make_row(number, cells, width, problems)
                    expected = number + 1
            except zipfile.BadZipFile as exc:
                raise SourceError(
                    f"{self.path.name}: sheet {name!r} is damaged: {exc}",
                    hint="open it in Excel or LibreOffice and save it again",
                ) from None
            finally:
                book.close()

        return SheetData(tuple(header), header_row, rows(), self.description)


def _chain_one(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest


__all__ = ["STREAM_THRESHOLD_BYTES", "XlsxSource", "cell_text"]
