"""Batch boundaries (requirement 8.1, property 21).

A *batch* is the unit of progress and error isolation: ``batch_size`` rows, the
last one possibly shorter. A *slice* groups whole batches into one database
statement and transaction, so the happy path does not pay a commit per 100 rows;
when a slice fails it is split back into its batches, and a failing batch is
bisected until the failing rows are alone.
"""

from __future__ import annotations

#: Rows per slice to aim for (one INSERT … SELECT … ON CONFLICT each).
SLICE_TARGET_ROWS = 5000


def batch_ranges(total: int, batch_size: int, start: int = 0) -> list[tuple[int, int]]:
    """``[lo, hi)`` ranges covering ``start .. start+total`` in batches of ``batch_size``."""
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    end = start + total
    return [(lo, min(lo + batch_size, end)) for lo in range(start, end, batch_size)]


def slice_ranges(
    total: int, batch_size: int, target_rows: int = SLICE_TARGET_ROWS
) -> list[list[tuple[int, int]]]:
    """Batches grouped into slices of about ``target_rows`` rows (whole batches only)."""
    per_slice = max(1, target_rows // batch_size)
    batches = batch_ranges(total, batch_size)
    return [batches[i : i + per_slice] for i in range(0, len(batches), per_slice)]


def bisect(lo: int, hi: int) -> list[tuple[int, int]]:
    """Split ``[lo, hi)`` in two halves (used to isolate failing rows)."""
    if hi - lo <= 1:
        return [(lo, hi)]
    mid = (lo + hi) // 2
    return [(lo, mid), (mid, hi)]
