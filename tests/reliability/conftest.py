"""Fixtures of the fault-injection suite: sheets, the real CLI, and the invariant.

Every case drives the real ``buyersync`` command in a subprocess (so it can be
killed, raced and cut off from its database) against a fresh SQLite file and a
fresh PostgreSQL database, then checks the invariant of the issue: every non-blank
row of the sheet is in ``buyers`` or in ``sync_error_log``, and no buyer appears twice.
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from buyersync.store import open_database
from buyersync.store.db import Database
from tests.helpers import assert_every_row_accounted

HEADER = ["buyer_number", "name", "address", "note"]
BIG_ROWS = 100_000


def sheet_row(i: int) -> list[str]:
    """Row ``i`` of the generated sheets (about 120 bytes; keys sort like their index)."""
    return [
        f"B{i:07d}",
        f"Buyer {i}",
        f"{i} Long Street, Some Town, Postcode {i % 997:03d}",
        "note " * (i % 7),
    ]


def write_sheet(path: Path, n: int, start: int = 0) -> Path:
    with path.open("w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(HEADER)
        for i in range(start, start + n):
            writer.writerow(sheet_row(i))
    return path


def sheet_keys(n: int, start: int = 0) -> set[str]:
    return {f"B{i:07d}" for i in range(start, start + n)}


@pytest.fixture(scope="session")
def big_sheet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 100,000-row CSV, written once per session."""
    return write_sheet(tmp_path_factory.mktemp("sheets") / "big.csv", BIG_ROWS)


def cli_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUYERSYNC_")}
    env.update(extra or {})
    return env


def cli(
    *args: str, timeout: float = 300, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """Run ``buyersync ARGS`` to the end (the real command, as cron would)."""
    return subprocess.run(
        [sys.executable, "-m", "buyersync", *args],
        env=cli_env(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def spawn(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``buyersync ARGS`` without waiting (to kill it or race it)."""
    return subprocess.Popen(
        [sys.executable, "-m", "buyersync", *args],
        env=cli_env(env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def json_of(out: subprocess.CompletedProcess[str] | tuple[str, str]) -> dict[str, Any]:
    stdout = out[0] if isinstance(out, tuple) else out.stdout
    return json.loads(stdout)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database URL, once for SQLite and once for PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'buyers.db'}"
    return str(request.getfixturevalue("pg_url"))


@contextmanager
def opened(url: str) -> Iterator[Database]:
    db = open_database(url)
    try:
        yield db
    finally:
        db.close()


def buyer_keys(db: Database) -> list[str]:
    if not db.table_exists("buyers"):
        return []
    return [r["buyer_number"] for r in db.query("SELECT buyer_number FROM buyers")]


def assert_no_duplicates(db: Database) -> None:
    """No buyer appears twice (the unique key holds, and nothing around it is fooled)."""
    keys = buyer_keys(db)
    assert len(keys) == len(set(keys)), "a buyer number appears twice in buyers"


def assert_invariant(db: Database, run_id: str, rows: Sequence[Sequence[str]]) -> None:
    """The issue's invariant for one run: every non-blank row in buyers or the error log
    of that run (never both), and no buyer twice."""
    assert_no_duplicates(db)
    assert_every_row_accounted(db, run_id, rows)


def assert_converged(db: Database, expected: set[str]) -> None:
    """``buyers`` holds exactly the sheet's buyers, each once."""
    keys = buyer_keys(db)
    assert len(keys) == len(set(keys)), "a buyer number appears twice in buyers"
    got = set(keys)
    assert got == expected, (
        f"{len(expected - got)} sheet buyers missing, {len(got - expected)} unexpected"
    )


def run_statuses(db: Database, operation: str = "sync") -> dict[str, str]:
    return {
        r["run_id"]: r["status"]
        for r in db.query("SELECT run_id, status FROM sync_runs WHERE operation = %s", (operation,))
    }


def wait_until_running(url: str, proc, timeout: float = 30) -> None:  # type: ignore[no-untyped-def]
    """Wait until a spawned sync has recorded its run (past start-up and migration),
    so a kill or a terminated backend lands mid-run rather than in interpreter start-up."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with opened(url) as db:
                if db.table_exists("sync_runs") and db.query_value(
                    "SELECT count(*) FROM sync_runs WHERE status = 'running'"
                ):
                    return
        except Exception:
            pass
        time.sleep(0.02)
