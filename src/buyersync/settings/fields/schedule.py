"""Settings of ``serve``: how often it syncs, retries, checks health and verifies."""

from __future__ import annotations

from buyersync.settings.spec import Spec

SCHEDULE: tuple[Spec, ...] = (
    Spec(
        "api_sync_min_interval_seconds",
        float,
        60.0,
        "serve: POST /api/sync starts at most one sync per this many seconds, across "
        "every replica sharing the database (429 with Retry-After before; 0: no limit).",
        "--api-sync-min-interval",
    ),
    Spec(
        "sync_interval_seconds",
        float,
        900.0,
        "serve: seconds between scheduled syncs (0: off).",
        "--sync-interval",
    ),
    Spec(
        "retry_interval_seconds",
        float,
        60.0,
        "serve: seconds between retry-queue passes (0: off).",
        "--retry-interval",
    ),
    Spec(
        "health_interval_seconds",
        float,
        300.0,
        "serve: seconds between health checks (0: off).",
        "--health-interval",
    ),
    Spec(
        "verify_interval_seconds",
        float,
        86400.0,
        "serve: seconds between verifications (0: off).",
        "--verify-interval",
    ),
)
