"""Helpers shared by tests: write sheets, read back what the database holds."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from collections.abc import Collection, Sequence
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from buyersync.cli.main import cli
from buyersync.rules.normalize import normalize_key
from buyersync.store.db import Database


def write_csv(
    path: Path, header: Sequence[str], rows: Sequence[Sequence[str]], encoding: str = "utf-8"
) -> Path:
    with path.open("w", encoding=encoding, newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def run_cli(
    *args: str,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    timeout: float = 300,
    unset: Collection[str] = (),
) -> subprocess.CompletedProcess[str]:
    """``buyersync ARGS`` as its own process, as an operator runs it: without this
    environment's ``BUYERSYNC_*`` settings (nor the variables named in ``unset``), with
    ``env`` added."""
    full_env = {
        k: v for k, v in os.environ.items() if not k.startswith("BUYERSYNC_") and k not in unset
    }
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "buyersync", *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def doc_of(out: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The JSON document a ``--json`` command printed (its stderr when it printed none)."""
    assert out.stdout, out.stderr
    return json.loads(out.stdout)  # type: ignore[no-any-return]


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    """``buyersync ARGS`` in this process (click's CliRunner): exit code, stdout, stderr."""
    result = CliRunner().invoke(cli, list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def buyers_table(db: Database, columns: Sequence[str] = ()) -> dict[str, dict]:
    cols = ", ".join(
        db.quote(c) for c in ("buyer_number", *columns, "created_at", "synced_at", "db_updated_at")
    )
    return {r["buyer_number"]: r for r in db.query(f"SELECT {cols} FROM buyers")}


def error_rows(db: Database, run_id: str) -> list[dict]:
    return db.query(
        "SELECT buyer_number, row_number, error_type, error_message, details, operation, run_id, "
        "retryable, created_at FROM sync_error_log WHERE run_id = %s",
        (run_id,),
    )


def assert_every_row_accounted(
    db: Database, run_id: str, rows: Sequence[Sequence[str]], key_index: int = 0, first_row: int = 2
) -> None:
    """Every non-blank row of the sheet is in buyers or in the error log of the run."""
    in_db = {r["buyer_number"] for r in db.query("SELECT buyer_number FROM buyers")}
    logged = {r["row_number"] for r in error_rows(db, run_id)}
    seen: set[str] = set()
    for n, row in enumerate(rows, start=first_row):
        if not any(str(v).strip() for v in row):
            continue
        key = normalize_key(row[key_index])
        landed = key in in_db and key not in seen
        seen.add(key)
        assert landed or n in logged, f"row {n} ({key!r}) neither landed nor was logged"
        assert not (landed and n in logged), f"row {n} ({key!r}) both landed and was logged"
