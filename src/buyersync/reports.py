"""Verification reports for people and for scripts (requirement 9.4, property 26).

:func:`generate_report` renders a :class:`~buyersync.services.integrity.VerifyReport`
as ``text`` (a terminal), ``json`` (the contract's ``verify --json`` document),
``markdown`` (a ticket or a wiki page) or ``html`` (one self-contained page: inline
CSS, no scripts, no external assets). Every format leads with the summary, then lists
every finding: missing buyers, extra buyers, mismatched values, and the sheet's
duplicate and keyless rows. Sheet text is hostile input: it is escaped for the
format it lands in, and shown with its newlines and edge spaces visible.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from buyersync.rules.problems import fix_for

if TYPE_CHECKING:
    from buyersync.services.integrity import VerifyReport

FORMATS = ("text", "json", "markdown", "html")
#: Text and Markdown cut values longer than this (JSON and HTML show them whole).
SHOWN_CHARS = 200


def generate_report(report: VerifyReport, fmt: str = "text") -> str:
    """The report in ``fmt`` (one of :data:`FORMATS`); raises ``ValueError`` otherwise."""
    renderers: dict[str, Callable[[VerifyReport], str]] = {
        "text": _text,
        "json": _json,
        "markdown": _markdown,
        "html": _html,
    }
    if fmt not in renderers:
        raise ValueError(f"unknown report format {fmt!r}; use one of {', '.join(FORMATS)}")
    return renderers[fmt](report)


def format_for_path(path: str) -> str | None:
    """The format a file name suggests (``report.html`` → ``html``), or None."""
    suffix = path.rsplit(".", 1)[-1].lower() if "." in path else ""
    return {
        "html": "html",
        "htm": "html",
        "md": "markdown",
        "markdown": "markdown",
        "json": "json",
        "txt": "text",
    }.get(suffix)


def first_difference(a: str | None, b: str | None) -> int | None:
    """The 0-based position of the first differing character (None when equal)."""
    if a == b:
        return None
    a, b = a or "", b or ""
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return i
    return min(len(a), len(b))


def show_value(value: str | None, limit: int | None = SHOWN_CHARS) -> str:
    """A value as one line: quoted, newlines/tabs escaped, cut at ``limit`` characters."""
    if value is None:
        return "(empty)"
    shown = json.dumps(value, ensure_ascii=False)
    if limit is not None and len(value) > limit:
        shown = json.dumps(value[:limit], ensure_ascii=False)[:-1] + f'…" ({len(value)} chars)'
    return shown


def summary_lines(report: VerifyReport) -> list[str]:
    """The summary every format starts with."""
    d = report.diff
    verdict = "OK — the database matches the sheet" if report.ok else "PROBLEMS FOUND"
    lines = [
        f"Verification ({report.mode}): {verdict}",
        f"source: {report.source}; started {report.started_at.isoformat(timespec='seconds')}; "
        f"took {report.duration_s:.2f} s",
        f"buyers in sheet: {d.sheet_count}; in database: {d.database_count}",
        f"missing from database: {d.missing_count}; in database only (extra): {d.extra_count}",
        f"buyers compared field by field: {report.checked}; mismatched values: "
        f"{len(report.mismatches)} in {report.mismatched_buyers} buyers",
    ]
    if report.sample_size is not None:
        lines.append(
            f"sample: {report.sample_size} requested, seed {report.seed} "
            f"(reproduce with --sample {report.sample_size} --seed {report.seed})"
        )
    if report.duplicates or report.blank_key_rows:
        lines.append(
            f"sheet rows that are not buyers of their own: {len(report.duplicates)} "
            f"duplicate, {len(report.blank_key_rows)} without a buyer number"
        )
    if report.unverified_columns:
        lines.append(
            "not compared (no such column in buyers): " + ", ".join(report.unverified_columns)
        )
    if report.unfed_columns:
        lines.append(
            "database columns the sheet does not feed (not compared): "
            + ", ".join(report.unfed_columns)
        )
    if report.no_longer_fed:
        lines.append(
            "fed by the last successful sync but no longer by the sheet (stale values): "
            + ", ".join(report.no_longer_fed)
        )
    if not report.extra_is_finding and d.extra:
        lines.append("extra buyers are listed but allowed (--allow-extra)")
    return lines


def _next_steps(report: VerifyReport) -> list[str]:
    steps = []
    if report.diff.missing:
        causes = dict(report.missing_causes)
        for category, count in causes.items():
            fix = fix_for(category)
            steps.append(f"{count} missing buyers fail with {category}: {fix.command} ({fix.text})")
        unexplained = report.diff.missing_count - sum(causes.values())
        if unexplained > 0:
            steps.append(
                ("sync the missing buyers" if not causes else f"sync the other {unexplained}")
                + ": buyersync sync-missing "
                "(a buyer that fails again has its reason in: buyersync problems)"
            )
    if report.no_longer_fed:
        steps.append(
            "the sheet's headers changed: see buyersync sync --dry-run, then map the new "
            "header in [mapping] of buyersync.toml or run buyersync sync --accept-header-change"
        )
    if report.mismatches:
        steps.append("re-sync to overwrite the changed values: buyersync sync (then verify again)")
    if report.diff.extra and report.extra_is_finding:
        steps.append(
            "extra buyers are no longer in the sheet; sync never deletes them — "
            "remove them by hand if they should go"
        )
    return steps


# -- text ------------------------------------------------------------------------
def _text(report: VerifyReport) -> str:
    out = list(summary_lines(report))
    if report.diff.missing:
        out += ["", f"Missing from the database ({report.diff.missing_count}):"]
        for k, r in report.diff.missing:
            link = report.cells.key_cell(r) if report.cells else None
            out.append(f"  row {r}: {k}" + (f"  {link['url']}" if link and link["url"] else ""))
    if report.diff.extra:
        out += ["", f"In the database but not in the sheet ({report.diff.extra_count}):"]
        out += [f"  {k}" for k in report.diff.extra]
    if report.mismatches:
        out += ["", f"Mismatched values ({len(report.mismatches)}):"]
        for m in report.mismatches:
            at = first_difference(m.sheet_value, m.db_value)
            out.append(
                f"  row {m.row_number}, buyer {m.buyer_number}, column {m.column}"
                f" (differs at character {at}):"
            )
            out.append(f"    sheet:    {show_value(m.sheet_value)}")
            out.append(f"    database: {show_value(m.db_value)}")
            link = report.cells.cell(m.column, m.row_number) if report.cells else None
            if link and link["url"]:
                out.append(f"    open:     {link['url']}")
    if report.duplicates:
        out += ["", f"Duplicate rows in the sheet ({len(report.duplicates)}):"]
        out += [
            f"  row {x.row_number}: {x.buyer_number} (first on row {x.first_row})"
            for x in report.duplicates
        ]
    if report.blank_key_rows:
        out += [
            "",
            "Rows without a buyer number: " + ", ".join(str(r) for r in report.blank_key_rows),
        ]
    steps = _next_steps(report)
    if steps:
        out += ["", "Next steps:"] + [f"  - {s}" for s in steps]
    return "\n".join(out) + "\n"


# -- json ------------------------------------------------------------------------
def _json(report: VerifyReport) -> str:
    return json.dumps(report.to_json(), ensure_ascii=False, indent=2) + "\n"


# -- markdown --------------------------------------------------------------------
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def md_escape(text: str) -> str:
    """Text safe in a Markdown table cell: HTML-escaped, Markdown syntax backslashed,
    newlines shown as ``<br>``."""
    escaped = _MD_SPECIAL.sub(r"\\\1", html.escape(text, quote=False))
    return escaped.replace("\r\n", "<br>").replace("\n", "<br>").replace("\r", "<br>")


def _md_value(value: str | None) -> str:
    if value is None:
        return "*(empty)*"
    shown = value if len(value) <= SHOWN_CHARS else value[:SHOWN_CHARS]
    cell = md_escape(shown)
    if len(value) > SHOWN_CHARS:
        cell += f" … ({len(value)} chars)"
    return cell


def _markdown(report: VerifyReport) -> str:
    lines = summary_lines(report)
    out = [f"# {md_escape(lines[0])}", ""] + [f"- {md_escape(x)}" for x in lines[1:]]
    steps = _next_steps(report)
    if steps:
        out += ["", "**Next steps**", ""] + [f"1. {md_escape(s)}" for s in steps]
    d = report.diff
    out += ["", f"## Missing from the database ({d.missing_count})", ""]
    if d.missing:
        out += ["| sheet row | buyer number |", "|---:|---|"]
        out += [f"| {r} | {md_escape(k)} |" for k, r in d.missing]
    else:
        out.append("None.")
    out += ["", f"## In the database but not in the sheet ({d.extra_count})", ""]
    if d.extra:
        out += ["| buyer number |", "|---|"] + [f"| {md_escape(k)} |" for k in d.extra]
    else:
        out.append("None.")
    out += ["", f"## Mismatched values ({len(report.mismatches)})", ""]
    if report.mismatches:
        out += [
            "| sheet row | buyer number | column | sheet value | database value |",
            "|---:|---|---|---|---|",
        ]
        out += [
            f"| {m.row_number} | {md_escape(m.buyer_number)} | {md_escape(m.column)} | "
            f"{_md_value(m.sheet_value)} | {_md_value(m.db_value)} |"
            for m in report.mismatches
        ]
    else:
        out.append("None." if report.checked else "No buyer was compared field by field.")
    if report.duplicates or report.blank_key_rows:
        out += ["", "## Sheet rows that are not buyers of their own", ""]
        out += ["| sheet row | buyer number | problem |", "|---:|---|---|"]
        out += [
            f"| {x.row_number} | {md_escape(x.buyer_number)} | duplicate of row {x.first_row} |"
            for x in report.duplicates
        ]
        out += [f"| {r} | | no buyer number |" for r in report.blank_key_rows]
    return "\n".join(out) + "\n"


# -- html ------------------------------------------------------------------------
_CSS = """
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI","Hiragino Sans","Noto Sans JP",sans-serif;
margin:2rem auto;max-width:72rem;padding:0 1rem;color:#1f2328;background:#fff}
h1{font-size:1.5rem;margin:0 0 .5rem}h2{font-size:1.15rem;margin:2rem 0 .5rem}
.verdict{display:inline-block;padding:.2rem .7rem;border-radius:1rem;font-weight:600}
.ok{background:#dafbe1;color:#116329}.bad{background:#ffebe9;color:#a40e26}
.cards{display:flex;flex-wrap:wrap;gap:.75rem;margin:1rem 0}
.card{border:1px solid #d0d7de;border-radius:.5rem;padding:.6rem 1rem;min-width:9rem}
.card b{display:block;font-size:1.4rem}.card.alert{border-color:#cf222e}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border:1px solid #d0d7de;padding:.35rem .6rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.num{text-align:right;font-variant-numeric:tabular-nums}
td.v{white-space:pre-wrap;word-break:break-word;font-family:ui-monospace,Menlo,monospace;
font-size:13px;max-width:28rem}
.null{color:#6e7781;font-style:italic}.mark{background:#fff8c5}
.meta{color:#57606a}ul.steps li{margin:.2rem 0}
"""


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)


def _html_value(value: str | None, at: int | None) -> str:
    if value is None:
        return '<span class="null">(empty)</span>'
    if at is None or at >= len(value):
        return _e(value)
    # Highlight from the first differing character, so a change deep in a long cell shows.
    return f'{_e(value[:at])}<span class="mark">{_e(value[at:])}</span>'


def _table(headers: list[str], rows: list[list[str]], classes: list[str]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{c}">{cell}</td>' for c, cell in zip(classes, r, strict=True))
        + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(report: VerifyReport) -> str:
    d = report.diff
    lines = summary_lines(report)
    verdict = (
        '<span class="verdict ok">OK</span>'
        if report.ok
        else '<span class="verdict bad">Problems found</span>'
    )
    cards = [
        ("buyers in sheet", d.sheet_count, False),
        ("in database", d.database_count, False),
        ("missing", d.missing_count, bool(d.missing)),
        ("extra", d.extra_count, bool(d.extra) and report.extra_is_finding),
        ("mismatched values", len(report.mismatches), bool(report.mismatches)),
        ("compared", report.checked, False),
    ]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>buyersync verification: {'OK' if report.ok else 'problems found'}</title>",
        f"<style>{_CSS}</style></head><body>",
        f"<h1>buyersync verification {verdict}</h1>",
        '<p class="meta">' + "<br>".join(_e(x) for x in lines[1:]) + "</p>",
        '<div class="cards">'
        + "".join(
            f'<div class="card{" alert" if alert else ""}"><b>{n}</b>{_e(label)}</div>'
            for label, n, alert in cards
        )
        + "</div>",
    ]
    steps = _next_steps(report)
    if steps:
        parts.append('<ul class="steps">' + "".join(f"<li>{_e(s)}</li>" for s in steps) + "</ul>")
    parts.append(f"<h2>Missing from the database ({d.missing_count})</h2>")
    parts.append(
        _table(["sheet row", "buyer number"], [[str(r), _e(k)] for k, r in d.missing], ["num", "v"])
        if d.missing
        else "<p>None.</p>"
    )
    parts.append(f"<h2>In the database but not in the sheet ({d.extra_count})</h2>")
    parts.append(
        _table(["buyer number"], [[_e(k)] for k in d.extra], ["v"]) if d.extra else "<p>None.</p>"
    )
    parts.append(f"<h2>Mismatched values ({len(report.mismatches)})</h2>")
    if report.mismatches:
        rows = []
        for m in report.mismatches:
            at = first_difference(m.sheet_value, m.db_value)
            rows.append(
                [
                    str(m.row_number),
                    _e(m.buyer_number),
                    _e(m.column),
                    _html_value(m.sheet_value, at),
                    _html_value(m.db_value, at),
                ]
            )
        parts.append(
            _table(
                ["sheet row", "buyer number", "column", "sheet value", "database value"],
                rows,
                ["num", "v", "v", "v", "v"],
            )
        )
    else:
        parts.append(
            "<p>None.</p>" if report.checked else "<p>No buyer was compared field by field.</p>"
        )
    if report.duplicates or report.blank_key_rows:
        parts.append("<h2>Sheet rows that are not buyers of their own</h2>")
        rows = [
            [str(x.row_number), _e(x.buyer_number), f"duplicate of row {x.first_row}"]
            for x in report.duplicates
        ]
        rows += [[str(r), "", "no buyer number"] for r in report.blank_key_rows]
        parts.append(_table(["sheet row", "buyer number", "problem"], rows, ["num", "v", ""]))
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
