"""Benchmark buyersync against the ceiling and the alternatives; write RESULTS.md.

One command (see benchmarks/README.md)::

    python benchmarks/run.py --sizes 10000,100000 [--full]

For every size it generates the same buyers as CSV (and XLSX), then times, each as
its own process: the ceiling (CSV → COPY into a plain TEXT table), ``buyersync sync``
into an empty database, a re-sync with nothing changed and with 1% changed,
``buyersync missing``, ``verify --full`` and ``health``, the naive per-row upsert,
SQLite as the target, XLSX (and Google Sheets through the local stand-in, when
present) as the source, and with ``--full`` dlt's merge (installed into
``benchmarks/.venv-dlt``). It prints the table of ratios to the ceiling and writes it
to ``benchmarks/RESULTS.md`` (or ``--results``).

Not part of the test run: ``tests/test_benchmark_smoke.py`` runs it on 500 rows with
``--quick`` so that it cannot rot.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import datagen  # noqa: E402
import report  # noqa: E402
from report import Result  # noqa: E402

DEFAULT_PG = "postgresql://postgres@127.0.0.1:5432/postgres"
DLT_VENV = HERE / ".venv-dlt"
#: The syncs that rewrite every row of a synced table (their floor is the re-sync ceiling).
RESYNCS = ("buyersync sync (unchanged)", "buyersync sync (1% changed)")


@dataclass
class Run:
    """A finished process: wall-clock seconds, peak RSS, exit code and output."""

    seconds: float
    peak_rss_mb: float
    exit_code: int
    stdout: str
    stderr: str


def _peak_rss_kb(pid: int) -> int | None:
    """The process's own RSS high-water mark (``VmHWM``), or None once it has exited."""
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def run_process(cmd: list[str], *, env: dict[str, str], cwd: Path) -> Run:
    """Run ``cmd`` to completion, timing it and tracking its peak RSS.

    Peak RSS is polled from ``/proc/PID/status`` (``VmHWM``) while the child runs:
    ``wait4()``'s ``ru_maxrss`` would also count the runner's own memory, which Linux
    carries into a child across fork and exec.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        peak = 0
        while True:
            hwm = _peak_rss_kb(proc.pid)
            if hwm is not None:
                peak = max(peak, hwm)
            pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
            if pid:
                break
            time.sleep(0.02)
        seconds = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return Run(
            seconds,
            (peak or usage.ru_maxrss) / 1024,
            proc.returncode,
            out.read().decode("utf-8", "replace"),
            err.read().decode("utf-8", "replace"),
        )


class Bench:
    """One benchmark run: the databases it creates, the results it collects."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.work = Path(args.work_dir).resolve()
        self.work.mkdir(parents=True, exist_ok=True)
        self.pg_admin = args.pg_url
        self.results: list[Result] = []
        self.notes: list[str] = []
        self.created: list[str] = []
        self.sqlite_files: list[Path] = []
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("BUYERSYNC_")}
        self.env["PYTHONUNBUFFERED"] = "1"

    # -- databases -------------------------------------------------------------
    def fresh_pg(self, name: str) -> str:
        """Drop and create database ``<prefix><name>``; its URL."""
        import psycopg
        from psycopg.conninfo import conninfo_to_dict

        db = f"{self.args.db_prefix}{name}"
        with psycopg.connect(self.pg_admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')
            conn.execute(f'CREATE DATABASE "{db}"')
        if db not in self.created:
            self.created.append(db)
        params = conninfo_to_dict(self.pg_admin)
        params["dbname"] = db
        user = params.get("user", "postgres")
        host = params.get("host", "127.0.0.1")
        port = params.get("port", "5432")
        password = params.get("password")
        auth = f"{user}:{password}" if password else user
        return f"postgresql://{auth}@{host}:{port}/{db}"

    def fresh_sqlite(self, name: str) -> str:
        path = self.work / f"{self.args.db_prefix}{name}.db"
        self.sqlite_files.append(path)
        for suffix in ("", "-wal", "-shm", "-journal"):
            Path(str(path) + suffix).unlink(missing_ok=True)
        return f"sqlite:///{path}"

    def drop_all(self) -> None:
        import psycopg

        for path in self.sqlite_files:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(str(path) + suffix).unlink(missing_ok=True)
        with psycopg.connect(self.pg_admin, autocommit=True) as conn:
            for db in self.created:
                conn.execute(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)')

    # -- scenarios -------------------------------------------------------------
    def record(
        self,
        size: int,
        name: str,
        target: str,
        source: str,
        run: Run | None,
        note: str = "",
        width: str = "wide",
    ) -> Result:
        result = Result(size, name, target, source, note=note, width=width)
        if run is not None:
            result.seconds, result.peak_rss_mb, result.exit_code = (
                run.seconds,
                run.peak_rss_mb,
                run.exit_code,
            )
            # buyersync exits 1 when it ran and found problems; a baseline only 0 is ok.
            ok = (0, 1) if name.startswith("buyersync") else (0,)
            if run.exit_code not in ok:
                if not name.startswith("buyersync"):
                    result.exit_code = 99  # counted as failed in the table and the targets
                last = (run.stderr.strip().splitlines() or ["no output"])[-1]
                result.note = f"exit {run.exit_code}: {last[:160]}"
        self.results.append(result)
        print(
            f"  {size:>9,}  {name:<34} {target:<10} {source:<7} {width:<6} "
            f"{'' if result.seconds is None else f'{result.seconds:8.2f} s'}"
            f"{'' if result.peak_rss_mb is None else f'{result.peak_rss_mb:7.0f} MB'}  "
            f"{result.note}",
            flush=True,
        )
        return result

    def buyersync(self, *args: str) -> Run:
        cmd = [sys.executable, "-m", "buyersync", *args, "--json"]
        return run_process(cmd, env=self.env, cwd=self.work)

    def baseline(
        self,
        kind: str,
        csv_path: Path,
        url: str,
        python: str = sys.executable,
        env: dict[str, str] | None = None,
    ) -> Run:
        cmd = [python, str(HERE / "baselines.py"), kind, str(csv_path), url]
        return run_process(cmd, env=env or self.env, cwd=self.work)

    @staticmethod
    def sync_note(run: Run) -> str:
        try:
            doc = json.loads(run.stdout)
        except ValueError:
            return ""
        return (
            f"inserted {doc.get('inserted')}, updated {doc.get('updated')}, "
            f"failed {doc.get('failed')}"
        )

    def available(self, command: str) -> bool:
        return has_module(f"buyersync.cli.{command}")

    def run_memory(self, n: int) -> None:
        """The commands whose peak RSS the 1,000,000-row target is about.

        Syncs from CSV and Google Sheets, then ``missing``, ``verify --full`` and
        ``health`` on the synced table (they hold one entry per buyer on each side).
        """
        print(f"\n== {n:,} buyers (memory: sync, missing, verify --full, health)", flush=True)
        base = self.data(n, "csv")
        url = self.fresh_pg("buyersync")
        src = ["--source", str(base), "--db", url]
        run = self.buyersync("sync", *src)
        self.record(n, "buyersync sync (empty db)", "postgresql", "csv", run, self.sync_note(run))
        for command, extra in (("missing", ()), ("verify", ("--full",)), ("health", ())):
            if self.available(command):
                name = f"buyersync {command}{' ' + ' '.join(extra) if extra else ''}"
                self.record(n, name, "postgresql", "csv", self.buyersync(command, *extra, *src))
        self.gsheets(n, base)

    def run_size(self, n: int) -> None:
        a = self.args
        for width in a.width_list:
            self.run_width(n, width)
        base = self.data(n, "csv")
        if n <= a.naive_max:
            url = self.fresh_pg("naive")
            self.record(
                n,
                "naive: one INSERT … ON CONFLICT per row",
                "postgresql",
                "csv",
                self.baseline("naive", base, url),
            )
        else:
            self.record(
                n,
                "naive: one INSERT … ON CONFLICT per row",
                "postgresql",
                "csv",
                None,
                f"skipped above {a.naive_max:,} rows (--naive-max)",
            )

        if n <= a.xlsx_max:
            xlsx = self.data(n, "xlsx")
            url = self.fresh_pg("xlsx")
            run = self.buyersync("sync", "--source", str(xlsx), "--db", url)
            self.record(
                n, "buyersync sync (empty db)", "postgresql", "xlsx", run, self.sync_note(run)
            )
        if n <= a.gsheets_max:
            self.gsheets(n, base)
        if a.full and not a.quick and n <= a.dlt_max:
            self.dlt(n, base)

    def run_width(self, n: int, width: str) -> None:
        """The ceilings and buyersync's commands on rows of one width, both targets."""
        print(f"\n== {n:,} buyers, {width} rows", flush=True)
        base = self.data(n, "csv", width=width)
        changed = self.data(n, "csv", changed_every=100, width=width)
        for target, fresh in (("postgresql", self.fresh_pg), ("sqlite", self.fresh_sqlite)):
            label = "COPY into TEXT table" if target == "postgresql" else "executemany, one txn"
            url = fresh(f"ceiling_{width}")
            self.record(
                n,
                f"ceiling: CSV → {label}",
                target,
                "csv",
                self.baseline("ceiling", base, url),
                width=width,
            )
            url = fresh(f"resync_{width}")
            setup = self.baseline("resync-setup", base, url)
            if setup.exit_code:
                self.notes.append(f"re-sync ceiling setup failed ({target}): {setup.stderr[-200:]}")
            stage = "COPY" if target == "postgresql" else "executemany"
            self.record(
                n,
                f"re-sync ceiling: {stage} stage + UPDATE … FROM",
                target,
                "csv",
                self.baseline("resync", changed, url),
                width=width,
            )

            url = fresh(f"buyersync_{width}")
            for label, path in (("empty db", base), ("unchanged", base), ("1% changed", changed)):
                run = self.buyersync("sync", "--source", str(path), "--db", url)
                self.record(
                    n, f"buyersync sync ({label})", target, "csv", run, self.sync_note(run), width
                )
            src = ["--source", str(changed), "--db", url]
            commands = [("missing", ()), ("verify", ("--full",))]
            if target == "postgresql":
                commands.append(("health", ()))
            for command, extra in commands:
                name = f"buyersync {command}{' ' + ' '.join(extra) if extra else ''}"
                if self.available(command):
                    run = self.buyersync(command, *extra, *src)
                    self.record(n, name, target, "csv", run, width=width)
                else:
                    self.record(n, name, target, "csv", None, "not available yet", width)
            if self.args.profile and target == "postgresql":
                self.profile(n, width, base, changed)

    def profile(self, n: int, width: str, base: Path, changed: Path) -> None:
        """cProfile each timed buyersync command once more (untimed), on a fresh database;
        the top functions go to ``benchmarks/profiles/<width>-<size>-<scenario>.txt``."""
        import profiles

        url = self.fresh_pg(f"profile_{width}")
        steps = [
            ("sync-empty", ("sync", "--source", str(base))),
            ("sync-1pct", ("sync", "--source", str(changed))),
            ("missing", ("missing", "--source", str(changed))),
            ("verify-full", ("verify", "--full", "--source", str(changed))),
        ]
        for label, args in steps:
            out = self.args.profile_dir / f"{width}-{n}-{label}.txt"
            seconds = profiles.profile_command(
                [*args, "--db", url], out, env=self.env, cwd=self.work
            )
            print(f"  profiled {label} ({width}) in {seconds:.2f} s under cProfile → {out}")

    def gsheets(self, n: int, base: Path) -> None:
        if not has_module("buyersync.testing.sheets_server"):
            self.record(
                n,
                "buyersync sync (empty db)",
                "postgresql",
                "gsheets",
                None,
                "not available yet (buyersync.testing.sheets_server)",
            )
            return
        import gsheets_bench

        url = self.fresh_pg("gsheets")
        try:
            run, note = gsheets_bench.sync_through_stand_in(self, base, url)
        except Exception as exc:  # a colleague's server may change under us
            self.record(
                n,
                "buyersync sync (empty db)",
                "postgresql",
                "gsheets",
                None,
                f"stand-in server could not be used: {type(exc).__name__}: {exc}"[:200],
            )
            return
        self.record(n, "buyersync sync (empty db)", "postgresql", "gsheets", run, note)

    def dlt(self, n: int, base: Path) -> None:
        python = ensure_dlt_venv()
        if python is None:
            self.record(
                n,
                "dlt merge (first run)",
                "postgresql",
                "csv",
                None,
                "dlt could not be installed (see stderr)",
            )
            return
        url = self.fresh_pg("dlt")
        pipelines = self.work / "dlt_pipelines"
        shutil.rmtree(pipelines, ignore_errors=True)
        env = {
            **self.env,
            "RUNTIME__DLTHUB_TELEMETRY": "false",
            "DLT_PIPELINES_DIR": str(pipelines),
            "DLT_DATA_DIR": str(self.work / "dlt_data"),
        }
        for label in ("first run", "second run"):
            self.record(
                n,
                f"dlt merge ({label})",
                "postgresql",
                "csv",
                self.baseline("dlt", base, url, python=python, env=env),
            )

    # -- data ------------------------------------------------------------------
    def data(
        self, n: int, kind: str, changed_every: int | None = None, width: str = "wide"
    ) -> Path:
        suffix = f"_changed{changed_every}" if changed_every else ""
        if width != "wide":
            suffix += f"_{width}"
        path = self.work / f"buyers_{n}{suffix}.{kind}"
        if not path.exists():
            t = time.perf_counter()
            tmp = path.with_suffix(".tmp")
            if kind == "csv":
                datagen.write_csv(tmp, n, changed_every=changed_every, width=width)
            else:
                datagen.write_xlsx(tmp, n, changed_every=changed_every)
            tmp.rename(path)
            print(
                f"  generated {path.name} ({path.stat().st_size / 1e6:.1f} MB) "
                f"in {time.perf_counter() - t:.1f} s",
                flush=True,
            )
        return path

    def finish(self) -> None:
        """Each result's ratio to the ceiling of its size, width and target, and the
        re-syncs' ratio to the re-sync ceiling."""

        def ceilings(prefix: str) -> dict[tuple[int, str, str], float]:
            return {
                (r.size, r.width, r.target): r.seconds
                for r in self.results
                if r.name.startswith(prefix) and r.seconds and r.exit_code == 0
            }

        copy, rewrite = ceilings("ceiling"), ceilings("re-sync ceiling")
        for r in self.results:
            key = (r.size, r.width, r.target)
            if r.seconds and copy.get(key):
                r.ratio = r.seconds / copy[key]
            resync = r.name.startswith("re-sync") or r.name in RESYNCS
            if resync and r.seconds and rewrite.get(key):
                r.resync_ratio = r.seconds / rewrite[key]


def has_module(name: str) -> bool:
    """Whether a colleague's module exists yet (its package may not either)."""
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def ensure_dlt_venv() -> str | None:
    """The interpreter of benchmarks/.venv-dlt, created with dlt[postgres] on first use."""
    python = DLT_VENV / "bin" / "python"
    if (
        python.exists()
        and subprocess.run(
            [str(python), "-c", "import dlt"], capture_output=True, check=False
        ).returncode
        == 0
    ):
        return str(python)
    print("  installing dlt[postgres] into benchmarks/.venv-dlt (once)", flush=True)
    try:
        subprocess.run([sys.executable, "-m", "venv", str(DLT_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "dlt[postgres]"], check=True)
    except subprocess.CalledProcessError as exc:
        print(f"  dlt install failed: {exc}", file=sys.stderr)
        return None
    return str(python)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--sizes",
        default="10000,100000",
        help="comma-separated buyer counts (default 10000,100000; add 1000000 for "
        "the memory target)",
    )
    p.add_argument(
        "--full",
        action="store_true",
        help="also run dlt (installs it into benchmarks/.venv-dlt on first use)",
    )
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke mode: never dlt; results go to --results only if given",
    )
    p.add_argument(
        "--pg-url",
        default=os.environ.get("BUYERSYNC_BENCH_PG_URL", DEFAULT_PG),
        help="a PostgreSQL URL allowed to create and drop databases",
    )
    p.add_argument(
        "--db-prefix",
        default=f"bench{os.getpid()}_",
        help="prefix of the PostgreSQL databases created (and dropped) by the run",
    )
    p.add_argument(
        "--work-dir",
        default=str(HERE / ".data"),
        help="where generated files and SQLite databases go (reused across runs)",
    )
    p.add_argument(
        "--results",
        default=None,
        help="Markdown output (default benchmarks/RESULTS.md; none with --quick)",
    )
    p.add_argument(
        "--naive-max",
        type=int,
        default=100_000,
        help="largest size for the naive per-row baseline (it is slow)",
    )
    p.add_argument("--xlsx-max", type=int, default=100_000, help="largest size for the XLSX source")
    p.add_argument(
        "--gsheets-max",
        type=int,
        default=100_000,
        help="largest size for the Google Sheets stand-in (it holds the sheet in "
        "the runner's memory)",
    )
    p.add_argument(
        "--memory-sizes",
        default="",
        help="sizes at which only the CSV and Google Sheets syncs run (peak RSS)",
    )
    p.add_argument("--dlt-max", type=int, default=100_000, help="largest size for dlt")
    p.add_argument(
        "--widths",
        default="narrow,wide",
        help="row profiles: narrow (15 short columns, ~225 bytes a row) and/or wide "
        "(16 columns with long notes, ~880 bytes)",
    )
    p.add_argument(
        "--profile",
        action="store_true",
        help="also run each buyersync command once under cProfile (untimed) and keep "
        "the top functions in --profile-dir",
    )
    p.add_argument(
        "--profile-dir",
        default=str(HERE / "profiles"),
        help="where --profile writes its text profiles (default benchmarks/profiles)",
    )
    args = p.parse_args(argv)
    args.size_list = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    args.memory_list = [int(s.replace("_", "")) for s in args.memory_sizes.split(",") if s.strip()]
    args.width_list = [w.strip() for w in args.widths.split(",") if w.strip()]
    unknown = set(args.width_list) - set(datagen.WIDTHS)
    if unknown:
        p.error(f"unknown width(s): {', '.join(sorted(unknown))} (narrow, wide)")
    args.profile_dir = Path(args.profile_dir)
    if args.results is None and not args.quick:
        args.results = str(HERE / "RESULTS.md")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    bench = Bench(args)
    try:
        for n in args.size_list:
            bench.run_size(n)
        for n in args.memory_list:
            bench.run_memory(n)
    finally:
        bench.drop_all()
    bench.finish()
    command = "python benchmarks/run.py " + " ".join(argv if argv is not None else sys.argv[1:])
    doc = report.markdown(
        bench.results, report.machine() | pg_version(args.pg_url), command.strip(), bench.notes
    )
    analysis = HERE / "ANALYSIS.md"
    if analysis.exists() and not args.quick:
        # The hand-written reading of the numbers (profiles, unmet targets) is kept in
        # ANALYSIS.md so that a re-run regenerates the table without losing it.
        doc += "\n" + analysis.read_text(encoding="utf-8")
    print()
    print(report.table(bench.results))
    print()
    print(report.targets_table(report.targets(bench.results)))
    if args.results:
        Path(args.results).write_text(doc, encoding="utf-8")
        print(f"\nwritten to {args.results}")
    failed = [r for r in bench.results if r.exit_code not in (None, 0, 1)]
    return 1 if failed else 0


def pg_version(url: str) -> dict[str, str]:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return {"postgresql": str(row[0]) if row else "?"}


if __name__ == "__main__":
    sys.exit(main())
