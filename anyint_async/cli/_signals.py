"""Ctrl-C, SIGTERM and a hang-up as a request to stop, at a moment that loses nothing.

A single-task command must never leave a paid task without its id on screen: a stop request
that arrives while a create (or a generation) is in flight waits for its answer; a stop during
the wait ends the wait at once, and the command says which task goes on upstream. A second
signal gives up at once.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Self, TypeVar

__all__ = ["STOP_SIGNALS", "StopRequested", "StopSignals"]

_T = TypeVar("_T")
# SIGHUP does not exist on Windows; there, only Ctrl-C and SIGTERM can ask a command to stop.
STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGINT", "SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class StopRequested(Exception):
    """A stop signal ended a wait; ``signum`` says which one."""

    def __init__(self, signum: int, *, abandoned: bool = False) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        #: True when a second signal gave up a create or generation still in flight.
        self.abandoned = abandoned

    @property
    def exit_code(self) -> int:
        """The shell's convention: 128 plus the signal number (130 for Ctrl-C)."""
        return 128 + self.signum


class StopSignals:
    """Catches the stop signals for the length of a ``with`` block.

    ``on_first`` runs at the first signal; at a second one, whatever :meth:`protect` is waiting
    for is cancelled (at the user's explicit word) and ``on_second`` runs.
    """

    def __init__(
        self,
        on_first: Callable[[int], None] | None = None,
        *,
        on_second: Callable[[], None] | None = None,
    ) -> None:
        self.received: int | None = None
        self._event = asyncio.Event()
        self._on_first = on_first
        self._on_second = on_second
        self._protected: asyncio.Task[object] | None = None
        self._loop = asyncio.get_running_loop()

    def __enter__(self) -> Self:
        self._installed: list[int] = []
        for signum in STOP_SIGNALS:
            try:
                self._loop.add_signal_handler(signum, self._receive, signum)
            except (NotImplementedError, RuntimeError):
                # Windows' event loops take no signal handlers: Ctrl-C then interrupts as
                # Python does by default (the created task's id is already on screen).
                continue
            self._installed.append(signum)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for signum in self._installed:
            self._loop.remove_signal_handler(signum)

    def _receive(self, signum: int) -> None:
        if self.received is None:
            self.received = signum
            self._event.set()
            if self._on_first is not None:
                self._on_first(signum)
        else:
            if self._protected is not None:
                self._protected.cancel()
            if self._on_second is not None:
                self._on_second()

    async def protect(self, work: Awaitable[_T]) -> _T:
        """Await ``work`` to its end even if a stop is requested meanwhile; a second signal
        cancels it and raises ``StopRequested(abandoned=True)``. The caller checks
        :meth:`check` afterwards."""
        task: asyncio.Task[_T] = asyncio.ensure_future(work)
        self._protected = task
        try:
            await asyncio.wait({task})
        finally:
            self._protected = None
        if task.cancelled() and self.received is not None:
            raise StopRequested(self.received, abandoned=True)
        return task.result()

    def check(self) -> None:
        """Raise ``StopRequested`` if a stop signal has arrived."""
        if self.received is not None:
            raise StopRequested(self.received)

    async def race(self, work: Awaitable[_T]) -> _T:
        """Await ``work``, or end it at the first stop signal and raise ``StopRequested``."""
        self.check()
        task: asyncio.Task[_T] = asyncio.ensure_future(work)
        stop = asyncio.ensure_future(self._event.wait())
        try:
            await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self.check()
        return task.result()
