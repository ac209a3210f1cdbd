"""CSV reader against real exports (shared/realdata/csv) and small written files."""

from __future__ import annotations

from pathlib import Path

import pytest

from buyersync.errors import EncodingProblem, HeaderError, SourceError
from buyersync.sources import open_source
from buyersync.sources.csv_source import CsvSource


def test_bom_crlf_and_quoted_newlines(realdata: Path) -> None:
    data = CsvSource(realdata / "csv" / "sheetjs__crlf.csv", header_row=1).read()
    # The BOM is not part of the first header; quoted LF and CRLF stay inside the cell.
    assert data.header == ("Normal", "abc\ndef")
    rows = list(data.rows)
    assert [r.row_number for r in rows] == [2, 3]
    assert rows[0].values == ("Formula", "abc\r\ndef")
    assert rows[1].values == ("Test", "")


def test_no_bom_is_read_the_same(tmp_path: Path) -> None:
    with_bom = tmp_path / "a.csv"
    without = tmp_path / "b.csv"
    with_bom.write_bytes(b'\xef\xbb\xbfbuyer_number,name\r\n0012,"Tanaka, Ltd"\r\n')
    without.write_bytes(b'buyer_number,name\n0012,"Tanaka, Ltd"\n')
    for path in (with_bom, without):
        data = CsvSource(path).read()
        assert data.header == ("buyer_number", "name")
        assert [r.values for r in data.rows] == [("0012", "Tanaka, Ltd")]


def test_customers_1000(realdata: Path) -> None:
    data = open_source(str(realdata / "csv" / "datablist__customers-1000.csv")).read()
    assert data.header[:3] == ("Index", "Customer Id", "First Name")
    rows = list(data.rows)
    assert len(rows) == 1000
    assert rows[0].row_number == 2 and rows[-1].row_number == 1001
    assert rows[0].values[1] == "dE014d010c7ab0c"
    assert rows[1].values[4] == "Terry, Proctor and Lawrence"
    # Index 11 (sheet row 12) has a digit-only phone with a leading zero: kept as text.
    assert rows[10].row_number == 12 and rows[10].values[7] == "0647787401"
    assert all(len(r.values) == 12 and not r.problems for r in rows)


def test_edited_copy_has_the_blank_line_as_a_blank_row(realdata: Path) -> None:
    rows = list(
        CsvSource(realdata / "csv" / "datablist__customers-1000__edited-copy.csv").read().rows
    )
    blanks = [r for r in rows if not any(r.values)]
    assert len(blanks) == 1
    assert rows[-1].values[2] == "Testing_DOMINIC"
    assert rows[-1].row_number == len(rows) + 1


def test_shift_jis_with_encoding_decodes_and_the_missing_header_is_named(
    realdata: Path,
) -> None:
    # The file has no header row: its row 1 is a record (9 of 15 cells are numbers).
    source = CsvSource(realdata / "csv" / "japanpost__13TOKYO.CSV", encoding="cp932")
    with pytest.raises(HeaderError) as info:
        source.read()
    message = str(info.value)
    assert "row 1 looks like data, not a header row" in message
    assert "A1, B1, C1" in message
    assert "13101" not in message and "東京都" not in message  # cells named, never echoed


def test_shift_jis_without_encoding_names_the_option(realdata: Path) -> None:
    with pytest.raises(EncodingProblem) as info:
        CsvSource(realdata / "csv" / "japanpost__13TOKYO.CSV").read()
    assert "--encoding" in str(info.value)
    assert "line 1" in str(info.value)


def test_extra_cells_beyond_the_header_are_a_row_problem(tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("buyer_number,name\n1,A,surprise\n2,B\n3\n", encoding="utf-8")
    rows = list(CsvSource(path).read().rows)
    assert rows[0].values == ("1", "A")
    assert rows[0].problems == ((2, "cell C2 holds a value but its column has no header"),)
    assert rows[1].problems == ()
    assert rows[2].values == ("3", "")


def test_missing_file_and_short_file(tmp_path: Path) -> None:
    with pytest.raises(SourceError, match="does not exist"):
        CsvSource(tmp_path / "nope.csv").read()
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    with pytest.raises(SourceError, match="no header row"):
        CsvSource(empty).read()


def test_reading_only_the_header_leaves_no_file_open(tmp_path) -> None:  # type: ignore[no-untyped-def]
    import gc
    import warnings

    from buyersync.sources.csv_source import CsvSource

    path = tmp_path / "h.csv"
    path.write_text("buyer_number,name\nB1,Ann\n", encoding="utf-8")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ResourceWarning)
        data = CsvSource(path).read()
        assert data.header == ("buyer_number", "name")
        del data
        gc.collect()
