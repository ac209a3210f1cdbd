"""Ctrl-C and SIGTERM during a 200,000-row sync: the real command in a subprocess.

The interrupted sync must say how many rows it had merged — the number that is in
``buyers`` — and that running it again finishes the job, in text and with ``--json``,
and exit 128 + the signal; the next run must complete the table.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from tests.reliability.conftest import (
    assert_converged,
    buyer_keys,
    cli,
    json_of,
    opened,
    run_statuses,
    sheet_keys,
    spawn,
    write_sheet,
)

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

ROWS = 200_000


@pytest.fixture(scope="module")
def sheet_200k(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_sheet(tmp_path_factory.mktemp("sheets") / "200k.csv", ROWS)


def wait_until_merging(url: str, proc, timeout: float = 120) -> None:  # type: ignore[no-untyped-def]
    """Wait until the spawned sync has merged its first rows into buyers (so the
    signal lands mid-merge, with progress recorded)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with opened(url) as db:
                if db.table_exists("buyers") and db.query_value("SELECT count(*) FROM buyers"):
                    return
        except Exception:
            pass
        time.sleep(0.02)
    raise AssertionError("the sync finished or never merged a row before the signal")


@pytest.mark.parametrize(
    ("sig", "code", "json_output"),
    [(signal.SIGINT, 130, False), (signal.SIGTERM, 143, True)],
    ids=["SIGINT-text", "SIGTERM-json"],
)
def test_an_interrupted_sync_says_how_many_rows_it_merged(
    url: str, sheet_200k: Path, sig: signal.Signals, code: int, json_output: bool
) -> None:
    args = ["sync", "--source", str(sheet_200k), "--db", url, "--batch-size", "500"]
    proc = spawn(*args, *(["--json"] if json_output else []))
    wait_until_merging(url, proc)
    proc.send_signal(sig)
    stdout, stderr = proc.communicate(timeout=120)
    assert proc.returncode == code, stderr
    assert "Traceback" not in stderr
    with opened(url) as db:
        in_buyers = len(buyer_keys(db))
        statuses = run_statuses(db)
    assert 0 < in_buyers < ROWS, "the signal did not land mid-merge"
    line = [ln for ln in stderr.splitlines() if "rows were merged" in ln]
    assert len(line) == 1, stderr
    assert f"interrupted by {sig.name} after {in_buyers:,} rows were merged" in line[0]
    assert "run buyersync sync again to finish" in line[0]
    if json_output:
        doc = json_of((stdout, stderr))
        assert doc["ok"] is False and doc["interrupted"] is True
        assert doc["exit_code"] == code and doc["signal"] == sig.name
        assert doc["merged"] == in_buyers == doc["inserted"] + doc["updated"]
        assert doc["error"]["hint"] == "run buyersync sync again to finish the job"
        assert re.search(r"after [\d,]+ rows were merged", doc["error"]["message"])
        assert statuses[doc["run_id"]] == "failed"
    else:
        assert stdout == ""
    # The run was recorded (not left 'running' for the next sync to guess about).
    assert list(statuses.values()) == ["failed"]

    out = cli(*args, "--json")
    assert out.returncode == 0, out.stderr
    assert json_of(out)["inserted"] == ROWS - in_buyers
    with opened(url) as db:
        assert_converged(db, sheet_keys(ROWS))
