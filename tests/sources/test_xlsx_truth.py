"""The XLSX readers tell the truth about every cell, and hostile workbooks stay bounded.

Each case drives the CLI (a subprocess, as an operator runs it) on SQLite and
PostgreSQL, through both readers: python-calamine (the default) and the streaming
reader (``BUYERSYNC_XLSX_STREAM_THRESHOLD_MB=0``). Peak memory of the hostile cases is
measured from outside the process.
"""

from __future__ import annotations

import json
import os
import random
import string
import subprocess
import sys
import time
from array import array
from pathlib import Path

import openpyxl
import pytest

from buyersync.errors import SourceError
from buyersync.sources.xlsx.formats import FormatKind, digits_text, format_kind
from buyersync.sources.xlsx.limits import XlsxLimits
from buyersync.sources.xlsx.scan import SheetScan
from buyersync.sources.xlsx_source import XlsxSource
from buyersync.store import open_database
from tests.sources.xlsx_build import (
    MAIN,
    REL,
    Bomb,
    inline,
    sheet_xml,
    workbook,
)

READERS = [
    pytest.param({}, id="calamine"),
    pytest.param({"BUYERSYNC_XLSX_STREAM_THRESHOLD_MB": "0"}, id="streaming"),
]
THRESHOLDS = [pytest.param(1 << 40, id="calamine"), pytest.param(0, id="streaming")]
PEAK_RSS_LIMIT_KB = 300 * 1024

#: Runs a command and reports its peak RSS (KiB) on the last line of stderr, so the
#: measurement is of that one child and not of anything else this test run started.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "r = subprocess.run(sys.argv[1:])\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(r.returncode)\n"
)


def cli(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> tuple[subprocess.CompletedProcess[str], int, float]:
    """``buyersync ARGS`` as a subprocess: the result, its peak RSS in KiB, seconds."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("BUYERSYNC_")}
    full_env.update(env or {})
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-c", _MEASURE, sys.executable, "-m", "buyersync", *args],
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    elapsed = time.monotonic() - started
    *rest, peak = out.stderr.rstrip("\n").split("\n")
    out.stderr = "\n".join(rest)
    return out, int(peak), elapsed


def sync(source: Path, db_url: str, env: dict[str, str], *extra: str):  # type: ignore[no-untyped-def]
    out, peak, elapsed = cli(
        "sync", "--source", str(source), "--db", db_url, "--json", *extra, env=env
    )
    return out, peak, elapsed


def buyers(db_url: str) -> dict[str, dict]:
    db = open_database(db_url)
    try:
        if not db.table_exists("buyers"):
            return {}
        return {r["buyer_number"]: dict(r) for r in db.query("SELECT * FROM buyers")}
    finally:
        db.close()


def error_log(db_url: str) -> list[dict]:
    db = open_database(db_url)
    try:
        return [dict(r) for r in db.query("SELECT * FROM sync_error_log ORDER BY id")]
    finally:
        db.close()


def last_run(db_url: str) -> dict:
    db = open_database(db_url)
    try:
        rows = db.query("SELECT status, message FROM sync_runs ORDER BY started_at DESC")
        return dict(rows[0])
    finally:
        db.close()


# -- values as Excel displays them ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "code", "shown"),
    [
        (7123, "000000", "007123"),
        (42, '"C"0000', "C0042"),
        (1234567, "000-0000", "123-4567"),
        (12, "000-0000", "000-0012"),
        (12, "###-####", "-12"),
        (-5, "0000", "-0005"),
        (-5, "0000;(0000)", "(0005)"),
        (7123.5, "000000", "007124"),  # Excel rounds half away from zero
        (1234567, "00", "1234567"),  # more digits than placeholders: all are shown
        (5, "[Red]000", "005"),
        (5, "\\A000", "A005"),
        (0, "00000", "00000"),
    ],
)
def test_digits_formats_render_as_excel_shows_them(value: float, code: str, shown: str) -> None:
    assert format_kind(code) is FormatKind.DIGITS
    assert digits_text(value, code) == shown


@pytest.mark.parametrize(
    "code", ["0", "#,##0", "0.00", "General", "@", "0%", "000.00", "yyyy-mm-dd", '"C"@', "0E+00"]
)
def test_formats_that_only_change_the_look_keep_the_plain_number(code: str) -> None:
    assert format_kind(code) is not FormatKind.DIGITS


def formatted_workbook(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["buyer_number", "name", "amount"])
    for value, fmt, name in [
        (7123, "000000", "padded"),
        (42, '"C"0000', "literal"),
        (12345, "@", "text format on a number"),
        (1234567, "000-0000", "grouped"),
        ("T-1", "General", "text"),
    ]:
        ws.append([value, name, 5])
        ws.cell(ws.max_row, 1).number_format = fmt
        ws.cell(ws.max_row, 3).number_format = "0.00"
    wb.save(path)
    return path


@pytest.mark.parametrize("env", READERS)
def test_number_formats_that_change_identity_sync_as_excel_shows_them(
    tmp_path: Path, db_url: str, env: dict[str, str]
) -> None:
    out, _, _ = sync(formatted_workbook(tmp_path / "f.xlsx"), db_url, env)
    assert out.returncode == 0, out.stderr
    stored = buyers(db_url)
    assert set(stored) == {"007123", "C0042", "12345", "123-4567", "T-1"}
    # 0.00 only changes the look: the plain number, as before.
    assert {row["amount"] for row in stored.values()} == {"5"}


@pytest.mark.parametrize("env", READERS)
def test_numbers_excel_has_already_rounded_are_data_format_problems(
    tmp_path: Path, db_url: str, env: dict[str, str]
) -> None:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["buyer_number", "account"])
    ws.append(["B1", 123456789012345])  # 15 digits: Excel keeps them all
    ws.append(["B2", 12345678901234567890])  # a 20-digit ID typed as a number
    ws.append([1234567890123456789, "x"])
    wb.save(tmp_path / "long.xlsx")
    out, _, _ = sync(tmp_path / "long.xlsx", db_url, env)
    assert out.returncode == 1, out.stderr
    assert set(buyers(db_url)) == {"B1"}
    assert buyers(db_url)["B1"]["account"] == "123456789012345"
    entries = error_log(db_url)
    assert [(e["row_number"], e["error_type"]) for e in entries] == [
        (3, "data_format"),
        (4, "data_format"),
    ]
    assert "cell B3" in entries[0]["error_message"]
    assert "cell A4" in entries[1]["error_message"]
    assert all("15 significant digits" in e["error_message"] for e in entries)


@pytest.mark.parametrize("env", READERS)
def test_formula_without_a_saved_value_is_a_data_format_problem(
    tmp_path: Path, db_url: str, env: dict[str, str]
) -> None:
    wb = openpyxl.Workbook()  # openpyxl writes formulas without calculating them
    ws = wb.active
    ws.append(["buyer_number", "total"])
    ws.append(["B1", 3])
    ws.append(["B2", "=B2*2"])
    wb.save(tmp_path / "script.xlsx")
    out, _, _ = sync(tmp_path / "script.xlsx", db_url, env)
    assert out.returncode == 1, out.stderr
    assert set(buyers(db_url)) == {"B1"}
    (entry,) = error_log(db_url)
    assert entry["error_type"] == "data_format" and entry["row_number"] == 3
    assert "cell B3" in entry["error_message"]
    assert "open and save the file in Excel or LibreOffice" in entry["error_message"]


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_a_formula_with_a_saved_empty_string_is_a_value(tmp_path: Path, threshold: int) -> None:
    rows = [
        '<row r="1">' + inline("A1", "buyer_number") + inline("B1", "note") + "</row>",
        '<row r="2">' + inline("A2", "B1") + '<c r="B2" t="str"><f>""</f><v></v></c></row>',
    ]
    path = workbook(tmp_path / "s.xlsx", sheet_xml(rows))
    data = XlsxSource(path, stream_threshold=threshold).read()
    (row,) = list(data.rows)
    assert row.values == ("B1", "") and row.problems == ()


# -- merged cells --------------------------------------------------------------------


def merged_workbook(path: Path) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["buyer_number", "name", "city"])
    ws.append(["B1", "Ann", "Oslo"])
    ws.append(["FRUIT / APPLES", None, None])
    ws.merge_cells("A3:C3")
    ws.append(["B2", "Bob", "Rome"])
    ws.append(["B3", "Cy", "Lima"])
    ws.append(["B4", None, "Kyiv"])
    ws.merge_cells("B5:B6")
    wb.save(path)
    return path


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_a_title_merged_across_the_table_is_a_section_row(tmp_path: Path, threshold: int) -> None:
    data = XlsxSource(merged_workbook(tmp_path / "m.xlsx"), stream_threshold=threshold).read()
    rows = list(data.rows)
    assert [(r.row_number, r.section) for r in rows if r.section] == [(3, "FRUIT / APPLES")]
    assert rows[1].values == ("", "", "")
    assert data.warnings == [
        "sheet 'Sheet' has merged cells in the data (B5:B6): only the top-left cell of a "
        "merged range holds its value, the other cells read empty"
    ]


@pytest.mark.parametrize("env", READERS)
def test_section_rows_are_not_stored_as_buyers(
    tmp_path: Path, db_url: str, env: dict[str, str]
) -> None:
    out, _, _ = sync(merged_workbook(tmp_path / "m.xlsx"), db_url, env)
    assert out.returncode == 0, out.stderr
    assert set(buyers(db_url)) == {"B1", "B2", "B3", "B4"}
    assert error_log(db_url) == []
    doc = json.loads(out.stdout)
    assert (doc["section_rows"], doc["skipped_blank"], doc["inserted"]) == (1, 0, 4)
    assert any("section row(s) skipped" in w and "rows 3" in w for w in doc["warnings"])
    assert any("merged cells in the data (B5:B6)" in w for w in doc["warnings"])


@pytest.mark.parametrize("env", READERS)
def test_price_list_category_titles_are_not_buyers(
    realdata: Path, db_url: str, env: dict[str, str]
) -> None:
    source = realdata / "xlsx" / "poi__no_drawing_patriarch.xlsx"
    out, _, _ = sync(source, db_url, env, "--header-row", "5", "--key", "Код товара")
    assert out.returncode == 0, out.stderr
    stored = buyers(db_url)
    # 7,464 product codes; the 108 category titles merged across A:J are not buyers.
    assert len(stored) == 7464
    assert all(code.isdigit() for code in stored)
    doc = json.loads(out.stdout)
    assert (doc["inserted"], doc["section_rows"], doc["failed"]) == (7464, 108, 0)
    (warning,) = [w for w in doc["warnings"] if "section row(s) skipped" in w]
    assert warning.startswith("108 section row(s) skipped") and "rows 6, 7, 8," in warning
    assert "КАНЦЕЛЯРСКИЕ" not in " ".join(stored)


# -- completeness --------------------------------------------------------------------


def repeated_row_workbook(path: Path) -> Path:
    rows = [
        '<row r="1">' + inline("A1", "buyer_number") + "</row>",
        '<row r="2">' + inline("A2", "B1") + "</row>",
        '<row r="3">' + inline("A3", "B2") + "</row>",
        '<row r="3">' + inline("A3", "B3") + "</row>",
        '<row r="4">' + inline("A4", "B4") + "</row>",
    ]
    return workbook(path, sheet_xml(rows))


@pytest.mark.parametrize("env", READERS)
def test_rows_the_reader_does_not_return_stop_the_sync(
    tmp_path: Path, db_url: str, env: dict[str, str]
) -> None:
    out, _, _ = sync(repeated_row_workbook(tmp_path / "r.xlsx"), db_url, env)
    assert out.returncode == 3, (out.stdout, out.stderr)
    assert "row 3 appears in the sheet's XML twice or out of order" in out.stderr
    assert buyers(db_url) == {}
    run = last_run(db_url)
    assert run["status"] == "failed" and "row 3" in run["message"]


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_every_row_holding_a_value_must_come_back(tmp_path: Path, threshold: int) -> None:
    source = XlsxSource(merged_workbook(tmp_path / "m.xlsx"), stream_threshold=threshold)
    returned = [r.row_number for r in source.read().rows if any(r.values) or r.section]
    assert returned == [2, 3, 4, 5, 6]
    source._check_complete("Sheet", returned, SheetScan(value_rows=array("l", [1, *returned])))
    # The independent count says row 9 holds a value: the reader lost it.
    lost = SheetScan(value_rows=array("l", [1, *returned, 9]))
    with pytest.raises(SourceError, match=r"returned 5 rows .* has 6 such rows .*not returned: 9"):
        source._check_complete("Sheet", returned, lost)


# -- bombs (issue: hostile workbooks) ------------------------------------------------

_BUYERS = '<row r="1">' + inline("A1", "buyer_number") + "</row>"


def shared_strings_bomb(path: Path) -> Path:
    """A 1 MB file whose sharedStrings part is 1 GiB of one string."""
    ss = Bomb(
        f'<?xml version="1.0"?><sst xmlns="{MAIN}"><si><t>B1</t></si><si><t>'.encode(),
        b"x" * (1 << 20),
        1024,
        b"</t></si></sst>",
    )
    rows = [_BUYERS, '<row r="2"><c r="A2" t="s"><v>0</v></c></row>']
    return workbook(path, sheet_xml(rows), shared_strings=ss)


def workbook_xml_bomb(path: Path) -> Path:
    head = (
        f'<?xml version="1.0"?><workbook xmlns="{MAIN}" xmlns:r="{REL}"><sheets>'
        '<sheet name="Buyers" sheetId="1" r:id="rId1"/></sheets>'
    )
    wb = Bomb(head.encode(), b" " * (1 << 20), 1024, b"</workbook>")
    return workbook(path, sheet_xml([_BUYERS]), workbook_xml=wb)


def long_cell_bomb(path: Path) -> Path:
    """One cell of 300 MiB in a file of about 300 KB (a quadratic reader never ends)."""
    head = sheet_xml([_BUYERS]).split("</sheetData>")[0]
    head += '<row r="2">' + '<c r="A2" t="inlineStr"><is><t>'
    tail = "</t></is></c></row></sheetData></worksheet>"
    return workbook(path, Bomb(head.encode(), b"y" * (1 << 20), 300, tail.encode()))


def ratio_bomb(path: Path) -> Path:
    """A sheet under every size limit that inflates 1,000 times: 60 MiB from 60 KB."""
    head = sheet_xml([_BUYERS]).split("</sheetData>")[0]
    block = b"".join(b'<row r="2"/>' for _ in range(1 << 16))[: 1 << 20]
    block = block[: len(block) - len(block) % 12]
    tail = b"</sheetData></worksheet>"
    return workbook(path, Bomb(head.encode(), block, 60, tail))


BOMBS = [
    pytest.param(shared_strings_bomb, "xlsx_max_part_mb", (), id="sharedStrings-1GiB"),
    pytest.param(workbook_xml_bomb, "xlsx_max_part_mb", (), id="workbook.xml-1GiB"),
    pytest.param(long_cell_bomb, "xlsx_max_compression_ratio", (), id="cell-300MiB"),
    pytest.param(
        long_cell_bomb,
        "xlsx_max_part_mb",
        ("--xlsx-max-compression-ratio", "100000"),
        id="cell-300MiB-ratio-raised",
    ),
    pytest.param(ratio_bomb, "xlsx_max_compression_ratio", (), id="ratio-1000"),
]


@pytest.mark.parametrize("env", READERS)
@pytest.mark.parametrize(("build", "setting", "flags"), BOMBS)
def test_workbook_bombs_are_refused_in_bounded_memory_and_time(
    tmp_path: Path, db_url: str, env: dict[str, str], build, setting: str, flags: tuple[str, ...]
) -> None:
    path = build(tmp_path / "bomb.xlsx")
    assert path.stat().st_size < 3 << 20
    out, peak_kb, elapsed = sync(path, db_url, env, *flags)
    assert out.returncode == 3, (out.stdout, out.stderr[-2000:])
    assert setting in out.stderr and "limit" in out.stderr
    assert out.stderr.count("\n") == 0, out.stderr  # one line, no traceback
    assert peak_kb < PEAK_RSS_LIMIT_KB, f"peak RSS {peak_kb // 1024} MiB"
    assert elapsed < 30, f"{elapsed:.1f} s"
    assert buyers(db_url) == {}


def test_the_limits_are_settings(tmp_path: Path) -> None:
    path = shared_strings_bomb(tmp_path / "bomb.xlsx")
    out, _, _ = cli(
        "sync",
        "--source",
        str(path),
        "--db",
        f"sqlite:///{tmp_path / 'b.db'}",
        "--xlsx-max-part-mb",
        "0",
    )
    assert out.returncode == 2 and "xlsx_max_part_mb must be at least 1" in out.stderr


def _random_text(n: int) -> str:
    rng = random.Random(17)
    return "".join(rng.choices(string.ascii_letters, k=n))


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_a_300_kb_cell_parses_well_under_a_second(tmp_path: Path, threshold: int) -> None:
    text = _random_text(300_000)
    rows = [
        _BUYERS.replace("</row>", inline("B1", "note") + "</row>"),
        '<row r="2">' + inline("A2", "B1") + inline("B2", text) + "</row>",
    ]
    path = workbook(tmp_path / "cell.xlsx", sheet_xml(rows))
    started = time.monotonic()
    (row,) = list(XlsxSource(path, stream_threshold=threshold).read().rows)
    assert time.monotonic() - started < 0.5
    assert row.values == ("B1", text)


@pytest.mark.parametrize("threshold", THRESHOLDS)
def test_reading_a_long_cell_is_linear_in_its_length(tmp_path: Path, threshold: int) -> None:
    def seconds(size_mb: int) -> float:
        head = sheet_xml([_BUYERS.replace("</row>", inline("B1", "note") + "</row>")])
        head = head.split("</sheetData>")[0] + '<row r="2">' + inline("A2", "B1")
        head += '<c r="B2" t="inlineStr"><is><t>'
        tail = "</t></is></c></row></sheetData></worksheet>"
        path = workbook(
            tmp_path / f"c{size_mb}.xlsx",
            Bomb(head.encode(), b"z" * (1 << 20), size_mb, tail.encode()),
        )
        source = XlsxSource(path, stream_threshold=threshold, limits=XlsxLimits(max_ratio=10**6))
        started = time.monotonic()
        (row,) = list(source.read().rows)
        assert len(row.values[1]) == size_mb << 20
        return time.monotonic() - started

    small, large = seconds(3), seconds(12)
    # Four times the length: about four times the time (a quadratic reader takes 16).
    assert large < 8 * small + 0.5, (small, large)
