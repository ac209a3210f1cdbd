"""``--range`` where ``--sheet`` is accepted, and ``external_account`` credentials.

Against the local Sheets stand-in and its token endpoint: no network.
"""

from __future__ import annotations

import json
from pathlib import Path

from buyersync.testing import SheetsServer
from buyersync.testing.credentials import write_external_account
from tests.sources.test_gsheets_truth import HEADER, common, server, stored
from tests.sources.test_gsheets_truth import run_without_google_credentials as run

__all__ = ["server"]  # the fixture

TABLE = [
    ["Buyer list, exported 2026-11-30", "", "", "", ""],
    ["", "", "", "", ""],
    ["notes", *HEADER, "other"],
    ["x", "B1", "Ann", "Kyoto", "not in the range"],
    ["x", "B2", "Bob", "Osaka", ""],
    ["x", "B3", "Cid", "Nara", ""],
    ["x", "OUT", "below", "the range", ""],
]


def test_range_names_a_named_range_or_an_a1_range(server: SheetsServer, db_url: str) -> None:
    server.add_sheet("book", "Sheet1", TABLE)
    server.add_named_range("book", "BuyerRange", "Sheet1", "B3:D6")
    out = run("sync", *common(server, db_url), "--range", "BuyerRange", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["inserted"] == 3
    assert set(stored(db_url)) == {"B1", "B2", "B3"}
    assert "notes" not in stored(db_url)["B1"] and "other" not in stored(db_url)["B1"]

    # an A1 range: the header on its first row, bounded on every side given
    out = run("missing", *common(server, db_url), "--range", "Sheet1!B3:D6", "--json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["spreadsheet_count"] == 3
    out = run("missing", *common(server, db_url), "--range", "'Sheet1'!B3:D", "--json")
    assert out.returncode == 1, out.stderr  # unbounded below: OUT is a buyer there
    assert [m["buyer_number"] for m in json.loads(out.stdout)["missing"]] == ["OUT"]
    out = run("verify", *common(server, db_url), "--range", "Sheet1!B3:D6")
    assert out.returncode == 0, out.stdout + out.stderr

    bad = run("sync", *common(server, db_url), "--range", "Sheet1!3B:?")
    assert bad.returncode == 2 and "is not an A1 range" in bad.stderr
    both = run("sync", *common(server, db_url), "--range", "BuyerRange", "--sheet", "Sheet1")
    assert both.returncode == 2 and "give one of them" in both.stderr


def test_external_account_credentials_are_tried_by_application_default(
    tmp_path: Path, db_url: str
) -> None:
    """Workload identity federation: google.auth.default() finds the external_account
    file and exchanges its subject token at the (stand-in) security token service."""
    with SheetsServer(require_auth=True) as strict:
        strict.add_sheet("book", "Sheet1", [HEADER, ["B1", "Ann", "Kyoto"]])
        subject = tmp_path / "oidc-token"
        subject.write_text("eyJ-stand-in-subject-token", encoding="utf-8")
        creds = write_external_account(tmp_path / "wif.json", strict.token_uri, subject)
        env = {"GOOGLE_APPLICATION_CREDENTIALS": str(creds), "CLOUDSDK_CONFIG": str(tmp_path)}
        out = run("sync", *common(strict, db_url), env=env)
        assert out.returncode == 0, out.stderr
        assert strict.token_requests == 1
        assert strict.requests and all(r.authorized for r in strict.requests)
        assert "stand-in-subject-token" not in out.stdout + out.stderr
        # where gcloud writes application-default credentials: google.auth.default()
        gcloud = tmp_path / "gcloud"
        gcloud.mkdir()
        (gcloud / "application_default_credentials.json").write_bytes(creds.read_bytes())
        out = run("sync", *common(strict, db_url), env={"CLOUDSDK_CONFIG": str(gcloud)})
        assert out.returncode == 0, out.stderr
        assert strict.token_requests == 2
    assert set(stored(db_url)) == {"B1"}


def test_application_default_finds_an_external_account_without_network(tmp_path: Path) -> None:
    """No key file named, none where gcloud writes one: google.auth.default() itself."""
    import os
    from unittest import mock

    from buyersync.sources.gsheets import _default_credentials

    with SheetsServer(require_auth=True) as strict:
        subject = tmp_path / "oidc-token"
        subject.write_text("eyJ-stand-in-subject-token", encoding="utf-8")
        creds = write_external_account(tmp_path / "wif.json", strict.token_uri, subject)
        env = {**os.environ, "GOOGLE_APPLICATION_CREDENTIALS": str(creds)}
        with mock.patch.dict(os.environ, env, clear=True):
            found = _default_credentials()
        assert type(found).__module__ == "google.auth.identity_pool"
        assert found.token and found.token in strict.tokens
