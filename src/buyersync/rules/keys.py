"""When two buyer numbers are the same buyer: the one comparison every command makes.

A buyer number is first normalized (:func:`buyersync.rules.normalize.normalize_key`:
NFKC, trimmed). With ``key_case = "insensitive"`` (the default) two numbers that then
differ only in the case of the ASCII letters A-Z are one buyer: ``B100`` and
``b100`` are the same, ``É1`` and ``é1`` are not (only A-Z and a-z count; NFKC has
already turned full-width letters into ASCII ones). With ``"sensitive"`` numbers are
compared exactly.

The fold is ASCII upper case: in Python :func:`fold_key`, in SQL the dialect's
``key_fold`` (``upper()`` in SQLite, which folds ASCII only; ``upper(… COLLATE "C")``
in PostgreSQL, whose ``upper()`` would otherwise follow the database's locale). Upper
case because most buyer numbers are written in it: they fold to themselves, so the
comparisons need no second copy of them, and the database finds a stored ``B12`` for
a sheet's ``b12`` through its primary key (no index on the fold is needed).

The sync, ``missing``, ``sync-missing``, ``verify``, ``health`` and ``retry`` all compare keys
with :func:`key_fold` of the ``key_case`` setting and :class:`FirstSeen`.
"""

from __future__ import annotations

import string
from collections.abc import Callable

#: The values of the ``key_case`` setting.
KEY_CASES = ("insensitive", "sensitive")
DEFAULT_KEY_CASE = "insensitive"

#: Folds a normalized key to the form compared; ``None``: keys compare exactly.
Fold = Callable[[str], str] | None

_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)


def fold_key(key: str) -> str:
    """``key`` with the ASCII letters a-z in upper case (other characters unchanged)."""
    # str.upper() of an ASCII string is exactly this, and much faster than translate().
    return key.upper() if key.isascii() else key.translate(_UPPER)


def key_fold(key_case: str) -> Fold:
    """The fold of a ``key_case`` setting: :func:`fold_key`, or ``None`` for exact keys."""
    case = key_case.strip().lower()
    if case not in KEY_CASES:
        raise ValueError(f"key_case {key_case!r} is not one of {', '.join(KEY_CASES)}")
    return fold_key if case == "insensitive" else None


def same_key(a: str, b: str, fold: Fold) -> bool:
    """Whether two normalized keys are one buyer under ``fold``."""
    return a == b if fold is None else fold(a) == fold(b)


class FirstSeen:
    """The first row of each buyer under the comparison, with its spelling there.

    ``first_row`` maps each buyer's key *as its first row spells it* to that row, so
    reports name buyers as the sheet does. A later key that folds like an earlier one
    is the same buyer: :meth:`earlier` returns the first spelling.
    """

    __slots__ = ("_folded", "first_row", "fold")

    def __init__(self, fold: Fold = None) -> None:
        self.fold = fold
        self.first_row: dict[str, int] = {}
        #: fold → first spelling, for the keys whose spelling is not their fold
        self._folded: dict[str, str] = {}

    def earlier(self, key: str) -> str | None:
        """The spelling under which this buyer was already seen, or ``None``."""
        if key in self.first_row:
            return key
        fold = self.fold
        if fold is None:
            return None
        canon = fold(key)
        if canon != key and canon in self.first_row:
            return canon
        return self._folded.get(canon)

    def add(self, key: str, row_number: int) -> None:
        """Record a buyer's first row (call when :meth:`earlier` said ``None``)."""
        self.first_row[key] = row_number
        if self.fold is not None:
            canon = self.fold(key)
            if canon != key:
                self._folded[canon] = key

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.earlier(key) is not None

    def __len__(self) -> int:
        return len(self.first_row)


def collisions_message(groups: list[list[str]], total: int) -> tuple[str, str]:
    """The refusal for a database that holds keys that are one buyer under the fold."""
    shown = "; ".join(" = ".join(repr(k) for k in g) for g in groups[:20])
    more = f" (and {total - 20} more)" if total > 20 else ""
    message = (
        f"the buyers table holds {total} group(s) of buyer numbers that differ only in "
        f'letter case, which key_case = "insensitive" counts as one buyer: {shown}{more}; '
        "refusing to merge them"
    )
    hint = (
        "merge or delete one row of each group in buyers (keep the one the sheet means), "
        'or compare keys exactly with --key-case sensitive (key_case = "sensitive")'
    )
    return message, hint
