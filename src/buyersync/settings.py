"""Settings: read once at the edge (CLI or ``serve``) into one frozen object.

Precedence: command-line flag > ``BUYERSYNC_<NAME>`` environment variable >
``buyersync.toml`` (``--config``/``BUYERSYNC_CONFIG``, else ``./buyersync.toml``) > default.
Every setting is declared once in :data:`SETTINGS`; the CLI flags and the
configuration reference (docs/configuration.md) are generated from it.
Library code takes plain arguments and never reads the environment.
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from buyersync.errors import ConfigError
from buyersync.redact import redact_url, register, scrub, url_problem, url_secrets
from buyersync.rules.backoff import DEFAULT_POLICY
from buyersync.rules.keys import KEY_CASES
from buyersync.rules.normalize import column_letter, letter_key

__all__ = ["Settings", "load_settings", "redact_url", "scrub", "url_secrets"]
from buyersync.rules.typed import ParseOptions


@dataclass(frozen=True)
class Spec:
    """How one setting is spelled everywhere and what it means."""

    name: str  # attribute of Settings and key in buyersync.toml
    type: type
    default: Any
    help: str
    flag: str  # the command-line flag
    secret: bool = False
    env: str = ""  # environment variable; BUYERSYNC_<NAME> unless given
    file_flag: str = ""  # a flag naming a file that holds the (secret) value
    multiple: bool = False  # the flag may be repeated; the values are joined by commas

    @property
    def env_var(self) -> str:
        return self.env or "BUYERSYNC_" + self.name.upper()

    @property
    def file_env_var(self) -> str:
        """``<ENV>_FILE``: where container platforms mount a secret as a file."""
        return self.env_var + "_FILE" if self.secret else ""


SETTINGS: tuple[Spec, ...] = (
    Spec(
        "database_url",
        str,
        "sqlite:///buyersync.db",
        "Database URL: sqlite:///path.db or postgresql://user:pass@host:port/db.",
        "--db",
        secret=True,
    ),
    Spec(
        "source",
        str,
        None,
        "The sheet: a .csv or .xlsx path, a Google Sheets URL, or gsheets:<ID>.",
        "--source",
    ),
    Spec(
        "sheet",
        str,
        None,
        "Worksheet name in an XLSX file or a Google Sheet (default: the first).",
        "--sheet",
    ),
    Spec(
        "sheet_range",
        str,
        None,
        "What to read, where --sheet is accepted: a sheet name, a named range, or for a "
        "Google Sheet an A1 range such as 'Buyers!A1:F' (header on its first row).",
        "--range",
    ),
    Spec(
        "header_row",
        int,
        1,
        "Row number of the header row (rows above it are a title block).",
        "--header-row",
    ),
    Spec(
        "encoding",
        str,
        "utf-8",
        "Encoding of a CSV file (utf-8 with or without BOM, cp932, ...).",
        "--encoding",
    ),
    # -- XLSX bounds: a hostile workbook cannot take unbounded memory or time --
    Spec(
        "xlsx_max_part_mb",
        int,
        64,
        "Largest uncompressed size, in MiB, of an XLSX part read whole (shared strings, "
        "workbook, styles, relationships) and of one sheet row.",
        "--xlsx-max-part-mb",
    ),
    Spec(
        "xlsx_max_sheet_mb",
        int,
        2048,
        "Largest uncompressed size, in MiB, of an XLSX sheet's XML (read in chunks).",
        "--xlsx-max-sheet-mb",
    ),
    Spec(
        "xlsx_max_compression_ratio",
        int,
        100,
        "Largest uncompressed/compressed size ratio of an XLSX part over 1 MiB "
        "(a zip bomb inflates far more than a real workbook).",
        "--xlsx-max-compression-ratio",
    ),
    Spec(
        "xlsx_stream_threshold_mb",
        int,
        64,
        "Sheets with more XML than this many MiB are read by the streaming reader "
        "(bounded memory) instead of python-calamine (faster, whole sheet in memory).",
        "--xlsx-stream-threshold-mb",
    ),
    # -- CSV dialect and bounds (docs/sources.md, "CSV") --
    Spec(
        "delimiter",
        str,
        None,
        "CSV delimiter: comma, semicolon, tab or pipe (or the character itself); "
        "unset: detected from the header and the rows under it.",
        "--delimiter",
    ),
    Spec(
        "csv_max_field_lines",
        int,
        20,
        "Most physical lines one quoted CSV field may take in (multi-line addresses); "
        "a longer one is taken for a quote that was never closed.",
        "--csv-max-field-lines",
    ),
    Spec(
        "csv_max_field_chars",
        int,
        1_000_000,
        "Longest CSV field, in characters; a longer one stops the read (exit 3).",
        "--csv-max-field-chars",
    ),
    Spec(
        "csv_max_line_chars",
        int,
        4_000_000,
        "Longest physical CSV line, in characters; a longer one stops the read (exit 3).",
        "--csv-max-line-chars",
    ),
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
    Spec(
        "alert_missing_threshold",
        int,
        0,
        "Alert when more buyers than this are missing.",
        "--alert-missing-threshold",
    ),
    Spec(
        "alert_error_rate_threshold",
        float,
        0.05,
        "Alert when the last sync's error rate (failed / rows read) exceeds this.",
        "--alert-error-rate-threshold",
    ),
    Spec(
        "alert_slow_sync_seconds",
        float,
        900.0,
        "Alert when a sync takes longer than this.",
        "--alert-slow-sync-seconds",
    ),
    Spec(
        "alert_stale_seconds",
        float,
        7200.0,
        "Alert when no sync has succeeded for this long (dead-man's switch; 0 disables).",
        "--alert-stale-seconds",
    ),
    Spec(
        "alert_cooldown_seconds",
        float,
        3600.0,
        "Do not repeat the same alert within this many seconds.",
        "--alert-cooldown-seconds",
    ),
    Spec(
        "smtp_host", str, None, "SMTP server for e-mail alerts (unset: no e-mail).", "--smtp-host"
    ),
    Spec("smtp_port", int, 587, "SMTP port.", "--smtp-port"),
    Spec("smtp_user", str, None, "SMTP login user.", "--smtp-user"),
    Spec(
        "smtp_password",
        str,
        None,
        "SMTP login password.",
        "--smtp-password",
        secret=True,
        file_flag="--smtp-password-file",
    ),
    Spec("smtp_from", str, "buyersync@localhost", "Sender address of alert mails.", "--smtp-from"),
    Spec("smtp_to", str, None, "Recipients of alert mails, comma-separated.", "--smtp-to"),
    Spec(
        "smtp_starttls",
        bool,
        True,
        "Require STARTTLS on ports other than 465 (465 always uses implicit TLS); "
        "turn off only for a local relay without TLS.",
        "--smtp-starttls",
    ),
    Spec(
        "smtp_allow_plaintext_auth",
        bool,
        False,
        "Allow sending the SMTP password over a connection without TLS (never needed "
        "with TLS; refused otherwise).",
        "--smtp-allow-plaintext-auth",
    ),
    Spec(
        "webhook_url",
        str,
        None,
        "URL that receives alerts as a JSON POST (Slack-compatible 'text' field).",
        "--webhook-url",
        secret=True,
    ),
    Spec(
        "api_token",
        str,
        None,
        "Bearer token required by the HTTP API (unset: serve binds loopback only).",
        "--api-token",
        secret=True,
        file_flag="--api-token-file",
    ),
    Spec(
        "allowed_hosts",
        str,
        None,
        "serve: host names the dashboard answers besides localhost, 127.0.0.1 and [::1] "
        "(the Host header; others get 400). Repeat the flag or separate by commas.",
        "--allowed-host",
        multiple=True,
    ),
    Spec(
        "sheets_api_url",
        str,
        "https://sheets.googleapis.com",
        "Base URL of the Google Sheets API (for tests and proxies).",
        "--sheets-api-url",
    ),
    Spec(
        "google_credentials",
        str,
        None,
        "Path of a Google service-account JSON file.",
        "--google-credentials",
        env="GOOGLE_APPLICATION_CREDENTIALS",
    ),
    # -- Outbound requests: every HTTP request to a peer and every SMTP send
    # (buyersync.outbound; docs/reliability.md, "Security") --
    Spec(
        "sheets_timeout_seconds",
        float,
        30.0,
        "Total seconds one Google Sheets or token request may take, from connecting to "
        "the last byte of the answer (a silent server is retried; a slow answer stops the "
        "sync, exit 3).",
        "--sheets-timeout",
    ),
    Spec(
        "alert_timeout_seconds",
        float,
        10.0,
        "Total seconds one alert delivery may take (the webhook POST, or the whole SMTP "
        "conversation); past it the channel counts as down.",
        "--alert-timeout",
    ),
    Spec(
        "http_max_response_bytes",
        int,
        64 * 1024 * 1024,
        "Largest answer body accepted from an HTTP peer (a Sheets page of 10,000 rows is "
        "a few MB); error bodies are only read up to 8 KB.",
        "--http-max-response-bytes",
    ),
    Spec(
        "http_max_json_depth",
        int,
        32,
        "Deepest nesting of arrays and objects accepted in a JSON answer.",
        "--http-max-json-depth",
    ),
    Spec(
        "http_max_json_values",
        int,
        2_000_000,
        "Most JSON values (cells, arrays, objects) accepted in one answer; bounds the "
        "memory a parsed answer takes.",
        "--http-max-json-values",
    ),
    # -- Feedback to the people who edit the sheet (docs/sheet-feedback.md) --
    Spec(
        "sheet_feedback",
        str,
        "off",
        "Write open problems back to a Google Sheet after each sync: off, notes (a note "
        "on each failing cell) or tab (a tab listing them). notes and tab need the "
        "read-write scope https://www.googleapis.com/auth/spreadsheets.",
        "--sheet-feedback",
    ),
    Spec(
        "sheet_feedback_tab",
        str,
        "buyersync problems",
        "Title of the tab that lists the open problems (sheet_feedback = tab, and the "
        "problems that could not get a note).",
        "--sheet-feedback-tab",
    ),
    Spec(
        "sheet_feedback_max_notes",
        int,
        1000,
        "Most notes written in one run; the rest are listed on the problems tab.",
        "--sheet-feedback-max-notes",
    ),
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


def _coerce(spec: Spec, raw: Any, origin: str) -> Any:
    if raw is None:
        return None
    try:
        if spec.type is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(text)
        if spec.type is int:
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError(raw)
            return int(raw)
        if spec.type is float:
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        shown = "***" if spec.secret else repr(raw)
        raise ConfigError(
            f"{origin} has an invalid value {shown} for {spec.name}: expected {spec.type.__name__}",
            hint=f"fix {origin}",
        ) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    config_file: str | os.PathLike[str] | None = None,
) -> Settings:
    """Resolve every setting (flag > env > file > default) and validate the result.

    ``flags`` holds values given on the command line (``None`` = not given).
    ``env`` defaults to ``os.environ``. Raises :class:`ConfigError`.
    """
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    env = os.environ if env is None else env
    path: Path | None = None
    if config_file is not None:
        path = Path(config_file)
        if not path.exists():
            raise ConfigError(f"configuration file {path} does not exist")
    elif env.get("BUYERSYNC_CONFIG"):
        path = Path(env["BUYERSYNC_CONFIG"])
        if not path.exists():
            raise ConfigError(f"BUYERSYNC_CONFIG names {path}, which does not exist")
    elif Path("buyersync.toml").exists():
        path = Path("buyersync.toml")
    table: dict[str, Any] = _read_toml(path) if path else {}
    file_settings = dict(table.get("buyersync", {}))
    file_settings.update({k: v for k, v in table.items() if k in SPECS})
    unknown = set(table) - set(SPECS) - {"buyersync", "mapping"}
    if unknown:
        raise ConfigError(
            f"{path} has unknown settings: {', '.join(sorted(unknown))}",
            hint="see docs/configuration.md for the names",
        )
    values: dict[str, Any] = {}
    secret_flags: list[str] = []
    for spec in SETTINGS:
        file_flag_value = flags.get(spec.name + "_file") if spec.file_flag else None
        file_env = env.get(spec.file_env_var) if spec.file_env_var else None
        if spec.name in flags and file_flag_value:
            raise ConfigError(f"give {spec.flag} or {spec.file_flag}, not both")
        if env.get(spec.env_var) not in (None, "") and file_env:
            raise ConfigError(f"set {spec.env_var} or {spec.file_env_var}, not both")
        if spec.name in flags:
            values[spec.name] = _coerce(spec, flags[spec.name], spec.flag)
            if spec.secret:
                secret_flags.append(spec.flag)
        elif file_flag_value:
            values[spec.name] = read_secret_file(file_flag_value, spec.file_flag)
        elif env.get(spec.env_var) not in (None, ""):
            values[spec.name] = _coerce(spec, env[spec.env_var], spec.env_var)
        elif file_env:
            values[spec.name] = read_secret_file(file_env, spec.file_env_var)
        elif spec.name in file_settings:
            values[spec.name] = _coerce(spec, file_settings[spec.name], f"{path}")
    mapping = table.get("mapping", {})
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ConfigError(f"[mapping] in {path} must map sheet headers to column names (strings)")
    check_mapping_keys(mapping, path)
    settings = Settings(
        **values,
        mapping=dict(mapping),
        config_file=str(path) if path else None,
        secret_flags=tuple(secret_flags),
    )
    register(settings.secrets())
    validate(settings)
    return settings


_LETTERISH_KEY = re.compile(r"\s*#[A-Za-z]+[0-9]*\s*")


def check_mapping_keys(mapping: Mapping[str, str], path: Path | None) -> None:
    """Refuse ``[mapping]`` keys that look like a column letter but are not one."""
    by_index: dict[int, str] = {}
    for key in mapping:
        index = letter_key(key)
        if index is None:
            if _LETTERISH_KEY.fullmatch(key):
                raise ConfigError(
                    f"[mapping] in {path}: {key!r} is not a column letter",
                    hint='name a column by its letter only, from "#A" to "#ZZZ" (no row number)',
                )
            continue
        if index in by_index:
            raise ConfigError(
                f"[mapping] in {path}: {by_index[index]!r} and {key!r} both name "
                f"column {column_letter(index)}; keep one"
            )
        by_index[index] = key


#: A secret file larger than this is a mistake (a wrong path, a device), not a secret.
MAX_SECRET_FILE_BYTES = 65536


def read_secret_file(path: str, origin: str) -> str:
    """The secret held in the file ``path`` (one trailing newline removed)."""
    where = Path(path)
    try:
        if not where.is_file():
            raise ConfigError(
                f"{origin} names {path}, which is not a regular file",
                hint="name the file that holds only the secret",
            )
        with where.open("rb") as fh:
            data = fh.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{origin} names {path}, which cannot be read: {exc.strerror}") from None
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise ConfigError(
            f"{origin} names {path}, which is over {MAX_SECRET_FILE_BYTES} bytes: not a secret"
        )
    try:
        value = data.decode("utf-8").removesuffix("\n").removesuffix("\r")
    except UnicodeDecodeError:
        raise ConfigError(f"{origin} names {path}, which is not UTF-8 text") from None
    if not value.strip():
        raise ConfigError(f"{origin} names {path}, which is empty")
    return value


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


def reference_markdown() -> str:
    """The configuration reference (docs/configuration.md), generated from :data:`SETTINGS`."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- generated from buyersync.settings.SETTINGS by "
        "`python -m buyersync.settings > docs/configuration.md`; a test fails if it drifts -->",
        "",
        "Every setting has a command-line flag, an environment variable and a key in",
        "`buyersync.toml`. Precedence: flag > environment > file > default. The file is",
        "`--config FILE`, else `BUYERSYNC_CONFIG`, else `./buyersync.toml`; keys sit at the top",
        "level (or under `[buyersync]`), and a `[mapping]` table maps sheet headers, or column",
        'letters such as `"#C"`, to column names (`""` ignores the column; see',
        "[sources.md](sources.md#mapping-columns)). Settings marked secret never appear in",
        "output, logs or the dashboard.",
        "A secret can also come from a file (as container platforms mount them): the",
        "`_FILE` variable names the file, which holds only the value (one trailing newline",
        "is dropped). Setting both the variable and its `_FILE` variant is an error. A",
        "secret given as a flag is visible to every local user in the process list:",
        "`buyersync serve` warns about it.",
        "",
        "| setting (toml key) | flag | environment variable | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for spec in SETTINGS:
        default = "none" if spec.default is None else f"`{spec.default}`"
        if spec.type is bool and spec.default is not None:
            default = f"`{str(spec.default).lower()}`"
        secret = ""
        if spec.secret:
            files = [f"`{spec.file_env_var}`"] + ([f"`{spec.file_flag}`"] if spec.file_flag else [])
            secret = f" (secret; or read from the file named by {' or '.join(files)})"
        flag = (
            f"`{spec.flag}`" if spec.type is not bool else f"`{spec.flag}` / `--no-{spec.flag[2:]}`"
        )
        if spec.multiple:
            flag += " (repeatable)"
        lines.append(
            f"| `{spec.name}` | {flag} | `{spec.env_var}` | {default} | {spec.help}{secret} |"
        )
    lines += [
        "",
        "Each command accepts the flags of the settings it uses (`buyersync COMMAND --help`",
        "lists them). Database URLs: `sqlite:///path.db` (relative) or `sqlite:////abs/path.db`,",
        "and `postgresql://user:password@host:port/dbname` (`postgres://` and",
        "`postgresql+psycopg://` are accepted too).",
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    print(reference_markdown(), end="")
