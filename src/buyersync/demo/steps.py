"""The real commands of the demo, each run as its own ``buyersync`` process, and what they showed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from buyersync.demo.directory import SHEET_FILE
from buyersync.errors import BuyersyncError

Echo = Callable[[str], None]


@dataclass(frozen=True)
class Step:
    """One real command the demo ran, as an operator would type it."""

    title: str
    command: str  # what the operator types (no secrets)
    exit_code: int
    seconds: float
    result: dict[str, Any]  # the command's --json document
    summary: str  # the numbers that matter, in one line

    def to_json(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "command": self.command,
            "exit_code": self.exit_code,
            "seconds": round(self.seconds, 3),
            "summary": self.summary,
        }


@dataclass(frozen=True)
class Counts:
    """Sheet vs database at one moment of the story."""

    spreadsheet_count: int
    database_count: int
    missing_count: int

    @property
    def missing_percent(self) -> float:
        return (
            round(100 * self.missing_count / self.spreadsheet_count, 1)
            if self.spreadsheet_count
            else 0.0
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "spreadsheet_count": self.spreadsheet_count,
            "database_count": self.database_count,
            "missing_count": self.missing_count,
            "missing_percent": self.missing_percent,
        }


@dataclass(frozen=True)
class DemoResult:
    """What the demo showed: before and after, every step, and whether it ended healthy."""

    directory: Path
    database: str  # safe to print
    before: Counts
    after: Counts
    logged_value_too_long: int
    verify_ok: bool
    healthy: bool
    steps: tuple[Step, ...] = field(default=())
    duration_s: float = 0.0

    @property
    def ok(self) -> bool:
        return self.after.missing_count == 0 and self.verify_ok and self.healthy

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "directory": str(self.directory),
            "database": self.database,
            "sheet": str(self.directory / SHEET_FILE),
            "before": self.before.to_json(),
            "after": self.after.to_json(),
            "logged_value_too_long": self.logged_value_too_long,
            "verify_ok": self.verify_ok,
            "healthy": self.healthy,
            "duration_s": round(self.duration_s, 2),
            "steps": [s.to_json() for s in self.steps],
        }


class DemoStepFailed(BuyersyncError):
    """A command of the demo could not do its work (exit 2, 3 or 4, or no JSON)."""

    exit_code = 3


class Runner:
    """Runs ``buyersync`` commands in the demo directory, as separate processes."""

    def __init__(self, directory: Path, database_url: str | None, echo: Echo) -> None:
        self.directory = directory
        self.echo = echo
        self.env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("BUYERSYNC_") and k != "GOOGLE_APPLICATION_CREDENTIALS"
        }
        if database_url:  # passed by environment so it never shows on a command line
            self.env["BUYERSYNC_DATABASE_URL"] = database_url
        self.steps: list[Step] = []

    def run(
        self,
        title: str,
        args: Sequence[str],
        summarize: Callable[[dict[str, Any]], str],
        ok_codes: Sequence[int] = (0, 1),
    ) -> Step:
        command = "buyersync " + " ".join(args)
        self.echo("")
        self.echo(f"── {title}")
        self.echo(f"$ {command}")
        start = time.monotonic()
        proc = subprocess.run(
            [sys.executable, "-m", "buyersync", *args, "--json"],
            cwd=self.directory,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        seconds = time.monotonic() - start
        try:
            doc = json.loads(proc.stdout) if proc.returncode in ok_codes else None
        except json.JSONDecodeError:
            doc = None
        if doc is None:
            reason = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            raise DemoStepFailed(
                f"the demo step `{command}` failed (exit {proc.returncode}): {reason}",
                hint=f"the files are in {self.directory}; run the command "
                "there yourself to see more",
            )
        step = Step(
            title=title,
            command=command,
            exit_code=proc.returncode,
            seconds=seconds,
            result=doc,
            summary=summarize(doc),
        )
        self.echo(f"  {step.summary}   [exit {proc.returncode}, {seconds:.1f} s]")
        self.steps.append(step)
        return step
