"""The full verification's fingerprints: the database's held compactly, the sheet's matched.

:class:`Fingerprints` holds the database's fingerprint of every buyer;
:func:`settle_waiting` matches sheet rows that waited for them. Used by
:class:`buyersync.services.integrity.IntegrityChecker`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from buyersync.rules.compare import NO_FINGERPRINT, split_joined
from buyersync.rules.diff import KeyMatch

#: A sheet row waiting for the database: key, row number, fingerprint (None: compare
#: it whatever the database holds), joined text (or the cells, when fingerprint is None).
Waiting = tuple[str, int, "bytes | None", Any]


class Fingerprints:
    """The database's fingerprints, held compactly: key → index into one 16-byte-a-buyer blob.

    A dict of key → ``bytes`` costs 64 bytes an entry for the ``bytes`` object alone; here
    a fingerprint is 16 bytes of :attr:`blob` and an ``int`` index (32 bytes, the size
    class of the sheet's row numbers, which reuse the memory as buyers are matched).
    Fill it with :meth:`update` (what :class:`Prefetch` calls); an index of -1 stands
    for :data:`NO_FINGERPRINT`.
    """

    WIDTH = 16

    def __init__(self) -> None:
        self.index: dict[str, int] = {}
        self.blob = bytearray()

    def update(self, pairs: Iterable[tuple[str, bytes]], /) -> None:
        """Add ``(buyer_number, fingerprint)`` pairs (a later pair for a key wins)."""
        chunk = pairs if isinstance(pairs, list) else list(pairs)
        if not chunk:
            return
        keys, prints = zip(*chunk, strict=True)
        joined = b"".join(prints)
        start = len(self.blob) // self.WIDTH
        if len(joined) == self.WIDTH * len(prints):  # the usual case: no loop in Python
            self.index.update(zip(keys, range(start, start + len(keys)), strict=True))
            self.blob += joined
            return
        for key, fingerprint in chunk:
            if len(fingerprint) == self.WIDTH:
                self.index[key] = len(self.blob) // self.WIDTH
                self.blob += fingerprint
            else:
                self.index[key] = -1

    def fingerprint(self, index: int) -> bytes:
        """The fingerprint at ``index`` (as :class:`KeyMatch` hands it back)."""
        if index < 0:
            return NO_FINGERPRINT
        return bytes(self.blob[index * self.WIDTH : (index + 1) * self.WIDTH])


def settle_waiting(
    waiting: list[Waiting],
    match: KeyMatch,
    stored: Fingerprints,
    width: int,
    suspects: dict[str, tuple[int, tuple[str, ...]]],
) -> int:
    """Match waiting rows with the database's fingerprints; return how many were checked.

    Rows whose fingerprints differ go to ``suspects`` with their cells.
    """
    checked = 0
    take, stored_at = match.take, stored.fingerprint
    for key, row_number, fingerprint, payload in waiting:
        index = take(key, row_number)
        if index is None:
            continue  # missing: the key diff reports it
        checked += 1
        if fingerprint is None or isinstance(payload, tuple):
            if fingerprint is None or fingerprint != stored_at(index):
                suspects[key] = (row_number, payload)
        elif fingerprint != stored_at(index):
            suspects[key] = (row_number, split_joined(payload, width))
    return checked
