"""The demo's story: the sheet, the legacy table and sync, then the real commands in order.

The overview is in :mod:`buyersync.demo`.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from buyersync.demo.directory import (
    DB_FILE,
    REPORT_FILE,
    SHEET_FILE,
    prepare_directory,
    write_config,
)
from buyersync.demo.legacy import create_legacy_table, old_sync
from buyersync.demo.sheet import LIMIT, LONG_BUYERS, generate_buyers, write_sheet
from buyersync.demo.steps import Counts, DemoResult, Echo, Runner
from buyersync.settings import redact_url
from buyersync.store import open_database


def _counts(doc: dict[str, Any]) -> Counts:
    return Counts(
        spreadsheet_count=int(doc["spreadsheet_count"]),
        database_count=int(doc["database_count"]),
        missing_count=int(doc["missing_count"]),
    )


def run_demo(
    directory: Path | None = None, database_url: str | None = None, echo: Echo = print
) -> DemoResult:
    """Reproduce the incident and fix it; return the numbers.

    ``database_url`` None means an SQLite file in the demo directory. A PostgreSQL
    database must not have a ``buyers`` or ``sync_runs`` table yet (ConfigError). Raises
    DemoStepFailed when a command cannot do its work.
    """
    clock = time.monotonic()
    directory = prepare_directory(directory)
    sqlite = database_url is None
    url = database_url or f"sqlite:///{directory / DB_FILE}"
    display = redact_url(url)
    echo(f"buyersync demo — the incident of 356 missing buyers, and its fix, on {display}")
    echo(f"files: {directory}")

    rows = generate_buyers()
    write_sheet(directory / SHEET_FILE, rows)
    write_config(directory, sqlite)
    echo("")
    echo(
        f"── the sheet: {SHEET_FILE}, {len(rows):,} buyers; {LONG_BUYERS} of them have a "
        f"value longer than {LIMIT} characters (an address, a note, a full name)"
    )

    with open_database(url) as db:
        create_legacy_table(db)
        echo(
            f"── the legacy table: buyers with every text column VARCHAR({LIMIT})"
            + (f" and CHECK (length(col) <= {LIMIT})" if sqlite else "")
        )
        landed = old_sync(db, rows)
    lost = len(rows) - landed
    echo(
        f"── the old sync: inserted row by row, dropped whatever the database refused, "
        f"exited 0 and logged nothing → {landed:,} in the database, {lost} missing "
        f"({100 * lost / len(rows):.1f}%) and nobody knew"
    )
    if not sqlite:
        echo(f"   (the commands below read BUYERSYNC_DATABASE_URL={display})")

    runner = Runner(directory, database_url, echo)
    runner.run(
        "1. Is the schema able to hold the sheet?",
        ["schema", "check"],
        lambda d: (
            f"{len(d['non_text_fields'])} length-limited columns; "
            f"{len(d.get('would_fail') or [])} sheet rows would not fit"
        ),
    )
    before = _counts(
        runner.run(
            "2. Which buyers are missing?",
            ["missing"],
            lambda d: (
                f"sheet {d['spreadsheet_count']:,}, database "
                f"{d['database_count']:,}, missing "
                f"{d['missing_count']:,}"
            ),
        ).result
    )
    runner.run(
        "3. Sync with error handling: nothing is dropped silently any more",
        ["sync"],
        lambda d: (
            f"rows read {d['rows_read']:,}, inserted {d['inserted']:,}, updated "
            f"{d['updated']:,}, failed {d['failed']:,} (each one logged)"
        ),
    )
    errors = runner.run(
        "4. Every failure is in the error log, with its row and reason",
        ["errors", "--type", "value_too_long", "--limit", "3"],
        lambda d: (
            "counts by type: "
            + ", ".join(f"{k} {v}" for k, v in d["counts_by_type"].items())
            + _first_error(d)
        ),
    )
    logged = int(errors.result["counts_by_type"].get("value_too_long", 0))
    runner.run(
        "5. Migration 050: back up, convert VARCHAR(50) → TEXT, verify",
        ["schema", "fix", "--apply"],
        lambda d: (
            f"converted {len(d.get('converted') or [])} columns; backup "
            f"{d.get('backup_table')} ({d.get('backup_rows')} rows)"
        ),
    )
    runner.run(
        "6. Sync only the missing buyers",
        ["sync-missing"],
        lambda d: f"attempted {d['attempted']:,}, synced {d['synced']:,}, failed {d['failed']:,}",
    )
    runner.run(
        "7. What is wrong now? Every problem of step 3 is resolved, no full sync needed",
        ["problems", "--all"],
        lambda d: (
            f"open problems {d['open']}; resolved "
            f"{sum(g['count'] for g in d['groups'] if not g['open']):,}"
        ),
    )
    verify = runner.run(
        "8. Verify every buyer, field by field",
        ["verify", "--full", "--output", REPORT_FILE],
        lambda d: (
            f"checked {d['checked']:,}; missing {len(d['missing'])}, extra "
            f"{len(d['extra'])}, mismatches {len(d['mismatches'])} → "
            + ("OK" if d["ok"] else "NOT OK")
        ),
    )
    health = runner.run(
        "9. Health check",
        ["health"],
        lambda d: (
            f"{'healthy' if d['healthy'] else 'UNHEALTHY'}: missing "
            f"{d['missing_count']}, error rate {d['error_rate']:.1%}, retry "
            f"queue {d['retry_queue_depth']}, permanent failures "
            f"{d['permanent_failures']}, alerts {len(d['alerts'])}"
        ),
    )
    after = _counts(health.result)
    result = DemoResult(
        directory=directory,
        database=display,
        before=before,
        after=after,
        logged_value_too_long=logged,
        verify_ok=bool(verify.result["ok"]),
        healthy=bool(health.result["healthy"]),
        steps=tuple(runner.steps),
        duration_s=time.monotonic() - clock,
    )
    _epilogue(result, sqlite, echo)
    return result


def _first_error(doc: dict[str, Any]) -> str:
    entries = doc.get("errors") or []
    if not entries:
        return ""
    e = entries[0]
    return f"\n  e.g. row {e['row_number']} (buyer {e['buyer_number']}): {e['error_message']}"


def _epilogue(result: DemoResult, sqlite: bool, echo: Echo) -> None:
    b, a = result.before, result.after
    echo("")
    echo(
        f"before: {b.missing_count} of {b.spreadsheet_count:,} buyers missing "
        f"({b.missing_percent}%), no error anywhere"
    )
    echo(
        f"after:  {a.missing_count} missing, {result.logged_value_too_long} failures logged "
        f"and fixed, verification {'clean' if result.verify_ok else 'NOT clean'}, "
        f"{'healthy' if result.healthy else 'UNHEALTHY'} ({result.duration_s:.0f} s)"
    )
    echo("")
    echo("keep exploring (the settings are in buyersync.toml there):")
    echo(f"  cd {result.directory}")
    if not sqlite:
        echo("  export BUYERSYNC_DATABASE_URL=...   # the database you gave --db")
    echo("  buyersync errors --type value_too_long")
    echo("  buyersync missing")
    echo(f"  open {REPORT_FILE}")
    echo("  buyersync serve                     # the dashboard on http://127.0.0.1:8000")
