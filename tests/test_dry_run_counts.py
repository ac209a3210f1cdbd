"""``sync --dry-run`` shows the inserted / changed / unchanged counts a real sync produces.

Counted without writing: the rows are staged and compared with the stored values by
the merge's own comparison (typed columns in their type, keys under key_case).
"""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl

from buyersync.store import open_database
from tests.helpers import run_cli as run
from tests.helpers import write_csv
from tests.test_typed_columns import make_table

HEADER = ["buyer_number", "name", "credit_limit", "joined_on", "active", "employees"]


def counts(doc: dict) -> tuple[int, int, int, int]:
    return doc["inserted"], doc["changed"], doc["unchanged"], doc["failed"]


def dry_then_real(src: Path, db_url: str) -> tuple[dict, dict]:
    dry = run("sync", "--source", str(src), "--db", db_url, "--dry-run", "--json")
    real = run("sync", "--source", str(src), "--db", db_url, "--json")
    return json.loads(dry.stdout), json.loads(real.stdout)


def buyers_rows(db_url: str) -> list[dict]:
    with open_database(db_url) as db:
        return db.query("SELECT * FROM buyers ORDER BY buyer_number")


def test_dry_run_counts_equal_the_real_syncs_counts(tmp_path: Path, db_url: str) -> None:
    with open_database(db_url) as db:
        make_table(db)  # typed columns: "1,234.50" is no change from a stored 1234.5
    rows = [
        ["B1", "Ann", "1,234.50", "2024-01-31", "yes", "12"],
        ["B2", "Bob", "10", "", "no", ""],
        ["B3", "Cy", "", "2023-12-01", "", "7"],
        ["B4", "Di", "5", "", "", ""],
    ]
    src = write_csv(tmp_path / "b.csv", HEADER, rows)
    dry, real = dry_then_real(src, db_url)
    assert counts(dry) == counts(real) == (4, 0, 0, 0)
    assert dry["verdict"]["would_change"] == 0

    rows[0][2] = "1234.5"  # the same number: unchanged
    rows[1][1] = "Bobby"  # changed
    rows[2][0] = "b3"  # the same buyer in another case, unchanged
    rows[3][4] = "true"  # NULL → true: changed
    rows.append(["B5", "Ed", "", "", "", ""])  # inserted
    rows.append(["B6", "Flo", "", "", "", "12.5"])  # fails: not an integer
    write_csv(src, HEADER, rows)
    before = buyers_rows(db_url)
    dry, real = dry_then_real(src, db_url)
    assert counts(dry) == counts(real) == (1, 2, 2, 1)
    assert (dry["updated"], dry["verdict"]["would_change"]) == (4, 2)
    assert dry["verdict"]["would_leave_unchanged"] == 2
    # a value only the database refuses (numeric(12,2) overflows on PostgreSQL) is the
    # same failure in the dry run as in the sync, found by the same bisection
    write_csv(src, HEADER, [*rows, ["B7", "Gus", "123456789012345", "", "", ""]])
    dry2, real2 = dry_then_real(src, db_url)
    assert counts(dry2) == counts(real2)
    assert [f["row_number"] for f in dry2["failures"]] == [
        f["row_number"] for f in real2["failures"]
    ]
    with open_database(db_url) as db:
        db.execute("DELETE FROM buyers WHERE buyer_number = 'B7'")

    write_csv(src, HEADER, rows)  # again: nothing changes now
    dry = run("sync", "--source", str(src), "--db", db_url, "--dry-run")
    assert dry.returncode == 1, dry.stderr  # the row that fails still fails
    assert "would be inserted 0, changed 0, unchanged 5" in dry.stdout
    assert "would insert 0, would update 5 (change 0, leave 5 unchanged)" in dry.stdout
    assert len(buyers_rows(db_url)) == len(before) + 1  # the dry runs wrote nothing


def test_a_value_only_the_database_refuses_fails_in_the_dry_run_too(
    tmp_path: Path, db_url: str
) -> None:
    """A uuid column: the typed parser does not know it; PostgreSQL's cast refuses."""
    with open_database(db_url) as db:
        ts = db.sql.column_types["ts"]
        db.execute(
            "CREATE TABLE buyers (buyer_number text PRIMARY KEY, name text, ref uuid, "
            f"created_at {ts}, synced_at {ts}, db_updated_at {ts})"
        )
        rejects = db.sql.enforces_column_types
    uuid = "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    rows = [["B1", "a", ""], ["B2", "b", "not-a-uuid"], ["B3", "c", uuid]]
    src = write_csv(tmp_path / "b.csv", ["buyer_number", "name", "ref"], rows)
    for expected in ((2, 0, 0, 1), (0, 0, 2, 1)) if rejects else ((3, 0, 0, 0), (0, 0, 3, 0)):
        dry, real = dry_then_real(src, db_url)
        assert counts(dry) == counts(real) == expected
        assert [f["row_number"] for f in dry["failures"]] == [
            f["row_number"] for f in real["failures"]
        ]


def _xlsx(path: Path, keys: list[int], fmt: str) -> Path:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.append(["buyer_number", "name"])
    for n, key in enumerate(keys):
        ws.append([key, f"Name {n}"])
        ws.cell(ws.max_row, 1).number_format = fmt
    wb.save(path)
    return path


def test_a_number_format_that_changes_the_keys_is_shown_and_refused(
    tmp_path: Path, db_url: str
) -> None:
    """7123 shown as 007123 after a format change: other buyer numbers, not new buyers."""
    keys = [7123 + i for i in range(20)]
    src = _xlsx(tmp_path / "b.xlsx", keys, "General")
    first = run("sync", "--source", str(src), "--db", db_url)
    assert first.returncode == 0, first.stderr
    _xlsx(src, keys, "000000")

    dry = run("sync", "--source", str(src), "--db", db_url, "--dry-run", "--json")
    doc = json.loads(dry.stdout)
    assert doc["verdict"]["would_refuse"] is True
    assert (doc["inserted"], doc["updated"]) == (20, 0)  # what it would have done
    assert doc["share"]["shared_keys"] == 0 and doc["share"]["sheet_keys"] == 20
    text = run("sync", "--source", str(src), "--db", db_url, "--dry-run")
    assert "a real sync would be refused" in text.stdout
    assert "0 of 20 buyer numbers already in the database" in text.stdout

    real = run("sync", "--source", str(src), "--db", db_url)
    assert real.returncode == 3 and "--min-key-share" in real.stderr
    assert [r["buyer_number"] for r in buyers_rows(db_url)] == [str(k) for k in keys]
