"""``python -m buyersync.settings`` prints the configuration reference."""

from buyersync.settings.reference import reference_markdown

print(reference_markdown(), end="")
