"""The documentation cannot drift from the CLI.

Every ``buyersync ...`` command shown in README.md and docs/*.md — in a console, sh,
bash or unlabelled code block, or inline — names a real command and only flags that
command has; every flag shown is one a test (or the demo) exercises; every option of
every command has help text. (That every command has help text, and that
docs/configuration.md matches the settings, is checked in tests/test_cli_core.py.)
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import click
import pytest

from buyersync.cli.main import cli
from tests.helpers import write_csv

ROOT = Path(__file__).resolve().parents[1]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL_LANGS = {"", "console", "sh", "bash", "shell", "shell-session"}
_FENCE = re.compile(r"^```([\w-]*)[^\n]*\n(.*?)^```", re.S | re.M)
_INLINE = re.compile(r"`(buyersync\s[^`]+)`")
# "buyersync" as a program name: at a line start, after a prompt, a pipe, && or ;
_IN_LINE = re.compile(r"(?:^|[\s;&|$(])buyersync\s+(?=[a-z-])")
_STOP = {"&&", "||", "|", ";", ">", ">>", "2>&1", "#"}


@dataclass(frozen=True)
class Shown:
    """One command line shown in a document."""

    where: str  # file:line
    words: tuple[str, ...]  # after "buyersync"


def _words(text: str) -> tuple[str, ...]:
    text = text.split(" #", 1)[0]
    try:
        tokens = shlex.split(text.replace("…", " "))
    except ValueError:
        tokens = text.split()
    words: list[str] = []
    for token in tokens:
        if token in _STOP or token.startswith("#") or token.startswith(">"):
            break
        words.append(token.strip("[]"))
    return tuple(w for w in words if w)


def shown_commands() -> list[Shown]:
    found: list[Shown] = []
    for path in DOCS:
        text = path.read_text(encoding="utf-8")
        name = path.relative_to(ROOT)
        for block in _FENCE.finditer(text):
            if block.group(1).lower() not in SHELL_LANGS:
                continue
            first = text.count("\n", 0, block.start(2)) + 1
            for i, line in enumerate(block.group(2).splitlines()):
                if block.group(1) == "console" and not line.startswith("$ "):
                    continue  # console output, not a command
                for m in _IN_LINE.finditer(line):
                    found.append(Shown(f"{name}:{first + i}", _words(line[m.end() :])))
        outside = _FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), text)
        for m in _INLINE.finditer(outside):
            line = outside.count("\n", 0, m.start()) + 1
            found.append(Shown(f"{name}:{line}", _words(m.group(1)[len("buyersync") :])))
    return found


def _resolve(words: tuple[str, ...]) -> tuple[click.Command, list[str], str]:
    """The click command a shown line runs, the words after its name, and its name."""
    ctx = click.Context(cli)
    command: click.Command = cli
    name = "buyersync"
    rest = list(words)
    while isinstance(command, click.Group) and rest and not rest[0].startswith("-"):
        if rest[0].isupper():  # a placeholder: `buyersync COMMAND --help`
            return cli, [w for w in rest[1:] if w in ("--help", "-h")], name
        sub = command.get_command(ctx, rest[0])
        if sub is None:
            raise AssertionError(f"no such command: {name} {rest[0]}")
        command, name, rest = sub, f"{name} {rest[0]}", rest[1:]
    return command, rest, name


def _options(command: click.Command) -> set[str]:
    opts = {"--help", "-h"}
    for param in command.params:
        opts.update(param.opts)
        opts.update(param.secondary_opts)
    return opts


SHOWN = shown_commands()


def test_the_docs_show_commands() -> None:
    # the extraction works: the README tour and the runbooks are found
    where = {s.where.split(":")[0] for s in SHOWN}
    assert {"README.md", "docs/troubleshooting.md", "docs/runbooks.md"} <= where
    assert len(SHOWN) > 50


@pytest.mark.parametrize("shown", SHOWN, ids=lambda s: f"{s.where} {' '.join(s.words)[:40]}")
def test_every_shown_command_exists_with_its_flags(shown: Shown) -> None:
    command, rest, name = _resolve(shown.words)
    assert not isinstance(command, click.Group) or "--help" in rest or "-h" in rest, (
        f"{shown.where}: `{name}` needs a subcommand"
    )
    known = _options(command)
    for word in rest:
        if word.startswith("-") and len(word) > 1 and not word[1].isdigit():
            flag = word.split("=", 1)[0]
            assert flag in known, f"{shown.where}: `{name}` has no option {flag}"


def _exercised_text() -> str:
    parts = [p.read_text(encoding="utf-8") for p in (ROOT / "tests").rglob("*.py")]
    parts += [
        p.read_text(encoding="utf-8") for p in (ROOT / "src" / "buyersync" / "demo").glob("*.py")
    ]
    return "\n".join(parts)


def test_every_shown_command_and_flag_is_exercised_by_a_test_or_the_demo() -> None:
    """A crude but honest link: each shown command name and flag occurs as a string
    in the tests or the demo (which runs commands as an operator types them)."""
    text = _exercised_text()
    missing: list[str] = []
    for shown in SHOWN:
        command, rest, name = _resolve(shown.words)
        for word in name.split()[1:]:
            if f'"{word}"' not in text:
                missing.append(f"{shown.where}: command {word}")
        for word in rest:
            flag = word.split("=", 1)[0]
            if flag.startswith("--") and flag != "--help" and f'"{flag}"' not in text:
                missing.append(f"{shown.where}: {name} {flag}")
    assert not missing, "shown in the docs but run by no test:\n" + "\n".join(missing)


def test_every_option_has_help_text() -> None:
    ctx = click.Context(cli)
    stack: list[tuple[str, click.Command]] = [
        (n, c) for n in cli.list_commands(ctx) if (c := cli.get_command(ctx, n)) is not None
    ]
    while stack:
        name, command = stack.pop()
        for sub_name, sub in getattr(command, "commands", {}).items():
            stack.append((f"{name} {sub_name}", sub))
        for param in command.params:
            if isinstance(param, click.Option):
                assert (param.help or "").strip(), f"{name} {param.opts[0]} has no help text"


def test_troubleshooting_time_window_query(tmp_path: Path) -> None:
    """The guide's `buyersync errors --since 24h --until 1h` really bounds the window."""
    src = write_csv(tmp_path / "b.csv", ["buyer_number", "name"], [["B1", "Ann"], ["", "x"]])
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUYERSYNC_")}
    env["BUYERSYNC_DATABASE_URL"] = f"sqlite:///{tmp_path / 'b.db'}"

    def bs(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "buyersync", *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )

    assert bs("sync", "--source", str(src)).returncode == 1
    recent = json.loads(bs("errors", "--since", "24h", "--json").stdout)
    assert recent["counts_by_type"] == {"validation": 1}
    older = json.loads(bs("errors", "--since", "24h", "--until", "1h", "--json").stdout)
    assert older["errors"] == [] and older["counts_by_type"] == {}


def test_the_cli_reference_lists_every_command_and_option() -> None:
    """docs/cli.md is generated from the commands: a command or option added to the CLI
    and not to the reference fails here (``python -m buyersync.cli.reference > docs/cli.md``)."""
    from buyersync.cli.reference import reference_markdown

    current = (ROOT / "docs" / "cli.md").read_text(encoding="utf-8")
    assert current == reference_markdown(), (
        "docs/cli.md is stale: python -m buyersync.cli.reference > docs/cli.md"
    )
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None and f"## buyersync {name}\n" in current
        for param in command.params:
            if isinstance(param, click.Option) and not param.hidden:
                assert f"`{param.opts[0]}`" in current, f"{name} {param.opts[0]} not in docs/cli.md"
