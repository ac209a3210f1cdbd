"""KeyMatch decides exactly what diff_keys decides, however the sheet is fed (property 2, 23).

``missing`` and ``verify`` match sheet buyers against the database's keys as the sheet
streams by (to hold less memory); the report must not change by a single key or row.
"""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from buyersync.rules.diff import KeyMatch, diff_keys

KEYS = st.text(alphabet="0123456789AB-\u00e9", min_size=0, max_size=5)


@st.composite
def case(draw: st.DrawFn) -> tuple[dict[str, int], list[str], int]:
    """A sheet (key → first row, never ``""``), database keys (may hold ``""``), a split."""
    sheet_keys = draw(st.lists(KEYS.filter(bool), unique=True, max_size=40))
    rows = draw(
        st.lists(
            st.integers(2, 10_000), unique=True, min_size=len(sheet_keys), max_size=len(sheet_keys)
        )
    )
    sheet = dict(zip(sheet_keys, rows, strict=True))
    shared = draw(st.lists(st.sampled_from(sheet_keys), max_size=40)) if sheet_keys else []
    db = shared + draw(st.lists(KEYS, max_size=20))
    split = draw(st.integers(0, len(sheet)))
    return sheet, db, split


@settings(max_examples=300)
@given(case(), st.booleans())
def test_keymatch_equals_diff_keys(c: tuple[dict[str, int], list[str], int], as_dict: bool) -> None:
    """Some buyers taken in bulk (those read before the database answered), the rest one by one."""
    sheet, db, split = c
    expected = diff_keys(sheet, iter(db))
    database: set[str] | dict[str, object] = (
        {k: b"fp" + k.encode() for k in db} if as_dict else set(db)
    )
    match = KeyMatch(database)
    items = list(sheet.items())
    match.take_all(items[:split])
    for key, row in items[split:]:
        value = match.take(key, row)
        present = key in db
        assert (value is None) == (not present)
        if present and as_dict:
            assert value == b"fp" + key.encode()
    assert match.finish(len(sheet)) == expected


def test_a_database_key_is_dropped_once_its_buyer_is_taken() -> None:
    """The point of KeyMatch: matched database keys are no longer held."""
    database = {"A1", "B2", "C3", ""}
    match = KeyMatch(database)
    assert match.database_count == 3
    assert match.take("A1", 2) is True
    assert match.take("Z9", 3) is None
    assert database == {"B2", "C3"}
    diff = match.finish(2)
    assert diff.missing == (("Z9", 3),) and diff.extra == ("B2", "C3")
    assert diff.sheet_count - diff.missing_count == diff.database_count - diff.extra_count


PRINTS = st.one_of(st.binary(min_size=16, max_size=16), st.just(b""))


@settings(max_examples=200)
@given(st.lists(st.lists(st.tuples(KEYS, PRINTS), max_size=8), max_size=6))
def test_compact_fingerprints_hand_back_what_the_database_sent(
    chunks: list[list[tuple[str, bytes]]],
) -> None:
    """verify --full holds fingerprints in one blob; each key gets back its (last) own."""
    from buyersync.services.integrity import _Fingerprints

    table = _Fingerprints()
    expected: dict[str, bytes] = {}
    for chunk in chunks:
        table.update(chunk)
        expected.update(chunk)
    assert {k: table.fingerprint(i) for k, i in table.index.items()} == expected
