"""Property: for any CSV text the reader accepts, every physical record is accounted for.

Records are generated (quotes, delimiters and line breaks inside values, blank lines,
LF or CRLF), written as CSV, sometimes damaged by a stray opening quote, and synced
through the production path. The physical records of the text are found by a small
RFC 4180 parser written here, independent of the ``csv`` module. If the sync accepts
the text, the text is valid CSV and each of its records is exactly one of: a stored
buyer, a logged failure, a counted blank row.
"""

from __future__ import annotations

import csv
import io
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buyersync.errors import HeaderError, SourceError
from buyersync.rules.normalize import normalize_key
from buyersync.services.sync import sync
from buyersync.sources.csv_source import CsvSource
from buyersync.store import open_database

_cell = st.text(alphabet='ab1 ,;"\n', max_size=6)


@st.composite
def sheets(draw: st.DrawFn) -> tuple[str, list[list[str]], int, bool]:
    width = draw(st.integers(3, 5))
    records = draw(st.lists(st.lists(_cell, min_size=width, max_size=width), max_size=12))
    blanks = draw(st.lists(st.integers(0, len(records)), max_size=3))
    terminator = draw(st.sampled_from(["\n", "\r\n"]))
    out = io.StringIO()
    writer = csv.writer(out, lineterminator=terminator)
    writer.writerow([f"c{i}" for i in range(width)])
    lines: list[str] = []
    for i, record in enumerate(records):
        lines.extend(terminator for b in blanks if b == i)
        buf = io.StringIO()
        csv.writer(buf, lineterminator=terminator).writerow(record)
        lines.append(buf.getvalue())
    lines.extend(terminator for b in blanks if b == len(records))
    text = out.getvalue() + "".join(lines)
    damaged = bool(records) and draw(st.booleans())
    if damaged:
        # A stray opening quote at the start of some field of some record.
        header_len = len(out.getvalue())
        starts = [header_len] + [
            i + 1 for i in range(header_len, len(text) - 1) if text[i] in ",\n"
        ]
        at = draw(st.sampled_from(starts))
        text = text[:at] + '"' + text[at:]
    return text, records, len(blanks), damaged


def physical_records(text: str) -> list[list[str]] | None:
    """RFC 4180 records of ``text`` (LF, CRLF or CR line ends); ``None`` if invalid."""
    records: list[list[str]] = []
    record: list[str] = []
    field: list[str] = []
    quoted = closed = False
    at_start = True
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if quoted:
            if c == '"':
                if i + 1 < n and text[i + 1] == '"':
                    field.append('"')
                    i += 2
                    continue
                quoted, closed = False, True
            else:
                field.append(c)
            i += 1
            continue
        if c == ",":
            record.append("".join(field))
            field, at_start, closed = [], True, False
        elif c in "\r\n":
            record.append("".join(field))
            if c == "\r" and i + 1 < n and text[i + 1] == "\n":
                i += 1
            records.append(record)
            record, field, at_start, closed = [], [], True, False
        elif closed:
            return None  # text after a closing quote
        elif c == '"' and at_start:
            quoted, at_start = True, False
        else:
            field.append(c)
            at_start = False
        i += 1
    if quoted:
        return None
    if field or record or closed:
        record.append("".join(field))
        records.append(record)
    return records


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sheets())
def test_every_physical_record_is_a_buyer_a_failure_or_a_blank_row(
    sheet: tuple[str, list[list[str]], int, bool],
) -> None:
    text, records, blank_lines, damaged = sheet
    physical = physical_records(text)
    if not damaged:  # the oracle reads what was written
        assert physical is not None
        assert [r for r in physical[1:] if r != [""]] == records
        assert len(physical) - 1 == len(records) + blank_lines
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "sheet.csv"
        path.write_text(text, encoding="utf-8", newline="")
        with open_database(f"sqlite:///{tmp}/p.db") as db:
            try:
                report = sync(
                    db, CsvSource(path, delimiter=","), key_column="c0", max_shrink_ratio=0
                )
            except (SourceError, HeaderError):
                # Refused: then nothing at all may have been written.
                assert (
                    not db.table_exists("buyers")
                    or db.query_value("SELECT count(*) FROM buyers") == 0
                )
                return
            stored = {r["buyer_number"] for r in db.query("SELECT buyer_number FROM buyers")}
            logged = db.query_value(
                "SELECT count(*) FROM sync_error_log WHERE run_id = %s", (report.run_id,)
            )
    assert physical is not None, "the reader accepted text that is not valid CSV"
    data = physical[1:]
    assert report.rows_read + report.skipped_blank == len(data)
    assert len(stored) + logged == report.rows_read
    assert stored <= {normalize_key(r[0]) for r in data if r}
