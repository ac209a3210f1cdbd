"""The real spreadsheets in shared/realdata sync without an unexplained loss.

For every file: either the header is refused with a message naming the columns
(nothing written), or every non-blank row read lands in ``buyers`` or has an error-log
entry for the run — on SQLite and on PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from buyersync.errors import HeaderError
from buyersync.rules.normalize import normalize_key
from buyersync.services.sync import sync
from buyersync.sources import open_source
from buyersync.store.db import Database

#: file → (options for open_source, key header or None for the first header)
CASES: dict[str, tuple[dict, str | None]] = {
    "csv/datablist__customers-1000.csv": ({}, "Customer Id"),
    "csv/datablist__customers-1000__edited-copy.csv": ({}, "Customer Id"),
    "csv/sheetjs__crlf.csv": ({}, None),
    "csv/japanpost__13TOKYO.CSV": ({"encoding": "cp932"}, None),
    "xlsx/poi__no_drawing_patriarch.xlsx": ({"header_row": 5}, "Код товара"),
    "xlsx/poi__51519.xlsx": ({}, "RecordSpec"),
    "xlsx/poi__51626_contact.xlsx": ({}, "E-Mail Address"),
    "xlsx/poi__57523.xlsx": ({}, None),
    "xlsx/poi__59746_NoRowNums.xlsx": ({}, None),
    "xlsx/poi__64508.xlsx": ({}, None),
    "xlsx/poi__46535.xlsx": ({"sheet": "CodeLists"}, "Code"),
    "xlsx/calamine__issue_174.xlsx": ({}, None),
    "xlsx/calamine__string-ref.xlsx": ({}, "col1"),
    "xlsx/calamine__date_1904.xlsx": ({}, None),
    "xlsx/calamine__errors.xlsx": ({}, None),
    "xlsx/sheetjs__AutoFilter.xlsx": ({"sheet": "One Cond"}, "Code"),
    "xlsx/sheetjs__issue.xlsx": ({}, "Pos."),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_real_file_syncs_without_unexplained_loss(name: str, realdata: Path, db: Database) -> None:
    options, key = CASES[name]
    path = realdata / name
    try:
        data = open_source(str(path), **options).read()
        rows = list(data.rows)
        key = key or next((h for h in data.header if h.strip()), "buyer_number")
        report = sync(db, open_source(str(path), **options), key_column=key, max_shrink_ratio=0)
    except HeaderError as exc:
        assert "column" in str(exc)  # the message names the columns at fault
        assert not db.table_exists("buyers")
        return
    key_index = [h for h in data.header].index(key) if key in data.header else 0
    in_db = {r["buyer_number"] for r in db.query("SELECT buyer_number FROM buyers")}
    logged = {
        r["row_number"]
        for r in db.query(
            "SELECT row_number FROM sync_error_log WHERE run_id = %s", (report.run_id,)
        )
    }
    landed_rows = set()
    seen: set[str] = set()
    for row in rows:
        if not any(v.strip() for v in row.values) and not row.problems:
            continue
        k = normalize_key(row.values[key_index])
        if k in in_db and k not in seen and row.row_number not in logged:
            landed_rows.add(row.row_number)
        seen.add(k)
        assert row.row_number in landed_rows or row.row_number in logged, (
            f"{name}: row {row.row_number} neither landed nor was logged"
        )
    assert report.inserted == len(landed_rows)
    assert report.rows_read == report.inserted + report.failed


def test_leading_zeros_and_exact_long_digits_survive(realdata: Path, db: Database) -> None:
    sync(
        db,
        open_source(str(realdata / "xlsx/poi__no_drawing_patriarch.xlsx"), header_row=5),
        key_column="Код товара",
    )
    assert db.query_value("SELECT count(*) FROM buyers WHERE buyer_number = '00000105438'") == 1
    sync(
        db,
        open_source(str(realdata / "xlsx/calamine__string-ref.xlsx")),
        key_column="col1",
        # another file into the same database: the shape guards would rightly refuse it
        max_shrink_ratio=0,
        min_key_share=0,
        min_header_share=0,
    )
    assert (
        db.query_value("SELECT count(*) FROM buyers WHERE buyer_number = '-8086931554011838357'")
        == 1
    )


def test_edited_copy_updates_and_logs_the_duplicate(realdata: Path, db: Database) -> None:
    first = sync(
        db,
        open_source(str(realdata / "csv/datablist__customers-1000.csv")),
        key_column="Customer Id",
    )
    assert (first.inserted, first.failed) == (1000, 0)
    second = sync(
        db,
        open_source(str(realdata / "csv/datablist__customers-1000__edited-copy.csv")),
        key_column="Customer Id",
    )
    assert second.updated == 1000 and second.inserted == 0
    assert second.skipped_blank == 1
    assert [str(f.category) for f in second.failures] == ["duplicate_key"]
    assert second.failures[0].buyer_number == "51732B5b2328015"
    phone = db.query_value(
        'SELECT "phone_1" FROM buyers WHERE buyer_number = %s', ("51732B5b2328015",)
    )
    assert phone is not None
