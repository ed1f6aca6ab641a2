"""Learning how long each model's tasks take, to poll the rest of a batch when they finish.

None of the peer SDKs does this: they poll every task on a fixed curve from its creation. In a
batch the first tasks of a model to finish say when the others will, so their first query can
wait until then and later queries can come at a pace set by the model's typical duration.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Sequence

from attrs import frozen

from ..models import TaskRoute

__all__ = ["DurationLearner", "LearnedTiming"]


@frozen
class LearnedTiming:
    """What the learner knows of one model's durations, and the waits it suggests.

    ``first_poll``: seconds after creation before the first query. ``median``: the typical
    duration, None until half the model's tasks are known to have finished.
    """

    first_poll: float
    median: float | None
    interval_fraction: float = 0.1
    early_pace: float = 0.25

    def wait(self, age: float) -> float:
        """Seconds until the next query of a task ``age`` seconds old.

        While the median is unknown (the first tasks of a batch are finishing), each wait is
        ``early_pace`` of the task's age. Once it is known, a wait is ``interval_fraction`` of
        the median, or of the age for tasks already older than it: detection then lags a
        finished task by about that fraction of its run, and the slow tail is not hammered.
        """
        if self.median is None:
            return self.early_pace * age
        return self.interval_fraction * max(self.median, age)


class DurationLearner:
    """Keeps recent task durations per (route, model) and turns them into poll timings.

    - ``first_poll`` is a little before the ``early_quantile`` of the durations seen (with few
      samples, their minimum): most tasks are not done before it, so earlier queries are waste.
    - later waits follow :meth:`LearnedTiming.wait`: a fraction of the median duration (or of
      the task's age past it), paced by the task's age while the median is not known yet.

    Examples:
        >>> learner = DurationLearner(min_samples=2)
        >>> for seconds in (100.0, 120.0, 110.0):
        ...     learner.observe(TaskRoute.KLING_OMNI_VIDEO, "kling-v3-omni", seconds)
        >>> learner.timing(TaskRoute.KLING_OMNI_VIDEO, "kling-v3-omni")
        LearnedTiming(first_poll=95.0, median=110.0, interval_fraction=0.1, early_pace=0.25)
    """

    def __init__(
        self,
        *,
        min_samples: int = 3,
        max_samples: int = 512,
        early_quantile: float = 0.05,
        margin: float = 0.95,
        interval_fraction: float = 0.1,
        early_pace: float = 0.25,
    ) -> None:
        self._min_samples = min_samples
        self._max_samples = max_samples
        self._early_quantile = early_quantile
        self._margin = margin
        self._interval_fraction = interval_fraction
        self._early_pace = early_pace
        self._recent: dict[tuple[TaskRoute, str], deque[float]] = {}
        self._sorted: dict[tuple[TaskRoute, str], list[float]] = {}

    def observe(self, route: TaskRoute, model: str | None, seconds: float) -> None:
        """Record that a task of ``model`` took ``seconds`` from creation to finish."""
        if model is None or seconds <= 0:
            return
        key = (route, model)
        recent = self._recent.setdefault(key, deque())
        ordered = self._sorted.setdefault(key, [])
        if len(recent) == self._max_samples:
            ordered.pop(bisect.bisect_left(ordered, recent.popleft()))
        recent.append(seconds)
        bisect.insort(ordered, seconds)

    def samples(self, route: TaskRoute, model: str | None) -> int:
        """How many durations are known for this model."""
        return len(self._sorted.get((route, model or ""), ()))

    def timing(
        self, route: TaskRoute, model: str | None, running: Sequence[float] = ()
    ) -> LearnedTiming | None:
        """The suggested timing, or None while fewer than ``min_samples`` are known.

        ``running`` are the ages of this model's tasks still running: they are censored
        durations (each will take *at least* its age). Without them, the first tasks of a batch
        to finish, the fast ones, would pass for typical and make the rest be polled too often;
        with them the quantiles come from a Kaplan-Meier estimate. A quantile the data cannot
        tell yet is left to the policy (``None`` in the timing).
        """
        ordered = self._sorted.get((route, model or ""))
        if not ordered or len(ordered) < self._min_samples:
            return None
        early, median = _kaplan_meier_quantiles(
            ordered, sorted(running), (self._early_quantile, 0.5)
        )
        if early is None:
            return None
        return LearnedTiming(
            first_poll=round(early * self._margin, 6),
            median=median,
            interval_fraction=self._interval_fraction,
            early_pace=self._early_pace,
        )


def _kaplan_meier_quantiles(
    finished: Sequence[float], running: Sequence[float], quantiles: Sequence[float]
) -> list[float | None]:
    """Quantiles of the duration distribution from finished durations and running ages.

    Both sequences sorted ascending. A quantile beyond what the data shows is None.
    """
    found: list[float | None] = [None] * len(quantiles)
    survival = 1.0
    total = len(finished)
    for index, duration in enumerate(finished):
        at_risk = (total - index) + (len(running) - bisect.bisect_left(running, duration))
        survival *= 1.0 - 1.0 / at_risk
        for slot, quantile in enumerate(quantiles):
            if found[slot] is None and 1.0 - survival >= quantile:
                found[slot] = duration
        if all(value is not None for value in found):
            break
    return found
