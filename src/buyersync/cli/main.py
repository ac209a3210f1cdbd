"""``buyersync`` — the command group. Each command lives in its own module and is
imported only when used, so ``buyersync --help`` stays fast."""

from __future__ import annotations

import difflib
import importlib
from typing import Any

import click

from buyersync import __version__

#: command name → "module:attribute"
COMMANDS: dict[str, str] = {
    "migrate": "buyersync.cli.migrate:migrate",
    "sync": "buyersync.cli.sync:sync",
    "missing": "buyersync.cli.missing:missing",
    "sync-missing": "buyersync.cli.missing:sync_missing",
    "retry": "buyersync.cli.retry:retry",
    "health": "buyersync.cli.health:health",
    "schema": "buyersync.cli.schema:schema",
    "verify": "buyersync.cli.verify:verify",
    "errors": "buyersync.cli.errors:errors",
    "problems": "buyersync.cli.problems:problems",
    "feedback": "buyersync.cli.feedback:feedback",
    "serve": "buyersync.cli.serve:serve",
    "demo": "buyersync.cli.demo:demo",
    "doctor": "buyersync.cli.doctor:doctor",
}


class LazyGroup(click.Group):
    """Imports a command's module only when the command is used or listed.

    A command module that fails to import raises (with its traceback) instead of
    the command quietly disappearing from ``buyersync --help``.
    """

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        command = getattr(importlib.import_module(module_name), attr)
        if not isinstance(command, click.Command):
            raise TypeError(f"{target} is not a click command")
        return command

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.NoSuchCommand as exc:
            # click suggests from self.commands, which a lazy group leaves empty.
            best = _closest(exc.command_name, list(COMMANDS))
            message = f"No such command: {exc.command_name}." + (
                f" Did you mean {best}?" if best else " See buyersync --help."
            )
            raise click.NoSuchCommand(exc.command_name, message=message, ctx=ctx) from None

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["buyersync.args"] = list(args)
        with _usage_errors(ctx):
            return super().parse_args(ctx, args)

    def invoke(self, ctx: click.Context) -> Any:
        with _usage_errors(ctx):
            return super().invoke(ctx)


def _closest(word: str, candidates: list[str]) -> str | None:
    found = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return found[0] if found else None


class _usage_errors:
    """Usage errors made friendlier: the one closest option is suggested (hidden
    spellings included), and with ``--json`` stdout gets the failure document."""

    def __init__(self, ctx: click.Context) -> None:
        self.ctx = ctx

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type | None, exc: BaseException | None, tb: object) -> None:
        if not isinstance(exc, click.UsageError):
            return
        replaced: click.UsageError | None = None
        if isinstance(exc, click.NoSuchOption) and exc.ctx is not None and exc.possibilities:
            names = [
                o
                for p in exc.ctx.command.params
                if isinstance(p, click.Option)
                for o in (*p.opts, *p.secondary_opts)
            ]
            best = _closest(exc.option_name, names)
            message = f"No such option: {exc.option_name}." + (
                f" Did you mean {best}?" if best else ""
            )
            replaced = click.NoSuchOption(exc.option_name, message=message, ctx=exc.ctx)
        shown = replaced or exc
        if "--json" in self.ctx.meta.get("buyersync.args", ()) and not getattr(
            exc, "_buyersync_reported", False
        ):
            from buyersync.cli.common import emit_json, usage_error_document

            emit_json(usage_error_document(shown))
            shown._buyersync_reported = True  # type: ignore[attr-defined]
        if replaced is not None:
            raise replaced from None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="buyersync")
def cli() -> None:
    """Keep the buyers table in step with the spreadsheet, and prove it.

    Every command takes --json and exits 0 when all is well, 1 when it ran but
    found problems, 2 on bad usage or configuration, 3 when it could not do its
    work (database or sheet unreachable, another sync running, refused).
    Settings: flag > BUYERSYNC_* environment > buyersync.toml > default.
    """


def main() -> None:
    cli(prog_name="buyersync")


if __name__ == "__main__":
    main()
