"""What ``verify`` found: :class:`VerifyReport` (the contract's ``verify --json``).

Built by :class:`buyersync.services.integrity.IntegrityChecker`; both names here are
importable from :mod:`buyersync.services.integrity` too.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from buyersync.rules.compare import Mismatch
from buyersync.rules.diff import Duplicate, KeyDiff
from buyersync.rules.links import SheetCells


class VerifyMode(enum.StrEnum):
    """How deep a verification goes."""

    COMPLETENESS = "completeness"  # keys only: missing and extra buyers
    SAMPLE = "sample"  # keys, plus N random buyers field by field
    FULL = "full"  # keys, plus every buyer field by field


@dataclass(frozen=True)
class VerifyReport:
    """The findings of one verification; ``to_json`` is the contract's ``verify --json``."""

    mode: VerifyMode
    source: str
    started_at: datetime
    duration_s: float
    diff: KeyDiff
    duplicates: tuple[Duplicate, ...]
    blank_key_rows: tuple[int, ...]
    mismatches: tuple[Mismatch, ...]
    checked: int  # buyers compared field by field
    columns: tuple[str, ...]  # columns compared
    unverified_columns: tuple[str, ...] = ()  # sheet columns buyers lacks (not compared)
    unfed_columns: tuple[str, ...] = ()  # buyers columns no sheet column feeds
    no_longer_fed: tuple[str, ...] = ()  # of those, the ones the last sync fed
    sample_size: int | None = None
    seed: int | None = None
    extra_is_finding: bool = True  # False: buyers only in the database do not fail `ok`
    #: Missing buyers with an open problem, by its category (the cause decides the fix).
    missing_causes: Mapping[str, int] = field(default_factory=dict)
    #: Where findings are in the sheet (``buyersync.rules.links``): the sheet read, the
    #: sheet column of each compared column, and the key column.
    cells: SheetCells | None = None

    @property
    def missing(self) -> tuple[tuple[str, int], ...]:
        return self.diff.missing

    @property
    def extra(self) -> tuple[str, ...]:
        return self.diff.extra

    @property
    def mismatched_buyers(self) -> int:
        return len({m.buyer_number for m in self.mismatches})

    @property
    def ok(self) -> bool:
        """No missing buyer, no mismatch, and (unless allowed) no extra buyer."""
        extra = bool(self.diff.extra) and self.extra_is_finding
        return (
            not self.diff.missing and not self.mismatches and not extra and not self.no_longer_fed
        )

    def to_json(self) -> dict[str, Any]:
        d = self.diff
        return {
            "ok": self.ok,
            "mode": str(self.mode),
            "source": self.source,
            "started_at": self.started_at.isoformat(),
            "duration_s": round(self.duration_s, 3),
            "spreadsheet_count": d.sheet_count,
            "database_count": d.database_count,
            "missing_count": d.missing_count,
            "extra_count": d.extra_count,
            "mismatch_count": len(self.mismatches),
            "mismatched_buyers": self.mismatched_buyers,
            "checked": self.checked,
            "sample_size": self.sample_size,
            "seed": self.seed,
            "columns": list(self.columns),
            "unverified_columns": list(self.unverified_columns),
            "unfed_columns": list(self.unfed_columns),
            "no_longer_fed": list(self.no_longer_fed),
            "missing": [{"buyer_number": k, "row_number": r} for k, r in d.missing],
            "extra": list(d.extra),
            "mismatches": [m.to_json() for m in self.mismatches],
            "missing_causes": dict(self.missing_causes),
            "cells": self.cells.to_json(self) if self.cells else None,
            "duplicates": [
                {
                    "buyer_number": x.buyer_number,
                    "row_number": x.row_number,
                    "first_row": x.first_row,
                }
                for x in self.duplicates
            ],
            "blank_key_rows": list(self.blank_key_rows),
        }
