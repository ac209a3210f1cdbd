"""The results table: ratios to the ceiling, the targets, the machine, as Markdown."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from dataclasses import dataclass, field


@dataclass
class Result:
    """One timed scenario."""

    size: int
    name: str  # e.g. "buyersync sync (empty db)"
    target: str  # "postgresql" / "sqlite"
    source: str  # "csv" / "xlsx" / "gsheets"
    seconds: float | None = None
    peak_rss_mb: float | None = None
    exit_code: int | None = None
    note: str = ""
    ratio: float | None = None
    extra: dict = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float | None:
        return self.size / self.seconds if self.seconds else None


def machine() -> dict[str, str]:
    """What the numbers were measured on."""
    info = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "cpus (nproc)": str(os.cpu_count()),
    }
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            models = [ln.split(":", 1)[1].strip() for ln in fh if ln.startswith("model name")]
        if models:
            info["cpu"] = models[0]
        with open("/proc/meminfo", encoding="utf-8") as fh:
            total = next(ln for ln in fh if ln.startswith("MemTotal"))
        info["memory"] = f"{int(total.split()[1]) / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        pass
    try:
        info["load average at the end (1/5/15 min)"] = " / ".join(
            f"{x:.1f}" for x in os.getloadavg()
        )
    except OSError:
        pass
    try:
        import psycopg

        info["psycopg"] = psycopg.__version__
    except ImportError:
        pass
    try:
        info["buyersync commit"] = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            cwd=os.path.dirname(os.path.abspath(__file__)),
        ).stdout.strip()
    except OSError:
        pass
    return info


def _fmt(value: float | None, spec: str) -> str:
    return "—" if value is None else format(value, spec)


def table(results: list[Result]) -> str:
    lines = [
        "| buyers | scenario | target | source | seconds | rows/s | × ceiling | peak RSS MB | note |",
        "|---:|---|---|---|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.size:,} | {r.name} | {r.target} | {r.source} | {_fmt(r.seconds, '.2f')} | "
            f"{_fmt(r.rows_per_s, ',.0f')} | {_fmt(r.ratio, '.2f')} | "
            f"{_fmt(r.peak_rss_mb, '.0f')} | {r.note} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    """One goal from issue 10 and whether this run met it."""

    goal: str
    measured: str
    met: bool | None  # None: not measured in this run


def targets(results: list[Result]) -> list[Target]:
    """Evaluate the issue's targets on the 100,000-buyer PostgreSQL rows (and 1M RSS)."""

    def find(
        size: int, name: str, target: str = "postgresql", source: str = "csv"
    ) -> Result | None:
        for r in results:
            if (
                (r.size, r.name, r.target, r.source) == (size, name, target, source)
                and r.seconds is not None
                and r.exit_code in (0, 1)
            ):
                return r
        return None

    out: list[Target] = []
    n = 100_000
    for name, limit in (
        ("buyersync sync (empty db)", 2.0),
        ("buyersync sync (1% changed)", 2.0),
        ("buyersync missing", 1.0),
        ("buyersync verify --full", 1.0),
    ):
        r = find(n, name)
        out.append(
            Target(
                f"{name}, 100,000 buyers ≤ {limit:g}× ceiling",
                f"{r.ratio:.2f}×" if r and r.ratio else "not measured",
                (r.ratio <= limit) if r and r.ratio else None,
            )
        )
    for run in ("first run", "second run"):
        d = find(n, f"dlt merge ({run})")
        b = find(
            n, "buyersync sync (empty db)" if run == "first run" else "buyersync sync (unchanged)"
        )
        if d and b and d.seconds and b.seconds:
            speedup = d.seconds / b.seconds
            out.append(
                Target(
                    f"≥ 10× faster than dlt merge ({run}), 100,000 buyers",
                    f"{speedup:.1f}×",
                    speedup >= 10,
                )
            )
        else:
            out.append(
                Target(f"≥ 10× faster than dlt merge ({run}), 100,000 buyers", "not measured", None)
            )
    x = find(n, "buyersync sync (empty db)", source="xlsx")
    out.append(
        Target(
            "XLSX of 100,000 buyers synced end to end < 10 s",
            f"{x.seconds:.2f} s" if x and x.seconds else "not measured",
            (x.seconds < 10) if x and x.seconds else None,
        )
    )
    rss = [
        r
        for r in results
        if r.size == 1_000_000 and r.name.startswith("buyersync") and r.peak_rss_mb is not None
    ]
    if rss:
        worst = max(rss, key=lambda r: r.peak_rss_mb or 0)
        out.append(
            Target(
                "peak RSS of every buyersync command, 1,000,000 buyers < 300 MB",
                f"{worst.peak_rss_mb:.0f} MB ({worst.name}, {worst.target}, {worst.source})",
                (worst.peak_rss_mb or 0) < 300,
            )
        )
    else:
        out.append(
            Target(
                "peak RSS of every buyersync command, 1,000,000 buyers < 300 MB",
                "not measured (run with --full)",
                None,
            )
        )
    return out


def markdown(results: list[Result], info: dict[str, str], command: str, notes: list[str]) -> str:
    parts = [
        "# buyersync benchmark results",
        "",
        f"Generated by `{command}`. Every scenario is a separate process, timed wall-clock",
        "(process start to exit, including interpreter start-up), peak RSS polled from",
        "`/proc/PID/status` (VmHWM) every 20 ms. Ratios are to the ceiling of the same size measured in the same run:",
        "Python reading the CSV and COPYing it into a plain TEXT table in PostgreSQL.",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
        "",
        "## Targets (issue 10)",
        "",
        "| target | measured | met |",
        "|---|---|---|",
        *[
            f"| {t.goal} | {t.measured} | {'yes' if t.met else 'no' if t.met is False else '—'} |"
            for t in targets(results)
        ],
        "",
        "## Measurements",
        "",
        table(results),
        "",
    ]
    if notes:
        parts += ["## Notes from this run", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(parts)
