"""When and how long to wait before sending a failed request again.

The waits come from ``backoff``'s exponential generator; the jitter uses a ``random.Random`` the
transport owns, so a seeded one makes a run repeatable. ``Retry-After`` from the gateway wins over
the computed wait (DashScope sends none itself, but gateways in front of it may:
reference/dashscope.md).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import attrs
import backoff
from attrs import frozen

from ._errors import InvalidParameterError

__all__ = ["RetryPolicy", "parse_retry_after"]


def _non_negative(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidParameterError(
            attribute.name, f"must be a non-negative number of seconds, got {value!r}"
        )


def _retry_count(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidParameterError(attribute.name, f"must be an int >= 0, got {value!r}")


@frozen
class RetryPolicy:
    """How the transport retries a request that failed in a way that may heal.

    ``max_retries`` counts attempts after the first. Waits grow exponentially from
    ``initial_delay`` to ``max_delay`` with "equal jitter" (each wait is between half and all of
    the exponential value, so a throttled client never hammers at once). A ``Retry-After`` longer
    than ``max_retry_after`` is not waited out: the ``RateLimitError`` is raised with its
    ``retry_after`` so the caller can decide.

    Examples:
        >>> policy = RetryPolicy(max_retries=3, initial_delay=0.5, max_delay=8.0)
        >>> waits = policy.delays(random.Random(7))
        >>> [round(next(waits), 3) for _ in range(3)]
        [0.331, 0.575, 1.651]
    """

    max_retries: int = attrs.field(default=3, validator=_retry_count)
    initial_delay: float = attrs.field(default=0.5, validator=_non_negative)
    max_delay: float = attrs.field(default=8.0, validator=_non_negative)
    max_retry_after: float = attrs.field(default=60.0, validator=_non_negative)

    def delays(self, rng: random.Random) -> Iterator[float]:
        """Yield the jittered waits before retry 1, 2, ... (endless; the caller counts)."""
        exponential = backoff.expo(base=2, factor=self.initial_delay, max_value=self.max_delay)
        next(exponential)  # backoff's generators are primed with one empty step
        for value in exponential:
            yield value / 2 + rng.uniform(0, value / 2)


def parse_retry_after(header: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Fractional seconds are accepted (the simulated gateway sends them under time compression).
    Garbage gives None, a date in the past gives 0.

    Examples:
        >>> parse_retry_after("2"), parse_retry_after("0.25"), parse_retry_after("soon")
        (2.0, 0.25, None)
    """
    if header is None:
        return None
    text = header.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if seconds != seconds or seconds in (float("inf"), float("-inf")):  # NaN or infinite
        return None
    return max(0.0, seconds)
