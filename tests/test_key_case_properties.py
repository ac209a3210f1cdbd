"""For any sheets with case variants of buyer numbers, the sync, missing and verify agree.

Two syncs (the second sheet spells some buyers otherwise), then ``missing`` and
``verify --full`` of the second sheet: nothing missing, nothing mismatched, the
extra buyers exactly those of the first sheet the second no longer has, and no two
stored numbers that differ only in case. The key match alone is also checked against
a plain model.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buyersync.rules.diff import KeyMatch
from buyersync.rules.keys import fold_key
from buyersync.services.integrity import IntegrityChecker
from buyersync.services.missing import find_missing
from buyersync.services.sync import sync
from buyersync.sources.csv_source import CsvSource
from buyersync.store.db import Database
from tests.helpers import write_csv

KEYS = st.text(alphabet="aAbB1é", min_size=1, max_size=3)
GUARDS_OFF = {"max_shrink_ratio": 0.0, "min_key_share": 0.0, "min_header_share": 0.0}


def _variant(key: str, flips: int) -> str:
    """``key`` with the case of some ASCII letters flipped."""
    out = []
    for i, ch in enumerate(key):
        flip = ch.isascii() and ch.isalpha() and (flips >> i) & 1
        out.append(ch.swapcase() if flip else ch)
    return "".join(out)


@st.composite
def sheets(draw: st.DrawFn) -> tuple[list[list[str]], list[list[str]]]:
    keys = draw(st.lists(KEYS, min_size=1, max_size=12))
    first = [[k, f"n{i}"] for i, k in enumerate(keys)]
    second = []
    for i, key in enumerate(draw(st.lists(st.sampled_from(keys), min_size=1, max_size=12))):
        second.append(
            [_variant(key, draw(st.integers(0, 7))), draw(st.sampled_from(["x", f"m{i}"]))]
        )
    second += [[k, "new"] for k in draw(st.lists(KEYS, max_size=4))]
    return first, second


def _reset(db: Database) -> None:
    if db.table_exists("buyers"):
        db.execute("DELETE FROM buyers")


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sheets())
def test_sync_missing_and_verify_agree_on_case_variants(
    db: Database, tmp_path: Path, case: tuple[list[list[str]], list[list[str]]]
) -> None:
    first, second = case
    _reset(db)
    src = tmp_path / "b.csv"
    write_csv(src, ["buyer_number", "name"], first)
    sync(db, CsvSource(src), **GUARDS_OFF)
    write_csv(src, ["buyer_number", "name"], second)
    report = sync(db, CsvSource(src), **GUARDS_OFF)

    stored = [r["buyer_number"] for r in db.query("SELECT buyer_number FROM buyers")]
    assert len({fold_key(k) for k in stored}) == len(stored)  # never two spellings stored
    sheet_buyers = {fold_key(k) for k, _ in second}
    first_spelling = {fold_key(k): k for k, _ in reversed(first)}
    # the first sheet's spelling stays for every buyer it had
    assert {k for k in stored if fold_key(k) in first_spelling} == set(first_spelling.values())
    duplicates = len(second) - len(sheet_buyers)
    assert report.failed == duplicates
    assert report.inserted + report.updated == len(sheet_buyers)

    missing = find_missing(db, CsvSource(src))
    assert missing.diff.missing == ()
    extra = {fold_key(k) for k in missing.diff.extra}
    assert extra == {fold_key(k) for k in stored} - sheet_buyers
    assert len(missing.duplicates) == duplicates

    checked = IntegrityChecker(db, CsvSource(src), extra_is_finding=False).verify_full()
    assert checked.diff.missing == () and checked.mismatches == ()
    assert set(checked.diff.extra) == set(missing.diff.extra)
    assert checked.checked == len(sheet_buyers)


@settings(max_examples=300)
@given(st.lists(KEYS, max_size=15), st.lists(KEYS, max_size=15), st.booleans())
def test_keymatch_under_the_fold_matches_a_plain_model(
    sheet_keys: list[str], db_keys: list[str], as_dict: bool
) -> None:
    sheet: dict[str, int] = {}
    for row, key in enumerate(sheet_keys, start=2):
        if all(fold_key(key) != fold_key(k) for k in sheet):
            sheet[key] = row
    database: set[str] | dict[str, object] = (
        {k: k.encode() for k in db_keys} if as_dict else set(db_keys)
    )
    match = KeyMatch(database, fold_key)
    for key, row in sheet.items():
        value = match.take(key, row)
        held = [k for k in db_keys if fold_key(k) == fold_key(key)]
        assert (value is None) == (not held)
        if held:
            assert fold_key(match.stored_key(key)) == fold_key(key)
            assert match.stored_key(key) in held
    diff = match.finish(len(sheet))
    folded_sheet = {fold_key(k) for k in sheet}
    assert diff.missing == tuple(
        sorted(
            ((k, r) for k, r in sheet.items() if all(fold_key(d) != fold_key(k) for d in db_keys)),
            key=lambda item: (item[1], item[0]),
        )
    )
    # every stored number but one per matched buyer is extra, as the database spells it
    matched = {fold_key(k) for k in db_keys} & folded_sheet
    assert len(diff.extra) == len(set(db_keys)) - len(matched)
    assert set(diff.extra) <= set(db_keys)
