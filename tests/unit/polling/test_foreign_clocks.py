"""A provider clock that is wrong must not stall polling: the core on a fake clock.

The same tasks (same durations, same seed) are polled once with a true provider clock and once
with a provider clock off by hours or minutes either way; the skewed runs must detect every task
no later and with no more queries than the true one. Without the bound on claimed ages, a clock
8 h behind makes every task look 8 h old and the learned waits grow to hours.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime

import attrs
import pytest

from anyint_async import DurationLearner, PollPolicy, Task, TaskRoute, TaskStatus
from anyint_async.polling.schedule import PollSchedule, task_key

WALL0 = 1_800_000_000.0
POLICY = PollPolicy(first_poll=10.0, interval=5.0, max_interval=20.0)


def _stamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(WALL0 + seconds, tz=UTC)


def _simulate(route: TaskRoute, skew: float, *, late_handover: bool = False) -> tuple[float, int]:
    """Poll 120 tasks to the end; return (worst detection delay, queries). ``skew`` is added to
    every provider timestamp (negative: the provider clock is behind)."""
    rng = random.Random(11)
    now = 0.0
    schedule = PollSchedule(
        policy_for=lambda route: POLICY,
        rng=random.Random(3),
        max_in_flight=8,
        learner=DurationLearner(),
        wall_clock=lambda: WALL0 + now,
    )
    created = {f"t{i}": rng.uniform(0, 60) for i in range(120)}
    duration = {name: rng.lognormvariate(math.log(90), 0.4) for name in created}
    handed = {
        name: at + (rng.uniform(0, 30) if late_handover else 0.0) for name, at in created.items()
    }
    # The create answer carries created_at on Kling; DashScope's says it only when queried.
    stamps_on_create = route is not TaskRoute.DASHSCOPE_TASKS
    waiting = sorted(handed, key=handed.__getitem__)
    worst, queries = 0.0, 0
    for _ in range(100_000):  # bounded: a stalled schedule fails here instead of spinning
        if not (waiting or len(schedule)):
            break
        wake = schedule.next_wake(now)
        upcoming = [handed[name] for name in waiting[:1]]
        now = min([w for w in (wake,) if w is not None] + upcoming)
        while waiting and handed[waiting[0]] <= now:
            name = waiting.pop(0)
            stamp = _stamp(created[name] + skew) if stamps_on_create else None
            task = Task(
                id=name, status=TaskStatus.PENDING, route=route, model="m", created_at=stamp
            )
            schedule.track(task, now)
        while (task := schedule.pop_due(now)) is not None:
            queries += 1
            name = task.id
            ends = created[name] + duration[name]
            done = now >= ends
            fresh = attrs.evolve(
                task,
                status=TaskStatus.SUCCEEDED if done else TaskStatus.RUNNING,
                created_at=_stamp(created[name] + skew),
                finished_at=_stamp(ends + skew) if done else None,
            )
            settled = schedule.settle(fresh, now)
            assert settled is not None
            if settled.finished:
                worst = max(worst, now - ends)
        if now > 7 * 86_400:
            break  # a week of fake time: the schedule stalled
    assert not waiting and not len(schedule) and schedule.in_flight == 0
    return worst, queries


@pytest.mark.parametrize("route", [TaskRoute.KLING_OMNI_VIDEO, TaskRoute.DASHSCOPE_TASKS])
@pytest.mark.parametrize("late_handover", [False, True])
@pytest.mark.parametrize("skew", [-8 * 3600.0, 8 * 3600.0, -300.0, 300.0])
def test_a_wrong_provider_clock_costs_no_detection_delay(
    route: TaskRoute, late_handover: bool, skew: float
) -> None:
    true_worst, true_queries = _simulate(route, 0.0, late_handover=late_handover)
    worst, queries = _simulate(route, skew, late_handover=late_handover)
    # The worst case is one of the fastest few percent (polled after the learned early finish,
    # by design) handed over up to 30 s late: well under a median duration of 90 s.
    assert true_worst < 45.0, "the true-clock run itself is sane"
    assert worst <= true_worst * 1.02 + 1e-6
    assert queries <= true_queries * 1.02


def test_every_wait_is_capped_whatever_the_learner_says() -> None:
    now = 0.0
    learner = DurationLearner()
    for _ in range(5):
        learner.observe(TaskRoute.KLING_OMNI_VIDEO, "slow", 50_000.0)  # learned: half a day
    policy = PollPolicy(first_poll=1.0, interval=1.0, max_interval=5.0, longest_wait=60.0)
    schedule = PollSchedule(
        policy_for=lambda route: policy, rng=random.Random(0), max_in_flight=4, learner=learner
    )
    task = Task(id="t", status=TaskStatus.PENDING, route=TaskRoute.KLING_OMNI_VIDEO, model="slow")
    schedule.track(task, now)
    for _ in range(5):
        wake = schedule.next_wake(now)
        assert wake is not None and wake - now <= 60.0 + 1e-9
        now = wake
        polled = schedule.pop_due(now)
        if polled is None:
            continue
        schedule.settle(attrs.evolve(polled, status=TaskStatus.RUNNING), now)
    assert task_key(task) in schedule


def test_the_default_cap_is_two_minutes_or_the_longest_interval() -> None:
    assert PollPolicy().wait_cap == 120.0
    assert PollPolicy(max_interval=300.0).wait_cap == 300.0
    assert PollPolicy(longest_wait=30.0).wait_cap == 30.0
