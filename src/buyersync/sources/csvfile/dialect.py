"""The CSV delimiter: given (by character or name) or detected from the header and the
rows under it."""

from __future__ import annotations

import csv
import io

from buyersync.errors import ConfigError

#: The delimiters detection chooses from, with the names used in messages and flags.
DELIMITERS: dict[str, str] = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}
#: Names accepted by ``--delimiter`` besides the character itself.
DELIMITER_NAMES: dict[str, str] = {name: char for char, name in DELIMITERS.items()}

#: How much of the file delimiter detection and the binary check look at.
SAMPLE_BYTES = 64 * 1024


def parse_delimiter(value: str | None) -> str | None:
    """``","``, ``"comma"``, ``"\\t"``, ``"tab"``… → the character; ``None``/``""`` → detect."""
    if value is None or value == "" or value.lower() == "auto":
        return None
    if value in DELIMITERS:
        return value
    if value in ("\\t", "TAB"):
        return "\t"
    char = DELIMITER_NAMES.get(value.lower())
    if char is None:
        names = ", ".join(f"{n} ({c!r})" for c, n in DELIMITERS.items())
        raise ConfigError(
            f"unknown CSV delimiter {value!r}",
            hint=f"use one of {names}, or leave it unset to detect it",
        )
    return char


def detect(sample: bytes, encoding: str, header_row: int) -> str:
    """The delimiter that splits the header and the rows under it most consistently."""
    text = sample.decode(encoding, errors="replace")
    if len(sample) == SAMPLE_BYTES:  # the last line may be cut: leave it out
        text = text[: max(text.rfind("\n"), 0)]
    best, best_score = ",", (0, 0, 0)
    for delimiter in DELIMITERS:
        try:
            records = list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
        except csv.Error:
            continue
        if len(records) < header_row:
            continue
        width = len(records[header_row - 1])
        body = [r for r in records[header_row : header_row + 50] if r]
        same = sum(1 for r in body if len(r) == width)
        score = (int(width > 1), same, width)
        if score > best_score:
            best, best_score = delimiter, score
    return best
