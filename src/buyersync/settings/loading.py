"""Loading: flags, ``BUYERSYNC_*`` environment, ``_FILE`` secrets, ``buyersync.toml``."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from buyersync.errors import ConfigError
from buyersync.redact import register
from buyersync.rules.normalize import column_letter, letter_key
from buyersync.settings.fields import SETTINGS
from buyersync.settings.model import SPECS, Settings
from buyersync.settings.spec import Spec
from buyersync.settings.validation import validate


def _coerce(spec: Spec, raw: Any, origin: str) -> Any:
    if raw is None:
        return None
    try:
        if spec.type is bool:
            if isinstance(raw, bool):
                return raw
            text = str(raw).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(text)
        if spec.type is int:
            if isinstance(raw, float) and not raw.is_integer():
                raise ValueError(raw)
            return int(raw)
        if spec.type is float:
            return float(raw)
        return str(raw)
    except (TypeError, ValueError):
        shown = "***" if spec.secret else repr(raw)
        raise ConfigError(
            f"{origin} has an invalid value {shown} for {spec.name}: expected {spec.type.__name__}",
            hint=f"fix {origin}",
        ) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except OSError as exc:
        raise ConfigError(f"cannot read configuration file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"configuration file {path} is not valid TOML: {exc}") from None


def load_settings(
    flags: Mapping[str, Any] | None = None,
    *,
    env: Mapping[str, str] | None = None,
    config_file: str | os.PathLike[str] | None = None,
) -> Settings:
    """Resolve every setting (flag > env > file > default) and validate the result.

    ``flags`` holds values given on the command line (``None`` = not given).
    ``env`` defaults to ``os.environ``. Raises :class:`ConfigError`.
    """
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    env = os.environ if env is None else env
    path: Path | None = None
    if config_file is not None:
        path = Path(config_file)
        if not path.exists():
            raise ConfigError(f"configuration file {path} does not exist")
    elif env.get("BUYERSYNC_CONFIG"):
        path = Path(env["BUYERSYNC_CONFIG"])
        if not path.exists():
            raise ConfigError(f"BUYERSYNC_CONFIG names {path}, which does not exist")
    elif Path("buyersync.toml").exists():
        path = Path("buyersync.toml")
    table: dict[str, Any] = _read_toml(path) if path else {}
    file_settings = dict(table.get("buyersync", {}))
    file_settings.update({k: v for k, v in table.items() if k in SPECS})
    unknown = set(table) - set(SPECS) - {"buyersync", "mapping"}
    if unknown:
        raise ConfigError(
            f"{path} has unknown settings: {', '.join(sorted(unknown))}",
            hint="see docs/configuration.md for the names",
        )
    values: dict[str, Any] = {}
    secret_flags: list[str] = []
    for spec in SETTINGS:
        file_flag_value = flags.get(spec.name + "_file") if spec.file_flag else None
        file_env = env.get(spec.file_env_var) if spec.file_env_var else None
        if spec.name in flags and file_flag_value:
            raise ConfigError(f"give {spec.flag} or {spec.file_flag}, not both")
        if env.get(spec.env_var) not in (None, "") and file_env:
            raise ConfigError(f"set {spec.env_var} or {spec.file_env_var}, not both")
        if spec.name in flags:
            values[spec.name] = _coerce(spec, flags[spec.name], spec.flag)
            if spec.secret:
                secret_flags.append(spec.flag)
        elif file_flag_value:
            values[spec.name] = read_secret_file(file_flag_value, spec.file_flag)
        elif env.get(spec.env_var) not in (None, ""):
            values[spec.name] = _coerce(spec, env[spec.env_var], spec.env_var)
        elif file_env:
            values[spec.name] = read_secret_file(file_env, spec.file_env_var)
        elif spec.name in file_settings:
            values[spec.name] = _coerce(spec, file_settings[spec.name], f"{path}")
    mapping = table.get("mapping", {})
    if not isinstance(mapping, dict) or not all(isinstance(v, str) for v in mapping.values()):
        raise ConfigError(f"[mapping] in {path} must map sheet headers to column names (strings)")
    check_mapping_keys(mapping, path)
    settings = Settings(
        **values,
        mapping=dict(mapping),
        config_file=str(path) if path else None,
        secret_flags=tuple(secret_flags),
    )
    register(settings.secrets())
    validate(settings)
    return settings


_LETTERISH_KEY = re.compile(r"\s*#[A-Za-z]+[0-9]*\s*")


def check_mapping_keys(mapping: Mapping[str, str], path: Path | None) -> None:
    """Refuse ``[mapping]`` keys that look like a column letter but are not one."""
    by_index: dict[int, str] = {}
    for key in mapping:
        index = letter_key(key)
        if index is None:
            if _LETTERISH_KEY.fullmatch(key):
                raise ConfigError(
                    f"[mapping] in {path}: {key!r} is not a column letter",
                    hint='name a column by its letter only, from "#A" to "#ZZZ" (no row number)',
                )
            continue
        if index in by_index:
            raise ConfigError(
                f"[mapping] in {path}: {by_index[index]!r} and {key!r} both name "
                f"column {column_letter(index)}; keep one"
            )
        by_index[index] = key


#: A secret file larger than this is a mistake (a wrong path, a device), not a secret.
MAX_SECRET_FILE_BYTES = 65536


def read_secret_file(path: str, origin: str) -> str:
    """The secret held in the file ``path`` (one trailing newline removed)."""
    where = Path(path)
    try:
        if not where.is_file():
            raise ConfigError(
                f"{origin} names {path}, which is not a regular file",
                hint="name the file that holds only the secret",
            )
        with where.open("rb") as fh:
            data = fh.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{origin} names {path}, which cannot be read: {exc.strerror}") from None
    if len(data) > MAX_SECRET_FILE_BYTES:
        raise ConfigError(
            f"{origin} names {path}, which is over {MAX_SECRET_FILE_BYTES} bytes: not a secret"
        )
    try:
        value = data.decode("utf-8").removesuffix("\n").removesuffix("\r")
    except UnicodeDecodeError:
        raise ConfigError(f"{origin} names {path}, which is not UTF-8 text") from None
    if not value.strip():
        raise ConfigError(f"{origin} names {path}, which is empty")
    return value
