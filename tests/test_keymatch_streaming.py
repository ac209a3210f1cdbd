"""missing/verify report the same whenever the database's keys arrive (KeyMatch, AHEAD_ROWS).

The sheet loop matches buyers against the database only once all its keys are in: before
(the rows read so far, in bulk), after (one by one), or — when the sheet is AHEAD_ROWS
ahead — after waiting for them. Every path must give the same report.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from buyersync.services import missing as missing_module
from buyersync.services.integrity import IntegrityChecker, VerifyMode
from buyersync.services.missing import find_missing
from buyersync.services.sync import SyncEngine
from buyersync.sources import open_source
from buyersync.store.db import Database
from tests.helpers import write_csv

HEADER = ["buyer_number", "name", "note"]


@pytest.mark.parametrize("ahead", [0, 10**9])
def test_reports_do_not_depend_on_when_the_database_answers(
    db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, ahead: int
) -> None:
    rows = [[f"B{i:05d}", f"name {i}", "" if i % 7 else "note"] for i in range(3000)]
    rows += [["B00010", "a duplicate", ""], ["", "no key", "x"]]
    synced = write_csv(
        tmp_path / "synced.csv",
        HEADER,
        [r for i, r in enumerate(rows[:3000]) if i % 500] + [["Z9", "extra", ""]],
    )
    report = SyncEngine(db, open_source(str(synced)), max_shrink_ratio=0).run()
    assert report.failed == 0
    db.execute("UPDATE buyers SET name = 'changed' WHERE buyer_number = 'B02001'")
    sheet = write_csv(tmp_path / "sheet.csv", HEADER, rows)
    monkeypatch.setattr(missing_module, "AHEAD_ROWS", ahead)
    import buyersync.services.integrity as integrity_module

    monkeypatch.setattr(integrity_module, "AHEAD_ROWS", ahead)

    found = find_missing(db, open_source(str(sheet)))
    expected_missing = tuple((f"B{i:05d}", i + 2) for i in range(0, 3000, 500))
    assert found.diff.missing == expected_missing
    assert found.diff.extra == ("Z9",)
    assert found.diff.sheet_count == 3000 and found.diff.database_count == 2995
    assert [(d.buyer_number, d.first_row) for d in found.duplicates] == [("B00010", 12)]
    assert found.blank_key_rows == (3003,)

    checker = IntegrityChecker(db, open_source(str(sheet)))
    for mode in (VerifyMode.COMPLETENESS, VerifyMode.FULL):
        verified = checker.verify(mode)
        assert verified.diff == found.diff
    full = checker.verify(VerifyMode.FULL)
    assert full.checked == 2994
    assert [(m.buyer_number, m.column, m.db_value) for m in full.mismatches] == [
        ("B02001", "name", "changed")
    ]
    sample = checker.verify(VerifyMode.SAMPLE, sample_size=50, seed=7)
    assert sample.diff == found.diff and sample.checked == 50
