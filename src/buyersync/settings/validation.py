"""Validation: values that cannot work are refused with what to set instead."""

from __future__ import annotations

from buyersync.errors import ConfigError
from buyersync.redact import url_problem
from buyersync.rules.keys import KEY_CASES
from buyersync.rules.typed import ParseOptions
from buyersync.settings.model import SPECS, Settings

#: The values of ``sheet_feedback``.
SHEET_FEEDBACK_MODES = ("off", "notes", "tab")


def validate(settings: Settings) -> None:
    """Raise :class:`ConfigError` for values that cannot work."""
    if settings.batch_size < 1:
        raise ConfigError(
            f"batch size must be at least 1 (got {settings.batch_size})",
            hint="use --batch-size 100",
        )
    if settings.header_row < 1:
        raise ConfigError(f"header row must be 1 or more (got {settings.header_row})")
    for name in ("xlsx_max_part_mb", "xlsx_max_sheet_mb", "xlsx_max_compression_ratio"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"{name} must be at least 1 (got {getattr(settings, name)})")
    if settings.xlsx_stream_threshold_mb < 0:
        raise ConfigError("xlsx_stream_threshold_mb cannot be negative")
    if settings.retry_max_attempts < 1:
        raise ConfigError("retry max attempts must be at least 1")
    if settings.retry_base_seconds < 0 or settings.retry_max_seconds < 0:
        raise ConfigError("retry delays cannot be negative")
    if not 0 <= settings.alert_error_rate_threshold <= 1:
        raise ConfigError("alert error rate threshold is a fraction between 0 and 1 (e.g. 0.05)")
    if not 0 <= settings.max_shrink_ratio <= 1:
        raise ConfigError("max shrink ratio is a fraction between 0 and 1 (e.g. 0.5)")
    for name in ("min_key_share", "min_header_share"):
        if not 0 <= getattr(settings, name) <= 1:
            raise ConfigError(
                f"{name.replace('_', ' ')} is a fraction between 0 and 1 (e.g. 0.5)",
                hint=f"set {SPECS[name].flag} to a value from 0 (off) to 1",
            )
    if settings.sheet and settings.sheet_range and settings.sheet != settings.sheet_range:
        raise ConfigError(
            f"--sheet {settings.sheet!r} and --range {settings.sheet_range!r} both name what "
            "to read",
            hint="give one of them",
        )
    if settings.key_case.strip().lower() not in KEY_CASES:
        raise ConfigError(
            f"key_case {settings.key_case!r} is not one of {', '.join(KEY_CASES)}",
            hint="set --key-case insensitive (the default) or --key-case sensitive",
        )
    if settings.connect_attempts < 1:
        raise ConfigError("connect attempts must be at least 1")
    if settings.row_lock_timeout_seconds < 0 or settings.problems_retention_days < 0:
        raise ConfigError(
            "the row-lock timeout and the problems retention cannot be negative (0 disables)"
        )
    plain_smtp = not settings.smtp_starttls and settings.smtp_port != 465
    if settings.smtp_user and plain_smtp and not settings.smtp_allow_plaintext_auth:
        raise ConfigError(
            "refusing to send the SMTP password over a connection without TLS "
            "(--no-smtp-starttls on a port other than 465)",
            hint="use STARTTLS (the default) or port 465; for a relay that cannot do TLS, "
            "set BUYERSYNC_SMTP_ALLOW_PLAINTEXT_AUTH=true",
        )
    problem = url_problem(settings.database_url)
    if problem is not None:
        # None of the URL is shown: a password with an unencoded @ would leak in part.
        raise ConfigError(
            f"the database URL (--db / BUYERSYNC_DATABASE_URL) is malformed: {problem}"
        )
    if settings.webhook_url and url_problem(settings.webhook_url) is not None:
        raise ConfigError(
            "the webhook URL (--webhook-url / BUYERSYNC_WEBHOOK_URL) is malformed: "
            + str(url_problem(settings.webhook_url))
        )
    if settings.api_token is not None and not settings.api_token.strip():
        raise ConfigError("the API token is empty", hint="set BUYERSYNC_API_TOKEN_FILE to a file")
    try:
        parse_options(settings)
    except ValueError as exc:
        raise ConfigError(str(exc), hint="see docs/configuration.md") from None
    if settings.delimiter is not None:
        from buyersync.sources.csv_source import parse_delimiter

        parse_delimiter(settings.delimiter)
    for name in ("csv_max_field_lines", "csv_max_field_chars", "csv_max_line_chars"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"{name} must be at least 1 (got {getattr(settings, name)})")
    for name in ("sheets_timeout_seconds", "alert_timeout_seconds"):
        if not 0 < getattr(settings, name) <= 3600:
            raise ConfigError(f"{name} must be more than 0 and at most 3600 seconds")
    for name in ("http_max_response_bytes", "http_max_json_depth", "http_max_json_values"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"{name} must be at least 1 (got {getattr(settings, name)})")
    if settings.sheet_feedback not in SHEET_FEEDBACK_MODES:
        raise ConfigError(
            f"sheet_feedback must be one of {', '.join(SHEET_FEEDBACK_MODES)} "
            f"(got {settings.sheet_feedback!r})",
            hint="see docs/sheet-feedback.md",
        )
    if not settings.sheet_feedback_tab.strip() or len(settings.sheet_feedback_tab) > 100:
        raise ConfigError("sheet_feedback_tab must be a tab title of 1 to 100 characters")
    if settings.sheet_feedback_max_notes < 0 or settings.api_sync_min_interval_seconds < 0:
        raise ConfigError("sheet_feedback_max_notes and api_sync_min_interval cannot be negative")
    scheme = settings.database_url.split(":", 1)[0].lower()
    if not (scheme.startswith("sqlite") or scheme.startswith("postgres")):
        raise ConfigError(
            f"unsupported database URL scheme {scheme!r}",
            hint="use sqlite:///path.db or postgresql://user:pass@host:port/db",
        )


def parse_options(settings: Settings) -> ParseOptions:
    """The typed-column parsing options the settings give; raises :class:`ValueError`."""
    return ParseOptions(
        number_format=settings.number_format,
        date_order=settings.date_order,
        timezone=settings.timezone,
    )
