"""``buyersync serve``: the dashboard page, the JSON API and the scheduled jobs in one process."""

from __future__ import annotations

import dataclasses
import logging
import signal
import socket
from typing import Any

import click

from buyersync.cli.common import (
    ALERT_SETTINGS,
    DB_SETTINGS,
    RETRY_SETTINGS,
    SOURCE_SETTINGS,
    Context,
    command_settings,
)
from buyersync.cli.feedback import FEEDBACK_SETTINGS
from buyersync.errors import BuyersyncError, ConfigError
from buyersync.redact import url_secrets
from buyersync.rules.hosts import is_loopback
from buyersync.store.migrations import ensure_schema

log = logging.getLogger(__name__)

SCHEDULE_SETTINGS = (
    "sync_interval_seconds",
    "retry_interval_seconds",
    "health_interval_seconds",
    "verify_interval_seconds",
)
#: How long shutdown waits for a running job to reach a safe point.
STOP_TIMEOUT_SECONDS = 60.0
#: Shortest API token accepted for a bind other than loopback: guessing one of 32
#: random characters over the network is out of reach; a short word is not.
MIN_TOKEN_CHARS = 32


def _listen(host: str, port: int) -> socket.socket:
    """Bind the listening socket ourselves, so a busy port is a clear one-line error."""
    try:
        infos = socket.getaddrinfo(
            host.strip("[]"), port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
        family, kind, proto, _, address = infos[0]
        sock = socket.socket(family, kind, proto)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        raise BuyersyncError(
            f"cannot listen on {host}:{port}: {exc.strerror or exc}",
            hint="pick another --port, or stop the process that uses it",
        ) from None
    sock.set_inheritable(True)
    return sock


@click.command()
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to listen on. Anything but loopback needs an API token.",
)
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8000,
    show_default=True,
    help="Port to listen on (0: any free port; the chosen one is printed).",
)
@command_settings(
    DB_SETTINGS,
    SOURCE_SETTINGS,
    "batch_size",
    "max_shrink_ratio",
    "min_key_share",
    "min_header_share",
    RETRY_SETTINGS,
    ALERT_SETTINGS,
    "api_token",
    "allowed_hosts",
    SCHEDULE_SETTINGS,
    "api_sync_min_interval_seconds",
    FEEDBACK_SETTINGS,
)
def serve(ctx: Context, host: str, port: int) -> int:
    """Serve the dashboard and HTTP API, and run sync, retry, health and verify on a timer.

    Intervals: --sync-interval, --retry-interval, --health-interval,
    --verify-interval (seconds; 0 turns a job off). With BUYERSYNC_API_TOKEN set,
    every route but /healthz needs "Authorization: Bearer <token>" (open the page
    as /?token=...); without a token, serve binds loopback only, and any other
    address needs a token of at least 32 characters. Requests whose Host header is
    not localhost, 127.0.0.1, [::1], the --host address or an --allowed-host get
    400 (DNS rebinding). SIGTERM or Ctrl-C
    stops it cleanly: a running sync stops after its current batch and is recorded
    as failed. Several serve processes on one PostgreSQL database take turns: each
    job runs once per interval among them (see docs/deployment.md). See
    docs/dashboard.md.
    """
    # Imported here: FastAPI and uvicorn take longer to import than the rest of the
    # CLI, and `buyersync --help` loads every command module.
    import uvicorn

    from buyersync.api import create_app
    from buyersync.services.scheduler import DatabaseTurns, Scheduler, default_jobs

    s = ctx.settings
    if not s.api_token and not is_loopback(host):
        raise ConfigError(
            f"refusing to listen on {host} without an API token: anyone who can reach it "
            "could read the buyers' error log",
            hint="set BUYERSYNC_API_TOKEN_FILE (or BUYERSYNC_API_TOKEN), or use --host "
            "127.0.0.1 behind a proxy",
        )
    if s.api_token and not is_loopback(host) and len(s.api_token) < MIN_TOKEN_CHARS:
        raise ConfigError(
            f"refusing to listen on {host} with an API token of {len(s.api_token)} "
            f"characters: a token for a non-loopback address needs at least {MIN_TOKEN_CHARS}",
            hint="make one with: python3 -c 'import secrets; print(secrets.token_urlsafe(32))'",
        )
    for flag in s.secret_flags:
        if flag != "--db" or url_secrets(s.database_url):
            click.echo(
                f"buyersync serve: warning: {flag} puts a secret on the command line, which "
                "every local user can read in the process list for as long as serve runs; "
                "use its _FILE environment variable or a --...-file flag instead "
                "(see docs/configuration.md)",
                err=True,
            )
    if host.strip("[]") not in ("0.0.0.0", "::", "") and not is_loopback(host):
        # The address serve listens on is a name clients may use for it.
        shown_host = f"[{host.strip('[]')}]" if ":" in host else host
        names = ",".join(filter(None, [s.allowed_hosts, shown_host]))
        s = dataclasses.replace(s, allowed_hosts=names)
    with ctx.database() as db:
        ensure_schema(db)
    # Replicas on one database take turns: each job's turn runs in one of them.
    scheduler = Scheduler(default_jobs(s), secrets=s.secrets(), turns=DatabaseTurns(s))
    app = create_app(s, scheduler=scheduler)
    sock = _listen(host, port)
    bound = sock.getsockname()[1]
    verbose = logging.getLogger().getEffectiveLevel() <= logging.INFO
    config = uvicorn.Config(
        app,
        log_level="info" if verbose else "warning",
        access_log=False,  # the access log would show ?token=... query strings
        lifespan="off",
        log_config=None,
        timeout_graceful_shutdown=10,
    )

    class Server(uvicorn.Server):
        def handle_exit(self, sig: int, frame: Any) -> None:
            # Tell the jobs first: a sync stops after its current batch while the
            # HTTP side drains.
            scheduler.request_stop()
            super().handle_exit(sig, frame)

    server = Server(config)
    # uvicorn re-raises the signal it caught once it has shut down; with the default
    # SIGTERM handler that would kill the process before the jobs finish. This
    # handler makes that re-raise a no-op, so we exit 0 after a clean stop.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    shown = f"[{host}]" if ":" in host else host
    jobs = ", ".join(f"{j.name} every {j.interval_seconds:g}s" for j in scheduler.jobs) or "none"
    click.echo(
        f"buyersync serve: listening on http://{shown}:{bound}/ "
        f"(database {s.database_display}; jobs: {jobs})",
        err=True,
    )
    scheduler.start()
    try:
        server.run(sockets=[sock])
    finally:
        clean = scheduler.stop(STOP_TIMEOUT_SECONDS)
        signal.signal(signal.SIGTERM, previous)
        sock.close()
    click.echo(
        "buyersync serve: stopped" + ("" if clean else " (a job was still running)"), err=True
    )
    return 0
