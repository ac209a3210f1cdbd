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
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from buyersync.errors import ConfigError


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

    @property
    def env_var(self) -> str:
        return self.env or "BUYERSYNC_" + self.name.upper()


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
    Spec(
        "lock_wait_seconds",
        float,
        0.0,
        "How long a sync waits for another sync on the same database to finish (0: exit at once).",
        "--lock-wait",
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
        5,
        "Retry attempts before an entry is permanently failed.",
        "--retry-max-attempts",
    ),
    Spec(
        "retry_base_seconds",
        float,
        60.0,
        "Delay before the first retry; doubles per attempt.",
        "--retry-base-seconds",
    ),
    Spec(
        "retry_max_seconds",
        float,
        21600.0,
        "Cap on the delay between retries.",
        "--retry-max-seconds",
    ),
    Spec(
        "retry_jitter",
        float,
        0.1,
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
    Spec("smtp_password", str, None, "SMTP login password.", "--smtp-password", secret=True),
    Spec("smtp_from", str, "buyersync@localhost", "Sender address of alert mails.", "--smtp-from"),
    Spec("smtp_to", str, None, "Recipients of alert mails, comma-separated.", "--smtp-to"),
    Spec("smtp_starttls", bool, False, "Use STARTTLS before logging in.", "--smtp-starttls"),
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
    header_row: int = 1
    encoding: str = "utf-8"
    key_column: str = "buyer_number"
    delimiter: str | None = None
    csv_max_field_lines: int = 20
    csv_max_field_chars: int = 1_000_000
    csv_max_line_chars: int = 4_000_000
    batch_size: int = 100
    max_shrink_ratio: float = 0.5
    lock_wait_seconds: float = 0.0
    connect_timeout_seconds: float = 10.0
    connect_attempts: int = 3
    retry_max_attempts: int = 5
    retry_base_seconds: float = 60.0
    retry_max_seconds: float = 21600.0
    retry_jitter: float = 0.1
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
    smtp_starttls: bool = False
    webhook_url: str | None = field(default=None, repr=False)
    api_token: str | None = field(default=None, repr=False)
    sheets_api_url: str = "https://sheets.googleapis.com"
    google_credentials: str | None = None
    sync_interval_seconds: float = 900.0
    retry_interval_seconds: float = 60.0
    health_interval_seconds: float = 300.0
    verify_interval_seconds: float = 86400.0
    #: ``[mapping]`` of buyersync.toml: sheet header → column name.
    mapping: Mapping[str, str] = field(default_factory=dict)
    #: Where the values came from, for ``buyersync`` diagnostics (never the values).
    config_file: str | None = None

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


def redact_url(url: str) -> str:
    """Remove the password from a URL (``postgresql://u:***@h/db``)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[-1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def url_secrets(url: str) -> list[str]:
    """The password of a URL, and any ``password=``/``token=`` query values."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [parts.password] if parts.password else []
    for pair in parts.query.split("&"):
        name, _, value = pair.partition("=")
        if value and name.lower() in ("password", "token", "sslpassword"):
            found.append(value)
    return found


def scrub(text: str, secrets: list[str]) -> str:
    """Replace every secret in ``text`` with ``***``."""
    for secret in sorted(secrets, key=len, reverse=True):
        if secret and len(secret) >= 3:
            text = text.replace(secret, "***")
    return text


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
    for spec in SETTINGS:
        if spec.name in flags:
            values[spec.name] = _coerce(spec, flags[spec.name], spec.flag)
        elif env.get(spec.env_var) not in (None, ""):
            values[spec.name] = _coerce(spec, env[spec.env_var], spec.env_var)
        elif spec.name in file_settings:
            values[spec.name] = _coerce(spec, file_settings[spec.name], f"{path}")
    mapping = table.get("mapping", {})
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ConfigError(f"[mapping] in {path} must map sheet headers to column names (strings)")
    settings = Settings(**values, mapping=dict(mapping), config_file=str(path) if path else None)
    validate(settings)
    return settings


def validate(settings: Settings) -> None:
    """Raise :class:`ConfigError` for values that cannot work."""
    if settings.batch_size < 1:
        raise ConfigError(
            f"batch size must be at least 1 (got {settings.batch_size})",
            hint="use --batch-size 100",
        )
    if settings.header_row < 1:
        raise ConfigError(f"header row must be 1 or more (got {settings.header_row})")
    if settings.retry_max_attempts < 1:
        raise ConfigError("retry max attempts must be at least 1")
    if settings.retry_base_seconds < 0 or settings.retry_max_seconds < 0:
        raise ConfigError("retry delays cannot be negative")
    if not 0 <= settings.alert_error_rate_threshold <= 1:
        raise ConfigError("alert error rate threshold is a fraction between 0 and 1 (e.g. 0.05)")
    if not 0 <= settings.max_shrink_ratio <= 1:
        raise ConfigError("max shrink ratio is a fraction between 0 and 1 (e.g. 0.5)")
    if settings.connect_attempts < 1:
        raise ConfigError("connect attempts must be at least 1")
    if settings.delimiter is not None:
        from buyersync.sources.csv_source import parse_delimiter

        parse_delimiter(settings.delimiter)
    for name in ("csv_max_field_lines", "csv_max_field_chars", "csv_max_line_chars"):
        if getattr(settings, name) < 1:
            raise ConfigError(f"{name} must be at least 1 (got {getattr(settings, name)})")
    scheme = settings.database_url.split(":", 1)[0].lower()
    if not (scheme.startswith("sqlite") or scheme.startswith("postgres")):
        raise ConfigError(
            f"unsupported database URL scheme {scheme!r}",
            hint="use sqlite:///path.db or postgresql://user:pass@host:port/db",
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
        "level (or under `[buyersync]`), and a `[mapping]` table maps sheet headers to column",
        "names. Settings marked secret never appear in output, logs or the dashboard.",
        "",
        "| setting (toml key) | flag | environment variable | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for spec in SETTINGS:
        default = "none" if spec.default is None else f"`{spec.default}`"
        if spec.type is bool and spec.default is not None:
            default = f"`{str(spec.default).lower()}`"
        secret = " (secret)" if spec.secret else ""
        flag = (
            f"`{spec.flag}`" if spec.type is not bool else f"`{spec.flag}` / `--no-{spec.flag[2:]}`"
        )
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
