"""The sheet's shape as a contract: which headers fed which ``buyers`` columns, and what changed.

A sync records the header → column map it read (see :mod:`buyersync.store.headers`).
The *baseline* is the map of the last successful full sync of the same source. A column
that the baseline fed and the sheet no longer feeds would keep its old values for ever
(a renamed or deleted sheet column), so the sync refuses until the new header is mapped
or the change is accepted once. Column order never matters. Pure: no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass

from buyersync.rules.normalize import KEY_COLUMN, ColumnMap


@dataclass(frozen=True)
class HeaderEntry:
    """One sheet column as a run read it: its header, its column, and whether it fed buyers."""

    header: str
    column: str | None
    fed: bool


def entries(colmap: ColumnMap, stored: Collection[str]) -> tuple[HeaderEntry, ...]:
    """The run's header map: every header read; ``fed`` when buyers took its values."""
    fed = set(stored) | {KEY_COLUMN}
    return tuple(
        HeaderEntry(h, c, c is not None and c in fed)
        for h, c in zip(colmap.headers, colmap.columns, strict=True)
    )


def fed_columns(header_map: Collection[HeaderEntry]) -> dict[str, str]:
    """column → header for the columns a map fed."""
    return {e.column: e.header for e in header_map if e.fed and e.column is not None}


@dataclass(frozen=True)
class HeaderDiff:
    """The difference between the baseline's map and the sheet's, by column fed."""

    #: ``(header, column)`` the baseline fed that the sheet no longer feeds.
    missing: tuple[tuple[str, str], ...] = ()
    #: Headers the baseline did not have, with their column (None: ignored).
    new: tuple[tuple[str, str | None], ...] = ()
    #: ``(column, old header, new header)``: still fed, under another header.
    renamed: tuple[tuple[str, str, str], ...] = ()
    #: False when there is no baseline to compare with (first sync of this source).
    has_baseline: bool = True

    @property
    def refuses(self) -> bool:
        """True when a column the baseline fed would go stale."""
        return bool(self.missing)

    @property
    def empty(self) -> bool:
        return not (self.missing or self.new or self.renamed)

    def to_json(self) -> dict[str, object]:
        return {
            "has_baseline": self.has_baseline,
            "missing": [{"header": h, "column": c} for h, c in self.missing],
            "new": [{"header": h, "column": c} for h, c in self.new],
            "renamed": [{"column": c, "was": a, "now": b} for c, a, b in self.renamed],
        }

    def describe(self) -> str:
        """One line naming what changed (empty when nothing did)."""
        parts = []
        if self.missing:
            parts.append(
                "no longer in the sheet: "
                + ", ".join(f"{h!r} (fed buyers.{c})" for h, c in self.missing)
            )
        if self.new:
            parts.append("new headers: " + ", ".join(repr(h) for h, _ in self.new))
        if self.renamed:
            parts.append(
                "renamed: " + ", ".join(f"{a!r} → {b!r} (buyers.{c})" for c, a, b in self.renamed)
            )
        return "; ".join(parts)

    def refusal(self) -> tuple[str, str]:
        """The refusal message and its hint: what changed, and the two ways forward."""
        cols = ", ".join(f"buyers.{c}" for _, c in self.missing)
        message = (
            f"the sheet's headers changed since the last successful sync: {self.describe()}; "
            f"refusing to sync, because {cols} would keep stale values"
        )
        if len(self.missing) == 1 and len(self.new) == 1:
            (new_header, _), (_, column) = self.new[0], self.missing[0]
            mapping = f"[mapping] {toml_key(new_header)} = {json.dumps(column)}"
        else:
            mapping = '[mapping] "<new header>" = "<column>"'
        hint = (
            f"map the new header in buyersync.toml ({mapping}), or accept the change once "
            "with: buyersync sync --accept-header-change"
        )
        return message, hint


def diff(baseline: Collection[HeaderEntry] | None, current: Collection[HeaderEntry]) -> HeaderDiff:
    """What changed from ``baseline`` to ``current`` (no baseline: nothing to compare)."""
    if baseline is None:
        return HeaderDiff(has_baseline=False)
    before, now = fed_columns(baseline), fed_columns(current)
    old_headers = {e.header for e in baseline}
    missing = tuple(sorted((h, c) for c, h in before.items() if c not in now))
    new = tuple((e.header, e.column) for e in current if e.header not in old_headers)
    renamed = tuple(sorted((c, h, now[c]) for c, h in before.items() if c in now and now[c] != h))
    return HeaderDiff(missing=missing, new=new, renamed=renamed)


def toml_key(text: str) -> str:
    """``text`` as a quoted TOML key."""
    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True)
class Share:
    """How much of the sheet the database already knows (the wrong-sheet guard)."""

    shared_keys: int
    sheet_keys: int
    shared_headers: int
    fed_columns: int
    database_keys: int = 0

    @property
    def database_share(self) -> float | None:
        """Shared keys ÷ the database's buyers: near 1 when the sheet holds them all."""
        return self.shared_keys / self.database_keys if self.database_keys else None

    @property
    def key_share(self) -> float | None:
        return self.shared_keys / self.sheet_keys if self.sheet_keys else None

    @property
    def header_share(self) -> float | None:
        return self.shared_headers / self.fed_columns if self.fed_columns else None

    def problems(self, min_key_share: float, min_header_share: float) -> list[str]:
        """Why this looks like another sheet (empty: it does not)."""
        found = []
        keys, known = self.key_share, self.database_share
        # A sheet that holds (nearly) every buyer of the database is the same sheet grown
        # (or a first sync that stopped early), however many buyers it adds.
        if (
            min_key_share > 0
            and keys is not None
            and keys < min_key_share
            and (known is None or known < min_key_share)
        ):
            found.append(
                f"only {self.shared_keys} of the sheet's {self.sheet_keys} buyer numbers "
                f"({keys:.0%}) are already in the database, and they are "
                f"{known or 0:.0%} of its {self.database_keys} buyers, below the "
                f"{min_key_share:.0%} guard (--min-key-share)"
            )
        headers = self.header_share
        if min_header_share > 0 and headers is not None and headers < min_header_share:
            found.append(
                f"only {self.shared_headers} of the {self.fed_columns} columns the database is "
                f"fed from ({headers:.0%}) have a header in this sheet, below the "
                f"{min_header_share:.0%} guard (--min-header-share)"
            )
        return found

    def to_json(self) -> dict[str, object]:
        return {
            "shared_keys": self.shared_keys,
            "sheet_keys": self.sheet_keys,
            "key_share": None if self.key_share is None else round(self.key_share, 4),
            "database_keys": self.database_keys,
            "database_share": None
            if self.database_share is None
            else round(self.database_share, 4),
            "shared_headers": self.shared_headers,
            "fed_columns": self.fed_columns,
            "header_share": None if self.header_share is None else round(self.header_share, 4),
        }


def wrong_sheet_refusal(problems: list[str]) -> tuple[str, str]:
    """The refusal message and hint for a sheet that looks like another sheet."""
    message = (
        "this does not look like the sheet the database was synced from: "
        + "; ".join(problems)
        + "; refusing to sync"
    )
    hint = (
        "check --source, --sheet, --header-row and --key; if it really is the right sheet, "
        "run once with --min-key-share 0 --min-header-share 0"
    )
    return message, hint
