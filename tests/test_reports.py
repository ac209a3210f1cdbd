"""Verification reports: every finding in every format, hostile text escaped (property 26)."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buyersync.reports import FORMATS, generate_report, md_escape, show_value
from buyersync.rules.compare import Mismatch
from buyersync.rules.diff import Duplicate, KeyDiff
from buyersync.services.integrity import VerifyMode, VerifyReport

HOSTILE = st.one_of(
    st.text(min_size=1, max_size=12),
    st.sampled_from(
        [
            "<script>alert(1)</script>",
            "a|b",
            "**bold**",
            "山田\n太郎",
            "x" * 500,
            '"quoted" & <tag>',
            "[link](http://evil.example)",
            "`code`",
        ]
    ),
)
KEY = st.text(alphabet="ABC012-_<>&|*", min_size=1, max_size=8)


@st.composite
def reports(draw: st.DrawFn) -> VerifyReport:
    keys = draw(st.lists(KEY, unique=True, max_size=12))
    cut = draw(st.integers(0, len(keys)))
    missing = tuple((k, 2 + i) for i, k in enumerate(keys[:cut]))
    extra = tuple(sorted(keys[cut:]))
    mismatches = tuple(
        Mismatch(
            draw(KEY),
            draw(st.integers(2, 9999)),
            draw(st.sampled_from(["name", "住所"])),
            draw(st.one_of(st.none(), HOSTILE)),
            draw(st.one_of(st.none(), HOSTILE)),
        )
        for _ in range(draw(st.integers(0, 6)))
    )
    return VerifyReport(
        mode=VerifyMode.FULL,
        source="csv:s.csv",
        started_at=datetime(2026, 1, 2, tzinfo=UTC),
        duration_s=0.5,
        diff=KeyDiff(
            missing=missing,
            extra=extra,
            sheet_count=len(missing) + 3,
            database_count=len(extra) + 3,
        ),
        duplicates=(Duplicate("D1", 40, 3),),
        blank_key_rows=(41,),
        mismatches=mismatches,
        checked=3 + len(mismatches),
        columns=("name", "住所"),
    )


def _text_has(out: str, value: str | None) -> bool:
    return show_value(value) in out


@settings(max_examples=150)
@given(reports())
def test_every_format_contains_every_finding(report: VerifyReport) -> None:
    """Property 26: missing, extra and each mismatch (buyer, row, column, both values)."""
    text = generate_report(report, "text")
    doc = json.loads(generate_report(report, "json"))
    md = generate_report(report, "markdown")
    page = generate_report(report, "html")
    assert doc["missing"] == [{"buyer_number": k, "row_number": r} for k, r in report.missing]
    assert doc["extra"] == list(report.extra)
    assert doc["mismatches"] == [m.to_json() for m in report.mismatches]
    assert doc["ok"] is report.ok and doc["checked"] == report.checked
    for key, row in report.missing:
        assert f"row {row}: {key}" in text
        assert f"| {row} | {md_escape(key)} |" in md
        assert f'<td class="num">{row}</td><td class="v">{html.escape(key)}</td>' in page
    for key in report.extra:
        assert f"  {key}" in text and f"| {md_escape(key)} |" in md
        assert f'<td class="v">{html.escape(key)}</td>' in page
    for m in report.mismatches:
        assert f"row {m.row_number}, buyer {m.buyer_number}, column {m.column}" in text
        assert _text_has(text, m.sheet_value) and _text_has(text, m.db_value)
        assert f"| {m.row_number} | {md_escape(m.buyer_number)} | {md_escape(m.column)} |" in md
        assert (
            f'<td class="num">{m.row_number}</td><td class="v">'
            f'{html.escape(m.buyer_number)}</td><td class="v">{html.escape(m.column)}</td>'
        ) in page
    for out in (text, md, page):
        assert "D1" in out and "41" in out


@settings(max_examples=100)
@given(reports())
def test_html_is_self_contained_and_escapes_sheet_text(report: VerifyReport) -> None:
    page = generate_report(report, "html")
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    # No scripts, no external assets, no markup smuggled in from sheet text.
    assert "<script" not in page.lower()
    assert not re.search(r"""(src|href)\s*=""", page, re.I)
    assert "@import" not in page and "url(" not in page
    # The summary comes before the findings.
    assert page.index("buyers in sheet") < page.index("Missing from the database")


def test_markdown_escapes_table_breaking_text() -> None:
    assert md_escape("a|b\nc") == "a\\|b<br>c"
    assert "<script>" not in md_escape("<script>")


def test_long_and_multiline_values_are_readable_in_text() -> None:
    assert show_value("a\nb") == '"a\\nb"'
    assert show_value(None) == "(empty)"
    assert show_value("x" * 500).endswith('…" (500 chars)')


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown report format"):
        generate_report(None, "pdf")  # type: ignore[arg-type]
    assert set(FORMATS) == {"text", "json", "markdown", "html"}
