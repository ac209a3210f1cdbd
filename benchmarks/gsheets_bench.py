"""Google Sheets as the source, through buyersync's local stand-in for the API.

The stand-in (:mod:`buyersync.testing.sheets_server`) runs in the benchmark's own
process and serves the CSV's rows; ``buyersync sync`` talks to it over HTTP with the
full service-account token flow, as it would to Google. The stand-in's JSON encoding
shares the two cores with the sync, so this row is an upper bound on the client's cost.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import Any


def sync_through_stand_in(bench: Any, csv_path: Path, url: str) -> tuple[Any, str]:
    """Serve ``csv_path`` as a Google Sheet and time ``buyersync sync`` from it."""
    from buyersync.testing.sheets_server import SheetsServer, write_service_account

    with csv_path.open(encoding="utf-8", newline="") as fh:
        rows = list(csv.reader(fh))
    with SheetsServer() as server:
        server.add_sheet("benchmark-sheet", "buyers", rows)
        del rows
        creds = write_service_account(
            bench.work / "stand-in-service-account.json", server.token_uri
        )
        run = bench.buyersync(
            "sync",
            "--source",
            "gsheets:benchmark-sheet",
            "--sheet",
            "buyers",
            "--sheets-api-url",
            server.url,
            "--google-credentials",
            str(creds),
            "--db",
            url,
        )
        requests = len(server.value_requests())
    note = bench.sync_note(run)
    try:
        json.loads(run.stdout)
        note += f"; {requests} values request(s)"
    except ValueError:
        pass
    return run, note
