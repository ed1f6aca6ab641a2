"""The informed client planned for the mean detection delay: what users wait through.

The p95 frontier (``informed``) invited a scheduler to spend a batch's late 5% and slow the
rest; the yardstick now is the mean. An informed client knows the durations' distribution (here
as a large sorted sample drawn from the very profile the gateway draws from) and plans one
schedule of query times after a task's creation, used for every task:

- ``equal``: the first query at the shortest duration, then one every ``gap`` (its mean delay
  is about half the gap).
- ``optimised``: the schedule of least expected queries for its mean delay, found exactly on a
  grid (the distribution's quantiles and evenly spaced times) by dynamic programming: each
  query time t_i to the next t_j costs one query for every task still running at t_i, and a
  delay of t_j - T for each task ending at T in between. Minimising queries + lambda x delay
  for a sweep of lambda traces the whole convex frontier.

Both are replayed on the durations the gateway drew in the run, so their points sit on the same
tasks as every contender's. Efficiency is the informed queries at a contender's mean delay
(interpolated in log-log) over the contender's queries: 1.0 is as few as a client that knew the
distribution.

That replay sends every query at its planned time, however many fall in one second. A
time-compressed batch of thousands plans more than one process can send where its tasks reach
their floor together; ``replay_at_rate`` sends the same plans through one sender of a given
rate (``mean_frontier``'s ``at_rate``: the most queries a second the run's gateway answered),
which is what the informed client could do on the machine the run was on.
"""

from __future__ import annotations

import bisect
import heapq
import math
import random
from collections.abc import Sequence
from typing import Any

from .informed import queries_at

__all__ = [
    "known_sample",
    "mean_efficiency",
    "mean_frontier",
    "own_run_frontier",
    "own_run_quantile",
    "replay_at_rate",
    "undominated",
]

_GRID = 800
_LAMBDAS = tuple(10 ** (step / 12) for step in range(-24, 61))  # 0.01 to 100,000
_GAPS = tuple(2 ** (step / 4) for step in range(-24, 13))  # x the median: 1/64 to 8


def known_sample(draw: Any, count: int = 20_000, seed: int = 12345) -> list[float]:
    """The distribution an informed client knows: ``count`` draws of ``draw`` (anything with a
    ``sample(rng)``), sorted."""
    rng = random.Random(seed)
    return sorted(draw.sample(rng) for _ in range(count))


def _replay(times: Sequence[float], durations: Sequence[float]) -> tuple[float, float]:
    """(queries per task, mean delay) of the query ``times`` on ``durations``."""
    queries, delay = 0, 0.0
    for duration in durations:
        index = bisect.bisect_left(times, duration)
        if index == len(times):  # past the plan: asked again at the duration's own end
            queries += len(times) + 1
            continue
        queries += index + 1
        delay += times[index] - duration
    return queries / len(durations), delay / len(durations)


def replay_at_rate(
    times: Sequence[float],
    durations: Sequence[float],
    created: Sequence[float],
    rate: float,
) -> tuple[float, float]:
    """(queries per task, mean delay) of the query ``times`` (after each task's creation,
    ``created``) sent by one sender of ``rate`` queries a second, in the order they were planned.

    A query planned while the sender is busy leaves when it is free: late, it may find its task
    ended where on time it would not have, and then the task's later queries are not sent. Its
    planned queries that fell due while it waited are not sent either (asking again at once
    would say nothing new): the next is the first planned after it left. A task still running
    past the plan is asked again at its end, as in ``_replay``.
    """
    if not durations:
        return 0.0, 0.0
    gap = 1.0 / rate
    due = [(start + times[0], task, 0) for task, start in enumerate(created)]
    heapq.heapify(due)
    free, queries, delay = -math.inf, 0, 0.0
    last = len(times) - 1
    while due:
        planned, task, step = heapq.heappop(due)
        sent = max(planned, free)
        free = sent + gap
        queries += 1
        end = created[task] + durations[task]
        if sent >= end:
            delay += sent - end
            continue
        after = bisect.bisect_right(times, sent - created[task], lo=step + 1)
        if after <= last:
            heapq.heappush(due, (created[task] + times[after], task, after))
        else:
            heapq.heappush(due, (end, task, last))
    return queries / len(durations), delay / len(durations)


def _equal(known: Sequence[float], gap: float) -> list[float]:
    start, end = known[0], known[-1]
    steps = math.ceil((end - start) / gap)
    return [start + gap * i for i in range(steps + 1)]


def _optimised(known: Sequence[float], weight: float, own_cap: float | None = None) -> list[float]:
    """The query times minimising E[queries] + ``weight`` x E[delay] on a grid of times.

    With ``own_cap`` c, only plans that find every task but the shortest 1% within c of its
    own run: after a query at t the next comes by (1 + c) times the first duration past t, the
    soonest a task still running at t can end (and the first by the 1% quantile's (1 + c)).
    That is the p99 of each task's delay over its own duration held to c, at the fewest
    queries it allows.
    """
    import numpy as np

    values = np.asarray(known, dtype=float)
    # Quantiles put the grid where tasks end, but leave the tail's points tens of seconds apart
    # (a log-normal with a median of 17 s: its last thousandth spans 100-180 s), where no plan
    # could ask often: the optimum came out 20% dearer than it is at the default's mean.
    # Evenly spaced times fill the tail in.
    grid = np.unique(
        np.concatenate(
            (
                np.quantile(values, np.linspace(0.0, 1.0, _GRID)),
                np.linspace(values[0], values[-1], _GRID),
            )
        )
    )
    count = len(grid)
    # How many known durations end by each grid point; F(t): share ended by t;
    # M(t): E[T; T <= t]; S(t): share still running after t.
    after = np.searchsorted(values, grid, side="right")
    ended = after / len(values)
    cumulative = np.concatenate(([0.0], np.cumsum(values)))
    moment = cumulative[after] / len(values)
    running = 1.0 - ended
    shortest = float(values[len(values) // 100])
    # The first duration past each grid point: a task still running there ends no sooner, so
    # the next query may wait until (1 + c) times that. Taking the point itself instead would
    # make a plan ask all through a gap where nothing ends, now that the grid has points there.
    next_end = np.where(after < len(values), values[np.minimum(after, len(values) - 1)], np.inf)
    value = np.zeros(count)
    choice = np.full(count, count - 1)
    for i in range(count - 2, -1, -1):
        later = np.arange(i + 1, count)
        if own_cap is not None:
            reach = max(float(next_end[i]), shortest) * (1 + own_cap)
            later = later[(grid[later] <= reach) | (later == i + 1)]
        waited = grid[later] * (ended[later] - ended[i]) - (moment[later] - moment[i])
        costs = running[i] + weight * waited + value[later]
        best = int(np.argmin(costs))
        value[i], choice[i] = costs[best], later[best]
    first = 1.0 + weight * (grid * ended - moment) + value
    if own_cap is not None:
        first = np.where(grid <= shortest * (1 + own_cap), first, np.inf)
    path = [int(np.argmin(first))]
    while path[-1] != count - 1:
        path.append(int(choice[path[-1]]))
    return [float(grid[j]) for j in path]


def own_run_quantile(times: Sequence[float], durations: Sequence[float], q: float) -> float:
    """The ``q`` quantile of each task's delay over its own duration under the query
    ``times`` (tasks past the plan left out)."""
    ratios = sorted(
        (times[index] - duration) / duration
        for duration in durations
        if (index := bisect.bisect_left(times, duration)) < len(times)
    )
    return ratios[int(q * (len(ratios) - 1))]


def own_run_frontier(
    known: Sequence[float], durations: Sequence[float], own_cap: float | None
) -> list[dict[str, float]]:
    """The informed client's (queries per task, mean delay) points when it must also find 99%
    of tasks within ``own_cap`` of their own run (None: planned for the mean alone), replayed
    on ``durations``; each point carries that p99 (``own_p99``) as replayed."""
    points = []
    for plan in _optimised_plans(known, own_cap):
        queries, mean = _replay(plan, durations)
        points.append(
            {
                "queries_per_task": round(queries, 4),
                "delay_mean_s": round(mean, 4),
                "own_p99": round(own_run_quantile(plan, durations, 0.99), 4),
            }
        )
    return sorted(points, key=lambda point: point["delay_mean_s"])


def _optimised_plans(known: Sequence[float], own_cap: float | None = None) -> list[list[float]]:
    """The distinct optimised plans along the sweep of weights, in the order first found."""
    plans: dict[tuple[float, ...], list[float]] = {}
    for weight in _LAMBDAS:
        plan = _optimised(known, weight, own_cap)
        plans.setdefault(tuple(plan), plan)
    return list(plans.values())


#: Plans asking more than this many times a task (sent on time) are not replayed at a rate:
#: where the rate binds they only queue longer, and the replay's time grows with their queries.
_RATE_PLAN_QUERIES = 16.0


def mean_frontier(
    known: Sequence[float],
    durations: Sequence[float],
    at_rate: tuple[Sequence[float], float] | None = None,
) -> dict[str, list[dict[str, float]]]:
    """Each informed variant's points, (queries per task, mean delay in seconds), replayed on
    the run's ``durations``; ``known`` is the sorted sample the client plans from.

    With ``at_rate`` (each task's creation time, a rate in queries a second), a third variant,
    ``optimised_at_rate``: the same plans sent by one sender of that rate (``replay_at_rate``).
    """
    median = known[len(known) // 2]
    equal_plans = [_equal(known, ratio * median) for ratio in _GAPS]
    optimised_plans = _optimised_plans(known)
    # Equal spacing is one of the schedules the optimum chooses from: where the grid's plans
    # come out worse (a run's tasks scatter around the distribution), it stands instead.
    plans = optimised_plans + equal_plans
    on_time = [_replay(plan, durations) for plan in plans]
    found: dict[str, list[dict[str, float]]] = {
        "equal": [_point(*replayed) for replayed in on_time[len(optimised_plans) :]],
        "optimised": [_point(*replayed) for replayed in on_time],
    }
    if at_rate is not None:
        created, rate = at_rate
        found["optimised_at_rate"] = [
            _point(*replay_at_rate(plan, durations, created, rate))
            for plan, (queries, _) in zip(plans, on_time, strict=True)
            if queries <= _RATE_PLAN_QUERIES
        ]
    for points in found.values():
        points.sort(key=lambda point: point["delay_mean_s"])
    return found


def _point(queries: float, mean: float) -> dict[str, float]:
    return {"queries_per_task": round(queries, 4), "delay_mean_s": round(mean, 4)}


def mean_efficiency(points: Sequence[dict[str, Any]], queries: float, mean: float) -> float | None:
    """The informed queries at ``mean`` (log-log along ``points``) over ``queries``; None
    outside the frontier computed."""
    informed = queries_at(undominated(points), "delay_mean_s", mean)
    return None if informed is None else round(informed / queries, 3)


def undominated(points: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """The frontier's undominated points: none that another beats on both queries and mean
    delay (replayed on a run's few hundred tasks, plans scatter around the optimum)."""
    kept: list[dict[str, Any]] = []
    fewest = math.inf
    for point in sorted(points, key=lambda p: (p["delay_mean_s"], p["queries_per_task"])):
        if point["delay_mean_s"] > 0 and point["queries_per_task"] < fewest:
            kept.append(point)
            fewest = point["queries_per_task"]
    return kept
