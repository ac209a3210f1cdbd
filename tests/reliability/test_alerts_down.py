"""Alert channels down (SMTP refusing connections, a webhook that never answers):
nothing else is affected — the sync and the health check finish, the metrics are
stored, and the alert state still records what fired."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from tests.helpers import write_csv
from tests.reliability.conftest import (
    assert_invariant,
    cli,
    json_of,
    opened,
)

pytestmark = pytest.mark.reliability


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_alert_channels_down_affect_nothing_else(tmp_path: Path, url: str) -> None:
    rows = [["B1", "ok"], ["", "no key"], ["B3", "ok"]]
    sheet = write_csv(tmp_path / "s.csv", ["buyer_number", "name"], rows)
    with socket.socket() as silent:  # accepts, never answers: a hung webhook
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        channels = [
            "--smtp-host",
            "127.0.0.1",
            "--smtp-port",
            str(_closed_port()),
            "--smtp-to",
            "ops@example.com",
            "--webhook-url",
            f"http://127.0.0.1:{silent.getsockname()[1]}/hook",
        ]
        out = cli(
            "sync",
            "--source",
            str(sheet),
            "--db",
            url,
            "--json",
            "--alert-slow-sync-seconds",
            "0",
            timeout=120,
        )
        assert out.returncode == 1, out.stderr  # one row failed; the sync itself ran
        doc = json_of(out)
        health = cli(
            "health",
            "--source",
            str(sheet),
            "--db",
            url,
            "--json",
            "--alert-error-rate-threshold",
            "0.01",
            *channels,
            timeout=180,
        )
    assert health.returncode == 1, health.stderr  # unhealthy (error rate), not a crash
    assert "Traceback" not in health.stderr
    hdoc = json_of(health)
    assert hdoc["healthy"] is False and hdoc["alerts"]
    with opened(url) as db:
        assert_invariant(db, doc["run_id"], rows)
        assert db.query_value("SELECT count(*) FROM sync_health_metrics") == 1
        assert db.query_value("SELECT count(*) FROM buyers") == 2
