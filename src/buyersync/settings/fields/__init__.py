"""Every setting, declared once, in the order of docs/configuration.md.

Split by area; :data:`SETTINGS` is all of them. A new setting gets a :class:`Spec` in the
module of its area and a field in :class:`buyersync.settings.model.Settings`.
"""

from __future__ import annotations

from buyersync.settings.fields.alerts import ALERTS
from buyersync.settings.fields.google import GOOGLE
from buyersync.settings.fields.schedule import SCHEDULE
from buyersync.settings.fields.source import SOURCE
from buyersync.settings.fields.sync import SYNC
from buyersync.settings.spec import Spec

SETTINGS: tuple[Spec, ...] = SOURCE + SYNC + ALERTS + GOOGLE + SCHEDULE

__all__ = ["SETTINGS"]
