"""Settings of the sync: the key, batches, the wrong-sheet guards, typed columns, locks,
connecting and retrying."""

from __future__ import annotations

from buyersync.rules.backoff import DEFAULT_POLICY
from buyersync.settings.spec import Spec

SYNC: tuple[Spec, ...] = (
    Spec(
        "key_column",
        str,
        "buyer_number",
        "Sheet header of the buyer-number column; stored as buyers.buyer_number.",
        "--key",
    ),
    Spec(
        "key_case",
        str,
        "insensitive",
        'How buyer numbers compare: "insensitive" (B100 and b100 are one buyer; only the '
        'letters A-Z count) or "sensitive" (exact).',
        "--key-case",
    ),
    Spec(
        "batch_size",
        int,
        100,
        "Rows per batch (progress and error isolation unit).",
        "--batch-size",
    ),
    Spec(
        "max_shrink_ratio",
        float,
        0.5,
        "Refuse a sync when the sheet has fewer than this fraction of the buyers in the "
        "database (0 disables the check; an empty sheet is always refused).",
        "--max-shrink-ratio",
    ),
    # The wrong-sheet guard (docs/sources.md, "The sheet's shape is a contract").
    Spec(
        "min_key_share",
        float,
        0.5,
        "Refuse a sync when fewer than this fraction of the sheet's buyer numbers are "
        "already in the database (checked only when it holds buyers; 0 disables).",
        "--min-key-share",
    ),
    Spec(
        "min_header_share",
        float,
        0.5,
        "Refuse a sync when the sheet has headers for fewer than this fraction of the "
        "columns the database is fed from (checked only when it holds buyers; 0 disables).",
        "--min-header-share",
    ),
    # Typed columns: how sheet text becomes numbers, dates and timestamps (docs/sources.md).
    Spec(
        "number_format",
        str,
        "1,234.56",
        'How the sheet writes numbers in typed columns: "1,234.56", "1.234,56" or "1 234,56" '
        "(thousands separator, then decimal separator; no currency or percent signs).",
        "--number-format",
    ),
    Spec(
        "date_order",
        str,
        None,
        "Order of day, month and year in non-ISO dates: DMY, MDY or YMD (unset: only "
        "ISO dates like 2024-12-31 are read; other dates are never guessed).",
        "--date-order",
    ),
    Spec(
        "timezone",
        str,
        "UTC",
        "IANA time zone (e.g. Europe/Berlin) of sheet timestamps written without an offset.",
        "--timezone",
    ),
    Spec(
        "lock_wait_seconds",
        float,
        0.0,
        "How long a sync waits for another sync on the same database to finish (0: exit at once).",
        "--lock-wait",
    ),
    # Problems and lock waits (docs/troubleshooting.md).
    Spec(
        "row_lock_timeout_seconds",
        float,
        30.0,
        "How long one merge of a sync waits for buyers rows another session has locked "
        "before only those rows fail and are queued for retry (0: wait forever). Apart "
        "from --lock-wait, which is about another buyersync sync.",
        "--row-lock-timeout",
    ),
    Spec(
        "problems_retention_days",
        float,
        90.0,
        "Days a resolved problem and its error-log entries are kept; a full sync prunes "
        "older ones (0: keep them forever). Open problems are never pruned.",
        "--problems-retention-days",
    ),
    Spec(
        "connect_timeout_seconds",
        float,
        10.0,
        "Seconds to wait for the database to answer a connection attempt.",
        "--connect-timeout",
    ),
    Spec(
        "connect_attempts",
        int,
        3,
        "Connection attempts (with exponential backoff) before giving up.",
        "--connect-attempts",
    ),
    Spec(
        "retry_max_attempts",
        int,
        DEFAULT_POLICY.max_attempts,
        "Retry attempts before an entry is permanently failed.",
        "--retry-max-attempts",
    ),
    Spec(
        "retry_base_seconds",
        float,
        DEFAULT_POLICY.base_seconds,
        "Delay before the first retry; doubles per attempt.",
        "--retry-base-seconds",
    ),
    Spec(
        "retry_max_seconds",
        float,
        DEFAULT_POLICY.max_seconds,
        "Cap on the delay between retries.",
        "--retry-max-seconds",
    ),
    Spec(
        "retry_jitter",
        float,
        DEFAULT_POLICY.jitter,
        "Random jitter added to each retry delay, as a fraction of it (0 disables).",
        "--retry-jitter",
    ),
)
