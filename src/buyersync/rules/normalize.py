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
    sheet column is ignored: a blank header, or ``""`` in ``[mapping]``).
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

    @property
    def blank_ignored(self) -> tuple[int, ...]:
        """Ignored columns whose header is blank and that ``[mapping]`` does not name.

        Their values are not stored, so the sync warns with a count of them; a column
        ignored on purpose (``"#C" = ""``) is not warned about.
        """
        return tuple(
            i
            for i, c in enumerate(self.columns)
            if c is None and not self.headers[i].strip() and i not in self.ignored_by_mapping
        )

    #: Indexes ignored because ``[mapping]`` says so (``""``).
    ignored_by_mapping: frozenset[int] = frozenset()


#: A ``[mapping]`` key naming a sheet column by letter: ``"#C"``.
_LETTER_KEY = re.compile(r"#([A-Za-z]{1,3})")


def letter_key(key: str) -> int | None:
    """The 0-based column index a ``"#C"`` mapping key names, else ``None``."""
    match = _LETTER_KEY.fullmatch(key.strip())
    return column_index(match.group(1)) if match else None


def column_index(letters: str) -> int:
    """0-based index of a spreadsheet column letter (A → 0, AA → 26)."""
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n - 1


def map_headers(
    headers: Sequence[str],
    *,
    key_header: str = KEY_COLUMN,
    mapping: Mapping[str, str] | None = None,
) -> ColumnMap:
    """Map sheet headers to database columns, or raise :class:`HeaderError`.

    ``mapping`` (the ``[mapping]`` table of ``buyersync.toml``) maps a header, as written
    in the sheet, or a column letter (``"#C"``, whatever its header) to a column name;
    ``""`` ignores the column. A letter key wins over a header key. Other headers are
    normalized. Blank headers at the end of the header row are dropped; a blank header
    between others is ignored (``columns[i]`` is ``None``). A header seen twice, two
    headers that normalize to the same column, a header that maps onto a reserved
    column, an over-long column name, an ignored key column and a letter key beyond
    the header row are errors that name the columns by letter.
    """
    mapping = dict(mapping or {})
    by_letter: dict[int, str] = {}
    by_header: dict[str, str] = {}
    for key, value in mapping.items():
        index = letter_key(key)
        if index is None:
            by_header[key] = value
        else:
            by_letter[index] = value
    norm_mapping = {normalize_header(k): v for k, v in by_header.items()}
    trimmed = list(headers)
    while trimmed and not str(trimmed[-1]).strip():
        trimmed.pop()
    columns: list[str | None] = []
    problems: list[str] = []
    ignored: set[int] = set()
    seen: dict[str, int] = {}
    duplicates: list[tuple[int, int, str]] = []
    for index in sorted(i for i in by_letter if i >= len(trimmed)):
        last = column_letter(len(trimmed) - 1) if trimmed else "none"
        problems.append(
            f"[mapping] names column {column_letter(index)} but the header row ends at "
            f"column {last}; give column {column_letter(index)} a header in the sheet"
        )
    for index, raw in enumerate(trimmed):
        header = str(raw)
        letter = column_letter(index)
        column: str | None
        if index in by_letter:
            column = by_letter[index]
        elif not header.strip():
            columns.append(None)
            continue
        elif header in by_header:
            column = by_header[header]
        elif normalize_header(header) in norm_mapping:
            column = norm_mapping[normalize_header(header)]
        else:
            column = normalize_header(header)
        if column == "":
            ignored.add(index)
            columns.append(None)
            continue
        if "\x00" in column:
            # PostgreSQL would silently cut the column name at the NUL, SQLite refuses it.
            problems.append(
                f"column {letter} ({header!r}) contains a NUL character, "
                "which a column name cannot hold"
            )
            columns.append(None)
            continue
        if not column.strip():
            problems.append(
                f'column {letter} ({header!r}) is mapped to a blank name; use "" to ignore it'
            )
            columns.append(None)
            continue
        if column in seen:
            duplicates.append((seen[column], index, column))
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
    for first, index, column in duplicates:
        other = column_letter(index)
        why = (
            "a header seen twice"
            if str(trimmed[first]) == str(trimmed[index])
            else "headers that are the same once normalized"
        )
        problems.append(
            f"columns {column_letter(first)} ({trimmed[first]!r}) and {other} "
            f"({trimmed[index]!r}) both map to column {column!r} ({why}); map or ignore one "
            f"of them by column letter in [mapping]: "
            f'"#{other}" = {_toml_key(_free_name(column, seen))} or "#{other}" = ""'
        )
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
    elif key_index in ignored:
        letter = column_letter(key_index)
        problems.append(
            f"column {letter} ({str(trimmed[key_index])!r}) holds the buyer numbers and cannot "
            'be ignored; remove the [mapping] entry that maps it to ""'
        )
    else:
        key_col = columns[key_index]
        if key_col != KEY_COLUMN and KEY_COLUMN in seen:
            named = seen[KEY_COLUMN]
            if named != key_index:
                problems.append(
                    f"column {column_letter(named)} is named {KEY_COLUMN!r} but the key is "
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
        headers=tuple(str(h) for h in trimmed),
        columns=tuple(columns),
        key_index=key_index,
        ignored_by_mapping=frozenset(ignored),
    )


def _free_name(column: str, taken: Mapping[str, int]) -> str:
    """``column_2`` (or the next free number): a name to suggest for a duplicate."""
    n = 2
    while f"{column}_{n}" in taken:
        n += 1
    return f"{column}_{n}"


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
