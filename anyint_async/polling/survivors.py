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
from .interned import Interned
from .learning import Order, creation_rank

__all__ = ["Survivors"]

Key = str  # the schedule's key: a string, never tracked by the GC
Shape = tuple[TaskRoute, str, str | None]
Clock = Literal["total", "run"]


class Survivors:
    """Per request shape, the tasks last seen unfinished and at what ages.

    Examples:
        >>> survivors = Survivors()
        >>> shape = (TaskRoute.DASHSCOPE_TASKS, "wan2.5-t2v", "5s")
        >>> key = "dashscope.tasks task-1"
        >>> survivors.seen(key, shape, created=0.0, started=4.0, seen_at=10.0, task_id="task-1")
        >>> survivors.ages(shape, "total", lambda workload: (float("-inf"), 0.0))
        ([10.0], 1.0)
        >>> survivors.ages(shape, "run", lambda workload: (float("-inf"), 0.0))
        ([6.0], 1.0)
    """

    def __init__(self) -> None:
        # Per shape: each task's age at its last answer on either clock, and its place in
        # creation order (``Order``: its creation time, then its rank) to leave out tasks the
        # learner's cutoff stands after. Inserted and deleted together, so the four dicts
        # iterate in one order. Numbers only, never an ``Order`` tuple: a dict holding a tuple
        # made since the last full garbage collection is walked by the next, a reference per
        # task; one of strings and numbers is walked by none.
        self._total: dict[Shape, dict[Key, float]] = {}
        self._run: dict[Shape, dict[Key, float]] = {}
        self._created: dict[Shape, dict[Key, float]] = {}
        self._rank: dict[Shape, dict[Key, float]] = {}
        # The workloads seen per (route, model): a pooled estimate reads them all.
        self._workloads: dict[tuple[TaskRoute, str], set[str | None]] = {}
        # Each task's shape, by its id in ``_shapes``: a dict of strings and ints is not walked
        # by the garbage collector, one holding the shape tuples themselves (tracked, as they
        # hold an enum member) was, a reference per task at every full collection.
        self._shape_of: dict[Key, int] = {}
        self._shapes: Interned[Shape] = Interned()

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
        shape_id = self._shapes.id_for(shape)
        previous = self._shape_of.get(key)
        if previous is not None and previous != shape_id:
            self.gone(key)  # its model or workload became known since
        self._shape_of[key] = shape_id
        total = self._total.get(shape)
        if total is None:
            total = self._total[shape] = {}
            self._run[shape], self._created[shape], self._rank[shape] = {}, {}, {}
            route, model, workload = shape
            self._workloads.setdefault((route, model), set()).add(workload)
        total[key] = seen_at - created
        # A run age is known once the provider said when the task started; NaN until then
        # keeps the four dicts in one order (and is left out when read).
        self._run[shape][key] = math.nan if started is None else seen_at - started
        created_at = self._created[shape]
        if key not in created_at:
            # Hashed when the task is first seen: every estimate compares each running task's
            # rank with the learner's cutoff, and hashing there cost a hash per task per
            # estimate.
            self._rank[shape][key] = creation_rank(task_id)
        created_at[key] = created  # the provider's creation time may move it

    def gone(self, key: Key) -> None:
        """The task is no longer tracked (finished, forgotten)."""
        shape_id = self._shape_of.pop(key, None)
        if shape_id is None:
            return
        shape = self._shapes[shape_id]
        total = self._total[shape]
        del total[key], self._run[shape][key], self._created[shape][key], self._rank[shape][key]
        if not total:
            del self._total[shape], self._run[shape], self._created[shape], self._rank[shape]
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
                edge_created, edge_rank = edge
                places = zip(
                    ages.values(),
                    self._created[shape].values(),
                    self._rank[shape].values(),
                    strict=True,
                )
                found.extend(
                    age
                    for age, created, rank in itertools.islice(places, 0, None, stride)
                    # (created, rank) >= edge, without a tuple made per task
                    if created > edge_created or (created == edge_created and rank >= edge_rank)
                )
        if clock == "run":
            found = [age for age in found if age == age]  # NaN: start not known
        return found, float(stride)
