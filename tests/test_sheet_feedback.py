"""Problems written back to the Google Sheet: notes and the problems tab (CLI, both databases).

The seed's incident (356 of 4,140 buyers with a value over VARCHAR(50)) against the
local Sheets stand-in: 356 notes after the first sync, none after ``schema fix
--apply`` and ``sync-missing``; a person's note survives every sync; the tab shows
the same problems and empties when they resolve.
"""

from __future__ import annotations

import copy
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from buyersync.demo import HEADER, LONG_BUYERS, create_legacy_table, generate_buyers, old_sync
from buyersync.rules.feedback_text import PREFIX, TAB_COLUMNS
from buyersync.store import open_database
from buyersync.testing import SheetsServer
from tests.helpers import doc_of, run_cli

BOOK = "1incidentBook"
TAB = "Buyers"


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, unset=("GOOGLE_APPLICATION_CREDENTIALS",))


@pytest.fixture
def server() -> Iterator[SheetsServer]:
    with SheetsServer() as s:
        yield s


def _incident(server: SheetsServer, db_url: str) -> list[tuple[str, ...]]:
    rows = generate_buyers()
    server.add_sheet(BOOK, TAB, [list(HEADER), *[list(r) for r in rows]], sheet_id=0)
    with open_database(db_url) as db:
        create_legacy_table(db)
        old_sync(db, rows)
    return rows


def _src(server: SheetsServer, mode: str) -> list[str]:
    return [
        "--source",
        f"gsheets:{BOOK}",
        "--sheets-api-url",
        server.url,
        "--sheet-feedback",
        mode,
    ]


def _ours(server: SheetsServer) -> dict[str, str]:
    return {c: n for c, n in server.notes(BOOK, TAB).items() if n.startswith(PREFIX)}


def _long_cell(rows: list[tuple[str, ...]], index: int) -> tuple[str, int]:
    """The A1 cell of the value over 50 characters of the index-th long buyer."""
    long_rows = [(n, r) for n, r in enumerate(rows, start=2) if max(map(len, r)) > 50]
    number, row = long_rows[index]
    col = next(i for i, v in enumerate(row) if len(v) > 50)
    return f"{'ABCDEFG'[col]}{number}", number


def test_incident_notes_appear_and_go_and_a_persons_note_survives(
    server: SheetsServer, db_url: str
) -> None:
    rows = _incident(server, db_url)
    common = ["--db", db_url, "--json"]
    values_before = copy.deepcopy(server.spreadsheets[BOOK].sheets[0].rows)
    # A person's notes: one on a cell buyersync will complain about, one elsewhere.
    theirs, their_row = _long_cell(rows, 0)
    server.set_note(BOOK, TAB, theirs, "Call Mrs Ito before changing this")
    server.set_note(BOOK, TAB, "B2", "VIP")

    first = cli("sync", *_src(server, "notes"), *common)
    assert first.returncode == 1, first.stderr  # the 356 rows failed; the feedback did not
    fed = doc_of(first)["sheet_feedback"]
    assert fed["error"] is None, fed
    assert fed["notes_written"] == LONG_BUYERS - 1 and fed["person_notes"] == 1
    assert fed["requests"] == 1  # every note and the tab in one batchUpdate
    ours = _ours(server)
    assert len(ours) == LONG_BUYERS - 1
    cell, _ = _long_cell(rows, 1)
    assert "characters; the database holds at most 50 characters" in ours[cell]
    # Only notes were written on the synced tab: every value is as it was.
    assert server.spreadsheets[BOOK].sheets[0].rows == values_before
    notes = server.notes(BOOK, TAB)
    assert notes[theirs] == "Call Mrs Ito before changing this" and notes["B2"] == "VIP"
    # The problem on the person's cell is listed on the problems tab instead.
    tab = server.tab_rows(BOOK, "buyersync problems")
    assert tab is not None and tab[0] == list(TAB_COLUMNS)
    assert [r[0] for r in tab[1:]] == [f"row {their_row}"]

    # A second sync with nothing changed rewrites no note.
    again = doc_of(cli("sync", *_src(server, "notes"), *common))["sheet_feedback"]
    assert (again["notes_written"], again["notes_kept"], again["notes_removed"]) == (
        0,
        LONG_BUYERS - 1,
        0,
    )

    fixed = cli("schema", "fix", "--apply", *common)
    assert fixed.returncode == 0, fixed.stderr
    healed = cli("sync-missing", *_src(server, "notes"), *common)
    assert healed.returncode == 0, healed.stderr
    fed = doc_of(healed)["sheet_feedback"]
    assert fed["notes_removed"] == LONG_BUYERS - 1 and fed["notes_written"] == 0
    assert _ours(server) == {}
    assert server.notes(BOOK, TAB) == {theirs: "Call Mrs Ito before changing this", "B2": "VIP"}
    assert server.tab_rows(BOOK, "buyersync problems") == [list(TAB_COLUMNS)]
    assert server.spreadsheets[BOOK].sheets[0].rows == values_before

    # A last full sync: still nothing of buyersync's, the person's notes untouched.
    last = cli("sync", *_src(server, "notes"), *common)
    assert last.returncode == 0, last.stderr
    assert server.notes(BOOK, TAB) == {theirs: "Call Mrs Ito before changing this", "B2": "VIP"}


def test_tab_mode_lists_the_same_problems_and_empties(server: SheetsServer, db_url: str) -> None:
    rows = _incident(server, db_url)
    common = ["--db", db_url, "--json"]
    first = cli("sync", *_src(server, "tab"), *common)
    assert first.returncode == 1, first.stderr
    fed = doc_of(first)["sheet_feedback"]
    assert fed["tab_rows"] == LONG_BUYERS and fed["notes_written"] == 0 and fed["error"] is None
    tab = server.tab_rows(BOOK, "buyersync problems")
    assert tab is not None and len(tab) == LONG_BUYERS + 1
    long_numbers = {r[0] for r in rows if max(map(len, r)) > 50}
    assert {line[1] for line in tab[1:]} == long_numbers
    problems = doc_of(cli("problems", "--db", db_url, "--json"))
    assert problems["open"] == LONG_BUYERS
    # The row link opens the cell in the synced tab.
    cell, number = _long_cell(rows, 0)
    sheet = next(s for s in server.spreadsheets[BOOK].sheets if s.title == "buyersync problems")
    links = set(sheet.formulas.values())
    assert f'=HYPERLINK("#gid=0&range={cell}","row {number}")' in links
    assert server.notes(BOOK, TAB) == {}  # tab mode writes no note

    assert cli("schema", "fix", "--apply", *common).returncode == 0
    healed = cli("sync-missing", *_src(server, "tab"), *common)
    assert healed.returncode == 0, healed.stderr
    assert doc_of(healed)["sheet_feedback"]["tab_rows"] == 0
    assert server.tab_rows(BOOK, "buyersync problems") == [list(TAB_COLUMNS)]


def test_a_refused_write_back_never_fails_the_sync(server: SheetsServer, db_url: str) -> None:
    server.add_sheet(BOOK, TAB, [["buyer_number", "name"], ["B1", "a"], ["B1", "twice"]])
    server.refuse_writes = True  # the account is a Viewer of the sheet
    common = ["--db", db_url, "--json"]
    out = cli("sync", *_src(server, "notes"), *common)
    assert out.returncode == 1, out.stderr  # the duplicate row, not the write-back
    doc = doc_of(out)
    assert doc["failures_by_type"] == {"duplicate_key": 1}
    fed = doc["sheet_feedback"]
    assert "HTTP 403" in fed["error"] and "Editor" in fed["error"]
    shown = doc_of(cli("problems", "--db", db_url, "--json"))
    assert shown["sheet_feedback"]["error"] == fed["error"]
    read = ["--source", f"gsheets:{BOOK}", "--sheets-api-url", server.url, "--no-alerts"]
    health = cli("health", *read, "--db", db_url, "--json")
    assert doc_of(health)["sheet_feedback"]["error"] == fed["error"]
    said = cli("health", *read, "--db", db_url)
    assert "sheet feedback (notes) failed: Google refused to write" in said.stdout
    status = cli("feedback", "--db", db_url, "--json")
    assert status.returncode == 1 and doc_of(status)["last"]["error"] == fed["error"]

    server.refuse_writes = False
    ok = doc_of(cli("sync", *_src(server, "notes"), *common))["sheet_feedback"]
    assert ok["error"] is None and ok["notes_written"] == 1
    note = server.notes(BOOK, TAB)["A3"]
    assert note == (
        f"{PREFIX}this buyer number is already used on row 2 — give this row its own "
        "number (or merge it into row 2); until then only row 2 is saved"
    )

    # Turned off: a command removes every buyersync note.
    server.set_note(BOOK, TAB, "B2", "mine")
    cleared = cli(
        "feedback", "clear", "--source", f"gsheets:{BOOK}", "--sheets-api-url", server.url, *common
    )
    assert cleared.returncode == 0, cleared.stderr
    assert doc_of(cleared)["notes_removed"] == 1
    assert server.notes(BOOK, TAB) == {"B2": "mine"}


def test_a_file_source_gets_no_write_back_but_says_how(tmp_path: Path, sqlite_url: str) -> None:
    sheet = tmp_path / "s.csv"
    sheet.write_text("buyer_number,name\nB1,a\n", encoding="utf-8")
    out = cli(
        "sync", "--source", str(sheet), "--sheet-feedback", "notes", "--db", sqlite_url, "--json"
    )
    assert out.returncode == 0, out.stderr
    assert "--format xlsx" in doc_of(out)["sheet_feedback"]["skipped"]


def test_problems_workbook_for_a_file_source(tmp_path: Path, db_url: str) -> None:
    """XLSX and CSV sources: the open problems as a workbook a sheet editor can open."""
    from openpyxl import load_workbook

    from buyersync.demo import write_sheet

    rows = generate_buyers()
    sheet = tmp_path / "buyers.csv"
    write_sheet(sheet, rows)
    with open_database(db_url) as db:
        create_legacy_table(db)
        old_sync(db, rows)
    common = ["--db", db_url, "--json"]
    src = ["--source", str(sheet)]
    assert cli("sync", *src, *common).returncode == 1
    out = tmp_path / "problems.xlsx"
    made = cli("problems", "--format", "xlsx", "--output", str(out), *src, *common)
    assert made.returncode == 1, made.stderr  # problems are open
    assert doc_of(made) == {"output": str(out), "problems": LONG_BUYERS}
    book = load_workbook(out)
    lines = list(book["problems"].iter_rows(values_only=True))
    assert lines[0] == (
        "cell",
        "row",
        "buyer number",
        "column",
        "what is wrong",
        "what to do",
        "since",
    )
    assert len(lines) == LONG_BUYERS + 1
    cell, number = _long_cell(rows, 0)
    first = lines[1]
    assert (first[0], first[1]) == (cell, number)
    assert first[2] == rows[number - 2][0]
    assert first[3] == HEADER["ABCDEFG".index(cell[0])]
    assert "the database holds at most 50 characters" in first[4]
    # errors --format xlsx writes the same open problems, here of one column.
    by_errors = tmp_path / "address.xlsx"
    made = cli(
        "errors",
        "--format",
        "xlsx",
        "--type",
        "value_too_long",
        "--output",
        str(by_errors),
        *src,
        *common,
    )
    assert doc_of(made)["problems"] == LONG_BUYERS
    assert cli("schema", "fix", "--apply", *common).returncode == 0
    assert cli("sync-missing", *src, *common).returncode == 0
    empty = cli("problems", "--format", "xlsx", "--output", str(out), *src, *common)
    assert empty.returncode == 0 and doc_of(empty)["problems"] == 0
    assert len(list(load_workbook(out)["problems"].iter_rows())) == 1


def test_a_workbook_value_that_looks_like_a_formula_stays_text(
    tmp_path: Path, sqlite_url: str
) -> None:
    from openpyxl import load_workbook

    sheet = tmp_path / "s.csv"
    sheet.write_text("buyer_number,name\n=1+1,a\n=1+1,b\n", encoding="utf-8")
    common = ["--source", str(sheet), "--db", sqlite_url, "--json"]
    cli("sync", *common)
    out = tmp_path / "p.xlsx"
    assert cli("problems", "--format", "xlsx", "--output", str(out), *common).returncode == 1
    cell = load_workbook(out)["problems"]["C2"]
    assert (cell.value, cell.data_type) == ("=1+1", "s")


def test_the_problems_tab_is_never_the_synced_tab(server: SheetsServer, sqlite_url: str) -> None:
    server.add_sheet(BOOK, TAB, [["buyer_number", "name"], ["B1", "a"], ["", "no key"]])
    before = copy.deepcopy(server.spreadsheets[BOOK].sheets[0].rows)
    out = cli(
        "sync", *_src(server, "tab"), "--sheet-feedback-tab", TAB, "--db", sqlite_url, "--json"
    )
    assert out.returncode == 1, out.stderr  # the row without a key
    assert "is the synced tab itself" in doc_of(out)["sheet_feedback"]["error"]
    assert server.spreadsheets[BOOK].sheets[0].rows == before
    assert server.write_requests() == []


def test_notes_over_the_cap_go_on_the_tab(server: SheetsServer, sqlite_url: str) -> None:
    rows = [["buyer_number", "name"], ["B1", "a"], ["B1", "b"], ["", "c"], ["B1", "d"]]
    server.add_sheet(BOOK, TAB, rows)
    out = cli(
        "sync",
        *_src(server, "notes"),
        "--sheet-feedback-max-notes",
        "1",
        "--db",
        sqlite_url,
        "--json",
    )
    fed = doc_of(out)["sheet_feedback"]
    assert (fed["notes_written"], fed["capped"], fed["tab_rows"]) == (1, 2, 2)
    assert list(_ours(server)) == ["A3"]  # the first problem by sheet row
    tab = server.tab_rows(BOOK, "buyersync problems")
    assert tab is not None and [r[0] for r in tab[1:]] == ["row 4", "row 5"]
    assert "has no buyer number" in tab[1][3]
