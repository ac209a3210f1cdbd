"""Data on the terminal: never markup, never terminal control.

A cell of the sheet, a buyer number or a database error can hold ``[/x]`` (which
rich would read as a closing tag, and fail on), ``[link=…]`` (a clickable link) or
raw ESC/OSC sequences (which a terminal obeys: colours, titles, hyperlinks, cursor
moves). Every piece of data printed for a person goes through :func:`term` (rich
markup contexts) or :func:`plain` (plain text: ``click.echo``, ``markup=False``,
log lines). The database keeps the real value and ``--json`` prints it unchanged.

The consoles made here also replace control characters in whatever they render,
so a value that reaches a console without :func:`term` still cannot steer the
terminal; rich's own styling is added after that, at output time.
"""

from __future__ import annotations

import re
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.text import Text

# C0 controls (but tab and newline), DEL, C1 controls, and the bidirectional
# overrides/isolates that reorder what a reader sees (CVE-2021-42574).
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_CONTROL_OR_NEWLINE = re.compile(
    "[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029]"
)


def _visible(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def plain(value: Any, *, newlines: bool = False) -> str:
    """``value`` as text with control characters shown as ``\\xNN`` escapes.

    Newlines (and tabs) are replaced too unless ``newlines`` is true: one value
    must not be able to fake a further line of output.
    """
    text = "" if value is None else str(value)
    return (_CONTROL if newlines else _CONTROL_OR_NEWLINE).sub(_visible, text)


def term(value: Any, *, newlines: bool = False) -> str:
    """``value`` safe to put in rich markup: controls replaced, markup escaped."""
    return escape(plain(value, newlines=newlines))


class SafeConsole(Console):
    """A rich console that renders control characters of any string as escapes."""

    def render_str(self, text: str, **kwargs: Any) -> Text:
        return super().render_str(plain(text, newlines=True), **kwargs)


#: The width of a console that is not a terminal (a pipe, a file, a cron log): wide
#: enough that no table is ever wrapped, so a value reads whole (``value_too_long``,
#: not ``value_too_lon`` / ``g``) and lines can be grepped.
PIPE_WIDTH = 100_000


def _width(stream: Any) -> int | None:
    try:
        return None if stream.isatty() else PIPE_WIDTH
    except (AttributeError, ValueError):  # no isatty, or closed
        return PIPE_WIDTH


def stderr_console() -> Console:
    return SafeConsole(stderr=True, width=_width(sys.stderr))


def stdout_console() -> Console:
    return SafeConsole(highlight=False, soft_wrap=True, width=_width(sys.stdout))
