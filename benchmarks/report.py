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
    ratio: float | None = None  # to the COPY ceiling of the same size, width and target
    extra: dict = field(default_factory=dict)
    width: str = "wide"  # "wide" (16 columns, ~880 B a row) or "narrow" (15, ~225 B)
    resync_ratio: float | None = None  # re-syncs: to the re-sync ceiling

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
        "| buyers | scenario | target | source | width | seconds | rows/s | × ceiling "
        "| × re-sync ceiling | peak RSS MB | note |",
        "|---:|---|---|---|---|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r.size:,} | {r.name} | {r.target} | {r.source} | {r.width} | "
            f"{_fmt(r.seconds, '.2f')} | {_fmt(r.rows_per_s, ',.0f')} | {_fmt(r.ratio, '.2f')} | "
            f"{_fmt(r.resync_ratio, '.2f')} | {_fmt(r.peak_rss_mb, '.0f')} | {r.note} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Target:
    """One goal of the performance issues and whether this run met it."""

    goal: str
    measured: str
    met: bool | None  # None: not measured in this run


#: (scenario, limit narrow, limit wide, measured against): issue 18's ratios.
RATIO_TARGETS = (
    ("buyersync sync (empty db)", 2.5, 2.0, "ceiling"),
    ("buyersync sync (1% changed)", 1.3, 1.3, "re-sync ceiling"),
    ("buyersync verify --full", 1.5, 1.0, "ceiling"),
    ("buyersync missing", 1.0, 1.0, "ceiling"),
)


def targets(results: list[Result]) -> list[Target]:
    """Evaluate the targets on the largest size measured (100,000 buyers in the issue),
    each width and target database against its own ceilings of the same run."""

    def find(
        size: int, name: str, target: str = "postgresql", source: str = "csv", width: str = "wide"
    ) -> Result | None:
        for r in results:
            if (
                (r.size, r.name, r.target, r.source, r.width) == (size, name, target, source, width)
                and r.seconds is not None
                and r.exit_code in (0, 1)
            ):
                return r
        return None

    out: list[Target] = []
    sizes = [r.size for r in results if r.name.startswith("ceiling")]
    n = 100_000 if 100_000 in sizes else max(sizes, default=100_000)
    for target in ("postgresql", "sqlite"):
        for width in ("narrow", "wide"):
            for name, narrow, wide, against in RATIO_TARGETS:
                limit = narrow if width == "narrow" else wide
                r = find(n, name, target, width=width)
                ratio = None if r is None else r.resync_ratio if against != "ceiling" else r.ratio
                out.append(
                    Target(
                        f"{name}, {width}, {target}, {n:,} buyers ≤ {limit:g}× {against}",
                        f"{ratio:.2f}× ({r.seconds:.2f} s)" if r and ratio else "not measured",
                        (ratio <= limit) if r and ratio else None,
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
                    f"≥ 10× faster than dlt merge ({run}), {n:,} buyers",
                    f"{speedup:.1f}×",
                    speedup >= 10,
                )
            )
        else:
            out.append(
                Target(f"≥ 10× faster than dlt merge ({run}), {n:,} buyers", "not measured", None)
            )
    x = find(n, "buyersync sync (empty db)", source="xlsx")
    out.append(
        Target(
            f"XLSX of {n:,} buyers synced end to end < 10 s",
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
                "not measured (run with --memory-sizes 1000000)",
                None,
            )
        )
    return out


def targets_table(found: list[Target]) -> str:
    return "\n".join(
        [
            "| target | measured | met |",
            "|---|---|---|",
            *[
                f"| {t.goal} | {t.measured} | "
                f"{'yes' if t.met else 'not met' if t.met is False else '—'} |"
                for t in found
            ],
        ]
    )


def markdown(results: list[Result], info: dict[str, str], command: str, notes: list[str]) -> str:
    parts = [
        "# buyersync benchmark results",
        "",
        f"Generated by `{command}`. Every scenario is a separate process, timed wall-clock",
        "(process start to exit, including interpreter start-up), peak RSS polled from",
        "`/proc/PID/status` (VmHWM) every 20 ms. Rows come at two widths: *wide* (16 columns",
        "with long notes, about 880 bytes a row) and *narrow* (an ordinary buyer sheet: 15",
        "short columns, about 225 bytes). `× ceiling` is to the ceiling of the same size, width",
        "and target database measured in the same run (PostgreSQL: Python reading the CSV and",
        "COPYing it into a plain TEXT table; SQLite: `executemany` in one transaction).",
        "`× re-sync ceiling` is, for the re-syncs, to the honest floor of a re-sync that",
        "rewrites every row (`synced_at` advances on every sync): the same sheet staged by",
        "COPY (SQLite: `executemany`) into a temporary table, then one `UPDATE … FROM` of a",
        "keyed table holding every buyer, measured in the same run.",
        "",
        "## Machine",
        "",
        *[f"- {k}: {v}" for k, v in info.items()],
        "",
        "## Targets (issue 18; dlt, XLSX and memory from issue 10)",
        "",
        targets_table(targets(results)),
        "",
        "## Measurements",
        "",
        table(results),
        "",
    ]
    if notes:
        parts += ["## Notes from this run", "", *[f"- {n}" for n in notes], ""]
    return "\n".join(parts)
