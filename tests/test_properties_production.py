"""Correctness properties driven through the paths production takes, on SQLite and PostgreSQL.

Every test here runs what a command runs (``SyncEngine``, ``find_missing`` and
``sync_missing``, ``SyncMonitor.check_health``, ``IntegrityChecker``, ``RetryManager``,
the API's dashboard document) against a real database, and checks the outcome against
expectations the generators know by construction: a buyer number is drawn as its
canonical text and then *spelled* the ways a sheet spells it (padding, full-width
characters), so the expected key never comes from the code under test.

Failures are made to happen inside the database: a trigger on ``buyers`` rejects chosen
buyers with a chosen kind of error (a SQLSTATE on PostgreSQL; on SQLite an integer
overflow, which the driver reports as an operational error, or a ``RAISE`` whose text
is that of a real constraint message), so the sync's own error handling decides what
is logged and queued.
"""

from __future__ import annotations

import csv
import html as html_lib
import json
import math
import re
from collections.abc import Sequence
from datetime import datetime, timedelta
from html.parser import HTMLParser
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from buyersync.api import data as api_data
from buyersync.reports import generate_report
from buyersync.rules.alerts import Condition, Thresholds
from buyersync.rules.backoff import BackoffPolicy
from buyersync.rules.categories import category_for_sqlstate
from buyersync.services.integrity import IntegrityChecker
from buyersync.services.missing import find_missing, sync_missing
from buyersync.services.monitor import SyncMonitor
from buyersync.services.retry import RetryManager
from buyersync.services.sync import SyncEngine
from buyersync.settings import Settings
from buyersync.sources.csv_source import CsvSource
from buyersync.store import buyers, retryqueue
from buyersync.store.db import Database, utcnow
from buyersync.store.migrations import ensure_schema

DB_EXAMPLES = settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)

#: The retryable categories as the user-facing contract lists them ("Error categories").
RETRYABLE = {"database_connection", "timeout", "rate_limit", "source_unavailable", "unknown"}

# -- buyer numbers and how a sheet spells them ------------------------------------------

#: Canonical buyer numbers: letters and digits. Upper case only: numbers that differ
#: only in case are one buyer (key_case), which tests/test_key_case_properties.py covers.
BASES = st.from_regex(r"[A-Z][A-Z0-9]{0,3}", fullmatch=True)
#: What may surround a number in a cell: nothing, spaces, a tab, an ideographic space
#: (U+3000), a no-break space (NFKC turns it into a space).
PADS = st.sampled_from(["", " ", "  ", "\t", "\u3000", "\u00a0", " \u3000"])


def full_width(ch: str) -> str:
    """The full-width form of a printable ASCII character (``A`` → ``Ａ``)."""
    return chr(ord(ch) + 0xFEE0) if "!" <= ch <= "~" else ch


@st.composite
def spelled(draw: st.DrawFn, base: str) -> str:
    """One way a person types ``base`` into a cell (NFKC and trimming give ``base`` back)."""
    wide = draw(st.lists(st.booleans(), min_size=len(base), max_size=len(base)))
    body = "".join(full_width(c) if w else c for c, w in zip(base, wide, strict=True))
    return draw(PADS) + body + draw(PADS)


#: Cell values: printable text of any script, spaces inside; no control characters.
VALUES = st.text(
    st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"]), min_size=0, max_size=8
)
NONEMPTY = st.text(
    st.characters(blacklist_categories=["Cc", "Cs", "Zl", "Zp"]), min_size=1, max_size=8
)

HEADER = ["buyer_number", "name", "city"]


def write_sheet(path: Path, rows: Sequence[Sequence[str]], header: Sequence[str] = HEADER) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def blank(*cells: str) -> bool:
    return not "".join(cells).strip()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime) -> None:
        self.now = start

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


# -- failures injected inside the database ------------------------------------------------

#: Error kinds a trigger can raise for a buyer, and the category each must be logged as.
PG_CODES = {
    "unknown": "P0001",  # a trigger's RAISE: no known SQLSTATE
    "constraint": "23514",  # check_violation
    "validation": "23502",  # not_null_violation
    "data_format": "22P02",  # invalid_text_representation
    "value_too_long": "22001",  # string_data_right_truncation
}
SQLITE_KINDS = {
    # OperationalError at run time, not an integrity error: sqlite3 says "integer overflow"
    "unknown": "SELECT abs(-9223372036854775807 - 1);",
    "constraint": "SELECT RAISE(ABORT, 'CHECK constraint failed: buyer_ok');",
    "validation": "SELECT RAISE(ABORT, 'NOT NULL constraint failed: buyers.name');",
}

_PG_INJECT = """
CREATE TABLE inject_failures (buyer_number text PRIMARY KEY, kind text NOT NULL);
CREATE FUNCTION inject_failure() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE code text;
BEGIN
    SELECT kind INTO code FROM inject_failures WHERE buyer_number = NEW.buyer_number;
    IF code IS NOT NULL THEN
        RAISE EXCEPTION 'injected failure for buyer %%', NEW.buyer_number USING ERRCODE = code;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER inject_failure BEFORE INSERT OR UPDATE ON buyers
    FOR EACH ROW EXECUTE FUNCTION inject_failure();
"""


def kinds_for(db: Database) -> list[str]:
    return sorted(PG_CODES if db.dialect == "postgresql" else SQLITE_KINDS)


def install_injection(db: Database, columns: Sequence[str] = ("name", "city")) -> None:
    """Create buyers (TEXT columns) and the trigger that fails chosen buyers."""
    ensure_schema(db)
    buyers.ensure_table(db, list(columns))
    if db.dialect == "postgresql":
        db.execute(_PG_INJECT)
        return
    db.execute("CREATE TABLE inject_failures (buyer_number TEXT PRIMARY KEY, kind TEXT NOT NULL)")
    for kind, body in SQLITE_KINDS.items():
        for event in ("INSERT", "UPDATE"):
            db.execute(
                f"CREATE TRIGGER inject_{kind}_{event.lower()} BEFORE {event} ON buyers "
                "WHEN (SELECT kind FROM inject_failures WHERE buyer_number = NEW.buyer_number) "
                f"= '{kind}' BEGIN {body} END"
            )


def inject(db: Database, key: str, kind: str | None) -> None:
    """Make ``key`` fail with ``kind`` from now on (``None``: the cause is fixed)."""
    db.execute("DELETE FROM inject_failures WHERE buyer_number = %s", (key,))
    if kind is not None:
        code = PG_CODES[kind] if db.dialect == "postgresql" else kind
        db.execute("INSERT INTO inject_failures VALUES (%s, %s)", (key, code))


_STATE_TABLES = (
    "retry_attempts",
    "retry_queue",
    "sync_error_log",
    "sync_outcomes",
    "sync_health_metrics",
    "alert_state",
    "sync_runs",
)


def reset(db: Database, *, with_injection: bool = False) -> None:
    """Empty every table between hypothesis examples (the schema and triggers stay)."""
    ensure_schema(db)
    for table in _STATE_TABLES:
        db.execute(f"DELETE FROM {table}")
    if db.table_exists("buyers"):
        db.execute("DELETE FROM buyers")
    if with_injection:
        db.execute("DELETE FROM inject_failures")


def queue(db: Database) -> dict[str, dict]:
    return {
        r["buyer_number"]: r
        for r in db.query("SELECT buyer_number, status, attempt_count, error_type FROM retry_queue")
    }


def log_entries(db: Database, run_id: str) -> list[dict]:
    return db.query("SELECT * FROM sync_error_log WHERE run_id = %s", (run_id,))


def flag(value: object) -> bool:
    return bool(int(value)) if not isinstance(value, bool) else value  # SQLite stores 0/1


@pytest.fixture
def injectable(db: Database) -> Database:
    install_injection(db)
    return db


# -- properties 5, 6, 17-20: sequences of syncs that insert, update and fail ---------------


@st.composite
def sheet_sequences(draw: st.DrawFn) -> list[list[tuple[str | None, list[str]]]]:
    """Sheets over a small pool of buyers, so later sheets update earlier buyers.

    Each row is ``(canonical key or None, cells)``; None marks a row that is not a
    buyer of its own (no number, or blank).
    """
    pool = draw(st.lists(BASES, min_size=1, max_size=5, unique=True))
    sheets = []
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        rows: list[tuple[str | None, list[str]]] = []
        for _ in range(draw(st.integers(min_value=0, max_value=8))):
            kind = draw(st.sampled_from(["buyer"] * 6 + ["nokey", "blank"]))
            if kind == "buyer":
                base = draw(st.sampled_from(pool))
                rows.append((base, [draw(spelled(base)), draw(VALUES), draw(VALUES)]))
            elif kind == "nokey":
                rows.append((None, [draw(PADS), "n" + draw(VALUES), draw(VALUES)]))
            else:
                rows.append((None, [draw(PADS), draw(st.sampled_from(["", " "])), ""]))
        sheets.append(rows)
    return sheets


@DB_EXAMPLES
@given(sheet_sequences(), st.integers(min_value=1, max_value=4))
def test_syncs_keep_one_row_per_normalized_number(
    db: Database, tmp_path: Path, sequence: list, batch_size: int
) -> None:
    """Properties 17-20 (and 5, 6): whatever the spelling, one row per buyer, updated in place."""
    reset(db)
    expected: dict[str, tuple[str, str]] = {}
    created: dict[str, object] = {}
    stamped: dict[str, str] = {}
    for rows in sequence:
        firsts: dict[str, tuple[str, str]] = {}
        failing: dict[int, str] = {}  # sheet row → expected error type
        for n, (key, (_, name, city)) in enumerate(rows, start=2):
            if key is None:
                if not blank(*rows[n - 2][1]):
                    failing[n] = "validation"
            elif key in firsts:
                failing[n] = "duplicate_key"
            else:
                firsts[key] = (name, city)
        if not firsts and not failing and expected:
            continue  # an empty sheet is refused (tested elsewhere); nothing to learn here
        path = write_sheet(tmp_path / "s.csv", [cells for _, cells in rows])
        report = SyncEngine(
            db,
            CsvSource(path),
            batch_size=batch_size,
            max_shrink_ratio=0,
            min_key_share=0,  # a sequence may replace every buyer: not the guard's test
        ).run()
        assert report.inserted == len(set(firsts) - set(expected))
        assert report.updated == len(set(firsts) & set(expected))
        expected.update(firsts)
        table = {
            r["buyer_number"]: r
            for r in db.query(
                "SELECT buyer_number, name, city, created_at, synced_at, db_updated_at FROM buyers"
            )
        }
        assert set(table) == set(expected)  # 17: one row per normalized buyer number
        for key, (name, city) in expected.items():
            row = table[key]
            assert (row["name"] or "", row["city"] or "") == (name, city)  # 18
            if key in created:
                assert row["created_at"] == created[key]  # 19
            created.setdefault(key, row["created_at"])
            if key in firsts:  # 20: advanced by this sync
                stamp = str(row["synced_at"])
                assert stamp > stamped.get(key, "")
                assert str(row["db_updated_at"]) == stamp
                stamped[key] = stamp
        logged = log_entries(db, report.run_id)
        assert sorted((e["row_number"], e["error_type"]) for e in logged) == sorted(
            failing.items()
        )  # 5: exactly one entry per failed row
        for e in logged:  # 6: every required field
            assert e["error_message"] and e["operation"] == "sync" and e["created_at"]
            assert flag(e["retryable"]) is False
            assert isinstance(
                e["details"] if isinstance(e["details"], dict) else json.loads(e["details"]), dict
            )
            if e["error_type"] == "duplicate_key":
                assert e["buyer_number"] == rows[e["row_number"] - 2][0]


# -- property 21: batch sizes, through the engine's progress --------------------------------


@DB_EXAMPLES
@given(
    n=st.integers(min_value=0, max_value=40),
    batch_size=st.integers(min_value=1, max_value=9),
    slice_rows=st.integers(min_value=1, max_value=30),
    bad=st.sets(st.integers(min_value=0, max_value=39), max_size=3),
)
def test_every_batch_has_batch_size_rows_except_the_last(
    injectable: Database, tmp_path: Path, n: int, batch_size: int, slice_rows: int, bad: set[int]
) -> None:
    """Property 21, also while failing rows are isolated and slices are small."""
    db = injectable
    reset(db, with_injection=True)
    rows = [[f"K{i}", f"name {i}", ""] for i in range(n)]
    for i in bad & set(range(n)):
        inject(db, f"K{i}", "constraint")
    path = write_sheet(tmp_path / "s.csv", rows)
    done: list[int] = []
    report = SyncEngine(
        db,
        CsvSource(path),
        batch_size=batch_size,
        slice_rows=slice_rows,
        progress=lambda d, total: done.append(d),
        max_shrink_ratio=0,
    ).run()
    assert done[:1] == [0]  # the call before anything is merged
    done = done[1:]
    sizes = [b - a for a, b in zip([0, *done], done, strict=False)]
    assert report.batches == len(sizes) == math.ceil(n / batch_size)
    assert all(s == batch_size for s in sizes[:-1])
    assert not sizes or 1 <= sizes[-1] <= batch_size
    assert sum(sizes) == n
    assert report.failed == len(bad & set(range(n)))


# -- property 22: duration and throughput of syncs that insert, update and fail --------------


@DB_EXAMPLES
@given(
    first=st.integers(min_value=1, max_value=30),
    second=st.integers(min_value=1, max_value=30),
    failing=st.integers(min_value=0, max_value=3),
)
def test_every_sync_records_duration_and_rows_per_second(
    injectable: Database, tmp_path: Path, first: int, second: int, failing: int
) -> None:
    """Property 22: rows read ÷ duration, whether the rows were inserted, updated or failed."""
    db = injectable
    reset(db, with_injection=True)
    path = tmp_path / "s.csv"
    write_sheet(path, [[f"B{i}", "a", ""] for i in range(first)])
    SyncEngine(db, CsvSource(path), max_shrink_ratio=0).run()
    for i in range(failing):
        inject(db, f"B{i}", "constraint")
    write_sheet(path, [[f"B{i}", "b", ""] for i in range(second)])
    report = SyncEngine(db, CsvSource(path), max_shrink_ratio=0).run()
    runs = db.query(
        "SELECT run_id, rows_read, inserted, updated, failed, duration_s, rows_per_s FROM sync_runs"
    )
    assert len(runs) == 2
    for run in runs:
        assert run["duration_s"] > 0
        assert run["rows_per_s"] == pytest.approx(run["rows_read"] / run["duration_s"], rel=1e-6)
    last = next(r for r in runs if r["run_id"] == report.run_id)
    assert last["rows_read"] == second
    rejected = set(range(min(failing, second)))
    assert last["failed"] == len(rejected)
    assert last["updated"] == len(set(range(min(first, second))) - rejected)
    assert last["inserted"] == len(set(range(first, second)) - rejected)


# -- properties 2, 3, 4, 23: missing buyers, however the numbers are spelled ----------------


@st.composite
def sheet_and_database(draw: st.DrawFn) -> tuple[list[tuple[str | None, list[str]]], set, set]:
    """A sheet, the buyers synced earlier (a subset, spelled differently), and buyers
    only in the database."""
    keys = draw(st.lists(BASES, min_size=1, max_size=10, unique=True))
    rows: list[tuple[str | None, list[str]]] = []
    for key in keys:
        rows.append((key, [draw(spelled(key)), draw(NONEMPTY), draw(VALUES)]))
        if draw(st.integers(0, 4)) == 0:  # a later row repeating the number
            rows.append((None, [draw(spelled(key)), "dup", ""]))
    if draw(st.booleans()):
        rows.insert(draw(st.integers(0, len(rows))), (None, [draw(PADS), "no number", ""]))
    synced = draw(st.sets(st.sampled_from(keys)))
    extra = draw(st.sets(BASES.filter(lambda k: k not in keys), max_size=3))
    return rows, synced, extra


def _seed_database(db: Database, tmp_path: Path, synced: set, extra: set, draw_spelling) -> None:
    """Sync the buyers of ``synced | extra`` from an earlier sheet with other spellings."""
    earlier = [[draw_spelling(k), "earlier", ""] for k in sorted(synced | extra)]
    if earlier:
        path = write_sheet(tmp_path / "earlier.csv", earlier)
        SyncEngine(db, CsvSource(path), max_shrink_ratio=0).run()


@DB_EXAMPLES
@given(sheet_and_database(), st.data())
def test_missing_is_sheet_keys_minus_database_keys_everywhere(
    db: Database, tmp_path: Path, case: tuple, data: st.DataObject
) -> None:
    """Properties 2 and 23: ``missing``, ``health`` and ``verify`` agree with the set difference,
    and property 3 and 4: after ``sync-missing`` nothing is missing and each buyer has its outcome."""
    rows, synced, extra = case
    reset(db)
    _seed_database(db, tmp_path, synced, extra, lambda k: data.draw(spelled(k)))
    sheet_keys = {k for k, _ in rows if k is not None}
    first_row = {}
    for n, (k, _) in enumerate(rows, start=2):
        if k is not None:
            first_row.setdefault(k, n)
    want_missing = {(k, first_row[k]) for k in sheet_keys - synced}
    path = write_sheet(tmp_path / "sheet.csv", [cells for _, cells in rows])

    found = find_missing(db, CsvSource(path))  # `buyersync missing`
    assert set(found.diff.missing) == want_missing
    assert set(found.diff.extra) == extra
    assert found.diff.sheet_count == len(sheet_keys)

    health = SyncMonitor(db, source=CsvSource(path), channels=[]).check_health(send=False)
    assert set(health.facts.missing) == want_missing  # `buyersync health`
    assert set(health.facts.extra) == extra
    stored = db.query_one("SELECT spreadsheet_count, missing_count FROM sync_health_metrics")
    assert stored == {"spreadsheet_count": len(sheet_keys), "missing_count": len(want_missing)}

    checked = IntegrityChecker(db, CsvSource(path)).verify_completeness()  # `verify`
    assert set(checked.missing) == want_missing
    assert set(checked.extra) == extra

    result = sync_missing(db, CsvSource(path))  # `buyersync sync-missing`
    assert {(o.buyer_number, str(o.outcome)) for o in result.outcomes} == {
        (k, "synced") for k, _ in want_missing
    }
    if want_missing:
        recorded = db.query(
            "SELECT buyer_number, outcome FROM sync_outcomes WHERE run_id = %s",
            (result.run.run_id,),  # type: ignore[union-attr]
        )
        assert {(r["buyer_number"], r["outcome"]) for r in recorded} == {
            (k, "synced") for k, _ in want_missing
        }  # 4
    after = find_missing(db, CsvSource(path))
    assert after.diff.missing == ()  # 3
    in_db = {r["buyer_number"] for r in db.query("SELECT buyer_number FROM buyers")}
    assert in_db == sheet_keys | extra
    # the buyers synced earlier were not touched by sync-missing
    untouched = db.query("SELECT buyer_number, name FROM buyers WHERE name = 'earlier'")
    assert {r["buyer_number"] for r in untouched} == synced | extra


# -- properties 24, 25, 26: field comparison, sample and full, and the reports -------------

COLUMNS = ("name", "city")


@st.composite
def altered_sheets(draw: st.DrawFn, every_present_altered: bool) -> tuple:
    """The database's sheet, the sheet as it is now, and the altered fields."""
    keys = draw(st.lists(BASES, min_size=1, max_size=12, unique=True))
    before = {k: (draw(NONEMPTY), draw(VALUES)) for k in keys}
    gone = draw(st.sets(st.sampled_from(keys), max_size=2))  # only in the database now
    now_rows, altered = [], {}
    for k in keys:
        if k in gone:
            continue
        cells = list(before[k])
        changed = draw(st.sets(st.sampled_from(COLUMNS), min_size=int(every_present_altered)))
        for column in changed:
            i = COLUMNS.index(column)
            cells[i] = draw(VALUES.filter(lambda v, old=cells[i]: (v or None) != (old or None)))
            altered[(k, column)] = (cells[i] or None, before[k][i] or None)
        now_rows.append([draw(spelled(k)), *cells])
    new = draw(st.lists(BASES.filter(lambda k: k not in keys), max_size=2, unique=True))
    now_rows += [[k, "new", ""] for k in new]
    order = draw(st.permutations(range(len(now_rows))))
    now_rows = [now_rows[i] for i in order]
    return before, now_rows, altered, gone, set(new)


def _sync_before(db: Database, tmp_path: Path, before: dict) -> None:
    path = write_sheet(tmp_path / "before.csv", [[k, *v] for k, v in before.items()])
    SyncEngine(db, CsvSource(path), max_shrink_ratio=0).run()


@DB_EXAMPLES
@given(altered_sheets(every_present_altered=False), st.integers(min_value=1, max_value=4))
def test_full_verify_finds_every_mismatch_in_every_chunk(
    db: Database, tmp_path: Path, case: tuple, chunk: int
) -> None:
    """Properties 24 and 25 for ``verify --full``: the differing rows are fetched ``chunk``
    at a time, and every altered field — and only those — is reported with both values."""
    before, now_rows, altered, gone, new = case
    reset(db)
    _sync_before(db, tmp_path, before)
    canonical = _canonical_rows(before, new, now_rows)
    path = write_sheet(tmp_path / "now.csv", now_rows)
    report = IntegrityChecker(db, CsvSource(path), fetch_chunk=chunk).verify_full()
    got = {(m.buyer_number, m.column): (m.sheet_value, m.db_value) for m in report.mismatches}
    assert got == altered
    for m in report.mismatches:
        assert m.row_number == canonical[m.buyer_number]
    assert set(report.extra) == gone
    assert {k for k, _ in report.missing} == new
    assert report.checked == len(before) - len(gone)


def _canonical_rows(before: dict, new: set, now_rows: list) -> dict[str, int]:
    """Sheet row of each buyer, matching spelled cells back to the keys that made them."""
    import unicodedata

    known = set(before) | new
    rows = {}
    for n, cells in enumerate(now_rows, start=2):
        # The generator spelled each key from its canonical text; undo the spelling
        # the way the requirements define it (NFKC, then trim) and check it is known.
        key = unicodedata.normalize("NFKC", cells[0]).strip()
        assert key in known
        rows[key] = n
    return rows


@DB_EXAMPLES
@given(
    altered_sheets(every_present_altered=True),
    st.integers(min_value=1, max_value=12),
    st.integers(0, 2**16),
)
def test_sample_verify_finds_every_mismatched_field_of_its_sample(
    db: Database, tmp_path: Path, case: tuple, size: int, seed: int
) -> None:
    """Property 24 for ``verify --sample N`` with N smaller (or larger) than the sheet: every
    present buyer differs, so the sample's buyers are exactly the mismatched ones, and
    each of them has all its altered fields reported."""
    before, now_rows, altered, gone, new = case
    reset(db)
    _sync_before(db, tmp_path, before)
    canonical = _canonical_rows(before, new, now_rows)
    path = write_sheet(tmp_path / "now.csv", now_rows)
    report = IntegrityChecker(db, CsvSource(path)).verify_sample_data(size, seed=seed)
    present = len(before) - len(gone)
    assert report.checked == min(size, present)
    sampled = {m.buyer_number for m in report.mismatches}
    assert len(sampled) == report.checked
    got = {(m.buyer_number, m.column): (m.sheet_value, m.db_value) for m in report.mismatches}
    assert got == {kc: v for kc, v in altered.items() if kc[0] in sampled}
    for m in report.mismatches:
        assert m.row_number == canonical[m.buyer_number]
    again = IntegrityChecker(db, CsvSource(path)).verify_sample_data(size, seed=seed)
    assert again.mismatches == report.mismatches  # the reported seed reproduces the sample


class _Cells(HTMLParser):
    """The text of every table row of an HTML document, cell by cell."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[list[str]] = []
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list) -> None:
        if tag == "tr":
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.rows[-1].append("".join(self._cell))
            self._cell = None

    def handle_data(self, text: str) -> None:
        if self._cell is not None:
            self._cell.append(text)


def _md_unescape(text: str) -> str:
    """A Markdown cell's text: backslash escapes and HTML entities undone."""
    return html_lib.unescape(re.sub(r"\\(.)", r"\1", text))


def _shown(value: str | None, empty: str = "(empty)") -> str:
    return empty if value is None else value.strip()


@DB_EXAMPLES
@given(altered_sheets(every_present_altered=False))
def test_every_report_format_holds_every_finding_in_its_place(
    db: Database, tmp_path: Path, case: tuple
) -> None:
    """Properties 25 and 26: each mismatch's buyer, row, column, sheet value and database value,
    each in its own column of the Markdown and HTML tables; every missing and extra buyer."""
    before, now_rows, altered, gone, new = case
    assume(
        all(v is None or (v.strip() and "|" not in v) for pair in altered.values() for v in pair)
    )
    reset(db)
    _sync_before(db, tmp_path, before)
    path = write_sheet(tmp_path / "now.csv", now_rows)
    report = IntegrityChecker(db, CsvSource(path)).verify_full()
    doc = json.loads(generate_report(report, "json"))
    assert {
        (m["buyer_number"], m["column"]): (m["sheet_value"], m["db_value"])
        for m in doc["mismatches"]
    } == altered
    assert set(doc["extra"]) == gone and {m["buyer_number"] for m in doc["missing"]} == new

    md = generate_report(report, "markdown")
    md_rows = [
        [_md_unescape(c.strip()) for c in line.strip().strip("|").split(" | ")]
        for line in md.splitlines()
        if line.startswith("| ") and line.count(" | ") == 4
    ]
    html = _Cells()
    html.feed(generate_report(report, "html"))
    for m in report.mismatches:
        sheet, stored = altered[(m.buyer_number, m.column)]
        want = [str(m.row_number), m.buyer_number, m.column]
        md_row = next(r for r in md_rows if r[:3] == want)
        assert md_row[3:] == [_shown(sheet, "*(empty)*"), _shown(stored, "*(empty)*")]
        html_row = next(r for r in html.rows if [c.strip() for c in r[:3]] == want)
        assert [c.strip() for c in html_row[3:5]] == [_shown(sheet), _shown(stored)]
    text = generate_report(report, "text")
    for key in gone | new:
        assert key in text and key in md


# -- properties 9, 12 (and 5-7): what a sync queues, by category ------------------------------


@DB_EXAMPLES
@given(st.data())
def test_a_sync_queues_every_retryable_failure_and_no_other(
    injectable: Database, tmp_path: Path, data: st.DataObject
) -> None:
    """Properties 9 and 12 (and 5-7) on what a real sync does with rows the database
    rejects in each category: logged once each, retryable ones queued, no other."""
    db = injectable
    reset(db, with_injection=True)
    kinds = kinds_for(db)
    keys = data.draw(st.lists(BASES, min_size=1, max_size=10, unique=True))
    plan = {k: data.draw(st.sampled_from([None, None, *kinds])) for k in keys}
    rows = [[data.draw(spelled(k)), "x", ""] for k in keys]
    dup = data.draw(st.sampled_from(keys))
    rows.append([dup, "again", ""])  # a duplicate row: logged, not queued
    rows.append(["", "no number", ""])  # no buyer number: logged, not queued
    for k, kind in plan.items():
        inject(db, k, kind)
    path = write_sheet(tmp_path / "s.csv", rows)
    report = SyncEngine(
        db, CsvSource(path), batch_size=data.draw(st.integers(1, 4)), max_shrink_ratio=0
    ).run()
    want_logged = {(k, kind) for k, kind in plan.items() if kind} | {
        (dup, "duplicate_key"),
        (None, "validation"),
    }
    logged = log_entries(db, report.run_id)
    assert sorted((e["buyer_number"] or "", e["error_type"]) for e in logged) == sorted(
        (k or "", kind) for k, kind in want_logged
    )  # 5 and 7: one entry per failure, in the category the error belongs to
    for e in logged:
        assert flag(e["retryable"]) is (e["error_type"] in RETRYABLE)  # 6
    queued = queue(db)
    assert set(queued) == {k for k, kind in plan.items() if kind in RETRYABLE}  # 9 and 12
    for k, entry in queued.items():
        assert (entry["status"], entry["error_type"]) == ("pending", plan[k])
    assert report.queued_for_retry == len(queued)
    assert {r["buyer_number"] for r in db.query("SELECT buyer_number FROM buyers")} == {
        k for k, kind in plan.items() if kind is None
    }

    # Fixed in the database, the next sync writes them and resolves their entries (11);
    # a buyer that fails again for a reason retrying cannot fix is not queued (12).
    again = {k: None if kind in RETRYABLE else kind for k, kind in plan.items()}
    for k, kind in again.items():
        inject(db, k, kind)
    SyncEngine(db, CsvSource(path), max_shrink_ratio=0).run()
    assert queue(db) == {}


@pytest.mark.postgres
def test_a_row_level_timeout_is_queued_on_postgresql(pg_url: str, tmp_path: Path) -> None:
    """Property 9 for the timeout category: a deadlock victim row is isolated and queued."""
    from buyersync.store import open_database

    db = open_database(pg_url)
    try:
        install_injection(db)
        db.execute("INSERT INTO inject_failures VALUES ('B2', '40P01')")
        path = write_sheet(
            tmp_path / "s.csv", [["B1", "a", ""], ["Ｂ２ ", "b", ""], ["B3", "c", ""]]
        )
        report = SyncEngine(db, CsvSource(path), batch_size=2).run()
        assert [
            (e["buyer_number"], e["error_type"], flag(e["retryable"]))
            for e in log_entries(db, report.run_id)
        ] == [("B2", "timeout", True)]
        assert {k: v["status"] for k, v in queue(db).items()} == {"B2": "pending"}
    finally:
        db.close()


# -- properties 10 and 11: the real retry processing, with a clock the test moves -------------


@DB_EXAMPLES
@given(
    max_attempts=st.integers(min_value=1, max_value=4),
    fixed_after=st.lists(st.one_of(st.none(), st.integers(0, 5)), min_size=1, max_size=4),
    by_all=st.booleans(),
)
def test_no_buyer_is_retried_more_than_the_maximum(
    injectable: Database,
    tmp_path: Path,
    max_attempts: int,
    fixed_after: list[int | None],
    by_all: bool,
) -> None:
    """Property 10: a failure that keeps recurring is attempted exactly ``max_attempts`` times,
    then parked; property 11: one whose cause goes away in time succeeds and leaves the queue.

    ``fixed_after[i]`` is how many retries of buyer i fail before its cause is removed
    (None: never). The retries are run by ``RetryManager.process_queue`` — due by the
    clock, or all at once as ``retry --all`` does.
    """
    db = injectable
    reset(db, with_injection=True)
    keys = [f"R{i}" for i in range(len(fixed_after))]
    path = write_sheet(tmp_path / "s.csv", [[f" {k}", "x", ""] for k in keys])
    for k in keys:
        inject(db, k, "unknown")
    policy = BackoffPolicy(max_attempts=max_attempts, base_seconds=60, max_seconds=600)
    SyncEngine(db, CsvSource(path), retry=policy).run()
    assert set(queue(db)) == set(keys)
    clock = Clock(utcnow())
    manager = RetryManager(
        db,
        CsvSource(path),
        policy=BackoffPolicy(max_attempts=max_attempts, base_seconds=60, max_seconds=600),
        clock=clock,
    )
    for attempt in range(1, max_attempts + 3):
        for k, f in zip(keys, fixed_after, strict=True):
            if f is not None and attempt > f:
                inject(db, k, None)
        clock.advance(1000)
        manager.process_queue(any_time=by_all)
    made = {
        k: int(db.query_value("SELECT count(*) FROM retry_attempts WHERE buyer_number = %s", (k,)))
        for k in keys
    }
    entries = queue(db)
    stored = {r["buyer_number"] for r in db.query("SELECT buyer_number FROM buyers")}
    for k, f in zip(keys, fixed_after, strict=True):
        if f is not None and f < max_attempts:
            assert made[k] == f + 1
            assert k not in entries and k in stored  # 11
        else:
            assert made[k] == max_attempts  # 10
            assert entries[k]["status"] == "permanently_failed"
            assert int(entries[k]["attempt_count"]) == max_attempts
            assert k not in stored


# -- property 15: a buyer that fails for good again after a fix alerts again -----------------


class _Inbox:
    """An alert channel that accepts every alert it is given."""

    name = "webhook"

    def __init__(self) -> None:
        self.notes: list[object] = []

    def send(self, note: object) -> None:
        self.notes.append(note)


@DB_EXAMPLES
@given(
    cycles=st.lists(
        st.sets(st.sampled_from(["P1", "P2", "P3"]), min_size=1), min_size=1, max_size=3
    )
)
def test_every_new_permanent_failure_alerts_also_after_a_fix(
    injectable: Database, tmp_path: Path, cycles: list[set[str]]
) -> None:
    db = injectable
    reset(db, with_injection=True)
    path = write_sheet(tmp_path / "s.csv", [[k, "x", ""] for k in ("P1", "P2", "P3")])
    SyncEngine(db, CsvSource(path)).run()
    clock = Clock(utcnow())
    manager = RetryManager(
        db, CsvSource(path), policy=BackoffPolicy(max_attempts=1, base_seconds=1), clock=clock
    )
    # A channel that accepts every alert: only an accepted alert counts as told.
    monitor = SyncMonitor(
        db, channels=[_Inbox()], thresholds=Thresholds(stale_seconds=0), clock=clock
    )
    for failing in cycles:
        for k in failing:
            inject(db, k, "unknown")
        SyncEngine(db, CsvSource(path), max_shrink_ratio=0).run()
        clock.advance(3600)
        manager.process_queue()
        assert {k for k, e in queue(db).items() if e["status"] == "permanently_failed"} == failing
        report = monitor.check_health()
        alerted = {
            s
            for a in report.plan.send
            if a.condition is Condition.PERMANENT_FAILURE
            for s in a.subjects
        }
        assert alerted == failing  # 15: every buyer that became permanently failed now
        assert not {
            s
            for a in monitor.check_health().plan.send
            if a.condition is Condition.PERMANENT_FAILURE
            for s in a.subjects
        }  # and only once
        for k in failing:  # fixed, then retried by hand
            inject(db, k, None)
            assert [str(r.verdict) for r in manager.retry_buyer(k).results] == ["succeeded"]
        clock.advance(60)
        monitor.check_health()
        assert queue(db) == {}


# -- property 16: dashboard numbers, with queue entries in every status ----------------------


@DB_EXAMPLES
@given(
    pending=st.integers(0, 3),
    processing=st.integers(0, 3),
    permanent=st.integers(0, 3),
    constraint=st.integers(0, 2),
)
def test_dashboard_numbers_equal_the_stored_data(
    injectable: Database,
    tmp_path: Path,
    pending: int,
    processing: int,
    permanent: int,
    constraint: int,
) -> None:
    db = injectable
    reset(db, with_injection=True)
    total = pending + processing + permanent
    keys = [f"Q{i}" for i in range(total + constraint + 2)]
    for i, k in enumerate(keys[: total + constraint]):
        inject(db, k, "unknown" if i < total else "constraint")
    path = write_sheet(tmp_path / "s.csv", [[k, "x", ""] for k in keys])
    SyncEngine(db, CsvSource(path)).run()
    now = utcnow() + timedelta(hours=1)
    manager = RetryManager(db, None, clock=lambda: now)
    for k in keys[pending + processing : total]:
        manager.mark_as_permanently_failed(k, "parked")
    # a worker in the middle of its attempts holds these
    claimed = retryqueue.claim(
        db, worker="busy", now=now, lease_until=now + timedelta(hours=1), limit=processing
    )
    assert len(claimed) == processing
    SyncMonitor(db, source=CsvSource(path), channels=[]).check_health(send=False)
    doc = api_data.dashboard(db, Settings())
    by_status = {
        r["status"]: int(r["n"])
        for r in db.query("SELECT status, count(*) AS n FROM retry_queue GROUP BY status")
    }
    assert by_status == {
        s: n
        for s, n in (
            ("pending", pending),
            ("processing", processing),
            ("permanently_failed", permanent),
        )
        if n
    }
    assert doc["retry_queue"]["by_status"] == by_status
    assert doc["retry_queue"]["depth"] == pending + processing
    assert doc["retry_queue"]["permanent_failures"] == permanent
    by_type = {
        r["error_type"]: int(r["n"])
        for r in db.query(
            "SELECT error_type, count(*) AS n FROM sync_error_log GROUP BY error_type"
        )
    }
    assert doc["errors"]["counts_by_type"] == by_type
    assert doc["errors"]["total"] == total + constraint
    assert doc["database_count"] == db.query_value("SELECT count(*) FROM buyers") == 2
    assert doc["missing_count"] == total + constraint
    assert doc["spreadsheet_count"] == len(keys)
    assert sorted(p["buyer_number"] for p in doc["permanent_failures"]) == sorted(
        keys[pending + processing : total]
    )


# -- property 7: one category per error, whatever the case of the SQLSTATE -------------------

#: From PostgreSQL's errcodes table and the contract's categories.
SQLSTATES = {
    "22001": "value_too_long",
    "23505": "duplicate_key",
    "23502": "validation",
    "23503": "constraint",
    "23514": "constraint",
    "22p02": "data_format",
    "22021": "data_format",
    "08006": "database_connection",
    "57p01": "database_connection",
    "57014": "timeout",
    "40p01": "timeout",
    "42p01": "schema_mismatch",
    "0a000": "schema_mismatch",
    "p0001": "unknown",
    "xx000": "unknown",
}


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(SQLSTATES)), st.lists(st.booleans(), min_size=5, max_size=5))
def test_a_sqlstate_has_one_category_in_any_case(code: str, upper: list[bool]) -> None:
    spelled_code = "".join(c.upper() if u else c for c, u in zip(code, upper, strict=True))
    assert str(category_for_sqlstate(spelled_code)) == SQLSTATES[code]
    assert category_for_sqlstate(spelled_code) is category_for_sqlstate(code.upper())


def test_sqlite_errors_are_translated_into_their_categories(tmp_path: Path) -> None:
    """Property 7 on SQLite: real errors from a real file, through the store's translation."""
    import sqlite3

    from buyersync.store.sqlite import translate

    conn = sqlite3.connect(tmp_path / "t.db")
    conn.execute(
        "CREATE TABLE t (k TEXT PRIMARY KEY, v TEXT NOT NULL CHECK (length(v) <= 3), "
        "w TEXT CHECK (w <> 'bad'))"
    )
    conn.execute("INSERT INTO t VALUES ('a', 'x', NULL)")
    cases = {
        "INSERT INTO t VALUES ('b', 'toolong', NULL)": "value_too_long",
        "INSERT INTO t VALUES ('c', NULL, NULL)": "validation",
        "INSERT INTO t VALUES ('a', 'y', NULL)": "duplicate_key",
        "INSERT INTO t VALUES ('d', 'y', 'bad')": "constraint",
        "SELECT * FROM nowhere": "schema_mismatch",
        "SELECT abs(-9223372036854775807 - 1)": "unknown",
    }
    for sql, category in cases.items():
        with pytest.raises(sqlite3.Error) as caught:
            conn.execute(sql)
        assert str(translate(caught.value).category) == category, sql
        assert translate(caught.value).category is translate(caught.value).category
    conn.close()


# -- properties 13 and 14: the health check's alerts, from real syncs ------------------------


@DB_EXAMPLES
@given(
    n=st.integers(min_value=1, max_value=12),
    deleted=st.integers(min_value=0, max_value=12),
    rejected=st.integers(min_value=0, max_value=12),
    missing_threshold=st.integers(min_value=0, max_value=12),
    rate_step=st.sampled_from([-1, 0, 1, None]),
    rate_threshold=st.floats(min_value=0, max_value=1),
)
def test_health_alerts_iff_missing_count_or_error_rate_is_over_its_threshold(
    injectable: Database,
    tmp_path: Path,
    n: int,
    deleted: int,
    rejected: int,
    missing_threshold: int,
    rate_step: int | None,
    rate_threshold: float,
) -> None:
    """Properties 13 and 14 through ``buyersync health``: buyers deleted from the database
    are missing; rows the database rejects make the last sync's error rate. Thresholds
    are drawn on, just below and just above the measured values."""
    db = injectable
    reset(db, with_injection=True)
    deleted, rejected = min(deleted, n), min(rejected, n)
    keys = [f"H{i}" for i in range(n)]
    for k in keys[:rejected]:
        inject(db, k, "constraint")
    path = write_sheet(tmp_path / "s.csv", [[k, "x", ""] for k in keys])
    SyncEngine(db, CsvSource(path)).run()
    stored = [k for k in keys if k not in keys[:rejected]]
    for k in stored[:deleted]:
        db.execute("DELETE FROM buyers WHERE buyer_number = %s", (k,))
    missing = rejected + min(deleted, len(stored))
    rate = rejected / n
    if rate_step is not None:  # on the boundary, or one failed row either side of it
        rate_threshold = min(max((rejected + rate_step) / n, 0.0), 1.0)
    thresholds = Thresholds(missing=missing_threshold, error_rate=rate_threshold, stale_seconds=0)
    report = SyncMonitor(
        db, source=CsvSource(path), channels=[], thresholds=thresholds
    ).check_health(send=False)
    fired = {a.condition for a in report.alerts}
    assert report.facts.missing_count == missing
    assert (Condition.MISSING_BUYERS in fired) is (missing > missing_threshold)  # 13
    assert (Condition.ERROR_RATE in fired) is (rate > rate_threshold)  # 14
    stored_rate = db.query_value("SELECT error_rate FROM sync_health_metrics")
    assert stored_rate == pytest.approx(rate)
