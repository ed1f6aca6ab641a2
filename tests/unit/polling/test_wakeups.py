"""Callbacks as wake-ups in the scheduling core, on a fake clock: a woken task is asked at once,
a task whose query is in flight is asked again after its answer, an early callback waits for
its task, and tasks that will call back are polled sparsely."""

from __future__ import annotations

import math
import random

import attrs

from anyint_async import DurationLearner, PollPolicy, Task, TaskRoute, TaskStatus
from anyint_async.polling.schedule import EARLY_CALLBACK_TTL, PollSchedule, task_key

POLICY = PollPolicy(
    first_poll=5.0, interval=5.0, max_interval=5.0, jitter=0.0, learn=False, callback_fallback=60.0
)
ROUTE = TaskRoute.KLING_OMNI_VIDEO


def _core(max_in_flight: int = 8) -> PollSchedule:
    return PollSchedule(
        policy_for=lambda route: POLICY,
        rng=random.Random(0),
        max_in_flight=max_in_flight,
        rate_limits={"dashscope": math.inf, "kling": math.inf},
    )


def _many(count: int) -> tuple[PollSchedule, list[str]]:
    """A core with ``count`` tasks tracked and room for all of them in flight."""
    core = _core(max_in_flight=10_000)
    names = [str(i) for i in range(count)]
    for name in names:
        core.track(_task(name), 0.0)
    return core, names


def _asked(core: PollSchedule, now: float) -> list[str]:
    """Every task pop_due hands out at ``now``, a slice at a time, until nothing is left due."""
    asked = []
    for _ in range(10_000):
        task = core.pop_due(now)
        if task is not None:
            asked.append(task.id)
        elif core.next_wake(now) != now:
            break
    return asked


def _task(name: str = "1", *, callback: bool = True) -> Task:
    return Task(id=name, status=TaskStatus.PENDING, route=ROUTE, callback=callback)


def test_a_task_that_will_call_back_is_polled_sparsely() -> None:
    core = _core()
    core.track(_task(callback=True), 0.0)
    core.track(_task("2", callback=False), 0.0)
    assert core.next_wake(0.0) == 5.0  # the task without a callback
    polled = core.pop_due(5.0)
    assert polled is not None and polled.id == "2"
    core.settle(attrs.evolve(polled, status=TaskStatus.RUNNING), 5.0)
    core.forget(task_key(polled))
    assert core.next_wake(5.0) == 65.0  # its expected end (first_poll) + the fallback


def test_a_callback_wakes_its_task_at_once() -> None:
    core = _core()
    task = _task()
    core.track(task, 0.0)
    assert core.wake("1", 3.0)
    assert core.next_wake(3.0) == 3.0
    assert core.pop_due(3.0) is not None


def test_a_callback_during_a_query_asks_again_after_its_answer() -> None:
    core = _core()
    task = _task(callback=False)
    core.track(task, 0.0)
    flying = core.pop_due(5.0)
    assert flying is not None
    assert core.wake("1", 5.1)  # the answer on its way may predate what the callback says
    core.settle(attrs.evolve(flying, status=TaskStatus.RUNNING), 5.2)
    assert core.next_wake(5.2) == 5.2  # not the curve's 10.2


def test_an_early_callback_waits_for_its_task_then_expires() -> None:
    core = _core()
    assert not core.wake("1", 0.0)  # nobody waits for it yet
    core.track(_task(), 1.0)
    assert core.next_wake(1.0) == 1.0  # asked at once on hand-over
    late = _core()
    late.wake("1", 0.0)
    late.track(_task(), EARLY_CALLBACK_TTL + 1.0)  # the hint has expired
    wake = late.next_wake(EARLY_CALLBACK_TTL + 1.0)
    assert wake is not None and wake > EARLY_CALLBACK_TTL + 60.0


def test_callbacks_name_kling_tasks_only() -> None:
    core = _core()
    core.track(Task(id="1", status=TaskStatus.PENDING, route=TaskRoute.DASHSCOPE_TASKS), 0.0)
    assert not core.wake("1", 1.0)
    assert core.next_wake(1.0) == 5.0


def test_the_first_finish_of_a_batch_does_not_pull_tasks_that_will_call_back() -> None:
    core = PollSchedule(
        policy_for=lambda route: attrs.evolve(POLICY, learn=True),
        rng=random.Random(0),
        max_in_flight=8,
        learner=DurationLearner(),
        rate_limits={"dashscope": math.inf, "kling": math.inf},
    )
    for i in range(100):  # more than the scouts a new model gets
        core.track(
            Task(id=str(i), status=TaskStatus.PENDING, route=ROUTE, model="m", callback=True), 0.0
        )
    assert core.wake("0", 2.0)
    first = core.pop_due(2.0)
    assert first is not None
    core.settle(attrs.evolve(first, status=TaskStatus.SUCCEEDED), 2.0)  # the model is learned
    assert core.pop_due(2.0) is None  # nobody else is asked: their callbacks will come
    wake = core.next_wake(2.0)
    assert wake is not None and wake > 60.0


def test_tasks_woken_again_and_again_are_each_asked_once_and_none_is_lost() -> None:
    # Each wake leaves the task's older heap item behind; once they outnumber the tasks they
    # are swept out at the next pop_due calls, which must keep each task's newest item and
    # drop every other, whichever round pushed it.
    core, names = _many(1500)
    # All woken once, the first half twice more, the first third once more still. The sweep
    # comes after the third round, where the second half's newest items are the first
    # round's: swept by mistake, those tasks would never be asked.
    rounds = ((1.0, names), (2.0, names[:750]), (3.0, names[:750]), (4.0, names[:500]))
    for now, woken in rounds:
        assert all(core.wake(name, now) for name in woken)
        assert core.pop_due(0.5) is None  # nothing is due yet: the turn a sweep takes
    assert sorted(_asked(core, 4.0)) == sorted(names)
    assert core.next_wake(4.0) is None  # every task in flight, nothing stale left due


def test_a_sweep_hands_the_loop_back_halfway_and_keeps_what_was_pushed_meanwhile() -> None:
    # A sweep reads which items are live in one turn and drops the rest in the next, so
    # neither holds the event loop for the whole walk; tasks woken between the two turns must
    # keep their new items, which the first turn did not see.
    core, names = _many(1500)
    for now in (0.1, 0.2):
        assert all(core.wake(name, now) for name in names)  # stale items past the threshold
    assert core.pop_due(0.5) is None  # the sweep's first turn
    assert core.next_wake(0.5) == 0.5  # more to do at once
    woken_between = names[:100]
    assert all(core.wake(name, 0.3) for name in woken_between)
    assert core.pop_due(0.5) is None  # its second turn, though tasks are due
    assert sorted(_asked(core, 0.5)) == sorted(names)  # each once: none lost, none twice
    assert core.next_wake(0.5) is None
