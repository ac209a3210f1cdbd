"""How one setting is declared: :class:`Spec`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Spec:
    """How one setting is spelled everywhere and what it means."""

    name: str  # attribute of Settings and key in buyersync.toml
    type: type
    default: Any
    help: str
    flag: str  # the command-line flag
    secret: bool = False
    env: str = ""  # environment variable; BUYERSYNC_<NAME> unless given
    file_flag: str = ""  # a flag naming a file that holds the (secret) value
    multiple: bool = False  # the flag may be repeated; the values are joined by commas

    @property
    def env_var(self) -> str:
        return self.env or "BUYERSYNC_" + self.name.upper()

    @property
    def file_env_var(self) -> str:
        """``<ENV>_FILE``: where container platforms mount a secret as a file."""
        return self.env_var + "_FILE" if self.secret else ""
