"""The running tasks an estimate reads: those the learner's cutoff stands after."""

from __future__ import annotations

import gc
import math

from anyint_async import TaskRoute
from anyint_async.polling.learning import Order, creation_rank
from anyint_async.polling.survivors import Survivors

ROUTE = TaskRoute.DASHSCOPE_TASKS
SHAPE = (ROUTE, "wan", "5s")


def _seen(survivors: Survivors, task_id: str, created: float, seen_at: float) -> None:
    key = f"{ROUTE.value} {task_id}"
    survivors.seen(key, SHAPE, created=created, started=None, seen_at=seen_at, task_id=task_id)


def _ages(survivors: Survivors, cutoff: Order) -> list[float]:
    return sorted(survivors.ages(SHAPE, "total", lambda workload: cutoff)[0])


def test_tasks_created_before_the_cutoff_are_left_out_and_ties_go_by_rank() -> None:
    survivors = Survivors()
    ids = [f"task-{i}" for i in range(40)]
    for index, task_id in enumerate(ids):
        created = float(index % 4)
        _seen(survivors, task_id, created=created, seen_at=created + 10.0 + index)  # age 10 + index
    # Cut at the median rank among those created at 2 s: half of them stand before it.
    tied = sorted((task_id for i, task_id in enumerate(ids) if i % 4 == 2), key=creation_rank)
    cutoff = (2.0, creation_rank(tied[len(tied) // 2]))
    expected = sorted(
        10.0 + index
        for index, task_id in enumerate(ids)
        if (float(index % 4), creation_rank(task_id)) >= cutoff
    )
    assert _ages(survivors, cutoff) == expected
    assert len(expected) == 10 + len(tied) - len(tied) // 2  # all created at 3 s, half at 2 s
    assert _ages(survivors, (-math.inf, 0.0)) == [10.0 + index for index in range(40)]


def test_a_task_whose_creation_time_moves_is_judged_by_the_new_one() -> None:
    # The provider's own creation time can arrive after the task was first seen (the scheduler
    # then moves it): a cutoff between the two times keeps the task, as its peers' finishes
    # created at the later time are still learned.
    survivors = Survivors()
    _seen(survivors, "late-stamp", created=0.0, seen_at=10.0)
    assert _ages(survivors, (5.0, 0.0)) == []
    _seen(survivors, "late-stamp", created=6.0, seen_at=12.0)
    assert _ages(survivors, (5.0, 0.0)) == [6.0]
    survivors.gone(f"{ROUTE.value} late-stamp")
    assert _ages(survivors, (-math.inf, 0.0)) == []


def test_tasks_first_seen_are_not_walked_by_the_next_full_collection() -> None:
    # What a full collection follows is what every tracked object holds. Dicts holding only
    # strings and numbers are untracked by a full collection and stay so; one that took a tuple
    # since (a shape, a task's place in creation order) is tracked again, and the next full
    # collection walks every task in it.
    survivors = Survivors()
    _seen(survivors, "first", created=0.0, seen_at=1.0)
    for _ in range(3):
        gc.collect()
    walked_before = sum(len(gc.get_referents(held)) for held in gc.get_objects())
    for i in range(2_000):
        _seen(survivors, f"task-{i}", created=float(i), seen_at=float(i) + 5.0)
    gc.collect(generation=1)  # young collections only, as between two full ones
    walked = sum(len(gc.get_referents(held)) for held in gc.get_objects()) - walked_before
    # A shape tuple and a (created, rank) tuple per task (as before) read 2.0 here.
    assert walked / 2_000 < 0.05, f"{walked / 2_000:.3f} references walked per task"
