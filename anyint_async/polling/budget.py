"""One query budget per provider: the rate at which its task queries may be sent.

DashScope documents 20 task queries per second per account; Kling and AnyInt publish no limit,
and a relay may be stricter than its upstream. A client that sends faster than the limit gets
refusals instead of answers and delays everyone sharing the account, so each provider's queries
are paced by a rate that is known, found, or absent:

- **known** (a number): paced at it from the first query, a little below, and never above.
- **found** (None): a slow start (5 a second, doubling every second nothing is refused) until
  the provider first refuses (429, Kling 1302); then paced a little under what it accepted in
  the second around the refusal, and probed upwards again slowly, so a limit that rises is used.
  No burst of dozens of queries meets an unknown limit.
- **absent** (``math.inf``): never paced; a refusal still pauses that provider for its
  ``Retry-After``.

Like the adaptive retry mode of the AWS SDKs (a client-side token bucket whose rate falls on
throttling and climbs back on success), but per provider, seeded with what is documented, and
with the rate taken from what the provider accepted rather than from what was sent.
"""

from __future__ import annotations

import itertools
import math
from array import array
from collections.abc import Callable
from typing import Final, Protocol

from .cooldown import RateLimitCooldown

__all__ = ["QueryBudget", "SharedRate"]

#: Below a known limit: event-loop jitter must not push two sends into one slot.
_MARGIN: Final = 0.95
#: After a refusal, pace at this share of what the provider accepted in the last second.
_BACK_OFF: Final = 0.9
#: Each second without a refusal, a found rate climbs by this share of the limit found, up to
#: ``_NEAR`` of it; past that it grows by ``_PROBE`` times the seconds spent probing, per second.
_CLIMB: Final = 0.02
_NEAR: Final = 0.97
_PROBE: Final = 0.001
_WINDOW: Final = 1.0
_MEMORY: Final = 10.0  # seconds of accepted answers kept, enough to outlast a pause
_SLOWEST: Final = 0.2  # queries per second: never paced slower, whatever was refused
_FIRST: Final = 5.0  # queries per second where an unknown limit's slow start begins


class SharedRate(Protocol):
    """A query budget shared with other processes on the same account
    (``anyint_async.coordination``). While it is not shared (no coordination, or its store
    unreachable) ``available_at`` says None and each process paces alone."""

    def available_at(self, now: float) -> float | None:
        """When this process may send its next query; None: not shared now."""
        ...

    def want(self, now: float) -> None:
        """A query is due and waits for the shared budget."""
        ...

    def take(self, now: float) -> None:
        """A query is sent at ``now``."""
        ...

    def refused(self, now: float, retry_after: float | None) -> None:
        """This process was refused for the rate: the other processes should hear of it."""
        ...


class QueryBudget:
    """Paces one provider's queries. Fake-clock friendly: every call is told ``now``.

    ``on_change(provider, rate)`` is called whenever the paced rate changes (the shell logs it).

    Examples:
        >>> budget = QueryBudget(limit=20.0)
        >>> budget.ready_at(0.0)
        0.0
        >>> budget.spend(0.0)
        >>> round(budget.ready_at(0.0), 4)  # one send every 1 / (20 x 0.95) s
        0.0526
    """

    def __init__(
        self,
        limit: float | None,
        *,
        provider: str = "",
        on_change: Callable[[str, float], None] | None = None,
    ) -> None:
        self.provider = provider
        self.limit = limit
        self.rate: float = _FIRST if limit is None else limit
        self.pause = RateLimitCooldown()
        self._on_change = on_change
        self._found: float | None = None  # the last limit found from a refusal
        self._grown_at: float | None = None  # when the rate last stepped (first answer)
        self._next_send = -math.inf
        # When the last _MEMORY seconds' answers were accepted, from index ``_oldest`` on:
        # numbers in an array, where a deque held a float object each, 20,000-30,000 of them
        # at a few thousand answers a second, for every full garbage collection to follow.
        self._accepted = array("d")
        self._oldest = 0
        self._first_answer: float | None = None
        self._refused_at: float | None = None  # a refusal whose verdict waits for its pause
        self._last_cut = -math.inf
        self._probing = 0
        #: Set by coordination: the account's budget, shared with other processes.
        self.shared: SharedRate | None = None

    @property
    def paced(self) -> bool:
        return math.isfinite(self.rate)

    def ready_at(self, now: float) -> float:
        """The earliest time a query may be sent (``now`` or later)."""
        self._settle(now)
        ready = max(now, self._next_send, self.pause.until)
        if self.shared is not None:
            granted = self.shared.available_at(now)
            if granted is not None:
                ready = max(ready, granted)
        return ready

    def ask(self, now: float) -> float:
        """Like :meth:`ready_at`, for a query that is due now: a shared budget that holds it
        back is asked for more."""
        ready = self.ready_at(now)
        if ready > now and self.shared is not None:
            self.shared.want(now)
        return ready

    def spend(self, now: float) -> None:
        """A query is sent at ``now``."""
        if self.shared is not None:
            self.shared.take(now)
        if self.paced:
            # A known limit is approached with a margin; a found one already has its own.
            margin = _MARGIN if self._found is None else 1.0
            self._next_send = max(self._next_send, now) + 1.0 / (self.rate * margin)

    def answered(self, now: float) -> None:
        """A query was answered (not refused)."""
        self.pause.succeeded()
        if self._first_answer is None:
            self._first_answer = now
        accepted = self._accepted
        accepted.append(now)
        oldest = self._oldest
        while accepted[oldest] <= now - _MEMORY:  # stops at ``now`` at the latest
            oldest += 1
        if oldest > len(accepted) // 2:
            # The forgotten half at once: each answer pays a constant share of the copying.
            del accepted[:oldest]
            oldest = 0
        self._oldest = oldest
        self._settle(now)
        if self._grown_at is None:
            self._grown_at = now
        if self._refused_at is not None or now - self._grown_at < _WINDOW:
            return
        if self._found is None:
            if self.limit is None:  # slow start: nothing refused yet
                steps = int((now - self._grown_at) / _WINDOW)
                self._grown_at += steps * _WINDOW
                self._set(self.rate * 2.0**steps)
            return
        # One step a second: back near the limit found within seconds, then a probe above it
        # that starts slow and quickens the longer nothing is refused, so a limit that rose is
        # found too, and a steady one costs a refusal (and its pause) only every ten seconds or so.
        rate = self.rate
        while now - self._grown_at >= _WINDOW:
            self._grown_at += _WINDOW
            near = _NEAR * self._found
            if rate < near:
                rate = min(near, rate + _CLIMB * self._found)
                self._probing = 0
            else:
                self._probing += 1
                rate *= 1.0 + _PROBE * self._probing
        if self.limit is not None:
            rate = min(rate, self.limit)
        self._set(rate)

    def refused(self, now: float, retry_after: float | None, *, heard: bool = False) -> None:
        """The provider refused a query for its rate: pause, and pace below what it accepted.

        ``heard``: another process on the account was refused (told through coordination);
        this one pauses and slows as if it had been, without telling the others again."""
        self.pause.throttled(now, retry_after)
        if self.shared is not None:
            if not heard:
                self.shared.refused(now, retry_after)
            if self.shared.available_at(now) is not None:
                return  # the shared budget slows the whole account; a local cut would halve it
        if self.limit is not None and math.isinf(self.limit):
            return  # told there is no limit: honour the pause, keep the pace
        if heard and not (self._accepted and self._accepted[-1] > now - _WINDOW):
            return  # sending nothing now: it has no share to measure, only the pause to keep
        if self._refused_at is None and now - self._last_cut >= _WINDOW:
            self._refused_at = now

    def _settle(self, now: float) -> None:
        """Once the pause after a refusal is over, every query sent before it has been
        answered: what the provider accepted in the second around the refusal is its limit."""
        if self._refused_at is None or now < self.pause.until:
            return
        since = self._refused_at - _WINDOW
        found = float(
            sum(1 for at in itertools.islice(self._accepted, self._oldest, None) if at > since)
        )
        first = self._first_answer
        if first is None or self._refused_at - first < _WINDOW:
            # Refused before a whole second of answers: what it accepted measures no share (a
            # worker joining an account others already use is refused at its first query, and
            # would crawl at the slowest pace for a minute). Halve the pace instead.
            found = max(found, 0.5 * self.rate)
        found = max(_SLOWEST, min(found, self.rate))
        self._found = found
        self._refused_at = None
        self._last_cut = self._grown_at = now
        self._probing = 0
        self._set(max(_SLOWEST, _BACK_OFF * found))

    def _set(self, rate: float) -> None:
        if rate != self.rate:
            self.rate = rate
            if self._on_change is not None:
                self._on_change(self.provider, rate)
