"""The HTTP API and dashboard page of ``buyersync serve`` (FastAPI).

Routes (the contract's, plus ``/api/scheduler``)::

    GET /                 the dashboard page (static files under /static/)
    GET /api/dashboard    counts, missing, errors by type, queue by status, recent runs, health history
    GET /api/health       latest health check + history
    GET /api/errors       the error log; filters as `buyersync errors`: type, buyer, run, since, until, limit
    GET /api/retry-queue  retry-queue entries (status filter) and counts by status
    GET /api/runs         recent sync runs with duration and throughput
    GET /api/scheduler    the scheduled jobs of this process (when serve runs them)
    GET /metrics          Prometheus text
    GET /healthz          liveness; never needs the token
    GET /openapi.json     the OpenAPI schema

Auth: with ``api_token`` set every route but ``/healthz`` needs
``Authorization: Bearer <token>`` (compared in constant time). A browser cannot send
that header when it loads a page, so ``/?token=…`` (checked the same way) sets an
HttpOnly, SameSite=Strict cookie holding the token and redirects to ``/``; the cookie
then counts as the header. Responses never contain a secret or the database URL:
error texts are scrubbed of every secret in force.

Every request opens its own database connection and closes it.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from importlib import resources
from typing import Annotated, Any, Literal

from fastapi import Depends, FastAPI, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from buyersync import __version__, wiring
from buyersync.api import data, sync_trigger
from buyersync.api.metrics import render
from buyersync.errors import BuyersyncError, ConfigError, ErrorCategory
from buyersync.records import ErrorQuery
from buyersync.redact import redact
from buyersync.rules.normalize import normalize_key
from buyersync.rules.timespec import parse_since
from buyersync.services.scheduler import Scheduler
from buyersync.settings import Settings
from buyersync.store.db import Database

log = logging.getLogger(__name__)

COOKIE = "buyersync_token"
OPEN_PATHS = frozenset({"/healthz"})

#: Most error-log entries one request returns; ``offset`` pages through the rest.
MAX_PAGE = 1000
#: Largest ``offset`` (beyond any real log; keeps the number inside every SQL integer).
MAX_OFFSET = 1_000_000_000
#: Longest filter value (buyer number, run id) worth looking up.
MAX_FILTER_CHARS = 500
#: Host names that only ever mean this machine. A page on another site can point its
#: own name at 127.0.0.1 (DNS rebinding); its requests still carry that name.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]", "::1"})

#: On every response. The page loads its script and style from /static (no inline
#: code), draws its charts as SVG, and talks to its own origin only.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
}


def host_name(header: str | None) -> str | None:
    """The host of a ``Host`` header without its port, lower case (``[::1]`` kept)."""
    if not header:
        return None
    value = header.strip().lower()
    if value.startswith("["):
        end = value.find("]")
        rest = value[end + 1 :] if end >= 0 else ""
        if end < 0 or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        return value[: end + 1]
    name, _, port = value.partition(":")
    if port and not port.isdigit():
        return None
    return name.rstrip(".") or None


def allowed_hosts(settings: Settings) -> frozenset[str]:
    """Loopback names plus ``allowed_hosts`` (comma-separated; a port is ignored)."""
    extra = set()
    for item in (settings.allowed_hosts or "").split(","):
        name = host_name(item)
        if name:
            extra.add(name)
    return LOOPBACK_HOSTS | extra


def _control_in(value: str) -> bool:
    return any(ord(c) < 0x20 or ord(c) == 0x7F for c in value)


def token_matches(given: str | None, expected: str | None) -> bool:
    """True when ``given`` equals the configured token (constant time); no token: True."""
    if not expected:
        return True
    if not given:
        return False
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def bearer(header: str | None) -> str | None:
    """The token of an ``Authorization: Bearer <token>`` header, or None."""
    if not header:
        return None
    scheme, _, value = header.strip().partition(" ")
    return value.strip() or None if scheme.lower() == "bearer" else None


def get_db(request: Request) -> Iterator[Database]:
    """A database connection for one request, closed after it."""
    db = request.app.state.open_db()
    try:
        yield db
    finally:
        db.close()


DB = Annotated[Database, Depends(get_db)]


_LOGIN_PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8">
<title>buyersync — token required</title><link rel="stylesheet" href="/static/dashboard.css">
</head><body><main class="login"><h1>buyersync</h1>
<p>This dashboard needs the API token (<code>BUYERSYNC_API_TOKEN</code>).</p>
<form method="get" action="/"><label>Token <input type="password" name="token"
autocomplete="current-password" autofocus></label> <button>Open</button></form>
</main></body></html>"""


def create_app(
    settings: Settings,
    *,
    scheduler: Scheduler | None = None,
    open_db: Callable[[], Database] | None = None,
) -> FastAPI:
    """Build the app for ``settings``.

    ``scheduler`` feeds ``/api/scheduler``; ``open_db`` replaces how each request opens the database.
    """
    token = settings.api_token
    secrets = settings.secrets()
    hosts = allowed_hosts(settings)

    def _open() -> Database:
        if open_db is not None:
            return open_db()
        return wiring.open_database(settings)

    app = FastAPI(
        title="buyersync",
        version=__version__,
        description="Dashboard data of buyersync: the buyers table against the sheet, "
        "the error log, the retry queue, sync runs and health checks.",
        docs_url=None,  # Swagger UI loads scripts from a CDN; these machines have no internet
        redoc_url=None,
    )
    static_dir = resources.files("buyersync.api") / "static"
    app.state.open_db = _open
    app.mount("/static", StaticFiles(directory=str(static_dir)), name="static")

    @app.middleware("http")
    async def auth(request: Request, call_next: Callable[[Request], Any]) -> Response:
        path = request.url.path
        if token and path not in OPEN_PATHS:
            given = bearer(request.headers.get("authorization")) or request.cookies.get(COOKIE)
            if not token_matches(given, token):
                query_token = request.query_params.get("token")
                if path == "/" and query_token and token_matches(query_token, token):
                    # Trade the token in the URL for a cookie, and drop it from the URL.
                    response: Response = RedirectResponse("/", status_code=303)
                    response.set_cookie(
                        COOKIE,
                        query_token,
                        httponly=True,
                        samesite="strict",
                        secure=request.url.scheme == "https",
                    )
                    return response
                headers = {"WWW-Authenticate": "Bearer"}
                if path == "/":
                    return HTMLResponse(_LOGIN_PAGE, status_code=401, headers=headers)
                return JSONResponse(
                    {"detail": "missing or wrong API token: send Authorization: Bearer <token>"},
                    status_code=401,
                    headers=headers,
                )
        response = await call_next(request)
        # Query strings may hold a token: log the path only.
        log.debug("%s %s -> %s", request.method, path, response.status_code)
        return response

    # Registered after auth, so it runs before it: a request for a foreign host or with
    # a control character is turned away before anything else looks at it.
    @app.middleware("http")
    async def guard(request: Request, call_next: Callable[[Request], Any]) -> Response:
        response: Response
        name = host_name(request.headers.get("host"))
        if request.url.path not in OPEN_PATHS and name not in hosts:
            response = JSONResponse(
                {
                    "detail": "this server does not answer for that Host header; "
                    "name it with --allowed-host (BUYERSYNC_ALLOWED_HOSTS) to allow it"
                },
                status_code=400,
            )
        elif "\x00" in request.url.path or any(
            _control_in(k) or _control_in(v) for k, v in request.query_params.multi_items()
        ):
            response = JSONResponse(
                {"detail": "a query parameter or the path contains a control character"},
                status_code=400,
            )
        else:
            response = await call_next(request)
        for header, value in SECURITY_HEADERS.items():
            response.headers.setdefault(header, value)
        return response

    @app.exception_handler(BuyersyncError)
    async def buyersync_error(request: Request, exc: BuyersyncError) -> JSONResponse:
        status = 400 if isinstance(exc, ConfigError) else 503
        message = redact(str(exc), secrets)
        if status == 503:
            log.warning("%s %s failed: %s", request.method, request.url.path, message)
        return JSONResponse({"detail": message, "category": str(exc.category)}, status_code=status)

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> HTMLResponse:
        html = (static_dir / "dashboard.html").read_text(encoding="utf-8")
        return HTMLResponse(html, headers={"Cache-Control": "no-store"})

    @app.get("/healthz", tags=["liveness"])
    def healthz() -> dict[str, Any]:
        """Liveness: the process answers. Does not touch the database; needs no token."""
        return {"status": "ok", "version": __version__}

    @app.get("/api/dashboard", tags=["dashboard"])
    def dashboard(db: DB) -> dict[str, Any]:
        """Everything the page shows: counts, missing, errors by type, queue, runs, health."""
        return data.dashboard(db, settings)

    @app.get("/api/health", tags=["dashboard"])
    def health(
        db: DB,
        limit: Annotated[int, Query(ge=1, le=10000, description="history length")] = 100,
    ) -> dict[str, Any]:
        """The latest stored health check and the history before it (newest first)."""
        history = data.health_history(db, limit)
        return {"latest": history[0] if history else None, "history": history}

    @app.get("/api/errors", tags=["dashboard"])
    def errors(
        db: DB,
        type: Annotated[ErrorCategory | None, Query(description="error category")] = None,
        buyer: Annotated[
            str | None, Query(max_length=MAX_FILTER_CHARS, description="buyer number")
        ] = None,
        run: Annotated[
            str | None, Query(max_length=MAX_FILTER_CHARS, description="sync run id")
        ] = None,
        since: Annotated[
            str | None,
            Query(max_length=64, description="ISO date/time, or 90m, 24h, 7d ago"),
        ] = None,
        until: Annotated[
            str | None,
            Query(max_length=64, description="entries before this time (same forms)"),
        ] = None,
        limit: Annotated[
            int,
            Query(ge=1, le=MAX_PAGE, description=f"at most this many (1 to {MAX_PAGE})"),
        ] = 100,
        offset: Annotated[
            int,
            Query(ge=0, le=MAX_OFFSET, description="skip this many (the next page: next_offset)"),
        ] = 0,
    ) -> dict[str, Any]:
        """The error log, newest first, with counts per type — as `buyersync errors --json`,
        one page at a time: ``next_offset`` (null on the last page) asks for the next."""
        query = ErrorQuery(
            error_type=str(type) if type else None,
            buyer_number=normalize_key(buyer) if buyer else None,
            run_id=run,
            since=parse_since(since),
            until=parse_since(until),
            limit=limit,
            offset=offset,
        )
        doc = data.errors(db, query)
        shown = offset + len(doc["errors"])
        return {
            **doc,
            "limit": limit,
            "offset": offset,
            "next_offset": shown if shown < doc["total"] else None,
        }

    @app.get("/api/retry-queue", tags=["dashboard"])
    def retry_queue(
        db: DB,
        status: Annotated[
            Literal["pending", "processing", "permanently_failed"] | None,
            Query(description="pending, processing or permanently_failed"),
        ] = None,
        limit: Annotated[int, Query(ge=1, le=10000)] = 200,
    ) -> dict[str, Any]:
        """Retry-queue entries (oldest due first) and the number per status."""
        return data.retry_queue(db, status=status, limit=limit)

    @app.get("/api/runs", tags=["dashboard"])
    def runs_(db: DB, limit: Annotated[int, Query(ge=1, le=10000)] = 50) -> dict[str, Any]:
        """Recent sync runs, newest first, with duration and throughput."""
        return {"runs": data.recent_runs(db, limit)}

    @app.get("/api/scheduler", tags=["dashboard"])
    def scheduler_status() -> dict[str, Any]:
        """The scheduled jobs of this process: runs, failures, last outcome, next run."""
        if scheduler is None:
            return {"running": False, "jobs": []}
        return {"running": not scheduler.stopping, "jobs": scheduler.status()}

    @app.get("/metrics", tags=["metrics"], response_class=Response)
    def metrics(db: DB) -> Response:
        """Prometheus text exposition, recomputed from the stored data."""
        return Response(
            render(data.metrics_snapshot(db)), media_type="text/plain; version=0.0.4; charset=utf-8"
        )

    sync_trigger.register(app, settings)  # POST /api/sync, only with a token
    app.state.started_at = datetime.now(UTC)
    return app
