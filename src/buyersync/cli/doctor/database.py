"""The doctor's database checks: connect, the tool's tables, altering buyers, the sync lock."""

from __future__ import annotations

import dataclasses
from urllib.parse import urlsplit

from buyersync import wiring
from buyersync.cli.doctor.report import FAILED, OK, SKIPPED, Report
from buyersync.errors import BuyersyncError
from buyersync.settings import Settings
from buyersync.store import migrations, privileges
from buyersync.store.db import Database

#: Supabase's (and PgBouncer's usual) transaction-pooling port: see docs/deployment.md.
TRANSACTION_POOLER_PORT = 6543


def check_database(report: Report, s: Settings) -> None:
    where = s.database_display
    later = ("tables", "alter buyers", "sync lock")
    try:
        # One attempt: the doctor reports, it does not wait out an outage.
        db = wiring.open_database(dataclasses.replace(s, connect_attempts=1))
    except BuyersyncError as exc:
        report.failed(
            "database",
            "connect",
            exc,
            exc.hint or "check the host, port, user and password in --db",
        )
        for name in later:
            if name != "sync lock" or not _pooler(report, s):
                report.add("database", name, SKIPPED, "needs a connection")
        return
    try:
        report.add("database", "connect", OK, f"connected to {where}")
        _tables(report, db)
        _alter_buyers(report, db)
        _lock(report, s, db)
    finally:
        db.close()


def _tables(report: Report, db: Database) -> None:
    try:
        pending = migrations.pending(db)
        if not pending:
            report.add(
                "database",
                "tables",
                OK,
                f"the tool's tables are up to date (schema version {migrations.LATEST})",
            )
            return
        answer = privileges.can_create_tables(db)
    except BuyersyncError as exc:
        report.failed("database", "tables", exc)
        return
    report.answer(
        "database",
        "tables",
        answer,
        allowed=f"{len(pending)} migration(s) not applied yet, and they can be: "
        "buyersync migrate (or the next sync) applies them",
        refused=f"{len(pending)} migration(s) not applied, and ",
    )


def _alter_buyers(report: Report, db: Database) -> None:
    try:
        if not db.table_exists("buyers"):
            report.answer(
                "database",
                "alter buyers",
                privileges.can_create_tables(db),
                allowed="there is no buyers table yet; the first sync creates it",
                refused="there is no buyers table yet, and ",
            )
            return
        answer = privileges.can_alter_buyers(db)
    except BuyersyncError as exc:
        report.failed("database", "alter buyers", exc)
        return
    report.answer(
        "database",
        "alter buyers",
        answer,
        allowed="buyers can be altered (schema fix --apply, new sheet columns)",
        refused="",
    )


def _pooler(report: Report, s: Settings) -> bool:
    """Report (and say True) when the URL names a transaction pooler's port."""
    try:
        parts = urlsplit(s.database_url)
        port = parts.port
    except ValueError:
        return False
    if not parts.scheme.startswith("postgres") or port != TRANSACTION_POOLER_PORT:
        return False
    report.add(
        "database",
        "sync lock",
        FAILED,
        f"port {TRANSACTION_POOLER_PORT} is a transaction pooler: the session advisory "
        "lock that keeps two syncs apart (and the session's staging table) does not "
        "hold there",
        "use a direct connection, or the session pooler on port 5432 (docs/deployment.md)",
    )
    return True


def _lock(report: Report, s: Settings, db: Database) -> None:
    if _pooler(report, s):
        return
    try:
        with db.lock("doctor"):
            pass
    except BuyersyncError as exc:
        report.failed("database", "sync lock", exc)
        return
    kind = "lock file" if db.sql.locks_whole_file else "advisory lock"
    report.add("database", "sync lock", OK, f"the {kind} can be taken and released")
