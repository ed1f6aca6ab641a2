"""One pause for every query when the gateway says "too many requests"."""

from __future__ import annotations

from collections.abc import Iterator

import backoff

__all__ = ["RateLimitCooldown"]


class RateLimitCooldown:
    """Pauses all queries to the gateway until a deadline, shared by every task.

    A 429 with ``Retry-After`` pauses for exactly that long; without one, the pause grows
    exponentially (1 s, 2 s, 4 s, ... up to ``max_pause``) until a query succeeds again. One
    cool-down for everyone, rather than a thundering herd of per-task retries.

    Examples:
        >>> cooldown = RateLimitCooldown()
        >>> cooldown.throttled(now=100.0, retry_after=2.5)
        102.5
        >>> cooldown.active(101.0), cooldown.active(103.0)
        (True, False)
    """

    def __init__(self, *, first_pause: float = 1.0, max_pause: float = 30.0) -> None:
        self._first_pause = first_pause
        self._max_pause = max_pause
        self._pauses: Iterator[float] | None = None
        self.until = float("-inf")

    def active(self, now: float) -> bool:
        return now < self.until

    def throttled(self, now: float, retry_after: float | None) -> float:
        """Record a 429 seen at ``now``; return when queries may resume."""
        if retry_after is None:
            if self._pauses is None:
                self._pauses = backoff.expo(factor=self._first_pause, max_value=self._max_pause)
                next(self._pauses)
            pause = next(self._pauses)
        else:
            pause = retry_after
        self.until = max(self.until, now + pause)
        return self.until

    def succeeded(self) -> None:
        """A query went through: the next 429 without Retry-After starts small again."""
        self._pauses = None
