"""Per-account query limits the simulated gateway can enforce, the way upstreams do."""

from __future__ import annotations

from collections import deque

__all__ = ["SlidingWindowLimit"]


class SlidingWindowLimit:
    """At most ``per_second`` accepted requests per account in any one second.

    The strictest common reading of "N per second": a client pacing evenly at N per second
    never meets it, one that bursts does. Refused requests do not count against the window.

    Examples:
        >>> limit = SlidingWindowLimit(2)
        >>> [limit.admit("key", t) for t in (0.0, 0.1, 0.2, 1.05)]
        [True, True, False, True]
    """

    def __init__(self, per_second: float) -> None:
        if per_second <= 0:
            raise ValueError(f"a query rate limit must be > 0 per second, got {per_second!r}")
        self.per_second = per_second
        self._accepted: dict[str, deque[float]] = {}

    def admit(self, account: str, now: float) -> bool:
        """True (and counted) if a request at ``now`` fits the account's window."""
        window = self._accepted.setdefault(account, deque())
        while window and window[0] <= now - 1.0:
            window.popleft()
        if len(window) >= self.per_second:
            return False
        window.append(now)
        return True
