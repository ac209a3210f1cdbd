"""The incident and its fix, end to end, on a throwaway database (``buyersync demo``).

What it does, in order:

1. generates a sheet of 4,140 buyers (Japanese and Latin names, addresses, notes;
   seeded, so every run is the same) in which exactly 356 rows have a value longer
   than 50 characters (:mod:`.sheet`, its vocabulary in :mod:`.names`);
2. creates the *legacy* ``buyers`` table the incident happened on: every text column
   ``VARCHAR(50)`` (on SQLite, which does not enforce a declared length, with
   ``CHECK (length(col) <= 50)``, which it does) (:mod:`.legacy`);
3. replays the old sync — insert row by row, drop whatever the database refuses,
   say nothing — which leaves 356 of 4,140 buyers (8.6%) missing (:mod:`.legacy`);
4. runs the real commands an operator would type, each as its own ``buyersync``
   process (:mod:`.steps`): ``schema check``, ``missing``, ``sync`` (every failure
   logged), ``errors``, ``schema fix --apply``, ``sync-missing``, ``problems`` (every
   problem of the sync resolved, without another full sync), ``verify --full`` and
   ``health`` (the story in :mod:`.story`).

The files (sheet, SQLite database, ``buyersync.toml``, verification report) stay in
the demo directory (:mod:`.directory`) so the user can keep exploring with the same
commands.
"""

from buyersync.demo.directory import (
    CONFIG_FILE,
    DB_FILE,
    MARKER_FILE,
    REPORT_FILE,
    SHEET_FILE,
    prepare_directory,
)
from buyersync.demo.legacy import create_legacy_table, old_sync
from buyersync.demo.sheet import (
    HEADER,
    LIMIT,
    LONG_BUYERS,
    SEED,
    TOTAL_BUYERS,
    generate_buyers,
    write_sheet,
)
from buyersync.demo.steps import Counts, DemoResult, DemoStepFailed, Echo, Step
from buyersync.demo.story import run_demo

__all__ = [
    "CONFIG_FILE",
    "DB_FILE",
    "HEADER",
    "LIMIT",
    "LONG_BUYERS",
    "MARKER_FILE",
    "REPORT_FILE",
    "SEED",
    "SHEET_FILE",
    "TOTAL_BUYERS",
    "Counts",
    "DemoResult",
    "DemoStepFailed",
    "Echo",
    "Step",
    "create_legacy_table",
    "generate_buyers",
    "old_sync",
    "prepare_directory",
    "run_demo",
    "write_sheet",
]
