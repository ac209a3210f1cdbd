"""Time ``missing`` and ``verify --full`` against the COPY ceiling, in the same run.

Issue 5's target: on 100,000 buyers each command within 1x the ceiling (Python reads
the CSV with the csv module and COPYs it into a plain TEXT table). The machine is
shared and noisy, so the three are run in interleaved rounds (ceiling, missing,
verify --full, ceiling, …), each as its own process; the ratios are taken per round
and summarised by their median, next to the best times::

    python benchmarks/verify_bench.py [--rows 100000] [--rounds 3] [--sqlite]

The buyers table is filled once with ``buyersync sync``. ``verify --full`` is timed on
the same sheet (nothing differs: the common case) and on the sheet with 1% of the
buyers changed (1,000 mismatched buyers, 2,000 values to report).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import datagen  # noqa: E402
from run import DEFAULT_PG, Run, run_process  # noqa: E402


def fresh_pg(admin: str, name: str) -> str:
    """Drop and create database ``name``; its URL."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
    params = conninfo_to_dict(admin)
    params["dbname"] = name
    return make_conninfo(**params)  # type: ignore[arg-type]


def drop_pg(admin: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def url_of(conninfo: str) -> str:
    """A postgresql:// URL for buyersync's --db from a libpq conninfo string."""
    from psycopg.conninfo import conninfo_to_dict

    p = conninfo_to_dict(conninfo)
    user = p.get("user", "postgres")
    auth = f"{user}:{p['password']}" if p.get("password") else user
    return f"postgresql://{auth}@{p.get('host', '127.0.0.1')}:{p.get('port', '5432')}/{p['dbname']}"


def data(work: Path, n: int, changed_every: int | None = None) -> Path:
    suffix = f"_changed{changed_every}" if changed_every else ""
    path = work / f"buyers_{n}{suffix}.csv"
    if not path.exists():
        tmp = path.with_suffix(".tmp")
        datagen.write_csv(tmp, n, changed_every=changed_every)
        tmp.rename(path)
    return path


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--rows", type=int, default=100_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--pg-url", default=os.environ.get("BUYERSYNC_BENCH_PG_URL", DEFAULT_PG))
    p.add_argument("--work-dir", default=str(HERE / ".data" / "verify_bench"))
    p.add_argument("--sqlite", action="store_true", help="also time the commands on SQLite")
    args = p.parse_args(argv)

    work = Path(args.work_dir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUYERSYNC_")}
    base = data(work, args.rows)
    changed = data(work, args.rows, changed_every=100)
    prefix = f"verifybench{os.getpid()}_"
    target = url_of(fresh_pg(args.pg_url, prefix + "buyers"))
    ceiling_db = prefix + "ceiling"
    sqlite_path = work / f"{prefix}buyers.db"

    def buyersync(*cmd: str) -> Run:
        return run_process([sys.executable, "-m", "buyersync", *cmd, "--json"], env=env, cwd=work)

    def checked(run: Run, what: str) -> Run:
        if run.exit_code not in (0, 1):
            raise SystemExit(f"{what} failed (exit {run.exit_code}): {run.stderr[-400:]}")
        return run

    times: dict[str, list[float]] = {}
    rss: dict[str, float] = {}
    notes: dict[str, str] = {}

    def note(name: str, run: Run) -> None:
        times.setdefault(name, []).append(run.seconds)
        rss[name] = max(rss.get(name, 0.0), run.peak_rss_mb)
        try:
            doc = json.loads(run.stdout)
        except ValueError:
            return
        keys = ("missing_count", "extra_count", "mismatch_count", "mismatched_buyers", "checked")
        notes[name] = ", ".join(f"{k} {doc[k]}" for k in keys if k in doc)

    try:
        checked(buyersync("sync", "--source", str(base), "--db", target), "sync")
        if args.sqlite:
            checked(
                buyersync("sync", "--source", str(base), "--db", f"sqlite:///{sqlite_path}"),
                "sqlite sync",
            )
        for r in range(args.rounds):
            url = url_of(fresh_pg(args.pg_url, ceiling_db))
            note(
                "ceiling",
                checked(
                    run_process(
                        [sys.executable, str(HERE / "baselines.py"), "ceiling", str(base), url],
                        env=env,
                        cwd=work,
                    ),
                    "ceiling",
                ),
            )
            src = ["--source", str(base), "--db", target]
            note("missing", checked(buyersync("missing", *src), "missing"))
            note("verify --full", checked(buyersync("verify", "--full", *src), "verify --full"))
            note(
                "verify --full (1% changed)",
                checked(
                    buyersync("verify", "--full", "--source", str(changed), "--db", target),
                    "verify changed",
                ),
            )
            if args.sqlite:
                lite = ["--source", str(base), "--db", f"sqlite:///{sqlite_path}"]
                note("sqlite: missing", checked(buyersync("missing", *lite), "sqlite missing"))
                note(
                    "sqlite: verify --full",
                    checked(buyersync("verify", "--full", *lite), "sqlite verify"),
                )
            print(
                f"round {r + 1}: " + ", ".join(f"{k} {v[-1]:.2f}s" for k, v in times.items()),
                flush=True,
            )
    finally:
        drop_pg(args.pg_url, prefix + "buyers")
        drop_pg(args.pg_url, ceiling_db)
        for leftover in work.glob(f"{sqlite_path.name}*"):  # -wal, -shm, *.lock …
            leftover.unlink(missing_ok=True)

    ceiling = times["ceiling"]
    print(f"\n{args.rows:,} buyers, {args.rounds} interleaved rounds (PostgreSQL unless named)")
    print(
        f"{'command':<30} {'best s':>7} {'median s':>9} {'ratio (median of rounds)':>25} "
        f"{'peak RSS':>9}  notes"
    )
    for name, ts in times.items():
        ratios = [t / c for t, c in zip(ts, ceiling, strict=True)]
        print(
            f"{name:<30} {min(ts):7.2f} {statistics.median(ts):9.2f} "
            f"{statistics.median(ratios):24.2f}x {rss[name]:7.0f}MB  {notes.get(name, '')}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
