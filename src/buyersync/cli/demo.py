"""``buyersync demo``: the incident of 356 missing buyers, and its fix, in one command."""

from __future__ import annotations

from pathlib import Path

import click

from buyersync.cli.common import EXIT_OK, EXIT_PROBLEMS, Context, command_settings, emit_json


@click.command()
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Folder for the demo's files (sheet, SQLite database, settings, report); "
    "default: a new temporary folder.",
)
@click.option(
    "--db",
    "database_url",
    default=None,
    metavar="URL",
    help="Run on this PostgreSQL database (postgresql://...) instead of an SQLite "
    "file in the folder. It must not have a buyers table yet.",
)
@command_settings()
def demo(ctx: Context, directory: Path | None, database_url: str | None) -> int:
    """Reproduce the incident (356 of 4,140 buyers missing) and fix it with the real commands.

    Generates a sheet of 4,140 buyers, 356 of them with a value longer than 50
    characters; creates the legacy buyers table (VARCHAR(50) columns); replays the
    old sync that dropped those rows silently; then runs schema check, missing,
    sync, errors, schema fix --apply, sync-missing, sync, verify and health, printing
    each command and its numbers. Takes a few seconds. The files stay in the folder
    (with a buyersync.toml) so you can keep exploring. Only --db chooses the
    database: BUYERSYNC_DATABASE_URL and buyersync.toml are ignored on purpose, so the
    demo never touches your real database. Exits 0 when the story ends healthy.
    """
    from buyersync.demo import run_demo

    echo = (lambda _line: None) if ctx.json else click.echo
    result = run_demo(directory, database_url, echo=echo)
    if ctx.json:
        emit_json(result.to_json())
    return EXIT_OK if result.ok else EXIT_PROBLEMS
