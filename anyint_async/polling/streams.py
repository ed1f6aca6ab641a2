"""What consumers hold: ``as_completed``'s iterator and the streaming ``Poller``.

Both are plain async iterators over a :class:`Subscription`. Whatever way a consumer leaves
(end of iteration, ``break``, an exception, cancellation, garbage collection) the scheduler stops
polling the tasks only that consumer was waiting for.
"""

from __future__ import annotations

import asyncio
import inspect
import time
import weakref
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Self

from .._errors import InvalidParameterError, TaskTimeoutError
from ..models import Task
from .events import EventHook, TaskEvent
from .policy import PollPolicy
from .scheduler import END, PollScheduler, Subscription

__all__ = ["AsCompleted", "Poller"]


class _TaskStream:
    def __init__(
        self,
        scheduler: PollScheduler,
        *,
        timeout: float | None,
        policy: PollPolicy | None,
        on_event: EventHook | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if timeout is not None and (
            isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0
        ):
            raise InvalidParameterError(
                "timeout", f"must be a positive number of seconds or None, got {timeout!r}"
            )
        if policy is not None and not isinstance(policy, PollPolicy):
            raise InvalidParameterError("policy", f"must be a PollPolicy, got {policy!r:.60}")
        self._scheduler = scheduler
        self._timeout = timeout
        self._policy = policy
        self._clock = clock
        self._subscription = Subscription(on_event)
        self._deadline: float | None = None
        self._finished = False
        # Leaving an `async for` with break does not close the iterator; collecting it does.
        self._finalizer = weakref.finalize(self, scheduler.unwatch, self._subscription)

    @property
    def pending(self) -> list[Task]:
        """Last snapshots of the tasks not yielded yet."""
        return self._scheduler.pending(self._subscription)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> Task:
        if self._finished:
            raise StopAsyncIteration
        self._start()
        try:
            while True:
                item = await self._next_item()
                if item is END:
                    continue
                if isinstance(item, TaskEvent):
                    await self._call_hook(item)
                    continue
                if isinstance(item, BaseException):
                    self._close()
                    raise item
                assert isinstance(item, Task)
                return item
        except StopAsyncIteration:
            self._close()
            raise
        except asyncio.CancelledError:
            self._close()
            raise

    async def _next_item(self) -> object:
        queue = self._subscription.queue
        while queue.empty():
            if self._drained():
                raise StopAsyncIteration
            remaining = None if self._deadline is None else self._deadline - self._clock()
            if remaining is not None and remaining <= 0:
                self._expire()
            try:
                return await asyncio.wait_for(queue.get(), remaining)
            except TimeoutError:
                self._expire()
        return queue.get_nowait()

    def _expire(self) -> None:
        unfinished = self.pending
        self._close()
        raise TaskTimeoutError(
            f"{len(unfinished)} task(s) still unfinished after {self._timeout}s; they go on "
            "upstream (their last snapshots are in .tasks)",
            unfinished,
        )

    async def _call_hook(self, event: TaskEvent) -> None:
        hook = self._subscription.on_event
        if hook is not None:
            result = hook(event)
            if inspect.isawaitable(result):
                await result

    def _start(self) -> None:
        if self._deadline is None and self._timeout is not None:
            self._deadline = self._clock() + self._timeout

    def _drained(self) -> bool:
        return not self._subscription.waiting

    def _close(self) -> None:
        self._finished = True
        self._finalizer()

    async def aclose(self) -> None:
        """Stop waiting: tasks only this consumer waited for are no longer polled."""
        self._close()


class AsCompleted(_TaskStream):
    """``session.as_completed(tasks)``: each task once, terminal, in finishing order.

    Failed, canceled and unknown tasks are yielded like the rest (``succeeded`` is False,
    ``error`` says why). With a ``timeout`` the iteration raises ``TaskTimeoutError`` carrying the
    last snapshot of every task not yet yielded.
    """

    def __init__(
        self,
        scheduler: PollScheduler,
        tasks: Iterable[Task],
        *,
        timeout: float | None = None,
        policy: PollPolicy | None = None,
        on_event: EventHook | None = None,
    ) -> None:
        if isinstance(tasks, Task) or not isinstance(tasks, Iterable):
            raise InvalidParameterError(
                "tasks", f"must be a list of Task objects, got {tasks!r:.60}"
            )
        super().__init__(scheduler, timeout=timeout, policy=policy, on_event=on_event)
        self._tasks: list[Task] | None = list(tasks)

    def _start(self) -> None:
        super()._start()
        if self._tasks is not None:
            tasks, self._tasks = self._tasks, None
            self._scheduler.watch(self._subscription, tasks, self._policy)

    def _drained(self) -> bool:
        return self._tasks is None and not self._subscription.waiting


class Poller(_TaskStream):
    """``session.poller()``: add tasks at any time, from any coroutine; iterate results.

    Iteration ends once :meth:`close` was called and every added task was yielded. Leaving the
    ``async with`` block stops polling; tasks not yielded by then are in :attr:`pending`.
    """

    def __init__(
        self,
        scheduler: PollScheduler,
        *,
        timeout: float | None = None,
        policy: PollPolicy | None = None,
        on_event: EventHook | None = None,
    ) -> None:
        super().__init__(scheduler, timeout=timeout, policy=policy, on_event=on_event)
        self._accepting = True

    def add(self, task: Task) -> None:
        """Start polling ``task``; its result comes out of the iteration when it finishes."""
        if not self._accepting:
            raise InvalidParameterError("task", "cannot be added: this poller was closed")
        self._scheduler.watch(self._subscription, [task], self._policy)

    def close(self) -> None:
        """No more tasks will be added; iteration ends when the added ones are all yielded."""
        self._accepting = False
        self._subscription.queue.put_nowait(END)

    def _drained(self) -> bool:
        return not self._accepting and not self._subscription.waiting

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._accepting = False
        self._close()  # (its unwatch closes the intake too)
