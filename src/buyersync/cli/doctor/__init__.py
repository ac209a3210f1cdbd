"""``buyersync doctor``: try every configured part once and say what to fix.

Nothing is changed: the database is asked (catalog, a lock taken and released), the
sheet's header is read, the mail server is logged in to without sending, and the
webhook is only connected to unless ``--send-test``.
"""

from __future__ import annotations

from collections.abc import Callable

import click

from buyersync.cli.common import (
    ALERT_SETTINGS,
    DB_SETTINGS,
    SOURCE_SETTINGS,
    Context,
    command_settings,
    emit_json,
)
from buyersync.cli.doctor.alerts import check_alerts
from buyersync.cli.doctor.database import TRANSACTION_POOLER_PORT, check_database
from buyersync.cli.doctor.report import FAILED, OK, SKIPPED, Check, Report, print_checks
from buyersync.cli.doctor.source import check_source
from buyersync.settings import Settings

__all__ = [
    "FAILED",
    "OK",
    "SKIPPED",
    "TRANSACTION_POOLER_PORT",
    "Check",
    "Doctor",
    "doctor",
    "print_checks",
]


class Doctor(Report):
    """Runs the checks for one set of settings; every text passes through ``scrub``.

    The checks live by area: :mod:`.database`, :mod:`.source` and :mod:`.alerts`; the
    check list and its printing in :mod:`.report`.
    """

    def __init__(self, settings: Settings, *, scrub: Callable[[str], str], send_test: bool):
        super().__init__(scrub)
        self.settings = settings
        self.send_test = send_test

    def run(self) -> list[Check]:
        self.database()
        self.source()
        self.alerts()
        return self.checks

    def database(self) -> None:
        check_database(self, self.settings)

    def source(self) -> None:
        check_source(self, self.settings)

    def alerts(self) -> None:
        check_alerts(self, self.settings, send_test=self.send_test)


@click.command()
@click.option(
    "--send-test",
    is_flag=True,
    help="Post a test message to the webhook (otherwise it is only connected to).",
)
@command_settings(
    DB_SETTINGS,
    SOURCE_SETTINGS,
    ALERT_SETTINGS,
    "smtp_allow_plaintext_auth",
)
def doctor(ctx: Context, send_test: bool) -> int:
    """Check the configuration: database, sheet and alert channels, with the fix for each.

    Tries the database (connect; the tool's tables can be created or are there;
    buyers can be altered; the sync lock works), the source (file or Google
    credentials, sharing, header row and key column; with sheet_feedback notes or
    tab, a token with the read-write scope) and every configured alert
    channel (SMTP: connect, TLS and login without sending; webhook: DNS and TCP, or
    a test message with --send-test). Changes nothing. Exits 0 when every check
    that ran passed, 1 when any failed, 2 when the settings cannot be read.
    """
    checks = Doctor(ctx.settings, scrub=ctx.scrub, send_test=send_test).run()
    failed = [c for c in checks if c.status == FAILED]
    if ctx.json:
        emit_json(
            {
                "ok": not failed,
                "checks": [c.to_json() for c in checks],
                "passed": sum(c.status == OK for c in checks),
                "failed": len(failed),
                "skipped": sum(c.status == SKIPPED for c in checks),
            }
        )
    else:
        print_checks(checks)
    return 1 if failed else 0
