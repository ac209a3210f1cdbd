"""Normalization of buyer numbers and headers: one way, everywhere (requirement 6.1)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from buyersync.errors import HeaderError

#: Columns buyersync manages itself in ``buyers``; a sheet column may not map onto them.
RESERVED_COLUMNS: frozenset[str] = frozenset({"created_at", "synced_at", "db_updated_at"})
KEY_COLUMN = "buyer_number"
#: PostgreSQL truncates identifiers longer than this many bytes; we refuse them instead.
MAX_IDENTIFIER_BYTES = 63

_SPACES = re.compile(r"\s+")


def normalize_key(value: str | None) -> str:
    """The canonical form of a buyer number: Unicode NFKC, then trimmed.

    NFKC folds full-width digits and letters (``１２３`` → ``123``), so a number typed
    on a Japanese keyboard matches the same number typed in ASCII. Returns ``""`` for
    a missing key.
    """
    if value is None:
        return ""
    return unicodedata.normalize("NFKC", value).strip()


def normalize_header(header: str) -> str:
    """A header's column name: NFKC, trimmed, lower case, runs of whitespace → ``_``."""
    text = unicodedata.normalize("NFKC", header).strip().lower()
    return _SPACES.sub("_", text)


@dataclass(frozen=True)
class ColumnMap:
    """How the sheet's columns map to ``buyers`` columns.

    ``columns[i]`` is the database column for sheet column ``i`` (``None`` when the
    sheet column is deliberately ignored: blank trailing headers with no data).
    ``key_index`` is the sheet column holding the buyer number; it maps to
    ``buyer_number``.
    """

    headers: tuple[str, ...]
    columns: tuple[str | None, ...]
    key_index: int

    @property
    def data_columns(self) -> tuple[str, ...]:
        """The mapped database columns other than the key, in sheet order."""
        return tuple(c for i, c in enumerate(self.columns) if c is not None and i != self.key_index)


def map_headers(
    headers: Sequence[str],
    *,
    key_header: str = KEY_COLUMN,
    mapping: Mapping[str, str] | None = None,
) -> ColumnMap:
    """Map sheet headers to database columns, or raise :class:`HeaderError`.

    ``mapping`` (the ``[mapping]`` table of ``buyersync.toml``) maps a header, as written
    in the sheet, to a column name; other headers are normalized. Blank headers at the
    end of the header row are ignored; a blank header between others, a header seen
    twice, two headers that normalize to the same column, a header that maps onto a
    reserved column, and an over-long column name are errors that name the columns.
    """
    mapping = dict(mapping or {})
    norm_mapping = {normalize_header(k): v for k, v in mapping.items()}
    trimmed = list(headers)
    while trimmed and not str(trimmed[-1]).strip():
        trimmed.pop()
    columns: list[str | None] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for index, raw in enumerate(trimmed):
        header = str(raw)
        letter = column_letter(index)
        if not header.strip():
            problems.append(f"column {letter} has a blank header")
            columns.append(None)
            continue
        if "\x00" in header:
            # PostgreSQL would silently cut the column name at the NUL, SQLite refuses it.
            problems.append(
                f"column {letter} ({header!r}) contains a NUL character, "
                "which a column name cannot hold"
            )
            columns.append(None)
            continue
        if header in mapping:
            column = mapping[header]
        elif normalize_header(header) in norm_mapping:
            column = norm_mapping[normalize_header(header)]
        else:
            column = normalize_header(header)
        if column in seen:
            first = seen[column]
            problems.append(
                f"columns {column_letter(first)} ({trimmed[first]!r}) and {letter} ({header!r}) "
                f"both map to column {column!r}"
            )
        else:
            seen[column] = index
        if column in RESERVED_COLUMNS:
            problems.append(f"column {letter} ({header!r}) maps to reserved column {column!r}")
        size = len(column.encode("utf-8"))
        if size > MAX_IDENTIFIER_BYTES:
            shown = header if len(header) <= 100 else header[:100] + "…"
            problems.append(
                f"column {letter} ({shown!r}) is {size} bytes as a column name, longer than "
                f"{MAX_IDENTIFIER_BYTES} bytes (PostgreSQL would cut it short); map it to a "
                f'shorter name in buyersync.toml: [mapping] {_toml_key(header)} = "short_name"'
            )
        columns.append(column)
    key_norm = normalize_header(key_header)
    key_index = -1
    for index, header in enumerate(trimmed):
        if str(header) == key_header or normalize_header(str(header)) == key_norm:
            key_index = index
            break
    if key_index < 0 and KEY_COLUMN in seen and key_header == KEY_COLUMN:
        key_index = seen[KEY_COLUMN]
    if key_index < 0:
        shown = ", ".join(repr(str(h)) for h in trimmed[:12]) or "(no headers)"
        problems.append(
            f"no column is headed {key_header!r} (headers: {shown}); "
            "name the buyer-number column with --key HEADER or check --header-row"
        )
    else:
        key_col = columns[key_index]
        if key_col is not None and key_col != KEY_COLUMN and KEY_COLUMN in seen:
            other = seen[KEY_COLUMN]
            if other != key_index:
                problems.append(
                    f"column {column_letter(other)} is named {KEY_COLUMN!r} but the key is "
                    f"column {column_letter(key_index)}; rename one with [mapping]"
                )
        columns[key_index] = KEY_COLUMN
    if problems:
        raise HeaderError(
            "the header row cannot be mapped to database columns: " + "; ".join(problems),
            hint="fix the headers in the sheet, or map them in the [mapping] table of buyersync.toml",
            details={"problems": problems},
        )
    return ColumnMap(
        headers=tuple(str(h) for h in trimmed), columns=tuple(columns), key_index=key_index
    )


def _toml_key(text: str) -> str:
    """``text`` as a quoted TOML key (basic string escapes)."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(_toml_char(c) for c in escaped) + '"'


def _toml_char(c: str) -> str:
    if c.isprintable():
        return c
    return f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}"


def column_letter(index: int) -> str:
    """Spreadsheet column letter for a 0-based index (0 → A, 26 → AA)."""
    letters = ""
    n = index + 1
    while n:
        n, rem = divmod(n - 1, 26)
        letters = chr(65 + rem) + letters
    return letters
