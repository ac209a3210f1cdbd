"""``buyersync`` — the command group. Each command lives in its own module and is
imported only when used, so ``buyersync --help`` stays fast."""

from __future__ import annotations

import importlib

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
    "serve": "buyersync.cli.serve:serve",
    "demo": "buyersync.cli.demo:demo",
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
