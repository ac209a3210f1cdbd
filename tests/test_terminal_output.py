"""Data on the terminal is never markup and never terminal control (issue 17, case 5).

The real commands in a subprocess against SQLite and PostgreSQL: buyer numbers and
cells holding rich markup (``[/x]``, ``[link=…]``) and raw ESC/OSC sequences are
printed as text by ``sync``, ``errors``, ``retry --list`` and ``retry --all``; the
database keeps the real values and ``--json`` prints them unchanged.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from buyersync.cli.output import plain, term
from buyersync.errors import ErrorCategory
from buyersync.records import RowFailure
from buyersync.store import migrations, open_database, retryqueue
from tests.helpers import run_cli, write_csv

CLOSING_TAG = "[/x]"
LINK = "[link=http://evil.example/]click me[/link]"
OSC_LINK = "\x1b]8;;http://evil.example/\x1b\\osc\x1b]8;;\x1b\\"
COLOUR = "\x1b[31mRED\x1b[0m\x07"


def assert_no_control(text: str) -> None:
    assert "\x1b" not in text and "\x07" not in text and "\x9b" not in text, repr(text)


@pytest.fixture
def hostile(db_url: str, tmp_path: Path) -> tuple[str, Path]:
    """A sheet whose buyer numbers are markup and terminal control, each given twice
    (so the second row is a logged duplicate), and a due retry entry per number."""
    keys = [CLOSING_TAG, LINK, OSC_LINK, COLOUR]
    rows = [[k, f"name {i}", "note"] for i, k in enumerate(keys)]
    rows += [[k, "again", f"note {COLOUR}"] for k in keys]
    sheet = write_csv(tmp_path / "hostile.csv", ["buyer_number", "name", "note"], rows)
    with open_database(db_url) as db:
        migrations.migrate(db)
        now = datetime.now(UTC)
        failures = [
            RowFailure(ErrorCategory.TIMEOUT, f"slow {k}", 2 + i, k, retryable=True)
            for i, k in enumerate(keys)
        ]
        retryqueue.enqueue(db, failures, run_id=None, now=now, next_retry_at=now, max_attempts=5)
    return db_url, sheet


def test_hostile_values_are_printed_as_text(hostile: tuple[str, Path]) -> None:
    db_url, sheet = hostile
    listed = run_cli("retry", "--list", "--db", db_url)
    assert listed.returncode == 0, listed.stderr
    assert_no_control(listed.stdout + listed.stderr)
    assert CLOSING_TAG in listed.stdout and LINK in listed.stdout

    retried = run_cli("retry", "--all", "--db", db_url, "--source", str(sheet))
    assert retried.returncode in (0, 1), retried.stderr
    assert "internal error" not in retried.stderr
    assert_no_control(retried.stdout + retried.stderr)
    assert CLOSING_TAG in retried.stdout and LINK in retried.stdout

    synced = run_cli("sync", "--db", db_url, "--source", str(sheet))
    assert synced.returncode == 1, synced.stderr  # the duplicates failed
    assert_no_control(synced.stdout + synced.stderr)

    shown = run_cli("errors", "--db", db_url)
    assert shown.returncode == 0, shown.stderr
    assert_no_control(shown.stdout + shown.stderr)
    assert CLOSING_TAG in shown.stdout
    assert LINK in shown.stdout  # shown as typed, not turned into a hyperlink
    assert plain(OSC_LINK) in shown.stdout  # "\x1b]8;;..." spelled out


def test_json_and_database_keep_the_real_values(hostile: tuple[str, Path]) -> None:
    db_url, sheet = hostile
    run_cli("sync", "--db", db_url, "--source", str(sheet))
    shown = run_cli("errors", "--db", db_url, "--json")
    assert shown.returncode == 0, shown.stderr
    keys = {e["buyer_number"] for e in json.loads(shown.stdout)["errors"]}
    assert {CLOSING_TAG, LINK, OSC_LINK, COLOUR} <= keys
    with open_database(db_url) as db:
        stored = {r["buyer_number"] for r in db.query("SELECT buyer_number FROM buyers")}
    assert {CLOSING_TAG, LINK, OSC_LINK, COLOUR} <= stored


def test_the_helpers() -> None:
    assert plain("a\x1b[2Jb\r\nc\u202ed") == "a\\x1b[2Jb\\x0d\\x0ac\\u202ed"
    assert plain("two\nlines\tok", newlines=True) == "two\nlines\tok"
    assert term("[/x]") == "\\[/x]"
    assert term("[bold]\x1b") == "\\[bold]\\x1b"
