"""The words a sheet editor reads: one example per problem category, the same in the
code and in docs/sheet-feedback.md."""

from __future__ import annotations

from pathlib import Path

import pytest

from buyersync.errors import ErrorCategory
from buyersync.rules.feedback_text import MAX_NOTE_CHARS, PREFIX, advice, is_ours

DOC = Path(__file__).resolve().parents[1] / "docs" / "sheet-feedback.md"
TOO_LONG = "row 4100 (buyer B14099) does not fit the buyers table: address is 57 characters (limit 50); convert the columns to TEXT with: buyersync schema fix --apply"
EXAMPLES = [
    (
        "value_too_long",
        dict(
            column="address",
            message=TOO_LONG,
            example="row 4100, address: 57 characters (limit 50)",
        ),
    ),
    (
        "value_too_long",
        dict(
            column="address",
            message=TOO_LONG,
            example="row 4100, address: 57 characters (limit 50)",
            column_limited=False,
        ),
    ),
    (
        "duplicate_key",
        dict(
            column=None,
            kind="row",
            message="row 1207 repeats buyer number 'B10042' already on row 1002; row 1002 "
            "wins — merge the two rows or give row 1207 its own number",
        ),
    ),
    (
        "validation",
        dict(
            column="buyer_number",
            kind="row",
            message="row 88 has no buyer number (cell A88 is empty); fill it in, or delete "
            "the row if it is not a buyer",
        ),
    ),
    (
        "data_format",
        dict(
            column="C",
            message="row 12 (buyer B10011): cell C12 holds the error value #REF!; correct the "
            "cell in the sheet",
        ),
    ),
    (
        "constraint",
        dict(
            column=None,
            message='row 40 (buyer B10039): new row for relation "buyers" violates check '
            'constraint "buyers_email_check"',
        ),
    ),
    ("schema_mismatch", dict(column="discount", message="column discount does not exist")),
    ("timeout", dict(column=None, message="canceling statement due to lock timeout")),
]


@pytest.mark.parametrize("category,kw", EXAMPLES, ids=[c for c, _ in EXAMPLES])
def test_each_category_has_a_note_in_the_docs(category: str, kw: dict) -> None:
    note = advice(category, **kw).note()
    assert note.startswith(PREFIX) and is_ours(note) and len(note) <= MAX_NOTE_CHARS
    assert "buyersync schema" not in note and "buyersync sync" not in note  # no command lines
    assert note in DOC.read_text(encoding="utf-8"), f"docs/sheet-feedback.md lacks: {note}"


def test_the_incident_note_says_nothing_to_do_once_the_schema_is_fixed() -> None:
    kw = dict(EXAMPLES[1][1])
    assert advice("value_too_long", **kw).note() == (
        "buyersync: this address is 57 characters; the database accepts it after the next "
        "sync — nothing to do"
    )


def test_every_category_gets_words_and_a_persons_note_is_not_ours() -> None:
    for category in ErrorCategory:
        note = advice(category, column="name", message="row 3 (buyer B1): x").note()
        assert note.startswith(PREFIX)
    assert not is_ours("Call Mrs Ito") and not is_ours("") and not is_ours(None)
    assert not is_ours(" buyersync: a copy moved by a person")


def test_a_run_problem_is_not_the_editors_to_fix() -> None:
    note = advice("database_connection", column=None, message="connection lost", kind="run")
    assert (
        note.wrong.startswith("the last sync stopped") and "nothing to do in the sheet" in note.todo
    )
