"""The tracked tasks seen still running, per request shape, kept up to date at each answer.

The learner's estimates count a task still running at age ``a`` as a duration of at least ``a``
(Kaplan-Meier). Collecting those ages by walking every tracked task held the event loop for
0.1-0.15 s at a time with 20,000 tasks tracked; kept here as each answer comes, an estimate
reads only its own shape's tasks, with no attribute lookups per task.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Literal

from ..models import TaskRoute
from .learning import Order, creation_rank

__all__ = ["Survivors"]

Key = tuple[str, str]  # the schedule's key: plain strings, left untracked by the GC
Shape = tuple[TaskRoute, str, str | None]
Clock = Literal["total", "run"]


class Survivors:
    """Per request shape, the tasks last seen unfinished and at what ages.

    Examples:
        >>> survivors = Survivors()
        >>> shape = (TaskRoute.DASHSCOPE_TASKS, "wan2.5-t2v", "5s")
        >>> key = (TaskRoute.DASHSCOPE_TASKS, "task-1")
        >>> survivors.seen(key, shape, created=0.0, started=4.0, seen_at=10.0, task_id="task-1")
        >>> survivors.ages(shape, "total", lambda workload: (float("-inf"), 0.0))
        ([10.0], 1.0)
        >>> survivors.ages(shape, "run", lambda workload: (float("-inf"), 0.0))
        ([6.0], 1.0)
    """

    def __init__(self) -> None:
        # Per shape: each task's age at its last answer on either clock, and its place in
        # creation order (``Order``) to leave out tasks the learner's cutoff stands after.
        # Inserted and deleted together, so the three dicts iterate in one order.
        self._total: dict[Shape, dict[Key, float]] = {}
        self._run: dict[Shape, dict[Key, float]] = {}
        self._origin: dict[Shape, dict[Key, Order]] = {}
        # The workloads seen per (route, model): a pooled estimate reads them all.
        self._workloads: dict[tuple[TaskRoute, str], set[str | None]] = {}
        self._shape_of: dict[Key, Shape] = {}
        # One tuple per shape, shared by its tasks: a tuple each (it holds an enum member, so it
        # stays tracked) is an object each for every full garbage collection to walk.
        self._shapes: dict[Shape, Shape] = {}

    def __len__(self) -> int:
        return len(self._shape_of)

    def seen(
        self,
        key: Key,
        shape: Shape,
        *,
        created: float,
        started: float | None,
        seen_at: float,
        task_id: str,
    ) -> None:
        """An answer showed the task unfinished at ``seen_at``."""
        shape = self._shapes.setdefault(shape, shape)
        previous = self._shape_of.get(key)
        if previous is not None and previous != shape:
            self.gone(key)  # its model or workload became known since
        self._shape_of[key] = shape
        total = self._total.get(shape)
        if total is None:
            total = self._total[shape] = {}
            self._run[shape], self._origin[shape] = {}, {}
            route, model, workload = shape
            self._workloads.setdefault((route, model), set()).add(workload)
        total[key] = seen_at - created
        # A run age is known once the provider said when the task started; NaN until then
        # keeps the three dicts in one order (and is left out when read).
        self._run[shape][key] = math.nan if started is None else seen_at - started
        origin = self._origin[shape]
        known = origin.get(key)
        if known is None or known[0] != created:
            # Hashed when the task is first seen (again only if the provider's creation time
            # moves it): every estimate compares each running task's rank with the learner's
            # cutoff, and hashing there, or building the tuple at every answer, cost a hash
            # per task per estimate and an object per answer.
            origin[key] = (created, creation_rank(task_id))

    def gone(self, key: Key) -> None:
        """The task is no longer tracked (finished, forgotten)."""
        shape = self._shape_of.pop(key, None)
        if shape is None:
            return
        total = self._total[shape]
        del total[key], self._run[shape][key], self._origin[shape][key]
        if not total:
            del self._total[shape], self._run[shape], self._origin[shape]
            route, model, workload = shape
            workloads = self._workloads[(route, model)]
            workloads.discard(workload)
            if not workloads:
                del self._workloads[(route, model)]

    def ages(
        self,
        group: Shape,
        clock: Clock,
        cutoff: Callable[[str | None], Order],
        *,
        most: int = 2048,
    ) -> tuple[list[float], float]:
        """The ages at which ``group``'s tasks were last seen unfinished: since creation
        (``total``) or since the provider's start (``run``), and how many tasks each stands for.

        A group with no workload pools its model's. Tasks standing before ``cutoff(workload)``
        in creation order are left out: the learner forgot the finishes of their peers, so
        they are no survivors of what it keeps. Past ``most`` tasks an evenly strided sample is
        read, each age standing for that many: an estimate's cost stays bounded however many
        tasks run (the order sampled is the order tasks were first seen, which says nothing of
        their ages).
        """
        route, model, workload = group
        if workload is None:
            shapes = [(route, model, w) for w in self._workloads.get((route, model), ())]
        else:
            shapes = [group]
        by_shape = self._total if clock == "total" else self._run
        tracked = sum(len(by_shape.get(shape, ())) for shape in shapes)
        stride = max(1, -(-tracked // most))
        found: list[float] = []
        for shape in shapes:
            ages = by_shape.get(shape)
            if not ages:
                continue
            edge = cutoff(shape[2])
            if edge[0] == -math.inf:  # nothing forgotten: every task counts
                found.extend(itertools.islice(ages.values(), 0, None, stride))
            else:
                pairs = zip(ages.values(), self._origin[shape].values(), strict=True)
                found.extend(
                    age
                    for age, origin in itertools.islice(pairs, 0, None, stride)
                    if origin >= edge
                )
        if clock == "run":
            found = [age for age in found if age == age]  # NaN: start not known
        return found, float(stride)
