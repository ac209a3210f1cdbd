"""Settings: read once at the edge (CLI or ``serve``) into one frozen object.

Precedence: command-line flag > ``BUYERSYNC_<NAME>`` environment variable >
``buyersync.toml`` (``--config``/``BUYERSYNC_CONFIG``, else ``./buyersync.toml``) > default.
Every setting is declared once in :data:`SETTINGS`; the CLI flags and the
configuration reference (docs/configuration.md) are generated from it.
Library code takes plain arguments and never reads the environment.

The package is split by job: :mod:`~.spec` (how a setting is declared),
:mod:`~.fields` (every setting, by area), :mod:`~.model` (:class:`Settings`),
:mod:`~.loading`, :mod:`~.validation` and :mod:`~.reference` (the generated
docs/configuration.md; ``python -m buyersync.settings`` prints it). Every name is
importable from here.
"""

from __future__ import annotations

from buyersync.redact import redact_url, scrub, url_secrets
from buyersync.settings.fields import SETTINGS
from buyersync.settings.loading import (
    MAX_SECRET_FILE_BYTES,
    check_mapping_keys,
    load_settings,
    read_secret_file,
)
from buyersync.settings.model import SPECS, Settings
from buyersync.settings.reference import reference_markdown
from buyersync.settings.spec import Spec
from buyersync.settings.validation import SHEET_FEEDBACK_MODES, parse_options, validate

__all__ = [
    "MAX_SECRET_FILE_BYTES",
    "SETTINGS",
    "SHEET_FEEDBACK_MODES",
    "SPECS",
    "Settings",
    "Spec",
    "check_mapping_keys",
    "load_settings",
    "parse_options",
    "read_secret_file",
    "redact_url",
    "reference_markdown",
    "scrub",
    "url_secrets",
    "validate",
]
