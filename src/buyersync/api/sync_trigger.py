"""``POST /api/sync``: a sync on edit (an Apps Script ``onEdit``/``onChange`` trigger
calls it; docs/deployment.md).

- Only with ``api_token`` configured; without one the route does not exist (404).
- Only with ``Authorization: Bearer <token>``: the page's cookie, which the auth
  middleware accepts for the dashboard's GET routes, gets 403 here, so a web page
  the operator has open cannot start syncs.
- 409 with the running run's id while a sync runs (any replica: the sync lock);
  429 with ``Retry-After`` when one was started less than
  ``api_sync_min_interval_seconds`` ago (any replica: :mod:`buyersync.store.sync_gate`).
- Otherwise 202: the sync runs in this process, in the background, as the scheduled
  sync does (write-back to the sheet included), and the answer comes at once.
"""

from __future__ import annotations

import logging
import math
import threading
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from buyersync.settings import Settings
from buyersync.store import migrations, sync_gate
from buyersync.store.db import utcnow

log = logging.getLogger(__name__)


def register(app: FastAPI, settings: Settings) -> None:
    """Add ``POST /api/sync`` to ``app`` when an API token is configured."""
    if not settings.api_token:
        return
    stop = threading.Event()
    app.router.on_shutdown.append(stop.set)

    @app.post("/api/sync", tags=["sync"], status_code=202)
    def start_sync(request: Request) -> JSONResponse:
        """Start a sync now (bearer token only): 202, or 409 while one runs, or 429."""
        from buyersync.api.app import bearer, token_matches

        given = bearer(request.headers.get("authorization"))
        if not given or not token_matches(given, settings.api_token):
            return JSONResponse(
                {
                    "detail": "POST /api/sync takes the API token as Authorization: Bearer "
                    "<token> only, never the dashboard's cookie"
                },
                status_code=403,
            )
        if not settings.source:
            return JSONResponse({"detail": "no source is configured to sync"}, status_code=400)
        db = request.app.state.open_db()
        try:
            migrations.ensure_schema(db)
            running, run_id = sync_gate.running_sync(db)
            if running:
                return JSONResponse(
                    {"detail": "a sync is running", "run_id": run_id}, status_code=409
                )
            wait = sync_gate.claim(
                db, now=utcnow(), min_interval_seconds=settings.api_sync_min_interval_seconds
            )
        finally:
            db.close()
        if wait is not None:
            seconds = max(1, math.ceil(wait))
            return JSONResponse(
                {
                    "detail": f"a sync was started less than "
                    f"{settings.api_sync_min_interval_seconds:g} s ago; try again in {seconds} s",
                    "retry_after_seconds": seconds,
                },
                status_code=429,
                headers={"Retry-After": str(seconds)},
            )
        threading.Thread(target=_run, args=(settings, stop), name="api-sync", daemon=True).start()
        return JSONResponse(
            {"detail": "sync started", "runs": "/api/runs"},
            status_code=202,
        )


def _run(settings: Settings, stop: threading.Event) -> None:
    from buyersync.errors import BuyersyncError, LockHeld
    from buyersync.redact import redact
    from buyersync.services.scheduler import JobCancelled, sync_job

    try:
        result: dict[str, Any] | None = sync_job(settings)(stop)
        log.info("sync started by POST /api/sync finished: %s", result)
    except LockHeld:
        log.info("sync started by POST /api/sync: another sync took the lock first")
    except JobCancelled:
        log.info("sync started by POST /api/sync stopped at shutdown")
    except BuyersyncError as exc:
        log.warning(
            "sync started by POST /api/sync failed: %s", redact(str(exc), settings.secrets())
        )
    except Exception:  # never kills the server
        log.exception("sync started by POST /api/sync failed")
