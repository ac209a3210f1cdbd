"""Telling the people who edit the sheet: open problems written back to a Google Sheet.

``sheet_feedback`` (docs/sheet-feedback.md):

- ``notes``: each open problem of the current read puts a note on its cell (the
  key cell when the problem names no column), in words a sheet editor understands
  (:mod:`buyersync.rules.feedback_text`). Only notes that start with
  :data:`~buyersync.rules.feedback_text.PREFIX` are buyersync's: a note that no
  longer starts with it was written (or taken over) by a person and is never touched;
  that cell's problem is listed on the problems tab instead. A buyersync note whose
  problem resolved is removed. At most ``max_notes`` notes are written per run; the
  rest go on the tab.
- ``tab``: the problems tab is rewritten with one line per open problem.

:func:`after_run` is called by the edges after a sync, sync-missing or retry run
(never from inside the sync engine) and never raises: a failed write-back is logged,
recorded (:mod:`buyersync.store.feedback`) and returned in the report, and the sync's
own outcome and exit code stay as they were.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from buyersync.errors import BuyersyncError, ConfigError, HeaderError
from buyersync.redact import redact
from buyersync.rules.feedback_text import (
    TAB_COLUMNS,
    Advice,
    advice_for,
    hyperlink_formula,
    is_ours,
    row_link,
)
from buyersync.rules.normalize import map_headers, normalize_header
from buyersync.settings import Settings
from buyersync.sources.a1 import column_index, column_name
from buyersync.sources.base import Source
from buyersync.sources.gsheets import GoogleSheetsSource, _Tab
from buyersync.sources.gsheets_write import (
    Cell,
    Formula,
    SheetsWriter,
    free_sheet_id,
    note_request,
    tab_requests,
)
from buyersync.store import feedback as feedback_store
from buyersync.store import migrations
from buyersync.store import problems as problem_store
from buyersync.store.db import Database, utcnow

log = logging.getLogger(__name__)

#: How long a write-back waits for another one (of a sync that just ended) to finish.
FEEDBACK_LOCK_WAIT_SECONDS = 60.0
#: Most problem lines on the tab; a last line says how many more there are.
MAX_TAB_ROWS = 10_000
NOT_GOOGLE = (
    "sheet feedback writes to Google Sheets only; for a file, give the sheet's editors "
    "buyersync problems --format xlsx --output problems.xlsx"
)


@dataclass
class FeedbackReport:
    """What one write-back did (the sync JSON's ``sheet_feedback``)."""

    mode: str
    run_id: str | None = None
    notes_written: int = 0
    notes_removed: int = 0
    notes_kept: int = 0  # buyersync notes already saying the right thing
    person_notes: int = 0  # problems whose cell holds a person's note (listed on the tab)
    capped: int = 0  # problems over the per-run cap (listed on the tab)
    tab_rows: int = 0
    requests: int = 0  # batchUpdate calls
    error: str | None = None
    skipped: str | None = None  # why nothing was written (not a Google Sheet)
    tab_listed: list[str] = field(default_factory=list, repr=False)
    #: The runs whose read is the current one (their problems' rows are current).
    current_runs: frozenset[str] = field(default_factory=frozenset, repr=False)

    def to_json(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.pop("tab_listed")
        doc.pop("current_runs")
        return doc


@dataclass(frozen=True)
class _Target:
    """Where a problem shows in the sheet and what it says."""

    problem: problem_store.Problem
    cell: Cell | None  # None: a run problem (no row)
    column_label: str | None
    advice: Advice


def after_run(
    db: Database, settings: Settings, source: Source | None, run_ids: Sequence[str]
) -> FeedbackReport | None:
    """Write the feedback ``settings.sheet_feedback`` asks for after the runs
    ``run_ids`` (their reads are the current one); None when it is off or no run read
    the sheet.

    Never raises: an error is logged, recorded and returned in the report.
    """
    mode = settings.sheet_feedback
    if mode == "off" or source is None or not run_ids:
        return None
    report = FeedbackReport(mode, run_ids[-1])
    report.current_runs = frozenset(run_ids)
    if not isinstance(source, GoogleSheetsSource):
        report.skipped = NOT_GOOGLE
    else:
        try:
            writer = SheetsWriter.like(source, credentials_file=settings.google_credentials)
            try:
                # The sync lock is released by now: two write-backs must not interleave.
                with db.lock("sheet-feedback", wait_seconds=FEEDBACK_LOCK_WAIT_SECONDS):
                    give(db, writer, settings, report)
            finally:
                writer.close()
        except BuyersyncError as exc:
            report.error = redact(str(exc), settings.secrets())[:1000]
            log.warning("writing problems back to the sheet failed: %s", report.error)
        except Exception as exc:  # a write-back must never fail the sync
            report.error = redact(f"{type(exc).__name__}: {exc}", settings.secrets())[:1000]
            log.error("writing problems back to the sheet failed: %s", report.error, exc_info=True)
    if report.skipped is None:
        _record(db, report)
    return report


def _record(db: Database, report: FeedbackReport) -> None:
    try:
        migrations.ensure_schema(db)
        feedback_store.record(db, report.to_json(), at=utcnow())
    except BuyersyncError as exc:
        log.warning("could not record the sheet feedback outcome: %s", exc)


def _locate(
    writer: SheetsWriter, settings: Settings
) -> tuple[_Tab, list[str], int, dict[str, int]]:
    """The synced tab, its header, the key column's index and the index of every
    database column the header feeds."""
    tab = writer.locate()
    header = writer.header(tab)
    key_index, by_column = column_map(header, settings.key_column, settings.mapping)
    return tab, header, key_index, by_column


@dataclass(frozen=True)
class Located:
    """An open problem with the sheet column it is about and the advice for its editors."""

    problem: problem_store.Problem
    index: int | None  # the sheet column within the table (None: the problem names none)
    label: str | None  # that column's header, as the sheet's editors read it
    advice: Advice


def locate(
    db: Database,
    header: list[str],
    by_column: dict[str, int],
    problems: list[problem_store.Problem] | None = None,
) -> list[Located]:
    """The open problems (or ``problems``), each with its column and advice."""
    from buyersync.store.catalog import column_limits

    try:
        limited = set(column_limits(db))
    except BuyersyncError:
        limited = set()
    out = []
    for p in problem_store.list_problems(db) if problems is None else problems:
        index = _column_index(p.column, header, by_column)
        label = header[index] if index is not None and index < len(header) else p.column
        advice = advice_for(p, column_label=label, column_limited=(p.column or "") in limited)
        out.append(Located(p, index, label, advice))
    return out


def column_map(header: list[str], key_column: str, mapping: Any) -> tuple[int, dict[str, int]]:
    """The key column's index and the index of every database column ``header`` feeds."""
    by_column: dict[str, int] = {}
    try:
        colmap = map_headers(header, key_header=key_column, mapping=mapping)
        for i, name in enumerate(colmap.columns):
            if name is not None:
                by_column.setdefault(name, i)
        return colmap.key_index, by_column
    except HeaderError:
        wanted = normalize_header(key_column)
        key = next((i for i, h in enumerate(header) if normalize_header(h) == wanted), 0)
        return key, by_column


def _targets(
    db: Database,
    header: list[str],
    key_index: int,
    by_column: dict[str, int],
    tab: _Tab,
) -> list[_Target]:
    out = []
    for found in locate(db, header, by_column):
        p, index, label, advice = found.problem, found.index, found.label, found.advice
        cell: Cell | None = None
        if p.kind != "run" and p.row_number is not None:
            if tab.header_row < p.row_number <= tab.last_row:
                cell = (p.row_number, tab.first_col + (key_index if index is None else index))
        out.append(_Target(p, cell, label, advice))
    return out


def _column_index(column: str | None, header: list[str], by_column: dict[str, int]) -> int | None:
    """The sheet column (0-based, within the table) a problem's column names."""
    if not column:
        return None
    if column in by_column:
        return by_column[column]
    for i, h in enumerate(header):
        if h.strip() == column.strip():
            return i
    if column.isascii() and column.isalpha() and column.isupper() and len(column) <= 3:
        index = column_index(column)
        if index < len(header):
            return index
    return None


def give(db: Database, writer: SheetsWriter, settings: Settings, report: FeedbackReport) -> None:
    """Compute and send the write-back of ``report.mode`` (raises on a failed request)."""
    tab, header, key_index, by_column = _locate(writer, settings)
    targets = _targets(db, header, key_index, by_column, tab)
    requests: list[dict[str, Any]] = []
    listed: list[_Target]
    if report.mode == "notes":
        requests, listed = _note_requests(writer, tab, header, targets, settings, report)
    else:
        listed = targets
    tabs = writer.tabs()
    title = settings.sheet_feedback_tab
    existing = next((t for t in tabs if t.get("title") == title), None)
    if existing is not None and int(existing.get("sheetId", -1)) == tab.sheet_id:
        if report.mode == "tab" or listed:
            raise ConfigError(
                f"the problems tab {title!r} is the synced tab itself; buyersync will not "
                "write its values",
                hint="set sheet_feedback_tab to another title",
            )
        existing = None  # notes only: nothing to list, and that tab is not ours to empty
    if report.mode == "tab" or listed or existing is not None:
        rows = _tab_rows(listed, tab)
        report.tab_rows = len(rows) - 1
        report.tab_listed = [r[0] for r in rows[1:]]
        taken = [int(t.get("sheetId", 0)) for t in tabs]
        requests += tab_requests(
            title, rows, existing=existing, new_sheet_id=free_sheet_id(title, taken)
        )
    if requests:
        report.requests, _ = writer.batch_update(requests)


def _note_requests(
    writer: SheetsWriter,
    tab: _Tab,
    header: list[str],
    targets: list[_Target],
    settings: Settings,
    report: FeedbackReport,
) -> tuple[list[dict[str, Any]], list[_Target]]:
    """The note writes and removals, and the problems that go on the tab instead."""
    current: dict[Cell, _Target] = {}
    earlier: dict[Cell, str] = {}
    for t in targets:
        if t.cell is None:
            continue
        if not report.current_runs or t.problem.last_run_id in report.current_runs:
            current.setdefault(t.cell, t)
        else:
            earlier.setdefault(t.cell, t.advice.note())
    existing = (
        writer.read_notes(tab, tab.header_row + 1, tab.last_row, len(header))
        if tab.header_row < tab.last_row
        else {}
    )
    requests: list[dict[str, Any]] = []
    # Rows outside the tab as read now go on the tab; a run's problem is not the
    # sheet editors' to fix, so notes mode leaves it to the operator's tools.
    listed: list[_Target] = [t for t in targets if t.cell is None and t.problem.kind != "run"]
    for cell, t in sorted(current.items()):
        text = t.advice.note()
        note = existing.get(cell)
        if note is not None and not is_ours(note):
            report.person_notes += 1
            listed.append(t)
        elif note == text:
            report.notes_kept += 1
        elif report.notes_written >= settings.sheet_feedback_max_notes:
            report.capped += 1
            listed.append(t)
        else:
            requests.append(note_request(tab.sheet_id, cell, text))
            report.notes_written += 1
    for cell, note in sorted(existing.items()):
        if not is_ours(note) or cell in current:
            continue
        if earlier.get(cell) == note:
            # an open problem an earlier read found, not re-read this time: its note stays
            report.notes_kept += 1
            continue
        requests.append(note_request(tab.sheet_id, cell, None))
        report.notes_removed += 1
    return requests, listed


def _tab_rows(listed: list[_Target], tab: _Tab) -> list[list[str]]:
    """The header line, then one line per problem (by sheet row)."""
    ordered = sorted(listed, key=lambda t: (t.cell is None, t.cell or (0, 0), t.problem.id))
    rows: list[list[str]] = [list(TAB_COLUMNS)]
    for t in ordered[:MAX_TAB_ROWS]:
        p = t.problem
        if t.cell is not None:
            a1 = f"{column_name(t.cell[1])}{t.cell[0]}"
            link: str = Formula(hyperlink_formula(row_link(tab.sheet_id, a1), f"row {t.cell[0]}"))
        else:
            link = "" if p.row_number is None else f"row {p.row_number}"
        rows.append(
            [
                link,
                p.buyer_number or "",
                t.column_label or "",
                t.advice.wrong,
                t.advice.todo,
                p.opened_at.strftime("%Y-%m-%d %H:%M UTC"),
            ]
        )
    if len(ordered) > MAX_TAB_ROWS:
        more = len(ordered) - MAX_TAB_ROWS
        rows.append(["", "", "", f"… and {more} more problems", "see buyersync problems", ""])
    return rows


def clear(db: Database, settings: Settings, source: Source) -> FeedbackReport:
    """Remove every buyersync note from the synced tab and empty the problems tab
    (when feedback is turned off). Raises on a failed request."""
    report = FeedbackReport("clear")
    if not isinstance(source, GoogleSheetsSource):
        report.skipped = NOT_GOOGLE
        return report
    writer = SheetsWriter.like(source, credentials_file=settings.google_credentials)
    try:
        tab = writer.locate()
        header = writer.header(tab)
        notes = (
            writer.read_notes(tab, tab.header_row + 1, tab.last_row, len(header))
            if tab.header_row < tab.last_row
            else {}
        )
        requests = [note_request(tab.sheet_id, c, None) for c, n in notes.items() if is_ours(n)]
        report.notes_removed = len(requests)
        title = settings.sheet_feedback_tab
        existing = next((t for t in writer.tabs() if t.get("title") == title), None)
        if existing is not None and int(existing.get("sheetId", -1)) != tab.sheet_id:
            requests += tab_requests(title, [list(TAB_COLUMNS)], existing=existing, new_sheet_id=0)
        if requests:
            report.requests, _ = writer.batch_update(requests)
    finally:
        writer.close()
    _record(db, report)
    return report
