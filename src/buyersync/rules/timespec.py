"""Reading the time filters operators type: ``--since 24h``, ``?since=2026-11-28``.

Shared by ``buyersync errors`` and ``GET /api/errors`` so both read a time the same way.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from buyersync.errors import ConfigError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_since(text: str | None, *, now: datetime | None = None) -> datetime | None:
    """``2026-11-28``, ``2026-11-28T09:00``, or a duration ago: ``90m``, ``24h``, ``7d``.

    Naive times are UTC. Raises :class:`ConfigError` for anything else.
    """
    if not text:
        return None
    now = now or datetime.now(UTC)
    t = text.strip().lower()
    if t[:-1].isdigit() and t[-1:] in _UNITS:
        try:
            return now - timedelta(seconds=int(t[:-1]) * _UNITS[t[-1]])
        except (OverflowError, ValueError):
            raise ConfigError(
                f"the time {text.strip()[:40]!r} is further back than any date",
                hint="use a duration such as 90m, 24h or 7d, or an ISO date such as 2026-11-28",
            ) from None
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(
            f"cannot read the time {text.strip()[:40]!r}",
            hint="use an ISO date/time such as 2026-11-28 or 2026-11-28T09:00, or 90m, 24h, 7d",
        ) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
