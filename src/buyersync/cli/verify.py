"""``buyersync verify``: completeness and field-by-field accuracy, with a report."""

from __future__ import annotations

from pathlib import Path

import click

from buyersync.cli.common import (
    DB_SETTINGS,
    SOURCE_SETTINGS,
    TYPED_SETTINGS,
    Context,
    command_settings,
    emit_json,
)
from buyersync.cli.output import plain
from buyersync.errors import ConfigError
from buyersync.reports import FORMATS, format_for_path, generate_report, summary_lines


@click.command()
@click.option(
    "--sample",
    "sample",
    type=click.IntRange(min=0),
    default=100,
    show_default=True,
    help="Compare this many random buyers field by field (0: completeness only).",
)
@click.option("--full", is_flag=True, help="Compare every buyer field by field.")
@click.option(
    "--seed",
    type=int,
    default=None,
    help="Seed of the random sample (the report shows the one used; reuse it to "
    "check the same buyers again).",
)
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default=None,
    help="Report format (default: text, or what --output's extension says).",
)
@click.option(
    "--output",
    "output",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write the report to this file (e.g. report.html) instead of stdout.",
)
@click.option(
    "--allow-extra",
    is_flag=True,
    help="Buyers in the database but no longer in the sheet do not fail the check.",
)
@command_settings(DB_SETTINGS, SOURCE_SETTINGS, TYPED_SETTINGS)
def verify(
    ctx: Context,
    sample: int,
    full: bool,
    seed: int | None,
    fmt: str | None,
    output: str | None,
    allow_extra: bool,
) -> int:
    """Verify the database against the sheet: missing, extra and mismatched values.

    Completeness compares every buyer number; then --sample N random buyers
    (or, with --full, every buyer) are compared column by column with the
    exact text the sync stores (typed columns: the values, so 1,234.50 equals
    a stored 1234.5). Each mismatch names the buyer, sheet row,
    column, sheet value and database value. Read-only. Exits 1 on any finding.

    Example: buyersync verify --full --output verify.html
    """
    from buyersync.services.integrity import IntegrityChecker, VerifyMode
    from buyersync.settings import parse_options

    if full and seed is not None:
        raise ConfigError(
            "--seed applies to a random sample, not to --full",
            hint="drop --seed, or use --sample N --seed S",
        )
    if fmt is None:
        fmt = (format_for_path(output) if output else None) or "text"
    mode = VerifyMode.FULL if full else VerifyMode.SAMPLE if sample > 0 else VerifyMode.COMPLETENESS
    source = ctx.open_source()
    s = ctx.settings
    with ctx.database() as db:
        checker = IntegrityChecker(
            db,
            source,
            key_column=s.key_column,
            mapping=s.mapping,
            extra_is_finding=not allow_extra,
            parse_options=parse_options(s),
            key_case=s.key_case,
        )
        report = checker.verify(mode, sample_size=sample, seed=seed)
    if output:
        try:
            Path(output).write_text(generate_report(report, fmt), encoding="utf-8")
        except OSError as exc:
            raise ConfigError(
                f"cannot write the report to {output}: {exc.strerror}",
                hint="choose a writable --output path",
            ) from exc
    if ctx.json:
        doc = report.to_json()
        if output:
            doc["report_file"] = output
        emit_json(doc)
    elif output:
        for line in summary_lines(report):
            click.echo(plain(line))
        click.echo(f"report ({fmt}) written to {output}")
    else:
        text = generate_report(report, fmt)
        # json and html are documents and go out exactly; text and markdown are read.
        click.echo(plain(text, newlines=True) if fmt in ("text", "markdown") else text, nl=False)
    return 0 if report.ok else 1
