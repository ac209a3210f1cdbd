"""The demo directory: its files, and replacing those of an earlier demo."""

from __future__ import annotations

from pathlib import Path

from buyersync.errors import ConfigError

SHEET_FILE = "buyers.csv"
DB_FILE = "buyersync.db"
CONFIG_FILE = "buyersync.toml"
REPORT_FILE = "verify-report.html"
#: Marks a directory the demo created, so a second run may replace its files.
MARKER_FILE = ".buyersync-demo"


def prepare_directory(directory: Path | None) -> Path:
    """The demo directory: a new temporary one, or ``directory`` (created if needed).

    Files of an earlier demo in the same directory are replaced; a directory holding
    a ``buyersync.db`` the demo did not create is refused.
    """
    if directory is None:
        import tempfile

        return Path(tempfile.mkdtemp(prefix="buyersync-demo-")).resolve()
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    marker = directory / MARKER_FILE
    if (directory / DB_FILE).exists() and not marker.exists():
        raise ConfigError(
            f"{directory / DB_FILE} exists and was not made by the demo",
            hint="choose another --dir (or leave it out for a temporary one)",
        )
    for name in (DB_FILE, f"{DB_FILE}-wal", f"{DB_FILE}-shm", SHEET_FILE, REPORT_FILE):
        (directory / name).unlink(missing_ok=True)
    marker.write_text("files made by `buyersync demo`; a new demo here replaces them\n")
    return directory


def write_config(directory: Path, sqlite: bool) -> None:
    lines = [
        "# written by `buyersync demo`: run buyersync commands from this folder",
        f'source = "{SHEET_FILE}"',
    ]
    if sqlite:
        lines.append(f'database_url = "sqlite:///{DB_FILE}"')
    (directory / CONFIG_FILE).write_text("\n".join(lines) + "\n", encoding="utf-8")
