"""The typed-column settings: number_format, date_order, timezone (flag, env, file) and
their validation at load."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from buyersync.errors import ConfigError
from buyersync.settings import load_settings, parse_options


def test_typed_column_settings_default_and_load() -> None:
    s = load_settings({}, env={})
    assert (s.number_format, s.date_order, s.timezone) == ("1,234.56", None, "UTC")
    assert parse_options(s).date_order is None
    env = {
        "BUYERSYNC_NUMBER_FORMAT": "1.234,56",
        "BUYERSYNC_DATE_ORDER": "DMY",
        "BUYERSYNC_TIMEZONE": "Europe/Berlin",
    }
    s = load_settings({}, env=env)
    assert (s.number_format, s.date_order, s.timezone) == ("1.234,56", "DMY", "Europe/Berlin")
    s = load_settings({"date_order": "mdy", "timezone": "Asia/Tokyo"}, env=env)  # flag wins
    assert parse_options(s).date_order == "MDY" and s.timezone == "Asia/Tokyo"


def test_typed_column_settings_from_the_file(tmp_path: Path) -> None:
    toml = tmp_path / "buyersync.toml"
    toml.write_text('number_format = "1 234,56"\ndate_order = "MDY"\ntimezone = "Asia/Tokyo"\n')
    s = load_settings({}, env={}, config_file=toml)
    assert (s.number_format, s.date_order, s.timezone) == ("1 234,56", "MDY", "Asia/Tokyo")


@pytest.mark.parametrize(
    ("name", "value", "words"),
    [
        ("number_format", "1234.56", "number_format"),
        ("date_order", "DD/MM", "date_order"),
        ("timezone", "Mars/Olympus", "IANA time zone"),
    ],
)
def test_bad_typed_column_setting_is_a_config_error(name: str, value: str, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        load_settings({name: value}, env={})


def test_bad_timezone_exits_2_with_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUYERSYNC_")}
    env["BUYERSYNC_TIMEZONE"] = "Mars/Olympus"
    out = subprocess.run(
        [sys.executable, "-m", "buyersync", "errors", "--db", f"sqlite:///{tmp_path / 'd.db'}"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 2, out.stderr
    assert out.stderr.strip().count("\n") == 0 and "Mars/Olympus" in out.stderr
    assert "IANA time zone" in out.stderr and "Traceback" not in out.stderr
