"""The doctor's check list: one :class:`Check` a line, every text scrubbed of secrets."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import click

from buyersync.cli.output import plain
from buyersync.errors import BuyersyncError
from buyersync.store.privileges import Answer

OK, FAILED, SKIPPED = "ok", "failed", "skipped"


@dataclass
class Check:
    """One line of the check list."""

    area: str  # database, source, alerts
    name: str
    status: str
    detail: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Report:
    """The checks of one run, in order; every text passes through ``scrub``."""

    def __init__(self, scrub: Callable[[str], str]) -> None:
        self.scrub = scrub
        self.checks: list[Check] = []

    def add(self, area: str, name: str, status: str, detail: str, fix: str | None = None) -> Check:
        check = Check(
            area,
            name,
            status,
            plain(self.scrub(detail)),
            plain(self.scrub(fix)) if fix else None,
        )
        self.checks.append(check)
        return check

    def failed(self, area: str, name: str, exc: BaseException, fix: str | None = None) -> None:
        if isinstance(exc, BuyersyncError):
            self.add(area, name, FAILED, exc.message, fix or exc.hint)
        else:
            self.add(area, name, FAILED, f"{type(exc).__name__}: {exc}", fix)

    def answer(self, area: str, name: str, answer: Answer, allowed: str, refused: str) -> None:
        """OK with ``allowed`` when the database allows it; else FAILED with ``refused``
        followed by the answer's reason, and the answer's fix."""
        if answer.allowed:
            self.add(area, name, OK, allowed)
        else:
            self.add(area, name, FAILED, f"{refused}{answer.reason}", answer.fix)


def described(exc: BaseException, target: str) -> BuyersyncError:
    """A network error as one line that names the target (never the credentials)."""
    reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return BuyersyncError(f"cannot reach {target}: {reason}")


def print_checks(checks: list[Check]) -> None:
    width = max(len(f"{c.area}: {c.name}") for c in checks)
    for c in checks:
        label = f"{c.area}: {c.name}".ljust(width)
        click.echo(f"{c.status.upper():8} {label}  {c.detail}")
        if c.fix and c.status != OK:
            click.echo(f"{'':8} {'':{width}}  fix: {c.fix}")
    failed = sum(c.status == FAILED for c in checks)
    passed = sum(c.status == OK for c in checks)
    skipped = sum(c.status == SKIPPED for c in checks)
    click.echo(
        f"{passed} ok, {failed} failed, {skipped} skipped"
        + (": fix the failed checks above and run buyersync doctor again" if failed else "")
    )
