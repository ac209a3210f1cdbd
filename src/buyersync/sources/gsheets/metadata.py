"""The spreadsheet's metadata: which tab (or named range) is read, its bounds and merges.

One request brings the tabs, their merges and the named ranges (:data:`METADATA_FIELDS`).
Every field used is checked for its type and range first, so a bad answer stops the
read with an error naming the field rather than a ``KeyError`` later.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from buyersync.errors import ConfigError, SourceError
from buyersync.sources.a1 import column_index, column_name, split_range

#: Bounds used when the metadata does not say how big the grid is.
UNKNOWN_ROWS = 1_000_000
UNKNOWN_COLUMNS = 702  # A..ZZ
#: The metadata the reader needs: tabs, their merges, and the named ranges.
METADATA_FIELDS = "sheets.properties,sheets.merges,namedRanges"


@dataclass(frozen=True, order=True)
class Merge:
    """One merged range: 1-based rows, 0-based columns, inclusive (ordered as read)."""

    first_row: int
    last_row: int
    first_col: int
    last_col: int


@dataclass
class _Tab:
    """What is read: a tab, or the part of it a named range covers (1-based rows,
    0-based columns, inclusive)."""

    title: str
    header_row: int
    last_row: int
    first_col: int
    last_col: int
    #: The merges of the tab.
    merges: list[Merge] = field(default_factory=list)
    #: The tab's ``sheetId`` (the ``#gid=`` of its URL).
    sheet_id: int = 0


def choose_tab(
    meta: dict[str, Any],
    *,
    spreadsheet_id: str,
    sheet: str | None,
    gid: int | None,
    header_row_given: int,
) -> _Tab:
    """The tab to read (or the named range) of the checked metadata ``meta``: picked by
    ``sheet`` (a title or a named range), else ``gid``, else the first visible tab."""
    _check_metadata(meta)
    tabs = [s for s in meta["sheets"] if isinstance(s, dict)]
    grid = [s for s in tabs if s.get("properties", {}).get("sheetType", "GRID") == "GRID"]
    chosen: dict[str, Any] | None = None
    bounds: dict[str, Any] | None = None
    if sheet is not None:
        chosen = next((t for t in grid if t["properties"].get("title") == sheet), None)
        if chosen is None:
            named = [n for n in meta.get("namedRanges") or [] if isinstance(n, dict)]
            found = next((n for n in named if n.get("name") == sheet), None)
            if found is not None:
                grid_range = found.get("range")
                bounds = grid_range if isinstance(grid_range, dict) else {}
                sheet_id = _index(bounds, "sheetId")
                chosen = next(
                    (t for t in grid if _index(t["properties"], "sheetId") == sheet_id), None
                )
            if chosen is None and "!" in sheet:
                # An A1 range, 'Buyers'!A1:F: the named tab, bounded like a named range.
                title, cells = split_range(sheet)
                chosen = next((t for t in grid if t["properties"].get("title") == title), None)
                if chosen is not None:
                    bounds = _grid_range(cells, sheet)
            if chosen is None:
                names = ", ".join(repr(t["properties"].get("title")) for t in grid) or "none"
                ranges = ", ".join(repr(n.get("name")) for n in named)
                raise ConfigError(
                    f"spreadsheet {spreadsheet_id} has no sheet or named range "
                    f"{sheet!r}; its sheets are: {names}"
                    + (f"; its named ranges: {ranges}" if ranges else ""),
                    hint="pass --sheet (or --range) with one of those names, or an A1 "
                    "range such as 'Sheet1!A1:F'",
                )
    elif gid is not None:
        chosen = next((t for t in grid if t["properties"].get("sheetId") == gid), None)
        if chosen is None:
            gids = ", ".join(
                f"{t['properties'].get('sheetId')} ({t['properties'].get('title')!r})" for t in grid
            )
            raise ConfigError(
                f"spreadsheet {spreadsheet_id} has no sheet with gid {gid}; its sheets are: {gids}",
                hint="copy the URL of the tab again, or use --sheet NAME",
            )
    else:
        chosen = next((t for t in grid if not t["properties"].get("hidden")), None)
        if chosen is None:
            raise SourceError(
                f"spreadsheet {spreadsheet_id} has no visible sheet",
                hint="unhide a sheet, or name one with --sheet",
            )
    props = chosen["properties"]
    title = str(props.get("title", ""))
    # Google always sends the grid's size; a stand-in that does not gets generous
    # bounds rather than a read cut at column Z (trailing empty cells cost nothing).
    gp = props.get("gridProperties", {})
    row_count = gp.get("rowCount", UNKNOWN_ROWS)
    col_count = max(1, gp.get("columnCount", UNKNOWN_COLUMNS))
    merges: list[Merge] = []
    for m in chosen.get("merges") or []:
        if isinstance(m, dict):
            r0, r1 = _index(m, "startRowIndex"), _index(m, "endRowIndex", row_count)
            c0, c1 = _index(m, "startColumnIndex"), _index(m, "endColumnIndex", col_count)
            if r1 > r0 and c1 > c0:
                merges.append(Merge(r0 + 1, r1, c0, c1 - 1))
    if bounds is None:
        header_row, last_row, first_col, last_col = header_row_given, row_count, 0, col_count - 1
    else:
        # GridRange: 0-based, end exclusive, an absent index is 0 or unbounded.
        header_row = _index(bounds, "startRowIndex") + header_row_given
        last_row = min(_index(bounds, "endRowIndex", row_count), row_count)
        first_col = _index(bounds, "startColumnIndex")
        last_col = min(_index(bounds, "endColumnIndex", col_count), col_count) - 1
    if header_row > last_row:
        where = f"range {sheet!r}" if bounds is not None else f"sheet {title!r}"
        raise SourceError(
            f"{where} has {last_row} rows; there is no header row on row {header_row}",
            hint="check --header-row",
        )
    sheet_id = props.get("sheetId", 0)
    return _Tab(
        title=title,
        header_row=header_row,
        last_row=last_row,
        first_col=first_col,
        last_col=last_col,
        merges=merges,
        sheet_id=sheet_id,
    )


_A1_CELL = re.compile(r"^([A-Za-z]{0,3})(\d*)$")


def _grid_range(cells: str, spec: str) -> dict[str, Any]:
    """An A1 range (``A1:F``, ``B3:G200``, ``A:F``) as a GridRange (0-based, end
    exclusive, an absent index unbounded), or a ConfigError naming it."""
    start, _, end = cells.partition(":")
    first, last = _A1_CELL.match(start.strip()), _A1_CELL.match((end or start).strip())
    if not cells.strip() or first is None or last is None:
        raise ConfigError(
            f"--range {spec!r} is not an A1 range",
            hint="write it as Sheet!A1:F, Sheet!B3:G200 or Sheet!A:F",
        )
    bounds: dict[str, Any] = {}
    if first.group(1):
        bounds["startColumnIndex"] = column_index(first.group(1))
    if first.group(2):
        bounds["startRowIndex"] = int(first.group(2)) - 1
    if last.group(1):
        bounds["endColumnIndex"] = column_index(last.group(1)) + 1
    if last.group(2):
        bounds["endRowIndex"] = int(last.group(2))
    return bounds


def _index(obj: dict[str, Any], key: str, default: int = 0) -> int:
    """A GridRange index: absent means ``default``; anything but an integer is refused."""
    value = obj.get(key, default)
    if type(value) is not int or value < 0:
        raise _bad_metadata(key, value, "a whole number of 0 or more")
    return value


#: The largest grid Google Sheets allows (10 million cells; columns up to ZZZ).
MAX_GRID_ROWS = 10_000_000
MAX_GRID_COLUMNS = 18_278

# What the reader uses of the metadata, and what each field must be: (type, required).
_SHEET_FIELDS: dict[str, tuple[type, bool]] = {
    "title": (str, True),
    "sheetId": (int, False),
    "sheetType": (str, False),
    "hidden": (bool, False),
    "gridProperties": (dict, False),
}


def _bad_metadata(path: str, value: Any, expected: str) -> SourceError:
    shown = repr(value) if isinstance(value, int | float | bool) or value is None else None
    if isinstance(value, str):
        shown = repr(value[:40]) + ("…" if len(value) > 40 else "")
    what = shown or f"a JSON {_json_type(value)}"
    return SourceError(
        f"Google Sheets metadata has a bad {path}: {what}, expected {expected}; the sheet "
        "was not read",
        hint="run the sync again; if it keeps happening, check what answers at "
        "--sheets-api-url (a proxy?)",
        details={"field": path},
    )


def _json_type(value: Any) -> str:
    names = {dict: "object", list: "array", str: "string", bool: "boolean", type(None): "null"}
    return names.get(type(value), "number")


def _check_metadata(meta: dict[str, Any]) -> None:
    """Every field of the metadata the reader uses has its type and range, or the read
    stops with an error naming the field (never a ValueError or KeyError later)."""
    for i, sheet in enumerate(meta["sheets"]):
        where = f"sheets[{i}]"
        if not isinstance(sheet, dict):
            raise _bad_metadata(where, sheet, "an object")
        props = sheet.get("properties")
        if not isinstance(props, dict):
            raise _bad_metadata(f"{where}.properties", props, "an object")
        for key, (kind, required) in _SHEET_FIELDS.items():
            if key not in props and not required:
                continue
            value = props.get(key)
            if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
                expected = {str: "a string", int: "a whole number", bool: "true or false"}
                raise _bad_metadata(
                    f"{where}.properties.{key}", value, expected.get(kind, "an object")
                )
        grid = props.get("gridProperties", {})
        for key, top in (("rowCount", MAX_GRID_ROWS), ("columnCount", MAX_GRID_COLUMNS)):
            if key in grid:
                value = grid[key]
                if type(value) is not int or not 0 <= value <= top:
                    raise _bad_metadata(
                        f"{where}.properties.gridProperties.{key}",
                        value,
                        f"a whole number from 0 to {top:,}",
                    )
        merges = sheet.get("merges")
        if merges is not None and not isinstance(merges, list):
            raise _bad_metadata(f"{where}.merges", merges, "an array")
    named = meta.get("namedRanges")
    if named is not None:
        if not isinstance(named, list):
            raise _bad_metadata("namedRanges", named, "an array")
        for i, item in enumerate(named):
            if isinstance(item, dict) and not isinstance(item.get("name", ""), str):
                raise _bad_metadata(f"namedRanges[{i}].name", item.get("name"), "a string")


def _section_rows(tab: _Tab, width: int) -> set[int]:
    """Rows below the header whose cells are one merged range across the whole table."""
    if width < 2:
        return set()
    first, last = tab.first_col, tab.first_col + width - 1
    return {
        m.first_row
        for m in tab.merges
        if tab.header_row < m.first_row <= tab.last_row
        and m.first_col <= first
        and m.last_col >= last
    }


def _other_merges(tab: _Tab, width: int, sections: set[int]) -> list[str]:
    """A1 names of the merges inside the table that are not section rows."""
    first, last = tab.first_col, tab.first_col + width - 1
    found = []
    for merge in sorted(tab.merges):
        r0, r1, c0, c1 = merge.first_row, merge.last_row, merge.first_col, merge.last_col
        if r1 <= tab.header_row or r0 > tab.last_row or c1 < first or c0 > last:
            continue
        if r0 in sections and c0 <= first and c1 >= last:
            continue
        found.append(f"{column_name(c0)}{r0}:{column_name(c1)}{r1}")
    return found
