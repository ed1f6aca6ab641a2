"""The sync side of a budget shared through Redis: send times granted to this process.

The account's sends for a provider are spaced evenly in Redis (``scripts.TAKE``); a process
asks for a few at a time and gets their times, so the whole fleet never sends two queries
closer than the account's rate allows, and this process never waits on Redis for each query.
The scheduler's core (``QueryBudget``) consults it with a clock it is told, like the rest of the
core: nothing here awaits. The link (``link.Coordinator``) does the asking.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import Final

__all__ = ["Lease"]

#: A granted send time missed by more than this is dropped: sent late, it would bunch up with
#: the sends granted to other processes after it. With the account's sends spaced 1/18.4 s
#: apart (``link.MARGIN``), 21 fit in one second only if one is sent 87 ms late: this leaves
#: the rest of that to the send path's own jitter.
GRACE: Final = 0.05
#: With nothing granted, look again this soon (a grant also wakes the scheduler at once).
RECHECK: Final = 0.05
#: At most this many send times are asked for at once; the batch grows while all are used and
#: shrinks when some were dropped, so a process with little to send holds little of the rate.
MAX_BATCH: Final = 8


class Lease:
    """Send times granted to this process for one provider.

    ``shared`` is False for a provider whose limit is not known (it is found from refusals by
    each process, and refusals are passed on) and while the link to Redis is down: then
    :meth:`available_at` says None and the process paces alone.

    Examples:
        >>> lease = Lease("dashscope", shared=True)
        >>> lease.active = True
        >>> lease.grant(10.0, count=2, first=0.0, step=0.05)
        >>> lease.available_at(10.0), lease.available_at(10.0) == 10.0
        (10.0, True)
        >>> lease.take(10.0)
        >>> lease.available_at(10.0)
        10.05
    """

    def __init__(
        self,
        provider: str,
        *,
        shared: bool,
        on_want: Callable[[str], None] | None = None,
        on_refused: Callable[[str, float | None], None] | None = None,
    ) -> None:
        self.provider = provider
        self.shared = shared
        self.active = False
        self.batch = 1
        self.retry_at = -math.inf
        self._slots: deque[float] = deque()
        self._granted = 0  # of the last grant, how many are still unused or were used
        self._on_want = on_want
        self._on_refused = on_refused

    def available_at(self, now: float) -> float | None:
        if not (self.active and self.shared):
            return None
        self._drop_missed(now)
        if self._slots:
            return self._slots[0]
        return max(self.retry_at, now + RECHECK)

    def want(self, now: float) -> None:
        if self.active and self.shared and not self._slots and self._on_want is not None:
            self._on_want(self.provider)

    def take(self, now: float) -> None:
        if self._slots:
            self._slots.popleft()
            if not self._slots and self._granted >= self.batch:
                self.batch = min(MAX_BATCH, self.batch * 2)  # all used: ask for more next time

    def refused(self, now: float, retry_after: float | None) -> None:
        if self.active and self._on_refused is not None:
            self._on_refused(self.provider, retry_after)

    def grant(self, now: float, *, count: int, first: float, step: float) -> None:
        """Redis granted ``count`` sends, the first ``first`` seconds from ``now`` and then one
        every ``step``; with none granted, ``first`` says when to ask again."""
        if count <= 0:
            self.retry_at = now + max(0.0, first)
            return
        self._slots = deque(now + first + i * step for i in range(count))
        self._granted = count
        self.retry_at = -math.inf

    def stop(self) -> None:
        """The link is down: what was granted is dropped (the process paces alone now)."""
        self.active = False
        self._slots.clear()
        self.retry_at = -math.inf

    def _drop_missed(self, now: float) -> None:
        dropped = False
        while self._slots and self._slots[0] < now - GRACE:
            self._slots.popleft()
            dropped = True
        if dropped:
            self.batch = max(1, self.batch // 2)
