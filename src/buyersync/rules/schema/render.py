"""Migration 050 as one SQL script an operator can read, review and run by hand."""

from __future__ import annotations

from buyersync.rules.schema.plan import FixPlan


def _statements(statements: tuple[str, ...]) -> list[str]:
    return [f"{s};" for s in statements]


def render_script(plan: FixPlan, *, lock_timeout_ms: int = 2000, header: str = "") -> str:
    """The plan as one SQL script an operator can read, review and run by hand."""
    lines = ["-- Migration 050: convert length-limited columns of buyers to TEXT"]
    if header:
        lines += [f"-- {h}" for h in header.splitlines()]
    lines += [f"-- note: {n}" for n in plan.notes]
    for m in plan.kept:
        lines += [
            f"-- NOT dropped: constraint {m.name or '(unnamed)'} on "
            f"{', '.join(m.columns)}: {m.definition}",
            f"--   why: {m.reason}",
            f"--   what to do: {m.what_to_do}",
        ]
    lines += ["", "-- 1. back up the table (roll back: see docs/migration-050.md)"]
    lines += _statements(plan.backup)
    lines += [""]
    lines += [line.format(lock_timeout_ms=int(lock_timeout_ms)) for line in plan.script_begin]
    if plan.before:
        lines += ["-- 2. set aside what depends on the table"]
        lines += _statements(plan.before)
    if plan.drop_checks:
        lines += ["-- 2b. drop the CHECK constraints that do nothing but limit a length (for good)"]
        lines += _statements(plan.drop_checks)
    if plan.alters:
        lines += ["-- 3. convert (varchar/char → text does not rewrite the table)"]
        lines += _statements(tuple(a.sql for a in plan.alters))
    if plan.after:
        lines += ["-- 4. restore dependents, their grants, comments and indexes"]
        lines += _statements(plan.after)
    lines += plan.script_end
    lines += ["", "-- afterwards: buyersync schema check (exit 0 when nothing is limited any more)"]
    return "\n".join(lines) + "\n"


__all__ = ["render_script"]
