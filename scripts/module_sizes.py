#!/usr/bin/env python3
"""Lines per module of src/buyersync, as the Markdown table in docs/architecture.md.

Run from anywhere: ``python scripts/module_sizes.py``. One row per package (the
top-level modules under ``buyersync/``), its modules largest first with their line
counts; modules over the limit are in bold. Lines are counted as tests/test_module_size.py
counts them (``str.splitlines``).
"""

from __future__ import annotations

import sys
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "buyersync"
LIMIT = 500


def sizes(root: Path = SRC) -> dict[str, int]:
    return {
        path.relative_to(root).as_posix(): len(path.read_text(encoding="utf-8").splitlines())
        for path in sorted(root.rglob("*.py"))
    }


def table(lines: dict[str, int]) -> str:
    packages: dict[str, dict[str, int]] = defaultdict(dict)
    for name, n in lines.items():
        package, _, module = name.rpartition("/")
        packages[package][module] = n
    out = [
        "| package | modules | lines | modules (lines), largest first |",
        "|---|---:|---:|---|",
    ]
    for package in sorted(packages):
        modules = packages[package]
        listed = ", ".join(
            f"**{m} {n}**" if n > LIMIT else f"{m} {n}"
            for m, n in sorted(modules.items(), key=lambda item: (-item[1], item[0]))
        )
        out.append(
            f"| `{package or '.'}/` | {len(modules)} | {sum(modules.values()):,} | {listed} |"
        )
    over = sum(n > LIMIT for n in lines.values())
    out.append(
        f"| all | {len(lines)} | {sum(lines.values()):,} | {over} over {LIMIT} lines; "
        f"largest {max(lines.values())} |"
    )
    return "\n".join(out)


if __name__ == "__main__":
    sys.stdout.write(table(sizes()) + "\n")
