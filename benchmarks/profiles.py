"""cProfile one ``buyersync`` command as its own process; keep the top functions as text.

Used by ``run.py --profile``: ``python -m cProfile -o FILE -m buyersync ARGS`` (the
command exactly as timed, under the profiler), then the 30 functions with the most own
time and the 30 with the most cumulative time, written to a text file kept in
``benchmarks/profiles/`` so the reading of a target not met can point at it.
"""

from __future__ import annotations

import io
import pstats
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOP = 30


def profile_command(args: list[str], out: Path, *, env: dict[str, str], cwd: Path) -> float:
    """Run ``buyersync ARGS --json`` under cProfile; write the summary to ``out``;
    return the wall-clock seconds of the profiled process (slower than unprofiled)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        stats_file = Path(tmp) / "stats.prof"
        cmd = [sys.executable, "-m", "cProfile", "-o", str(stats_file), "-m", "buyersync"]
        start = time.perf_counter()
        proc = subprocess.run(
            [*cmd, *args, "--json"], env=env, cwd=cwd, capture_output=True, check=False
        )
        seconds = time.perf_counter() - start
        if not stats_file.exists():
            out.write_text(
                f"profiling failed (exit {proc.returncode}):\n"
                + proc.stderr.decode("utf-8", "replace")[-2000:],
                encoding="utf-8",
            )
            return seconds
        text = io.StringIO()
        stats = pstats.Stats(str(stats_file), stream=text)
        stats.strip_dirs()
        kept = args[: args.index("--db")] if "--db" in args else args
        shown = " ".join(Path(a).name if "/" in a else a for a in kept)
        text.write(
            f"buyersync {shown}\n"
            f"exit {proc.returncode}, {seconds:.2f} s wall under cProfile\n\n"
            f"== top {TOP} by own time (tottime)\n"
        )
        stats.sort_stats("tottime").print_stats(TOP)
        text.write(f"\n== top {TOP} by cumulative time\n")
        stats.sort_stats("cumulative").print_stats(TOP)
    # pstats names the temporary stats file on a line of its own: not worth keeping
    body = "\n".join(ln for ln in text.getvalue().splitlines() if str(stats_file) not in ln)
    out.write_text(body + "\n", encoding="utf-8")
    return seconds
