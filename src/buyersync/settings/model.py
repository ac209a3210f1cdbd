"""The resolved settings: :class:`Settings`, one frozen object."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from buyersync.redact import redact_url, url_secrets
from buyersync.rules.backoff import DEFAULT_POLICY
from buyersync.settings.fields import SETTINGS
from buyersync.settings.spec import Spec

SPECS: dict[str, Spec] = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """Every setting, resolved. Built by :func:`load_settings`."""

    database_url: str = "sqlite:///buyersync.db"
    source: str | None = None
    sheet: str | None = None
    sheet_range: str | None = None
    header_row: int = 1
    encoding: str = "utf-8"
    xlsx_max_part_mb: int = 64
    xlsx_max_sheet_mb: int = 2048
    xlsx_max_compression_ratio: int = 100
    xlsx_stream_threshold_mb: int = 64
    key_column: str = "buyer_number"
    key_case: str = "insensitive"
    delimiter: str | None = None
    csv_max_field_lines: int = 20
    csv_max_field_chars: int = 1_000_000
    csv_max_line_chars: int = 4_000_000
    batch_size: int = 100
    max_shrink_ratio: float = 0.5
    min_key_share: float = 0.5
    min_header_share: float = 0.5
    number_format: str = "1,234.56"
    date_order: str | None = None
    timezone: str = "UTC"
    lock_wait_seconds: float = 0.0
    row_lock_timeout_seconds: float = 30.0
    problems_retention_days: float = 90.0
    connect_timeout_seconds: float = 10.0
    connect_attempts: int = 3
    # The retry defaults are the backoff rule's own (one source of truth).
    retry_max_attempts: int = DEFAULT_POLICY.max_attempts
    retry_base_seconds: float = DEFAULT_POLICY.base_seconds
    retry_max_seconds: float = DEFAULT_POLICY.max_seconds
    retry_jitter: float = DEFAULT_POLICY.jitter
    alert_missing_threshold: int = 0
    alert_error_rate_threshold: float = 0.05
    alert_slow_sync_seconds: float = 900.0
    alert_stale_seconds: float = 7200.0
    alert_cooldown_seconds: float = 3600.0
    smtp_host: str | None = None
    smtp_port: int = 587
    smtp_user: str | None = None
    smtp_password: str | None = field(default=None, repr=False)
    smtp_from: str = "buyersync@localhost"
    smtp_to: str | None = None
    smtp_starttls: bool = True
    smtp_allow_plaintext_auth: bool = False
    webhook_url: str | None = field(default=None, repr=False)
    api_token: str | None = field(default=None, repr=False)
    allowed_hosts: str | None = None
    sheets_api_url: str = "https://sheets.googleapis.com"
    google_credentials: str | None = None
    sheets_timeout_seconds: float = 30.0
    alert_timeout_seconds: float = 10.0
    http_max_response_bytes: int = 64 * 1024 * 1024
    http_max_json_depth: int = 32
    http_max_json_values: int = 2_000_000
    sheet_feedback: str = "off"
    sheet_feedback_tab: str = "buyersync problems"
    sheet_feedback_max_notes: int = 1000
    api_sync_min_interval_seconds: float = 60.0
    sync_interval_seconds: float = 900.0
    retry_interval_seconds: float = 60.0
    health_interval_seconds: float = 300.0
    verify_interval_seconds: float = 86400.0
    #: ``[mapping]`` of buyersync.toml: sheet header → column name.
    mapping: Mapping[str, str] = field(default_factory=dict)
    #: Where the values came from, for ``buyersync`` diagnostics (never the values).
    config_file: str | None = None
    #: The flags that carried a secret value on the command line (readable in the
    #: process list by every local user): ``serve`` warns about them.
    secret_flags: tuple[str, ...] = ()

    def __repr__(self) -> str:  # secrets never appear, even in a traceback
        shown = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            spec = SPECS.get(f.name)
            if spec is not None and spec.secret and value:
                value = redact_url(value) if f.name == "database_url" else "***"
            shown.append(f"{f.name}={value!r}")
        return "Settings(" + ", ".join(shown) + ")"

    @property
    def smtp_recipients(self) -> list[str]:
        return [a.strip() for a in (self.smtp_to or "").split(",") if a.strip()]

    @property
    def database_display(self) -> str:
        """The database URL with any password removed: safe to print."""
        return redact_url(self.database_url)

    def secrets(self) -> list[str]:
        """The secret values in force, for scrubbing any text before it is shown."""
        found = []
        for spec in SETTINGS:
            value = getattr(self, spec.name)
            if spec.secret and value and spec.name != "database_url":
                found.append(str(value))
        # Of the database URL only the password is secret: the rest (host, database
        # name) is what an operator needs to see in "cannot connect to ..." messages.
        found.extend(url_secrets(self.database_url))
        return found


assert {f.name for f in dataclasses.fields(Settings)} >= set(SPECS), "Settings lacks a Spec"
