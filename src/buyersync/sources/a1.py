"""A1 notation for the Google Sheets API: column names, quoted sheet titles, ranges.

Shared by the reader (:mod:`buyersync.sources.gsheets`) and the local stand-in
(:mod:`buyersync.testing.sheets_server`), so both spell a range the same way.
"""

from __future__ import annotations

import re

from buyersync.rules.normalize import column_letter

_CELL = re.compile(r"^([A-Za-z]*)(\d*)$")
_SIMPLE_TITLE = re.compile(r"^[A-Za-z0-9_]+$")


#: ``0`` → ``"A"``, ``26`` → ``"AA"`` (the one implementation, in rules.normalize).
column_name = column_letter


def column_index(name: str) -> int:
    """``"A"`` → ``0``."""
    n = 0
    for ch in name.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def quote_title(title: str) -> str:
    """A sheet title as A1 notation needs it: ``'🌵 test 1'`` (``'`` doubled)."""
    if _SIMPLE_TITLE.match(title) and not _CELL.match(title):
        return title
    return "'" + title.replace("'", "''") + "'"


def split_range(a1: str) -> tuple[str | None, str]:
    """``"'It''s'!A1:B2"`` → ``("It's", "A1:B2")``; a bare title gives ``(title, "")``."""
    if a1.startswith("'"):
        i = 1
        while i < len(a1):
            if a1[i] == "'":
                if i + 1 < len(a1) and a1[i + 1] == "'":
                    i += 2
                    continue
                break
            i += 1
        title = a1[1:i].replace("''", "'")
        rest = a1[i + 1 :]
        return title, rest[1:] if rest.startswith("!") else rest
    if "!" in a1:
        title, _, cells = a1.rpartition("!")
        return title, cells
    return a1, ""
