"""What every command shares: settings flags, output, exit codes, error messages.

Exit codes (the contract): 0 all is well; 1 the command ran and found problems
(failed rows, missing buyers, unhealthy, schema not OK, mismatches); 2 bad usage or
configuration; 3 the command could not do its work (database or sheet unreachable,
another sync running, a safety rule refused the run); 4 an internal error (a bug:
please report it with the output of ``--debug``).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import click

from buyersync import wiring
from buyersync.cli.interrupt import STOP, Interrupted
from buyersync.cli.output import plain
from buyersync.cli.output import stderr_console as stderr_console
from buyersync.cli.output import stdout_console as stdout_console
from buyersync.errors import BuyersyncError, ConfigError, EncodingProblem, HeaderError
from buyersync.redact import redact, url_secrets
from buyersync.settings import SPECS, Settings, load_settings
from buyersync.sources.base import Source
from buyersync.store.db import Database

F = TypeVar("F", bound=Callable[..., Any])

EXIT_OK, EXIT_PROBLEMS, EXIT_USAGE, EXIT_FAILED, EXIT_INTERNAL = 0, 1, 2, 3, 4

#: The exit code of each error class that is not EXIT_FAILED (the first match in the
#: class's MRO wins): what the user must fix before running the command again.
EXIT_CODES: dict[type[BuyersyncError], int] = {
    ConfigError: EXIT_USAGE,  # a flag, setting or file name is wrong
    HeaderError: EXIT_USAGE,  # the sheet's headers must be fixed (or --mapping given)
    EncodingProblem: EXIT_USAGE,  # the file needs another --encoding
}


def exit_code_for(exc: BuyersyncError) -> int:
    """The exit code of an error: by its class (:data:`EXIT_CODES`), else EXIT_FAILED."""
    for cls in type(exc).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return EXIT_FAILED


#: Settings every command that opens the database accepts.
DB_SETTINGS = ("database_url", "connect_timeout_seconds", "connect_attempts")
#: Settings of commands that read the sheet.
SOURCE_SETTINGS = (
    "source",
    "sheet",
    "sheet_range",
    "header_row",
    "encoding",
    "xlsx_max_part_mb",
    "xlsx_max_sheet_mb",
    "xlsx_max_compression_ratio",
    "xlsx_stream_threshold_mb",
    "delimiter",
    "csv_max_field_lines",
    "csv_max_field_chars",
    "csv_max_line_chars",
    "key_column",
    "key_case",
    "sheets_api_url",
    "google_credentials",
    "sheets_timeout_seconds",
    "http_max_response_bytes",
    "http_max_json_depth",
    "http_max_json_values",
)
#: How typed buyers columns read sheet text (commands that write or compare values).
TYPED_SETTINGS = ("number_format", "date_order", "timezone")
RETRY_SETTINGS = ("retry_max_attempts", "retry_base_seconds", "retry_max_seconds", "retry_jitter")
ALERT_SETTINGS = (
    "alert_missing_threshold",
    "alert_error_rate_threshold",
    "alert_slow_sync_seconds",
    "alert_stale_seconds",
    "alert_cooldown_seconds",
    "smtp_host",
    "smtp_port",
    "smtp_user",
    "smtp_password",
    "smtp_from",
    "smtp_to",
    "smtp_starttls",
    "webhook_url",
    "alert_timeout_seconds",
)


class Context:
    """Per-invocation state: settings, output mode, the secrets to scrub."""

    def __init__(self, settings: Settings, *, json_output: bool, debug: bool) -> None:
        self.settings = settings
        self.json = json_output
        self.debug = debug

    def scrub(self, text: str) -> str:
        return redact(text, self.settings.secrets())

    def database(self) -> contextlib.AbstractContextManager[Database]:
        """The configured database, closed when the block ends."""
        return wiring.database(self.settings)

    def open_source(self) -> Source:
        """The configured sheet (nothing is read yet)."""
        return wiring.open_source(self.settings)


class AliasedOption(click.Option):
    """An option with extra spellings that work but are not listed in ``--help``."""

    def __init__(self, *args: Any, hidden_aliases: tuple[str, ...] = (), **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.hidden_aliases = hidden_aliases

    def get_help_record(self, ctx: click.Context) -> tuple[str, str] | None:
        shown, self.opts = self.opts, [o for o in self.opts if o not in self.hidden_aliases]
        try:
            return super().get_help_record(ctx)
        finally:
            self.opts = shown


_FLAGS = {s.flag for s in SPECS.values()} | {s.file_flag for s in SPECS.values() if s.file_flag}


def aliases_of(name: str) -> tuple[str, ...]:
    """The spellings of a setting that people derive from its name and environment
    variable (``BUYERSYNC_KEY_COLUMN`` → ``--key-column`` for ``--key``)."""
    spec = SPECS[name]
    found: list[str] = []
    for word in (spec.name, spec.env_var.removeprefix("BUYERSYNC_")):
        alias = "--" + word.lower().replace("_", "-")
        if alias != spec.flag and alias not in _FLAGS and alias not in found:
            found.append(alias)
    return tuple(found)


def _option_for(name: str) -> Callable[[F], F]:
    spec = SPECS[name]
    help_text = f"{spec.help} [env: {spec.env_var}]"
    dest = name
    if spec.type is bool:
        flag = spec.flag
        return click.option(f"{flag}/--no-{flag[2:]}", dest, default=None, help=help_text)
    aliases = aliases_of(name)
    # --database-url has always been listed beside --db; the other spellings are hidden.
    hidden = tuple(a for a in aliases if a != "--database-url")
    if spec.multiple:
        return click.option(
            spec.flag,
            *aliases,
            dest,
            cls=AliasedOption,
            hidden_aliases=hidden,
            multiple=True,
            metavar=spec.type.__name__.upper(),
            callback=lambda _ctx, _param, value: ",".join(value) if value else None,
            help=help_text + " (repeatable)",
        )
    if spec.secret:
        help_text = help_text[:-1] + f", or a file named by {spec.file_env_var}]"
    option = click.option(
        spec.flag,
        *aliases,
        dest,
        cls=AliasedOption,
        hidden_aliases=hidden,
        type=spec.type,
        default=None,
        metavar=spec.type.__name__.upper(),
        help=help_text,
    )
    if not spec.file_flag:
        return option
    file_option = click.option(
        spec.file_flag,
        name + "_file",
        type=click.Path(dir_okay=False),
        default=None,
        help=f"Read {spec.name} from this file (keeps it out of the process list).",
    )
    return lambda fn: option(file_option(fn))


def command_settings(*groups: tuple[str, ...] | str) -> Callable[[F], F]:
    """Decorate a command with ``--json``, ``--config``, ``--debug``, ``-v`` and the
    flags of the given settings; the command receives ``ctx: Context`` first."""
    names: list[str] = []
    for g in groups:
        for name in (g,) if isinstance(g, str) else g:
            if name not in names:
                names.append(name)

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(**kwargs: Any) -> Any:
            json_output = kwargs.pop("json_output", False)
            config = kwargs.pop("config_file", None)
            debug = kwargs.pop("debug", False)
            verbose = kwargs.pop("verbose", 0)
            flags = {n: kwargs.pop(n) for n in names}
            for n in names:
                if SPECS[n].file_flag:
                    flags[n + "_file"] = kwargs.pop(n + "_file")
            _configure_logging(verbose, debug, json_output)
            with STOP.installed():
                with handle_errors(
                    debug=debug, secrets=_flag_secrets(flags), json_output=json_output
                ):
                    settings = load_settings(flags, config_file=config)
                    ctx = Context(settings, json_output=json_output, debug=debug)
                    with handle_errors(
                        debug=debug, secrets=settings.secrets(), json_output=json_output
                    ):
                        code = fn(ctx, **kwargs)
            sys.exit(int(code or 0))

        for name in reversed(names):
            wrapper = _option_for(name)(wrapper)
        wrapper = click.option(
            "--json",
            "json_output",
            is_flag=True,
            help="Print one JSON document on stdout and nothing else.",
        )(wrapper)
        wrapper = click.option(
            "--config",
            "config_file",
            type=click.Path(dir_okay=False),
            default=None,
            help="Settings file (default: ./buyersync.toml) [env: BUYERSYNC_CONFIG]",
        )(wrapper)
        wrapper = click.option(
            "-v", "--verbose", count=True, help="Log progress to stderr (-vv for debug)."
        )(wrapper)
        wrapper = click.option(
            "--debug", is_flag=True, help="Show a traceback for internal errors."
        )(wrapper)
        return wrapper  # type: ignore[return-value]

    return decorate


def _flag_secrets(flags: dict[str, Any]) -> list[str]:
    found = [
        str(v)
        for k, v in flags.items()
        if v and k in SPECS and SPECS[k].secret and k != "database_url"
    ]
    if flags.get("database_url"):
        found.extend(url_secrets(str(flags["database_url"])))
    return found


def _configure_logging(verbose: int, debug: bool, json_output: bool) -> None:
    level = logging.WARNING
    if verbose == 1:
        level = logging.INFO
    elif verbose >= 2 or debug:
        level = logging.DEBUG
    root = logging.getLogger()
    if not any(getattr(h, "_buyersync", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(SafeFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        handler._buyersync = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))


class SafeFormatter(logging.Formatter):
    """Log lines with every secret redacted and no terminal control from data."""

    def format(self, record: logging.LogRecord) -> str:
        return plain(redact(super().format(record)), newlines=True)


def failure_document(
    message: str, *, exit_code: int, hint: str | None = None, category: str | None = None
) -> dict[str, Any]:
    """What ``--json`` prints on stdout when a command cannot do its work (exit 2-4 or
    a signal), so a cron job's JSON log always gets a document."""
    return {
        "ok": False,
        "error": {"message": message, "hint": hint, "category": category},
        "exit_code": exit_code,
    }


def fail(
    message: str,
    exit_code: int,
    *,
    json_output: bool,
    hint: str | None = None,
    category: str | None = None,
    prefix: str = "error",
) -> None:
    """The one-line message on stderr (and the JSON document with ``--json``); exits."""
    shown = f"{message} ({hint})" if hint else message
    click.echo(f"buyersync: {prefix}: {shown}" if prefix else f"buyersync: {shown}", err=True)
    if json_output:
        emit_json(failure_document(message, exit_code=exit_code, hint=hint, category=category))
    sys.exit(exit_code)


@contextmanager
def handle_errors(*, debug: bool, secrets: list[str], json_output: bool = False) -> Iterator[None]:
    """Turn any exception into a one-line message on stderr and an exit code (and,
    with ``--json``, a :func:`failure_document` on stdout)."""

    def clean(text: str | None) -> str | None:
        return None if text is None else plain(redact(text, secrets), newlines=True)

    try:
        yield
    except BuyersyncError as exc:
        fail(
            clean(exc.message) or "",
            exit_code_for(exc),
            json_output=json_output,
            hint=clean(exc.hint),
            category=str(exc.category),
        )
    except (click.exceptions.Exit, click.ClickException, SystemExit):
        raise
    except KeyboardInterrupt as exc:
        code = exc.exit_code if isinstance(exc, Interrupted) else 130
        fail(
            str(exc) if isinstance(exc, Interrupted) else "interrupted",
            code,
            json_output=json_output,
            hint="run the command again",
            prefix="",
        )
    except Exception as exc:
        if debug:
            import traceback

            click.echo(plain(redact(traceback.format_exc(), secrets), newlines=True), err=True)
        message = plain(redact(f"{type(exc).__name__}: {exc}", secrets).splitlines()[0][:500])
        fail(
            f"internal error: {message}",
            EXIT_INTERNAL,
            json_output=json_output,
            hint="run again with --debug for details",
            prefix="",
        )


def usage_error_document(exc: click.ClickException) -> dict[str, Any]:
    """:func:`failure_document` of a click usage error (a bad flag or value)."""
    return failure_document(
        plain(redact(exc.format_message())),
        exit_code=exc.exit_code,
        hint="see buyersync --help",
        category="validation",
    )


def emit_json(doc: Any) -> None:
    """Write one JSON document to stdout."""
    click.echo(json.dumps(doc, ensure_ascii=False, indent=2, default=str))
