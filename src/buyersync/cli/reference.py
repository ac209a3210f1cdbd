"""The command-line reference (docs/cli.md), generated from the commands themselves.

``python -m buyersync.cli.reference > docs/cli.md`` rewrites it; a test fails while the
file differs, so a command or option can never be missing from the documentation.
"""

from __future__ import annotations

import click

from buyersync.cli.main import cli

HEADER = """\
# Command-line reference

Generated from the commands by `python -m buyersync.cli.reference > docs/cli.md`; a test
fails while this file is stale. Every setting's flag, environment variable and
`buyersync.toml` key is in [configuration.md](configuration.md); the exit codes are
described in the README. A setting's flag also answers to the spelling of its setting
name and environment variable (`--key-column` for `--key`, `--lock-wait-seconds` for
`--lock-wait`), and a mistyped option is answered with the closest one.
"""


def _commands() -> list[tuple[str, click.Command]]:
    """Every command and subcommand in the order ``--help`` lists them."""
    found: list[tuple[str, click.Command]] = []
    stack: list[tuple[str, click.Command]] = [("buyersync", cli)]
    while stack:
        name, command = stack.pop(0)
        found.append((name, command))
        if isinstance(command, click.Group):
            ctx = click.Context(command, info_name=name)
            for sub_name in command.list_commands(ctx):
                sub = command.get_command(ctx, sub_name)
                if sub is None:
                    raise RuntimeError(f"command {name} {sub_name} is listed but cannot be loaded")
                stack.append((f"{name} {sub_name}", sub))
    return found


def _usage(name: str, command: click.Command) -> str:
    ctx = click.Context(command, info_name=name)
    pieces = command.collect_usage_pieces(ctx)
    return " ".join([name, *pieces])


def _option_line(param: click.Option) -> str:
    hidden = getattr(param, "hidden_aliases", ())
    names = ", ".join(f"`{o}`" for o in [*param.opts, *param.secondary_opts] if o not in hidden)
    help_text = " ".join((param.help or "").split())
    extra: list[str] = []
    if param.is_flag and not param.secondary_opts:
        pass
    elif isinstance(param.type, click.Choice):
        extra.append("one of " + ", ".join(f"`{c}`" for c in param.type.choices))
    elif param.metavar:
        extra.append(f"`{param.metavar}`")
    if param.multiple:
        extra.append("repeatable")
    tail = f" ({'; '.join(extra)})" if extra else ""
    return f"- {names}{tail}: {help_text}"


def reference_markdown() -> str:
    """The whole reference as Markdown."""
    out = [HEADER]
    for name, command in _commands():
        if name == "buyersync":
            continue
        out.append(f"\n## {name}\n")
        doc = (command.help or "").strip()
        if doc:
            summary = doc.split("\n\n", 1)[0]
            out.append(" ".join(summary.split()) + "\n")
        out.append(f"\n```text\n{_usage(name, command)}\n```\n")
        arguments = [p for p in command.params if isinstance(p, click.Argument)]
        options = [p for p in command.params if isinstance(p, click.Option) and not p.hidden]
        if arguments:
            out.append(
                "\nArguments: " + ", ".join(f"`{a.human_readable_name}`" for a in arguments) + "\n"
            )
        if options:
            out.append("\n" + "\n".join(_option_line(o) for o in options) + "\n")
        if isinstance(command, click.Group):
            ctx = click.Context(command, info_name=name)
            subs = command.list_commands(ctx)
            out.append("\nSubcommands: " + ", ".join(f"`{name} {s}`" for s in subs) + "\n")
    return "".join(out)


if __name__ == "__main__":
    print(reference_markdown(), end="")
