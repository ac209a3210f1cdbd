"""Property 16 for what is wrong now: the dashboard's problems equal the stored data.

Hypothesis drives full syncs and sync-missing passes over a few buyers whose rows
break (a NUL character in the name: data_format) and get fixed again, on SQLite and
PostgreSQL. After each step the `/api/dashboard` document's open and resolved
problems, grouped by cause, their counts, their cells and the error rate now are
recomputed here with SQL.
"""

from __future__ import annotations

import itertools
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buyersync.api import data
from buyersync.services.missing import sync_missing
from buyersync.services.sync import SyncEngine
from buyersync.settings import Settings
from buyersync.sources.csv_source import CsvSource
from buyersync.store.db import Database
from tests.helpers import write_csv

KEYS = ("B1", "B2", "B3", "B4", "B5")
_counter = itertools.count()
STEP = st.tuples(st.sampled_from(["sync", "sync", "sync-missing"]), st.tuples(*[st.booleans()] * 5))


def _reset(db: Database) -> None:
    for table in ("buyers", "problems", "sync_error_log", "retry_queue", "sync_runs"):
        if db.table_exists(table):
            db.execute(f"DELETE FROM {table}")


def _sql_groups(db: Database, open_: bool) -> dict[tuple[str, str | None], tuple[int, int]]:
    where = "resolved_at IS NULL" if open_ else "resolved_at IS NOT NULL"
    return {
        (r["category"], r["column_name"]): (int(r["n"]), int(r["b"]))
        for r in db.query(
            "SELECT category, column_name, count(*) AS n, count(buyer_number) AS b "
            f"FROM problems WHERE {where} GROUP BY category, column_name"
        )
    }


def _page_groups(groups: list[dict]) -> dict[tuple[str, str | None], tuple[int, int]]:
    found: dict[tuple[str, str | None], tuple[int, int]] = {}
    for g in groups:
        n, b = found.get((g["category"], g["column"]), (0, 0))
        found[(g["category"], g["column"])] = (n + g["count"], b + g["buyers"])
    return found


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, min_size=1, max_size=5))
def test_dashboard_problems_equal_the_stored_data(
    db: Database, tmp_path: Path, steps: list
) -> None:
    _reset(db)
    sheet = tmp_path / f"s{next(_counter)}.csv"
    write_csv(sheet, ["buyer_number", "name"], [[k, "seed"] for k in KEYS[:2]])
    SyncEngine(db, CsvSource(sheet)).run()
    config = Settings(database_url="sqlite://", source=str(sheet))
    for n, (op, broken) in enumerate(steps):
        rows = [[k, "bad\x00" if bad else f"name {n}"] for k, bad in zip(KEYS, broken, strict=True)]
        write_csv(sheet, ["buyer_number", "name"], rows)
        if op == "sync":
            SyncEngine(db, CsvSource(sheet)).run()
        else:
            sync_missing(db, CsvSource(sheet), sleep=lambda s: None)
        doc = data.dashboard(db, config)
        assert _page_groups(doc["problems"]) == _sql_groups(db, True), (op, broken)
        assert _page_groups(doc["resolved_problem_groups"]) == _sql_groups(db, False)
        assert doc["open_problems"] == db.query_value(
            "SELECT count(*) FROM problems WHERE resolved_at IS NULL"
        )
        assert doc["resolved_problems"] == db.query_value(
            "SELECT count(*) FROM problems WHERE resolved_at IS NOT NULL"
        )
        # Each open group's example links to its cell: the name column (B) of its row.
        for g in doc["problems"]:
            row = db.query_value(
                "SELECT row_number FROM problems WHERE id = %s", (g["example"]["id"],)
            )
            assert g["link"]["cell"] == f"B{row}" and g["link"]["where"] == f"{sheet.name}!B{row}"
        # The error rate now: rows of the last full sync still failing / rows it read.
        last = db.query_one(
            "SELECT run_id, rows_read FROM sync_runs WHERE operation = 'sync' "
            "AND status IN ('succeeded', 'completed_with_errors') "
            "ORDER BY finished_at DESC LIMIT 1"
        )
        assert last is not None
        still = db.query_value(
            "SELECT count(*) FROM problems WHERE resolved_at IS NULL AND kind <> 'run' "
            "AND acknowledged_at IS NULL "
            "AND subject IN (SELECT subject FROM sync_error_log WHERE run_id = %s)",
            (last["run_id"],),
        )
        assert doc["now"]["error_rate"] == still / last["rows_read"]
