"""``GET /metrics``: the stored state as Prometheus text, recomputed on every scrape.

Nothing is counted in process memory: the numbers come from the database, so every
``serve`` process (and a restart) reports the same values. Counters are sums over
the stored runs and error log, so they only grow while those tables only grow.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

#: Upper bounds (seconds) of the sync-duration histogram: a sync of the whole sheet
#: takes seconds; 900 s is the default slow-sync alert.
DURATION_BUCKETS: tuple[float, ...] = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600)


def histogram_buckets(
    values: Iterable[float], bounds: Sequence[float] = DURATION_BUCKETS
) -> tuple[list[tuple[str, int]], float, int]:
    """Cumulative Prometheus buckets for ``values``: ``([(le, count), …, ("+Inf", n)], sum, n)``.

    ``bounds`` must be increasing. Each bucket counts the values ``<= le``.
    """
    data = sorted(float(v) for v in values if v is not None and not math.isnan(v))
    buckets: list[tuple[str, int]] = []
    i = 0
    for bound in bounds:
        while i < len(data) and data[i] <= bound:
            i += 1
        buckets.append((_le(bound), i))
    buckets.append(("+Inf", len(data)))
    return buckets, float(sum(data)), len(data)


def _le(bound: float) -> str:
    return repr(float(bound))


@dataclass(frozen=True)
class MetricsSnapshot:
    """The stored facts ``/metrics`` reports (gathered by the app from the store)."""

    database_count: int
    spreadsheet_count: int | None  # from the latest health check; None before the first
    missing_count: int | None  # idem
    error_rate: float | None  # idem
    healthy: bool | None  # idem
    queue_by_status: Mapping[str, int] = field(default_factory=dict)
    rows_synced: int = 0  # inserted + updated over every stored run
    rows_failed_by_category: Mapping[str, int] = field(default_factory=dict)
    runs_by_status: Mapping[str, int] = field(default_factory=dict)
    durations: Sequence[float] = ()  # duration_s of every finished run
    last_success_timestamp: float | None = None  # unix time of the last successful sync
    open_problems_by_category: Mapping[str, int] = field(default_factory=dict)
    alert_deliveries_by_status: Mapping[str, int] = field(default_factory=dict)


#: Every delivery status, so each has a series from the first scrape on
#: (buyersync.rules.delivery.DeliveryStatus).
DELIVERY_STATUSES = ("failed", "no_alerts", "no_channel", "sent", "suppressed")
#: Every error category (buyersync.errors.ErrorCategory), idem.
CATEGORIES = (
    "constraint",
    "data_format",
    "database_connection",
    "duplicate_key",
    "rate_limit",
    "schema_mismatch",
    "source_unavailable",
    "timeout",
    "unknown",
    "validation",
    "value_too_long",
)


class _SnapshotCollector:
    def __init__(self, snap: MetricsSnapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        s = self.snap
        yield _gauge("buyersync_database_buyers", "Buyers in the database table.", s.database_count)
        if s.spreadsheet_count is not None:
            yield _gauge(
                "buyersync_spreadsheet_buyers",
                "Buyers in the sheet at the latest health check.",
                s.spreadsheet_count,
            )
        if s.missing_count is not None:
            yield _gauge(
                "buyersync_missing_buyers",
                "Sheet buyers missing from the database at the latest health check.",
                s.missing_count,
            )
        if s.error_rate is not None:
            yield _gauge(
                "buyersync_error_rate",
                "Failed / rows read of the last sync, at the latest health check.",
                s.error_rate,
            )
        if s.healthy is not None:
            yield _gauge(
                "buyersync_healthy",
                "1 when the latest health check was healthy.",
                1 if s.healthy else 0,
            )
        queue = GaugeMetricFamily(
            "buyersync_retry_queue_entries", "Retry-queue entries by status.", labels=["status"]
        )
        for status in sorted({"pending", "processing", "permanently_failed", *s.queue_by_status}):
            queue.add_metric([status], s.queue_by_status.get(status, 0))
        yield queue
        depth = sum(v for k, v in s.queue_by_status.items() if k != "permanently_failed")
        yield _gauge(
            "buyersync_retry_queue_depth",
            "Entries waiting for an automatic retry (pending + processing).",
            depth,
        )
        yield _gauge(
            "buyersync_permanent_failures",
            "Entries that reached the attempt limit and wait for a person.",
            s.queue_by_status.get("permanently_failed", 0),
        )
        synced = CounterMetricFamily(
            "buyersync_rows_synced", "Rows written (inserted or updated) by all stored runs."
        )
        synced.add_metric([], s.rows_synced)
        yield synced
        failed = CounterMetricFamily(
            "buyersync_rows_failed", "Error-log entries by category.", labels=["category"]
        )
        for category, n in sorted(s.rows_failed_by_category.items()):
            failed.add_metric([category], n)
        yield failed
        runs = CounterMetricFamily(
            "buyersync_sync_runs", "Stored sync runs by status.", labels=["status"]
        )
        for status, n in sorted(s.runs_by_status.items()):
            runs.add_metric([status], n)
        yield runs
        buckets, total, _ = histogram_buckets(s.durations)
        hist = HistogramMetricFamily(
            "buyersync_sync_duration_seconds", "Duration of the stored sync runs."
        )
        hist.add_metric([], buckets, total)
        yield hist
        problems = GaugeMetricFamily(
            "buyersync_open_problems",
            "Problems open now (buyersync problems), by category.",
            labels=["category"],
        )
        for category in sorted({*CATEGORIES, *s.open_problems_by_category}):
            problems.add_metric([category], s.open_problems_by_category.get(category, 0))
        yield problems
        yield _gauge(
            "buyersync_refused_runs",
            "Stored sync runs a safety rule refused (empty, shrunken or other sheet; "
            "changed headers).",
            s.runs_by_status.get("refused", 0),
        )
        deliveries = GaugeMetricFamily(
            "buyersync_alert_deliveries",
            "Stored alert deliveries by status: sent, failed, no_channel, no_alerts, suppressed.",
            labels=["status"],
        )
        for status in sorted({*DELIVERY_STATUSES, *s.alert_deliveries_by_status}):
            deliveries.add_metric([status], s.alert_deliveries_by_status.get(status, 0))
        yield deliveries
        if s.last_success_timestamp is not None:
            yield _gauge(
                "buyersync_last_success_timestamp_seconds",
                "Unix time when the last successful sync finished.",
                s.last_success_timestamp,
            )


def _gauge(name: str, doc: str, value: Any) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, value=value)


def render(snap: MetricsSnapshot) -> bytes:
    """The Prometheus text exposition of ``snap`` (a private registry per call)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SnapshotCollector(snap))
    return generate_latest(registry)
