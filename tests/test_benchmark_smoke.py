"""The benchmark runner still runs end to end (500 rows, --quick), so it cannot rot.

It is not a performance test: no timing is asserted, only that every scenario ran,
that buyersync's syncs succeeded, and that the Markdown report holds the table.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

RUNNER = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"


@pytest.mark.postgres
def test_runner_quick_smoke(pg_server: str, tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUYERSYNC_")}
    proc = subprocess.run(
        [
            sys.executable,
            str(RUNNER),
            "--sizes",
            "500",
            "--quick",
            "--pg-url",
            pg_server,
            "--work-dir",
            str(tmp_path / "work"),
            "--results",
            str(results),
            "--db-prefix",
            f"smoke{os.getpid()}_",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    text = results.read_text(encoding="utf-8")
    assert "## Machine" in text and "postgresql: " in text
    rows = [line for line in text.splitlines() if line.startswith("| 500 |")]
    by_name = {tuple(c.strip() for c in line.split("|")[2:5]): line for line in rows}
    for key in [
        ("ceiling: CSV → COPY into TEXT table", "postgresql", "csv"),
        ("buyersync sync (empty db)", "postgresql", "csv"),
        ("buyersync sync (unchanged)", "postgresql", "csv"),
        ("buyersync sync (1% changed)", "postgresql", "csv"),
        ("naive: one INSERT … ON CONFLICT per row", "postgresql", "csv"),
        ("buyersync sync (empty db)", "postgresql", "xlsx"),
        ("buyersync sync (empty db)", "sqlite", "csv"),
        ("re-sync ceiling: COPY stage + UPDATE … FROM", "postgresql", "csv"),
        ("re-sync ceiling: executemany stage + UPDATE … FROM", "sqlite", "csv"),
    ]:
        assert key in by_name, f"{key} missing from the report:\n{text}"
    assert (
        "inserted 500, updated 0, failed 0"
        in by_name[("buyersync sync (empty db)", "postgresql", "csv")]
    )
    assert (
        "inserted 500, updated 0, failed 0"
        in by_name[("buyersync sync (empty db)", "postgresql", "xlsx")]
    )
    assert (
        "inserted 0, updated 500, failed 0"
        in by_name[("buyersync sync (1% changed)", "postgresql", "csv")]
    )
    # Both row widths, and the targets table of both, from the one run.
    assert {line.split("|")[5].strip() for line in rows} == {"narrow", "wide"}
    assert "re-sync ceiling, narrow" not in text  # targets name the scenario, then the width
    assert "| buyersync sync (1% changed), narrow, postgresql, 500 buyers ≤ 1.3× re-sync" in text
    # The run cleans up after itself: no database with its prefix is left behind.
    import psycopg

    with psycopg.connect(pg_server) as conn:
        left = conn.execute(
            "SELECT datname FROM pg_database WHERE datname LIKE %s", (f"smoke{os.getpid()}_%",)
        ).fetchall()
    assert left == []
