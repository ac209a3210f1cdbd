"""``sheet_tabs``: the tab a source's reads found (its numeric sheetId, title, first column).

A Google Sheet is named in ``--source`` by its id, and the tab by title or not at
all; a link to a cell needs the tab's numeric ``sheetId`` (``#gid=``), which only
the sheet's metadata says. Every sync and health check that read it records it
here, by source description (``sync_runs.source``).
"""

from __future__ import annotations

from typing import Any

from buyersync.store.db import Database, utcnow

TABLE = "sheet_tabs"


def remember(db: Database, source: Any) -> None:
    """Record the tab ``source`` read, when the reader says which (Google Sheets)."""
    tab = getattr(source, "read_tab", None)
    description = getattr(source, "description", None)
    if not isinstance(tab, dict) or not description or not db.table_exists(TABLE):
        return
    db.execute(
        "INSERT INTO sheet_tabs (source, gid, title, first_column, seen_at) "
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (source) DO UPDATE SET "
        "gid = excluded.gid, title = excluded.title, first_column = excluded.first_column, "
        "seen_at = excluded.seen_at",
        (
            str(description),
            tab.get("gid"),
            tab.get("title"),
            int(tab.get("first_column") or 0),
            db.ts(utcnow()),
        ),
    )


def get(db: Database, description: str) -> dict[str, Any] | None:
    """``{"gid", "title", "first_column"}`` recorded for a source, or None."""
    if not db.table_exists(TABLE):
        return None
    row = db.query_one(
        "SELECT gid, title, first_column FROM sheet_tabs WHERE source = %s", (description,)
    )
    return dict(row) if row else None
