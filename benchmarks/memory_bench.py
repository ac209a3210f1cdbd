"""Peak RSS of ``missing``, ``verify --full`` and ``health`` on a large sheet (issue 10).

The 1,000,000-buyer target is < 300 MB for every command. The buyers table is filled
once with ``buyersync sync`` (skipped with ``--db`` pointing at a filled database), then
each command runs ``--rounds`` times as its own process; the best time and the largest
peak RSS (VmHWM, see ``run.run_process``) are printed::

    python benchmarks/memory_bench.py [--rows 1000000] [--rounds 1] [--db URL]
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import datagen  # noqa: E402
from run import DEFAULT_PG, Run, run_process  # noqa: E402
from verify_bench import drop_pg, fresh_pg, url_of  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=1)
    p.add_argument("--pg-url", default=os.environ.get("BUYERSYNC_BENCH_PG_URL", DEFAULT_PG))
    p.add_argument("--db", help="an already synced database URL (kept); default: a fresh one")
    p.add_argument("--commands", default="missing,verify --full,health")
    args = p.parse_args(argv)

    work = HERE / ".data"
    work.mkdir(exist_ok=True)
    source = work / f"buyers_{args.rows}.csv"
    if not source.exists():
        tmp = source.with_suffix(".tmp")
        datagen.write_csv(tmp, args.rows)
        tmp.rename(source)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUYERSYNC_")}
    name = f"memorybench{os.getpid()}"

    def buyersync(*cmd: str) -> Run:
        run = run_process([sys.executable, "-m", "buyersync", *cmd, "--json"], env=env, cwd=work)
        if run.exit_code not in (0, 1):
            raise SystemExit(f"{cmd[0]} failed (exit {run.exit_code}): {run.stderr[-400:]}")
        return run

    url = args.db
    try:
        if url is None:
            url = url_of(fresh_pg(args.pg_url, name))
            run = buyersync("sync", "--source", str(source), "--db", url)
            print(f"sync: {run.seconds:.1f} s, {run.peak_rss_mb:.0f} MB", flush=True)
        for command in args.commands.split(","):
            runs = [
                buyersync(*command.split(), "--source", str(source), "--db", url)
                for _ in range(args.rounds)
            ]
            print(
                f"{command}: best {min(r.seconds for r in runs):.1f} s, "
                f"peak {max(r.peak_rss_mb for r in runs):.0f} MB",
                flush=True,
            )
    finally:
        if args.db is None:
            drop_pg(args.pg_url, name)
    return 0


if __name__ == "__main__":
    sys.exit(main())
