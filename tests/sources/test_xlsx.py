"""XLSX reader against real workbooks (shared/realdata/xlsx) and generated ones.

Most tests run twice: once through python-calamine (the normal reader) and once through
the streaming reader used for very large sheets (``stream_threshold=0``); both must give
the same text.
"""

from __future__ import annotations

import datetime as dt
import time
import zipfile
from pathlib import Path

import openpyxl
import pytest
import python_calamine

from buyersync.errors import ConfigError, SourceError
from buyersync.records import SheetRow
from buyersync.sources import open_source
from buyersync.sources.xlsx_source import XlsxSource

READERS = [pytest.param(1 << 40, id="calamine"), pytest.param(0, id="streaming")]


def read(path: Path, threshold: int, **kw: object) -> tuple[tuple[str, ...], list[SheetRow]]:
    data = XlsxSource(path, stream_threshold=threshold, **kw).read()  # type: ignore[arg-type]
    return data.header, list(data.rows)


def xlsx(realdata: Path, name: str) -> Path:
    return realdata / "xlsx" / name


@pytest.mark.parametrize("threshold", READERS)
def test_every_real_workbook_opens_quickly(realdata: Path, threshold: int) -> None:
    for path in sorted((realdata / "xlsx").glob("*.xlsx")):
        started = time.monotonic()
        header, rows = read(path, threshold)
        # issue_174 claims A1:XFD1048576; it must not be iterated cell by cell.
        assert time.monotonic() - started < 10, path.name
        assert isinstance(header, tuple)


def test_both_readers_agree_on_every_sheet(realdata: Path) -> None:
    for path in sorted((realdata / "xlsx").glob("*.xlsx")):
        with zipfile.ZipFile(path) as zf:
            assert zf.testzip() is None
        names = python_calamine.CalamineWorkbook.from_path(str(path)).sheet_names
        for name in names:
            assert outcome(path, 1 << 40, name) == outcome(path, 0, name), (path, name)


def outcome(path: Path, threshold: int, sheet: str) -> object:
    try:
        return read(path, threshold, sheet=sheet)
    except SourceError as exc:  # an empty sheet has no header row: both must say so
        return str(exc)


@pytest.mark.parametrize("threshold", READERS)
def test_issue_174_reads_its_two_rows(realdata: Path, threshold: int) -> None:
    header, rows = read(xlsx(realdata, "calamine__issue_174.xlsx"), threshold)
    assert header[0] == "Your Ref #" and header[-1] == "Your Company"
    assert len(rows) == 1 and rows[0].row_number == 2
    assert rows[0].values[0] == "123" and rows[0].values[7] == "1.201"


@pytest.mark.parametrize("threshold", READERS)
def test_1904_dates_and_durations(realdata: Path, threshold: int) -> None:
    header, rows = read(xlsx(realdata, "calamine__date_1904.xlsx"), threshold)
    assert header == ("2021-01-01", "15")  # row 1 is data in this file; it reads as header
    assert rows[0].values == ("2021-01-02", "16")
    # A3 = 10.632... days in [hh]:mm:ss: shown as total hours, as Excel shows it.
    assert rows[1].values == ("255:10:10", "17")


@pytest.mark.parametrize("threshold", READERS)
def test_long_digit_strings_stay_exact(realdata: Path, threshold: int) -> None:
    path = xlsx(realdata, "calamine__string-ref.xlsx")
    for sheet in ("Sheet1", "Sheet2"):  # Sheet2 holds it as a formula's cached string
        header, rows = read(path, threshold, sheet=sheet)
        assert header == ("col1",)
        assert rows[0].values == ("-8086931554011838357",)


@pytest.mark.parametrize("threshold", READERS)
def test_error_cells_are_blank_with_a_problem(realdata: Path, threshold: int) -> None:
    header, rows = read(xlsx(realdata, "calamine__errors.xlsx"), threshold)
    errors = ["#NAME?", "#VALUE!", "#NULL!", "#REF!", "#NUM!", "#N/A"]
    assert [r.row_number for r in rows] == [2, 3, 4, 5, 6, 7]
    for row, error in zip(rows, errors, strict=True):
        assert not any(row.values)
        assert row.problems == (
            (
                0,
                f"cell A{row.row_number} holds the error {error}; "
                "fix the formula or its inputs in the sheet",
            ),
        )


@pytest.mark.parametrize("threshold", READERS)
def test_error_cells_in_a_real_template(realdata: Path, threshold: int) -> None:
    header, rows = read(xlsx(realdata, "poi__46535.xlsx"), threshold, sheet="Others")
    messages = [m for r in rows for _, m in r.problems if "holds the error" in m]
    assert sum("#REF!" in m for m in messages) >= 300
    assert sum("#NAME?" in m for m in messages) == 6


@pytest.mark.parametrize("threshold", READERS)
def test_title_block_above_header_row_5(realdata: Path, threshold: int) -> None:
    path = xlsx(realdata, "poi__no_drawing_patriarch.xlsx")
    header, rows = read(path, threshold, header_row=5)
    assert header[0] == "Код товара" and header[-1] == "Цена" and len(header) == 10
    assert rows[0].row_number == 6 and rows[-1].row_number == 7577
    assert [r.row_number for r in rows] == list(range(6, 7578))
    codes = [r.values[0] for r in rows]
    assert "00000105438" in codes  # leading zeros kept
    assert sum(c.startswith("0") for c in codes) > 7000
    # The category titles merged across A:J are section rows, not buyers: their title
    # is in ``section`` and every value is blank.
    sections = [r for r in rows if r.section is not None]
    assert len(sections) == 108
    assert all(not any(r.values) and not r.problems for r in sections)
    assert sections[0].section and ("/" in sections[0].section or sections[0].section.isupper())
    assert not [r for r in rows if r.section is None and r.values[0] and not any(r.values[1:])]


@pytest.mark.parametrize("threshold", READERS)
def test_furigana_is_not_part_of_the_text(realdata: Path, threshold: int) -> None:
    header, rows = read(xlsx(realdata, "poi__51519.xlsx"), threshold)
    assert header == ("RecordSpec", "Name", "CompanyName", "Comment")
    assert rows[0].values[:2] == ("1", "豊田")
    assert rows[1].values[1] == "日本オラクル"
    assert [r.values[0] for r in rows] == [str(i) for i in range(1, 18)]


@pytest.mark.parametrize("threshold", READERS)
def test_rows_without_row_numbers_and_hidden_rows(realdata: Path, threshold: int) -> None:
    header, rows = read(xlsx(realdata, "poi__59746_NoRowNums.xlsx"), threshold)
    assert header[0] == "Checked" and len(header) == 11
    assert [r.row_number for r in rows] == list(range(2, 72))  # hidden rows included
    assert rows[0].values[0] == "TRUE"


@pytest.mark.parametrize("threshold", READERS)
def test_dimension_that_lies(realdata: Path, threshold: int) -> None:
    header, rows = read(xlsx(realdata, "poi__64508.xlsx"), threshold)
    assert len(header) == 7 and len(rows) == 4
    assert rows[0].values[1:3] == ("04656-2020", "2020-06-08")
    assert rows[0].values[5] == "0630996510285"
    assert rows[0].values[3] == "1"


@pytest.mark.parametrize("threshold", READERS)
def test_blank_rows_in_the_middle_are_yielded(realdata: Path, threshold: int) -> None:
    header, rows = read(xlsx(realdata, "poi__51626_contact.xlsx"), threshold)
    assert [r.row_number for r in rows] == [2, 3, 4, 5]  # formatted empty rows 6-35 dropped
    assert not any(rows[0].values) and not any(rows[2].values)
    assert rows[1].values[7] == "04001"
    assert rows[3].values[2] == "@%#"


@pytest.mark.parametrize("threshold", READERS)
def test_rows_hidden_by_a_filter_are_read(realdata: Path, threshold: int) -> None:
    header, rows = read(xlsx(realdata, "sheetjs__AutoFilter.xlsx"), threshold, sheet="One Cond")
    assert header == ("Code", "Format", "Library", "Notes", "Importance")
    assert len(rows) == 21


def test_sheet_selection(realdata: Path) -> None:
    path = xlsx(realdata, "poi__46535.xlsx")
    data = XlsxSource(path).read()  # first visible sheet
    assert data.description.endswith("poi__46535.xlsx")
    header, rows = read(path, 1 << 40, sheet="CodeLists")
    assert header == ("Code", "Code name") and len(rows) == 2438
    header, rows = read(path, 1 << 40, sheet="Map")  # hidden, but named: read
    assert header[0] == "Ref  " and rows[0].values[0] == "10"
    with pytest.raises(ConfigError) as info:
        XlsxSource(path, sheet="Nope").read()
    assert "'CodeLists'" in str(info.value) and "'TDS'" in str(info.value)
    assert "--sheet" in str(info.value)


@pytest.mark.parametrize("threshold", READERS)
def test_hidden_sheets_are_skipped_for_the_default(tmp_path: Path, threshold: int) -> None:
    wb = openpyxl.Workbook()
    hidden = wb.active
    hidden.title = "Secret"
    hidden.append(["x"])
    hidden.sheet_state = "hidden"
    shown = wb.create_sheet("Buyers")
    shown.append(["buyer_number"])
    shown.append(["7"])
    path = tmp_path / "h.xlsx"
    wb.save(path)
    assert read(path, threshold) == (("buyer_number",), [SheetRow(2, ("7",))])


@pytest.mark.parametrize("threshold", READERS)
def test_generated_values_as_a_person_sees_them(tmp_path: Path, threshold: int) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws["C3"] = "buyer_number"  # the used range starts at C3, not A1
    ws["D3"] = "when"
    ws["E3"] = "flag"
    ws["F3"] = "note"
    long_text = "長" * 100_000 + "x" * 100_000
    ws.append([None, None, 10001.0, dt.date(2020, 6, 8), True, "東京都渋谷区"])
    ws.append([None, None, 1.2, dt.datetime(2020, 6, 8, 13, 45), False, "LONG-TEXT-HERE"])
    ws.append([None, None, 123456.789, dt.time(13, 45), None, "  padded  "])
    ws.append([])
    ws.append([None, None, -5.0, dt.datetime(2020, 6, 8, 13, 45, 30), None, "=1+1"])
    ws["D7"].number_format = "yyyy-mm-dd hh:mm:ss"
    path = tmp_path / "g.xlsx"
    wb.save(tmp_path / "short.xlsx")
    # openpyxl cuts text at Excel's 32,767-character limit; other writers do not, and
    # the reader must not either: put the long text into the sheet XML directly.
    with zipfile.ZipFile(tmp_path / "short.xlsx") as src, zipfile.ZipFile(path, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = data.replace(b"LONG-TEXT-HERE", long_text.encode("utf-8"))
            dst.writestr(item, data)
    header, rows = read(path, threshold, header_row=3)
    assert header == ("", "", "buyer_number", "when", "flag", "note")
    assert rows[0] == SheetRow(4, ("", "", "10001", "2020-06-08", "TRUE", "東京都渋谷区"))
    assert rows[1].values[2:5] == ("1.2", "2020-06-08T13:45:00", "FALSE")
    assert rows[1].values[5] == long_text
    assert rows[2].values[2:4] == ("123456.789", "13:45:00")
    assert rows[2].values[5] == "  padded  "
    assert rows[3] == SheetRow(7, ("",) * 6)
    assert rows[4].row_number == 8 and rows[4].values[2:4] == ("-5", "2020-06-08T13:45:30")
    assert len(rows) == 5


def test_open_source_dispatches_xlsx(realdata: Path) -> None:
    source = open_source(str(xlsx(realdata, "poi__64508.xlsx")), header_row=1)
    assert isinstance(source, XlsxSource)


def test_unreadable_files(tmp_path: Path) -> None:
    text = tmp_path / "notes.xlsx"
    text.write_text("buyer_number\n1\n", encoding="utf-8")
    with pytest.raises(SourceError, match="not an Excel .xlsx workbook"):
        XlsxSource(text).read()
    encrypted = tmp_path / "locked.xlsx"  # an encrypted xlsx is an OLE compound file
    encrypted.write_bytes(b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504)
    with pytest.raises(SourceError, match="password-protected"):
        XlsxSource(encrypted).read()
    broken = tmp_path / "broken.xlsx"
    with zipfile.ZipFile(broken, "w") as zf:
        zf.writestr("hello.txt", "not a workbook")
    with pytest.raises(SourceError, match="not a readable Excel workbook"):
        XlsxSource(broken).read()
    with pytest.raises(SourceError, match="does not exist"):
        XlsxSource(tmp_path / "missing.xlsx").read()
    with pytest.raises(SourceError, match="no header row on row 9"):
        wb = openpyxl.Workbook()
        wb.active.append(["a"])
        wb.save(tmp_path / "short.xlsx")
        XlsxSource(tmp_path / "short.xlsx", header_row=9).read()


def _open_handles(path: Path) -> int:
    """How many file descriptors of this process point at ``path`` (Linux /proc)."""
    fd_dir = Path("/proc/self/fd")
    count = 0
    for fd in fd_dir.iterdir():
        try:
            if Path(fd.readlink()) == path.resolve():
                count += 1
        except OSError:
            continue  # closed between listing and reading
    return count


@pytest.mark.parametrize("threshold", READERS)
def test_the_workbook_is_closed_after_reading_and_on_every_error(
    tmp_path: Path, threshold: int
) -> None:
    path = tmp_path / "b.xlsx"
    wb = openpyxl.Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = "Buyers"
    ws.append(["buyer_number", "name"])
    ws.append(["B1", "Ann"])
    wb.save(path)
    data = XlsxSource(path, stream_threshold=threshold).read()
    assert _open_handles(path) >= 1  # the rows are read lazily from the open package
    assert [r.values for r in data.rows] == [("B1", "Ann")]
    assert _open_handles(path) == 0
    for kw in ({"sheet": "Nope"}, {"header_row": 9}):
        with pytest.raises((ConfigError, SourceError)):
            XlsxSource(path, stream_threshold=threshold, **kw).read()  # type: ignore[arg-type]
        assert _open_handles(path) == 0, kw
