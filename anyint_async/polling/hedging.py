"""When a task query has gone unanswered long enough to ask again: hedged queries.

A task query usually answers in milliseconds. One that does not answer at all (a relay's stuck
upstream, a half-open socket, a draining load balancer) would hold its task until the answer
timeout, a minute by default, with nothing asking about that task meanwhile. A task query is an
idempotent read, so it can be asked again on another connection once the first has taken
clearly longer than the provider's answers usually take, and whichever answer comes first is
used ("The Tail at Scale", Dean and Barroso: a hedged read sent past the usual latency cuts the
tail for a few percent more load). Creates are never hedged: they are not idempotent.

This is the pure part: per provider, the answer times seen (a window of recent ones, read at a
high quantile), the delay after which a query is hedged, and a budget that keeps hedges a small
share of queries whatever happens. Every call is told its figures; the scheduler's shell does
the racing (``scheduler.py``).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Final

import attrs
from attrs import frozen

from .._errors import InvalidParameterError

__all__ = ["AnswerTimes", "HedgePolicy", "Hedging"]

#: Answer times kept per provider: enough for a 99th percentile to mean something, few enough
#: that a provider that got slower shows within a minute of queries.
_WINDOW: Final = 512
#: The quantile is re-read from the window once this many answers came since the last reading.
_REREAD_EVERY: Final = 16


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidParameterError(attribute.name, f"must be a positive number, got {value!r}")


def _count(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidParameterError(attribute.name, f"must be a whole number >= 0, got {value!r}")


def _share(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 1:
        raise InvalidParameterError(attribute.name, f"must be in [0, 1], got {value!r}")


@frozen
class HedgePolicy:
    """When an unanswered task query is asked again (``AnyIntSession(query_hedging=...)``).

    - ``multiple``: hedge once a query has waited this many times the provider's 99th
      percentile answer time (learned from its recent answers, per provider);
    - ``floor``: never sooner than this many seconds, however fast answers usually are;
    - ``margin``: never later than this many seconds past that 99th percentile, so a provider
      whose answers are all slow (seconds) is hedged only for queries far slower than its own
      usual, and a hung query is asked again within about ``margin`` of the usual answer;
    - ``initial``: the delay before ``min_answers`` answers were seen (or the delay the
      slowest of them calls for, if longer);
    - ``per_query``: hedges of one query at most; each waits the delay again, so a hedge that
      meets a stuck connection too is hedged in turn;
    - ``max_share``: hedges stay under about this share of queries: each answer earns that
      much of a hedge (up to ``burst`` saved), each hedge spends one, so a provider that got
      slow everywhere is not sent every query twice.

    A hedge spends the provider's query budget like any query (pacing at a known or found
    limit still holds); the first answer is used, and the other request is cancelled and its
    connection closed, not returned to the pool.

    Examples:
        >>> policy = HedgePolicy()
        >>> policy.delay_for(p99=0.05), policy.delay_for(p99=3.0)  # a floor; p99 + margin
        (0.5, 5.0)
    """

    multiple: float = attrs.field(default=3.0, validator=_positive)
    floor: float = attrs.field(default=0.5, validator=_positive)
    margin: float = attrs.field(default=2.0, validator=_positive)
    initial: float = attrs.field(default=2.5, validator=_positive)
    min_answers: int = attrs.field(default=20, validator=_count)
    per_query: int = attrs.field(default=2, validator=_count)
    max_share: float = attrs.field(default=0.05, validator=_share)
    burst: float = attrs.field(default=10.0, validator=_positive)

    def delay_for(self, p99: float | None) -> float:
        """Seconds after a query was sent before it is hedged, given the learned p99 answer
        time (None: not learned yet)."""
        if p99 is None:
            return self.initial
        return max(self.floor, min(self.multiple * p99, p99 + self.margin))


class AnswerTimes:
    """One provider's recent answer times, and a high quantile of them."""

    __slots__ = ("_fresh", "_quantile", "_seen", "_window")

    def __init__(self, window: int = _WINDOW) -> None:
        self._window: deque[float] = deque(maxlen=window)
        self._seen = 0
        self._fresh = 0  # answers since the quantile was read
        self._quantile: float | None = None

    def __len__(self) -> int:
        return self._seen

    def add(self, seconds: float) -> None:
        """An answer came ``seconds`` after its query was sent."""
        if not math.isfinite(seconds) or seconds < 0:
            return
        self._window.append(seconds)
        self._seen += 1
        self._fresh += 1

    def slowest(self) -> float | None:
        """The slowest recent answer time; None before any."""
        return max(self._window) if self._window else None

    def p99(self) -> float | None:
        """The 99th percentile of the recent answer times; None before any."""
        if not self._window:
            return None
        if self._quantile is None or self._fresh >= _REREAD_EVERY:
            ordered = sorted(self._window)
            self._quantile = ordered[min(len(ordered) - 1, math.ceil(0.99 * len(ordered)) - 1)]
            self._fresh = 0
        return self._quantile


class Hedging:
    """Per provider: answer times, the hedge delay, and the hedge budget. Plain state, no clock:
    the shell reports each answer's time and asks before each hedge."""

    def __init__(self, policy: HedgePolicy) -> None:
        self.policy = policy
        self._times: dict[str, AnswerTimes] = {}
        self._tokens: dict[str, float] = {}

    def answered(self, provider: str, seconds: float) -> None:
        """A query of ``provider`` was answered ``seconds`` after it was sent (any answer, an
        error status too; not a timeout or a cancelled request, whose time says nothing of
        how long an answer takes)."""
        times = self._times.get(provider)
        if times is None:
            times = self._times[provider] = AnswerTimes()
        times.add(seconds)
        tokens = self._tokens.get(provider, self.policy.burst)
        self._tokens[provider] = min(self.policy.burst, tokens + self.policy.max_share)

    def delay(self, provider: str) -> float:
        """Seconds after sending a query of ``provider`` before it is hedged."""
        times = self._times.get(provider)
        if times is None:
            return self.policy.delay_for(None)
        if len(times) < self.policy.min_answers:
            # Too few for a percentile; the slowest seen still says how slow is usual.
            return max(self.policy.delay_for(None), self.policy.delay_for(times.slowest()))
        return self.policy.delay_for(times.p99())

    def may_hedge(self, provider: str) -> bool:
        """Whether the budget holds a hedge now (see ``HedgePolicy.max_share``)."""
        return self._tokens.get(provider, self.policy.burst) >= 1.0

    def hedged(self, provider: str) -> None:
        """A hedge of ``provider`` was sent."""
        self._tokens[provider] = self._tokens.get(provider, self.policy.burst) - 1.0
