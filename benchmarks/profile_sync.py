"""Profile one ``buyersync sync`` in-process with pyinstrument (``pip install pyinstrument``).

    python benchmarks/profile_sync.py CSV DATABASE_URL [--runs 2] [--html out.html]

Runs the sync ``--runs`` times against the same database (the first into whatever
is there, the next ones as re-syncs) and prints pyinstrument's call tree of each.
"""

from __future__ import annotations

import argparse
import time

from pyinstrument import Profiler  # type: ignore[import-not-found]

from buyersync.services.sync import SyncEngine
from buyersync.sources import open_source
from buyersync.store import open_database


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("source")
    p.add_argument("db")
    p.add_argument("--runs", type=int, default=1)
    p.add_argument("--html")
    p.add_argument("--interval", type=float, default=0.001)
    a = p.parse_args()
    for i in range(a.runs):
        db = open_database(a.db)
        profiler = Profiler(interval=a.interval)
        t = time.perf_counter()
        with profiler:
            report = SyncEngine(db, open_source(a.source)).run()
        print(
            f"run {i + 1}: {time.perf_counter() - t:.2f} s, inserted {report.inserted}, "
            f"updated {report.updated}, failed {report.failed}"
        )
        print(profiler.output_text(unicode=True, color=False, show_all=False))
        if a.html:
            with open(a.html.replace(".html", f"-{i + 1}.html"), "w", encoding="utf-8") as fh:
                fh.write(profiler.output_html())
        db.close()


if __name__ == "__main__":
    main()
