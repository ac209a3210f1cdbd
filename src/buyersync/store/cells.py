"""The cell of every problem and error-log entry, and the link that opens it.

:class:`Locator` reads what a run recorded — its source (``sync_runs.source``), the
sheet column of each header (``sync_run_headers``) and the tab's sheetId
(``sheet_tabs``) — once per run, and turns ``(run, column, row)`` into
:func:`buyersync.rules.links.cell_link`. ``problems --json``, ``errors --json``, the
API and the page all add the same ``link`` field this way.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from buyersync.rules.links import SheetPlace, cell_link, column_index, place_of
from buyersync.rules.problems import column_of
from buyersync.store import sheettabs
from buyersync.store.db import Database
from buyersync.store.problems import Problem, ProblemGroup


class Locator:
    """Cells and links, with what each run recorded read once."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._places: dict[str, SheetPlace | None] = {}
        self._positions: dict[str, dict[str, int]] = {}
        self._headers = db.table_exists("sync_run_headers")

    def place(self, run_id: str | None) -> SheetPlace | None:
        if not run_id:
            return None
        if run_id not in self._places:
            source = self.db.query_value(
                "SELECT source FROM sync_runs WHERE run_id = %s", (run_id,)
            )
            place = None
            if source:
                tab = sheettabs.get(self.db, str(source)) or {}
                place = place_of(
                    str(source),
                    gid=tab.get("gid"),
                    first_column=int(tab.get("first_column") or 0),
                )
                if place is not None and place.tab is None and tab.get("title"):
                    place = SheetPlace(
                        place.kind, place.name, tab["title"], place.gid, place.first_column
                    )
            self._places[run_id] = place
        return self._places[run_id]

    def positions(self, run_id: str | None) -> dict[str, int]:
        if not run_id or not self._headers:
            return {}
        if run_id not in self._positions:
            found: dict[str, int] = {}
            for r in self.db.query(
                "SELECT position, header, column_name FROM sync_run_headers WHERE run_id = %s",
                (run_id,),
            ):
                pos = int(r["position"])
                if r["header"]:
                    found.setdefault(str(r["header"]), pos)
                if r["column_name"]:
                    found.setdefault(str(r["column_name"]), pos)
            self._positions[run_id] = found
        return self._positions[run_id]

    def locate(
        self,
        run_ids: Sequence[str | None],
        column: str | None,
        row: int | None,
        details: Mapping[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """The link of a cell of the first of ``run_ids`` that recorded its sheet."""
        run_id = next((r for r in run_ids if r and self.place(r) is not None), None)
        if run_id is None:
            run_id = next((r for r in run_ids if r), None)
        index = column_index(column, details or {}, self.positions(run_id))
        return cell_link(self.place(run_id), index, row)

    def problem_json(self, p: Problem) -> dict[str, Any]:
        return {
            **p.to_json(),
            "link": self.locate((p.last_run_id, p.first_run_id), p.column, p.row_number),
        }

    def group_json(self, g: ProblemGroup) -> dict[str, Any]:
        example = self.problem_json(g.example)
        return {**g.to_json(), "example": example, "link": example["link"]}

    def entry_json(self, entry: dict[str, Any]) -> dict[str, Any]:
        """An error-log entry's JSON with its ``link``."""
        details = entry.get("details") or {}
        return {
            **entry,
            "link": self.locate(
                (entry.get("run_id"),), column_of(details), entry.get("row_number"), details
            ),
        }
