"""The informed client: what polling could do if it knew every task's duration distribution.

No real client knows it; the simulated gateway does (it draws durations from the scenario's
clipped log-normal profile). This module computes the schedules such a client would use for a
given p95 detection delay and replays them on the very durations the gateway drew in the run,
so its points sit on the same tasks as every contender's:

- ``equal``: the first query at the shortest possible duration, then one every ``delay / 0.95``
  (detection lags a finished task by a uniform share of the gap, so its p95 is the delay asked).
- ``optimised``: the schedule of least expected queries whose p95 delay stays within the target,
  found numerically (a dynamic programme over query times on a fine grid, with a Lagrange
  weight on late detections found by bisection; a grid search over simple shapes where the
  programme's grid would be too coarse): it spends the 5% of tasks allowed to be late where that
  saves the most queries, typically by asking first when most tasks are done.

Where a batch mixes request shapes (mixed-1000), the client knows each task's shape, as the
one who sent the request does: a task's distribution is the scenario's scaled by its request's run
factor (the gateway reports each), and each shape gets its own schedule for the same target delay.
(An optimum over the mixture could give each shape its own delay; planning them alike keeps the
baseline simple, so efficiency against it may flatter a contender slightly there.)

The efficiency of a contender is the informed client's queries at the contender's p95 delay
divided by the contender's own: 1.0 means as few queries as a client that knew the distribution.
"""

from __future__ import annotations

import bisect
import itertools
import math
import statistics
from collections.abc import Sequence
from statistics import NormalDist
from typing import Any

from attrs import frozen

__all__ = [
    "COARSE",
    "ClippedLogNormal",
    "Planned",
    "Schedule",
    "efficiency",
    "frontier",
    "queries_at",
    "shape_frontier",
]

# Target p95 delays, as fractions of the median: 0.01 to 1.5, four points to a doubling. A
# frontier is convex in log-log, so interpolating between points a doubling apart overstates the
# informed client's queries (by 1.5-2% at a p95 of half the median), and with it every
# contender's efficiency; a quarter of a doubling apart, the reading is within about 0.5% of the
# optimum planned at that p95 (as much as the optimum's own plans scatter from point to point).
_FRACTIONS = tuple(round(0.01 * 2 ** (step / 4), 6) for step in range(30))
#: A doubling apart, for smoke runs: the frontier's shape, not figures to read efficiencies off.
COARSE = _FRACTIONS[::4]
_SAMPLES = 4000
_PLANNED_LATE = 0.04


@frozen
class ClippedLogNormal:
    """Durations in real seconds: log-normal around ``median``, clipped to ``[low, high]``."""

    median: float
    sigma: float
    low: float
    high: float

    def quantile(self, p: float) -> float:
        p = min(max(p, 1e-9), 1 - 1e-9)
        value = math.exp(math.log(self.median) + self.sigma * NormalDist().inv_cdf(p))
        return min(self.high, max(self.low, value))

    def scaled(self, factor: float) -> ClippedLogNormal:
        """The same shape, every duration ``factor`` times as long."""
        if factor == 1.0:
            return self
        return ClippedLogNormal(
            self.median * factor, self.sigma, self.low * factor, self.high * factor
        )

    def grid(self, n: int = _SAMPLES) -> list[float]:
        """``n`` durations at evenly spaced quantiles: the distribution as a sample."""
        return [self.quantile((i + 0.5) / n) for i in range(n)]


@frozen
class Planned:
    """Query times after a task's creation, listed in full (the last at the longest duration)."""

    planned: tuple[float, ...]

    def times(self, until: float) -> list[float]:
        found = list(self.planned)
        while found[-1] < until:  # a duration past the plan (cannot happen: high is planned)
            found.append(found[-1] * 1.5)
        return found


@frozen
class Schedule:
    """Query times after a task's creation: ``start``, then every ``gap`` until ``tail_from``,
    then gaps growing by half each time."""

    start: float
    gap: float
    tail_from: float = math.inf

    def times(self, until: float) -> list[float]:
        found = [self.start]
        gap = self.gap
        while found[-1] < until:
            if found[-1] >= self.tail_from:
                gap *= 1.5
            found.append(found[-1] + gap)
        return found


def evaluate(
    schedule: Schedule | Planned, durations: Sequence[float], quantile: float = 0.95
) -> tuple[float, float]:
    """(queries per task, the ``quantile`` of delays) of ``schedule`` on ``durations``."""
    queries, delays = replay(schedule, durations)
    delays.sort()
    return queries / len(durations), delays[int(quantile * (len(delays) - 1))]


def replay(schedule: Schedule | Planned, durations: Sequence[float]) -> tuple[int, list[float]]:
    """(queries in all, each task's detection delay) of ``schedule`` on ``durations``."""
    times = schedule.times(max(durations))
    queries = 0
    delays = []
    for duration in durations:
        index = bisect.bisect_left(times, duration)
        queries += index + 1
        delays.append(times[index] - duration)
    return queries, delays


def equal_spacing(distribution: ClippedLogNormal, delay: float) -> Schedule:
    return Schedule(start=distribution.low, gap=delay / 0.95)


def optimised(distribution: ClippedLogNormal, delay: float) -> Schedule | Planned:
    """The least-queries schedule with p95 <= delay: the better of a dynamic programme over
    query times and a grid search over simple shapes, judged on the distribution itself."""
    sample = distribution.grid()
    candidates: list[Schedule | Planned] = [searched(distribution, delay)]
    programmed = dynamic(distribution, delay)
    if programmed is not None:
        candidates.append(programmed)
    feasible = [
        (evaluate(c, sample)[0], c)
        for c in candidates
        if evaluate(c, sample, 1 - _PLANNED_LATE)[1] <= delay * (1 + 1e-9)
        or isinstance(c, Schedule)
    ]
    return min(feasible, key=lambda pair: pair[0])[1]


def dynamic(distribution: ClippedLogNormal, delay: float) -> Planned | None:
    """Query times on a fine grid that minimise expected queries plus lambda times the share of
    late detections, lambda found by bisection so that the late share is at most 4%.

    A task of duration T costs one query per query time before T, plus the one that sees it
    done; it is late when the query that sees it comes more than ``delay`` after T. With query
    times t_1 < t_2 < ..., E[queries] = 1 + sum P(T > t_i) and the late share is
    sum P(t_(i-1) < T < t_i - delay): both add up gap by gap, so a backward recursion over the
    grid finds the best times for each lambda. None when the grid would be too coarse.
    """
    import numpy as np

    low, high = distribution.low, distribution.high
    step = delay / 6
    if (high - low) / step > 1500:
        return None
    grid = np.arange(low, high + step / 2, step)
    grid[-1] = high
    sigma, mu = distribution.sigma, math.log(distribution.median)
    normal = NormalDist()

    def cdf(t: float) -> float:  # P(T <= t), with the clipping's atoms at low and high
        if t < low:
            return 0.0
        if t >= high:
            return 1.0
        return normal.cdf((math.log(t) - mu) / sigma)

    survive = np.array([1.0 - cdf(t) for t in grid])
    survive[-1] = 0.0
    below = np.array([cdf(t) for t in grid])  # F(g)
    before_late = np.array([cdf(t - delay - 1e-12) for t in grid])  # F(g - delay), strictly
    count = len(grid)

    def solve(weight: float) -> tuple[float, float, list[int]]:
        value = np.zeros(count)
        choice = np.full(count, count - 1)
        for i in range(count - 2, -1, -1):
            later = np.arange(i + 1, count)
            late = np.clip(before_late[later] - below[i], 0.0, None)
            costs = survive[later] + weight * late + value[later]
            best = int(np.argmin(costs))
            value[i], choice[i] = costs[best], later[best]
        first = survive + weight * before_late + value
        start = int(np.argmin(first))
        path = [start]
        while path[-1] != count - 1:
            path.append(int(choice[path[-1]]))
        queries = 1.0 + float(sum(survive[j] for j in path))
        late = float(before_late[path[0]]) + sum(
            max(0.0, float(before_late[b] - below[a])) for a, b in itertools.pairwise(path)
        )
        return queries, late, path

    lo_weight, hi_weight = 0.0, 1e6
    _, late, path = solve(hi_weight)
    if late > _PLANNED_LATE:
        return None
    for _ in range(30):  # the least weight whose plan keeps the late share within bounds
        middle = (lo_weight + hi_weight) / 2
        _, share, candidate = solve(middle)
        if share <= _PLANNED_LATE:
            hi_weight, path = middle, candidate
        else:
            lo_weight = middle
    return Planned(tuple(float(grid[j]) for j in path))


def searched(distribution: ClippedLogNormal, delay: float) -> Schedule:
    """The least-queries schedule over a grid of simple shapes (start, gap, thinning tail)."""
    sample = distribution.grid()
    # Equal spacing is one of the candidates: whatever the search finds must beat it.
    plain = equal_spacing(distribution, delay)
    best: tuple[float, Schedule] | None = (evaluate(plain, sample)[0], plain)
    for start_q in (0.0, 0.005, 0.01, 0.02, 0.03, 0.05):
        start = distribution.quantile(start_q) if start_q else distribution.low
        for stretch in (1.0, 1.02, 1.05, 1.1, 1.2):
            for tail_q in (0.9, 0.95, 0.97, 0.99, 1.0):
                tail = distribution.quantile(tail_q) if tail_q < 1 else math.inf
                schedule = Schedule(start=start, gap=delay * stretch, tail_from=tail)
                # Planned with a margin (4% late, not 5%): a run's few hundred tasks scatter
                # around the distribution, and p95 jumps once the late share passes 5%.
                queries, planned = evaluate(schedule, sample, 1 - _PLANNED_LATE)
                if planned <= delay * (1 + 1e-9) and (best is None or queries < best[0]):
                    best = (queries, schedule)
    assert best is not None
    return best[1]


def frontier(
    distribution: ClippedLogNormal,
    durations: Sequence[float],
    factors: Sequence[float] | None = None,
    fractions: Sequence[float] = _FRACTIONS,
) -> dict[str, list[dict[str, float]]]:
    """For each informed variant, (target, queries per task, p95 delay) on the run's durations.

    ``factors``: each task's run factor (its request's run time over the reference request's);
    a task's distribution is then ``distribution`` scaled by it, and targets are ``fractions``
    of the median task's median."""
    return _pooled(distribution, durations, factors, relative=False, fractions=fractions)


def shape_frontier(
    distribution: ClippedLogNormal,
    durations: Sequence[float],
    factors: Sequence[float],
    fractions: Sequence[float] = _FRACTIONS,
) -> dict[str, list[dict[str, float]]]:
    """The informed client of a mixture measured as the knob is set: each task's delay over its
    shape's median duration. For a fraction f it plans each shape for a p95 delay of f times
    that shape's median (the problem then splits by shape, each solved as above), and reports
    the p95 of every task's delay over its shape's median."""
    return _pooled(distribution, durations, factors, relative=True, fractions=fractions)


def _pooled(
    distribution: ClippedLogNormal,
    durations: Sequence[float],
    factors: Sequence[float] | None,
    *,
    relative: bool,
    fractions: Sequence[float],
) -> dict[str, list[dict[str, float]]]:
    """Each variant planned per shape, replayed on that shape's tasks and pooled, at every
    fraction: for one delay in seconds (the fraction of the median task's median), measured in
    seconds; or, ``relative``, for the fraction of each shape's own median, measured as each
    task's delay over it."""
    shapes: dict[float, list[float]] = {}
    for duration, factor in zip(durations, factors or [1.0] * len(durations), strict=True):
        shapes.setdefault(factor, []).append(duration)
    typical = distribution.median * statistics.median(factors or [1.0])
    found: dict[str, list[dict[str, float]]] = {"equal": [], "optimised": []}
    for fraction in fractions:
        for name, make in (("equal", equal_spacing), ("optimised", optimised)):
            queries, delays = 0, []
            for factor, group in shapes.items():
                own = distribution.scaled(factor)
                unit = own.median if relative else 1.0
                target = fraction * own.median if relative else fraction * typical
                asked, late = replay(make(own, target), group)
                queries += asked
                delays += [delay / unit for delay in late]
            delays.sort()
            p95 = round(delays[int(0.95 * (len(delays) - 1))], 4)
            found[name].append(
                {
                    "target_fraction": fraction,
                    "queries_per_task": round(queries / len(delays), 3),
                    "delay_p95_of_median": p95,
                }
                if relative
                else {
                    "target_delay_s": round(fraction * typical, 4),
                    "queries_per_task": round(queries / len(delays), 3),
                    "delay_p95_s": p95,
                }
            )
    return found


def queries_at(points: Sequence[dict[str, Any]], key: str, at: float) -> float | None:
    """Queries per task along ``points`` where ``key`` equals ``at``, interpolated in log-log
    between the neighbouring points; None outside the range the points cover."""
    ordered = sorted(points, key=lambda point: point[key])
    for left, right in itertools.pairwise(ordered):
        if left[key] <= at <= right[key] and left[key] > 0:
            span = math.log(right[key] / left[key])
            share = math.log(at / left[key]) / span if span else 0.0
            low, high = left["queries_per_task"], right["queries_per_task"]
            return math.exp(math.log(low) + share * math.log(high / low))
    return None


def efficiency(
    points: Sequence[dict[str, Any]], queries: float, p95: float, key: str = "delay_p95_s"
) -> float | None:
    """The informed queries at ``p95`` (interpolated in log-log along ``points``, whose delay
    is ``key``) / ``queries``; None when ``p95`` lies outside the frontier that was computed."""
    informed = queries_at(points, key, p95)
    return None if informed is None else round(informed / queries, 3)
