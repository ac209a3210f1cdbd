"""``buyersync migrate``: create or upgrade the tool's tables."""

from __future__ import annotations

import click

from buyersync.cli.common import DB_SETTINGS, SOURCE_SETTINGS, Context, command_settings, emit_json
from buyersync.rules.normalize import map_headers
from buyersync.store import buyers, migrations


@click.command()
@command_settings(DB_SETTINGS, SOURCE_SETTINGS)
def migrate(ctx: Context) -> int:
    """Create or upgrade buyersync's tables (idempotent).

    Creates sync_runs, sync_error_log, retry_queue, sync_health_metrics and
    alert_state in versioned steps. With a --source, also creates buyers (one TEXT
    column per sheet column) or adds the sheet columns it lacks. Never changes
    the type of an existing column: use `buyersync schema fix` for that.
    """
    with ctx.database() as db:
        applied = migrations.migrate(db)
        added: list[str] = []
        buyers_state = "exists" if db.table_exists(buyers.TABLE) else "created on first sync"
        if ctx.settings.source:
            data = ctx.open_source().read()
            colmap = map_headers(
                data.header, key_header=ctx.settings.key_column, mapping=ctx.settings.mapping
            )
            existed = db.table_exists(buyers.TABLE)
            missing = buyers.ensure_table(db, colmap.data_columns)
            if missing:
                buyers.add_columns(db, missing)
                added = missing
            buyers_state = "exists" if existed else "created"
        version = migrations.current_version(db)
    doc = {
        "applied": applied,
        "schema_version": version,
        "buyers": buyers_state,
        "added_columns": added,
        "database": ctx.settings.database_display,
    }
    if ctx.json:
        emit_json(doc)
    else:
        if applied:
            click.echo(f"applied {len(applied)} migration(s): {', '.join(applied)}")
        else:
            click.echo(f"schema is up to date (version {version})")
        click.echo(f"buyers table: {buyers_state}")
        if added:
            click.echo(f"added TEXT columns to buyers: {', '.join(added)}")
    return 0
