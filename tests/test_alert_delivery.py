"""Alerts say what happened to them (CLI and API, both databases, real SMTP and webhook).

Each alert of `buyersync health` carries a delivery status: "sent to e-mail,
webhook", "not sent: no channel configured", "not sent: --no-alerts",
"suppressed: cooldown until …", or the channel that failed. Only an alert a channel
accepted starts the cooldown: after `--no-alerts` (or with no channel) the real
alert is sent at the next check.
"""

from __future__ import annotations

import subprocess
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from buyersync.api import create_app
from buyersync.settings import Settings
from buyersync.store import open_database
from tests.helpers import doc_of, run_cli, write_csv
from tests.test_notify import Inbox, _http_server, _smtp_server

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from fastapi.testclient import TestClient


@pytest.fixture
def smtp_server() -> Iterator[Inbox]:
    yield from _smtp_server()


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[Any]]]:
    yield from _http_server(200)


@pytest.fixture
def broken_webhook() -> Iterator[tuple[str, list[Any]]]:
    yield from _http_server(500)


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, timeout=120)


def _missing_three(db_url: str, tmp_path: Path) -> list[str]:
    """A synced sheet of 10 buyers, 3 of them then deleted from the database."""
    sheet = write_csv(
        tmp_path / "buyers.csv", ("buyer_number", "name"), [(f"B{i:02d}", "n") for i in range(10)]
    )
    out = cli("sync", "--db", db_url, "--source", str(sheet), "--json")
    assert out.returncode == 0, out.stderr
    with open_database(db_url) as db:
        db.execute("DELETE FROM buyers WHERE buyer_number IN ('B02', 'B05', 'B07')")
    return ["--db", db_url, "--source", str(sheet), "--json"]


def _email(inbox: Inbox) -> list[str]:
    return [
        "--smtp-host",
        "127.0.0.1",
        "--smtp-port",
        str(inbox.port),
        "--smtp-to",
        "ops@example.org",
        "--no-smtp-starttls",
    ]


def _alert(doc: dict[str, Any], condition: str = "missing_buyers") -> dict[str, Any]:
    return next(a for a in doc["alerts"] if a["condition"] == condition)


def test_no_alerts_and_no_channel_do_not_start_the_cooldown(
    db_url: str, tmp_path: Path, smtp_server: Inbox, webhook: tuple[str, list]
) -> None:
    common = _missing_three(db_url, tmp_path)
    url, received = webhook

    held = doc_of(cli("health", "--no-alerts", *common))
    alert = _alert(held)
    assert alert["sent"] is False
    assert alert["delivery_status"] == "no_alerts"
    assert alert["delivery_text"] == "not sent: --no-alerts"

    alone = doc_of(cli("health", *common))  # only the log: no channel
    alert = _alert(alone)
    assert alert["sent"] is False and alert["delivery_status"] == "no_channel"
    assert alert["delivery_text"] == "not sent: no channel configured"
    text = cli("health", *common[:-1])
    assert "(not sent: no channel configured)" in text.stdout

    # The real alert is not held back by the two checks before.
    sent = doc_of(cli("health", *common, *_email(smtp_server), "--webhook-url", url))
    alert = _alert(sent)
    assert alert["sent"] is True and alert["delivery_status"] == "sent"
    assert alert["delivery_text"] == "sent to e-mail, webhook"
    assert alert["delivery"]["channels"] == ["email", "webhook"]
    assert len(smtp_server.messages) == 1 and len(received) == 1
    assert "B05 (row 7)" in received[0][1]["text"]

    # Now the cooldown holds it back, and says until when.
    again = doc_of(cli("health", *common, *_email(smtp_server), "--webhook-url", url))
    alert = _alert(again)
    assert alert["sent"] is False and alert["delivery_status"] == "suppressed"
    assert alert["delivery_text"].startswith("suppressed: cooldown until ")
    assert alert["delivery"]["until"] is not None
    assert len(smtp_server.messages) == 1 and len(received) == 1

    with open_database(db_url) as db:
        statuses = [
            r["status"]
            for r in db.query(
                "SELECT status FROM alert_deliveries WHERE condition = 'missing_buyers' ORDER BY id"
            )
        ]
    assert statuses == ["no_alerts", "no_channel", "no_channel", "sent", "suppressed"]


def test_a_failed_channel_says_so_and_only_an_accepted_alert_counts(
    db_url: str,
    tmp_path: Path,
    smtp_server: Inbox,
    broken_webhook: tuple[str, list],
    webhook: tuple[str, list],
) -> None:
    common = _missing_three(db_url, tmp_path)
    bad_url, bad_received = broken_webhook
    good_url, good_received = webhook

    failed = cli("health", *common, "--webhook-url", bad_url)
    alert = _alert(doc_of(failed))
    assert alert["sent"] is False and alert["delivery_status"] == "failed"
    assert alert["delivery_text"].startswith("not sent: webhook failed (")
    assert "HTTP 500" in alert["delivery_text"]
    assert "XyZsecretToken42" not in failed.stdout + failed.stderr
    assert len(bad_received) == 1

    # The failed alert did not start the cooldown: the next check sends it; a broken
    # channel next to a working one is named in the status.
    partly = doc_of(cli("health", *common, *_email(smtp_server), "--webhook-url", bad_url))
    alert = _alert(partly)
    assert alert["sent"] is True and alert["delivery_status"] == "sent"
    assert alert["delivery_text"].startswith("sent to e-mail; webhook failed (")
    assert len(smtp_server.messages) == 1

    held = doc_of(cli("health", *common, "--webhook-url", good_url))
    assert _alert(held)["delivery_status"] == "suppressed" and not good_received


def _client(settings: Settings) -> TestClient:
    return TestClient(create_app(settings), base_url="http://localhost")


def test_api_page_data_and_metrics_show_the_delivery_statuses(db_url: str, tmp_path: Path) -> None:
    common = _missing_three(db_url, tmp_path)
    cli("health", "--no-alerts", *common)
    cli("health", *common)
    client = _client(Settings(database_url=db_url))
    dash = client.get("/api/dashboard").json()
    latest = {d["condition"]: d for d in dash["alert_deliveries"]}
    assert latest["missing_buyers"]["text"] == "not sent: no channel configured"
    present = {a["condition"]: a for a in dash["present_alerts"]}
    assert present["missing_buyers"]["delivery"]["status"] == "no_channel"
    assert [d["status"] for d in dash["delivery_history"]][:2] == ["no_channel", "no_alerts"]
    health = client.get("/api/health").json()
    assert _alert(health["latest"])["delivery"] == "not sent: no channel configured"
    metrics = client.get("/metrics").text
    assert 'buyersync_alert_deliveries{status="no_channel"} 1.0' in metrics
    assert 'buyersync_alert_deliveries{status="no_alerts"} 1.0' in metrics
    assert 'buyersync_alert_deliveries{status="sent"} 0.0' in metrics
    assert "buyersync_refused_runs 0.0" in metrics
    assert 'buyersync_open_problems{category="validation"} 0.0' in metrics

    # A sheet emptied by mistake: the sync refuses it, and the gauge counts it.
    sheet = Path(common[common.index("--source") + 1])
    sheet.write_text("buyer_number,name\n", encoding="utf-8")
    refused = cli("sync", *common)
    assert refused.returncode != 0
    metrics = client.get("/metrics").text
    assert "buyersync_refused_runs 1.0" in metrics
    dash = client.get("/api/dashboard").json()
    assert {d["condition"] for d in dash["delivery_history"]} >= {"sync_refused"}
