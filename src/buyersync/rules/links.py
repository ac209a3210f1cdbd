"""Where a problem is in the sheet: its A1 cell, and a link that opens it (pure).

For a Google Sheet the link is the sheet's own URL,
``https://docs.google.com/spreadsheets/d/<id>/edit#gid=<sheetId>&range=<A1>``, which
opens the tab with the cell selected; for a file (CSV, XLSX) there is no URL, only
its file name and the A1 cell (``buyers.csv!C12``).

The place is built from what a run recorded: its source's description
(``sync_runs.source``: ``gsheets:<id>[Tab]``, ``csv:buyers.csv``, ``xlsx:b.xlsx[Tab]``),
the tab's numeric sheetId (``sheet_tabs``) and the sheet column each header sat in
(``sync_run_headers``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from buyersync.rules.normalize import column_letter

SHEETS_URL = "https://docs.google.com/spreadsheets/d/{id}/edit"

_GSHEETS = re.compile(r"^gsheets:(?P<id>[A-Za-z0-9_-]+)(?:\[(?P<tab>.*)\]|#gid=(?P<gid>\d+))?$")
_FILE = re.compile(r"^(?P<kind>csv|xlsx):(?P<name>[^\[]+)(?:\[(?P<tab>.*)\])?$")
_LETTERS = re.compile(r"^[A-Z]{1,3}$")
_CELL = re.compile(r"^[A-Z]{1,3}[0-9]+$")


@dataclass(frozen=True)
class SheetPlace:
    """The sheet a run read, as far as a link needs it."""

    kind: str  # "gsheets", "csv", "xlsx"
    name: str  # the spreadsheet id, or the file name
    tab: str | None = None
    gid: int | None = None
    first_column: int = 0  # of a named range: its first sheet column (0-based)

    @property
    def url(self) -> str | None:
        """The sheet's URL (Google Sheets only), opening the tab when its gid is known."""
        if self.kind != "gsheets":
            return None
        base = SHEETS_URL.format(id=self.name)
        return base if self.gid is None else f"{base}#gid={self.gid}"

    @property
    def label(self) -> str:
        """How the page and reports name the sheet."""
        if self.kind == "gsheets":
            return f"Google Sheet {self.name}" + (f", tab {self.tab}" if self.tab else "")
        return self.name + (f" [{self.tab}]" if self.tab else "")

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "tab": self.tab,
            "gid": self.gid,
            "url": self.url,
            "label": self.label,
        }


def place_of(
    description: str | None, *, gid: int | None = None, first_column: int = 0
) -> SheetPlace | None:
    """The place a source description names (None for one it cannot read)."""
    if not description:
        return None
    m = _GSHEETS.match(description.strip())
    if m:
        given = int(m["gid"]) if m["gid"] is not None else None
        return SheetPlace(
            "gsheets", m["id"], m["tab"], gid if gid is not None else given, first_column
        )
    m = _FILE.match(description.strip())
    if m:
        return SheetPlace(m["kind"], m["name"].strip(), m["tab"])
    return None


def place_of_source(spec: str | None, *, sheet: str | None = None) -> SheetPlace | None:
    """The place of a ``--source`` value (a URL, ``gsheets:<id>``, or a path)."""
    if not spec:
        return None
    m = re.match(r"^https?://docs\.google\.com/spreadsheets/d/([A-Za-z0-9_-]+)", spec)
    if m or spec.startswith("gsheets:"):
        sid = m.group(1) if m else spec.split(":", 1)[1].strip("/").split("#")[0]
        g = re.search(r"[#&?]gid=(\d+)", spec)
        return SheetPlace("gsheets", sid, sheet, int(g.group(1)) if g else None)
    name = spec.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    kind = "xlsx" if name.lower().endswith((".xlsx", ".xlsm")) else "csv"
    return SheetPlace(kind, name, sheet if kind == "xlsx" else None)


def column_index(
    column: str | None, details: Mapping[str, Any], positions: Mapping[str, int]
) -> int | None:
    """The 0-based sheet column a failure is in, if it can be told."""
    cell = _first_cell(details)
    if cell:
        return _letters_index(re.sub(r"[0-9]+$", "", cell))
    if not column:
        return None
    if column in positions:
        return positions[column]
    if _LETTERS.match(column):
        return _letters_index(column)
    lowered = {k.strip().lower(): v for k, v in positions.items()}
    return lowered.get(column.strip().lower())


def _first_cell(details: Mapping[str, Any]) -> str | None:
    cell = details.get("cell")
    if isinstance(cell, str) and _CELL.match(cell):
        return cell
    cells = details.get("cells")
    if isinstance(cells, list) and cells and isinstance(cells[0], Mapping):
        cell = cells[0].get("cell")
        if isinstance(cell, str) and _CELL.match(cell):
            return cell
    return None


def _letters_index(letters: str) -> int:
    n = 0
    for ch in letters:
        n = n * 26 + (ord(ch) - ord("A") + 1)
    return n - 1


def a1(column: int | None, row: int | None) -> str | None:
    """``C12`` for a cell, ``12:12`` for a whole row, None without a row."""
    if row is None:
        return None
    if column is None:
        return f"{row}:{row}"
    return f"{column_letter(column)}{row}"


def cell_link(
    place: SheetPlace | None, column: int | None, row: int | None
) -> dict[str, Any] | None:
    """``{"cell", "where", "url"}`` of a cell (``url`` None for a file), or None."""
    cell = a1(None if column is None else column + (place.first_column if place else 0), row)
    if cell is None:
        return None
    where = cell if place is None else _where(place, cell)
    url = None
    if place is not None and place.kind == "gsheets":
        base = SHEETS_URL.format(id=place.name)
        gid = f"gid={place.gid}&" if place.gid is not None else ""
        url = f"{base}#{gid}range={quote(cell, safe=':')}"
    return {"cell": cell, "where": where, "url": url}


def _where(place: SheetPlace, cell: str) -> str:
    if place.kind == "gsheets":
        return f"{place.tab}!{cell}" if place.tab else cell
    return f"{place.name}" + (f" [{place.tab}]" if place.tab else "") + f"!{cell}"


@dataclass(frozen=True)
class SheetCells:
    """Where a verification's findings are: the sheet it read, the key column, and the
    sheet column of each compared ``buyers`` column."""

    place: SheetPlace | None
    key_index: int
    positions: Mapping[str, int]

    @classmethod
    def of(
        cls, source: Any, key_index: int, columns: Sequence[str], indexes: Sequence[int]
    ) -> SheetCells:
        """For a source that was read (a Google Sheet knows its tab's sheetId by then)."""
        tab = getattr(source, "read_tab", None)
        tab = tab if isinstance(tab, dict) else {}
        place = place_of(
            getattr(source, "description", None),
            gid=tab.get("gid"),
            first_column=int(tab.get("first_column") or 0),
        )
        if place is not None and place.tab is None and tab.get("title"):
            place = SheetPlace(place.kind, place.name, tab["title"], place.gid, place.first_column)
        return cls(place, key_index, dict(zip(columns, indexes, strict=True)))

    def key_cell(self, row: int) -> dict[str, Any] | None:
        return cell_link(self.place, self.key_index, row)

    def cell(self, column: str, row: int) -> dict[str, Any] | None:
        return cell_link(self.place, self.positions.get(column), row)

    def to_json(self, report: Any) -> dict[str, Any]:
        """``sheet``, and the cell of each missing buyer (its key cell) and mismatch."""
        return {
            "sheet": self.place.to_json() if self.place else None,
            "missing": [
                {"buyer_number": k, "row_number": r, "link": self.key_cell(r)}
                for k, r in report.missing
            ],
            "mismatches": [
                {
                    "buyer_number": m.buyer_number,
                    "column": m.column,
                    "row_number": m.row_number,
                    "link": self.cell(m.column, m.row_number),
                }
                for m in report.mismatches
            ],
        }
