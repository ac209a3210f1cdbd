"""The configuration reference (docs/configuration.md), generated from the settings."""

from __future__ import annotations

from buyersync.settings.fields import SETTINGS


def reference_markdown() -> str:
    """The configuration reference (docs/configuration.md), generated from :data:`SETTINGS`."""
    lines = [
        "# Configuration reference",
        "",
        "<!-- generated from buyersync.settings.SETTINGS by "
        "`python -m buyersync.settings > docs/configuration.md`; a test fails if it drifts -->",
        "",
        "Every setting has a command-line flag, an environment variable and a key in",
        "`buyersync.toml`. Precedence: flag > environment > file > default. The file is",
        "`--config FILE`, else `BUYERSYNC_CONFIG`, else `./buyersync.toml`; keys sit at the top",
        "level (or under `[buyersync]`), and a `[mapping]` table maps sheet headers, or column",
        'letters such as `"#C"`, to column names (`""` ignores the column; see',
        "[sources.md](sources.md#mapping-columns)). Settings marked secret never appear in",
        "output, logs or the dashboard.",
        "A secret can also come from a file (as container platforms mount them): the",
        "`_FILE` variable names the file, which holds only the value (one trailing newline",
        "is dropped). Setting both the variable and its `_FILE` variant is an error. A",
        "secret given as a flag is visible to every local user in the process list:",
        "`buyersync serve` warns about it.",
        "",
        "| setting (toml key) | flag | environment variable | default | meaning |",
        "|---|---|---|---|---|",
    ]
    for spec in SETTINGS:
        default = "none" if spec.default is None else f"`{spec.default}`"
        if spec.type is bool and spec.default is not None:
            default = f"`{str(spec.default).lower()}`"
        secret = ""
        if spec.secret:
            files = [f"`{spec.file_env_var}`"] + ([f"`{spec.file_flag}`"] if spec.file_flag else [])
            secret = f" (secret; or read from the file named by {' or '.join(files)})"
        flag = (
            f"`{spec.flag}`" if spec.type is not bool else f"`{spec.flag}` / `--no-{spec.flag[2:]}`"
        )
        if spec.multiple:
            flag += " (repeatable)"
        lines.append(
            f"| `{spec.name}` | {flag} | `{spec.env_var}` | {default} | {spec.help}{secret} |"
        )
    lines += [
        "",
        "Each command accepts the flags of the settings it uses (`buyersync COMMAND --help`",
        "lists them). Database URLs: `sqlite:///path.db` (relative) or `sqlite:////abs/path.db`,",
        "and `postgresql://user:password@host:port/dbname` (`postgres://` and",
        "`postgresql+psycopg://` are accepted too).",
        "",
    ]
    return "\n".join(lines)
