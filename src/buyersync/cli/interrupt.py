"""Ctrl-C and SIGTERM: a clear message and the conventional exit code (128 + signal).

Python's default SIGTERM handling ends the process without a word, and a
KeyboardInterrupt can land between a database commit and the counter that says
how many rows were merged. So every command turns both signals into
:class:`Interrupted`; a sync additionally *defers* the first signal while it merges
(:meth:`StopRequests.deferring`) and stops at the next batch boundary, where its
counts are exact. A second signal stops at once.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import click

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(KeyboardInterrupt):
    """The process was asked to stop by ``signum`` (a KeyboardInterrupt, so drivers
    that cancel a running statement on Ctrl-C do so for SIGTERM too)."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def signal_name(self) -> str:
        return signal.Signals(self.signum).name

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    def __str__(self) -> str:
        return f"interrupted by {self.signal_name}"


class StopRequests:
    """Where a signal goes: an :class:`Interrupted` at once, or (while deferring) a
    request honoured at the next :meth:`checkpoint`."""

    def __init__(self) -> None:
        self.pending: int | None = None
        self._deferring = False

    def handler(self, signum: int, frame: FrameType | None) -> None:
        if self._deferring and self.pending is None:
            self.pending = signum
            click.echo(
                f"buyersync: {signal.Signals(signum).name} received: stopping after the batch "
                "in flight (send it again to stop at once)",
                err=True,
            )
            return
        raise Interrupted(signum)

    def checkpoint(self) -> None:
        """Raise :class:`Interrupted` if a stop was requested while deferring."""
        if self.pending is not None:
            raise Interrupted(self.pending)

    def defer(self) -> None:
        """From now until :meth:`deferring` ends, the first signal waits for a checkpoint."""
        self._deferring = True

    @contextmanager
    def deferring(self) -> Iterator[None]:
        """A block in which :meth:`defer` may be called; deferral ends with the block."""
        self.pending = None
        try:
            yield
        finally:
            self._deferring = False

    @contextmanager
    def installed(self) -> Iterator[None]:
        """SIGINT and SIGTERM handled by :meth:`handler` for the block (main thread only)."""
        previous: dict[signal.Signals, Any] = {}
        try:
            for sig in SIGNALS:
                previous[sig] = signal.signal(sig, self.handler)
        except ValueError:  # not the main thread (an embedding application): leave them
            pass
        try:
            yield
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)


#: The process's one set of stop requests (signals are per process).
STOP = StopRequests()
