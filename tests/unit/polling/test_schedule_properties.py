"""Property tests of the scheduler's core under a fake clock.

For any interleaving of hand-overs, time passing, queries launched and answered (running,
succeeded, failed, canceled, unknown, transient errors, 429s with or without Retry-After,
not-found) and consumers leaving, every task finishes at most once, nothing tracked is ever
stranded without a future poll, the in-flight bound holds, a provider's pause after a refusal
holds for its queries and never for the other provider's, and DashScope's known limit of 20
queries a second is never exceeded.
"""

from __future__ import annotations

import math
import random
from collections import Counter

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from anyint_async import DurationLearner, PollPolicy, Task, TaskError, TaskRoute, TaskStatus
from anyint_async.polling.schedule import PollSchedule, task_key

ROUTES = list(TaskRoute)
MAX_IN_FLIGHT = 3
POLICY = PollPolicy(first_poll=2.0, interval=1.0, max_interval=8.0, unknown_grace=5.0)
OUTCOMES = st.sampled_from(
    [
        "running",
        "pending",
        "succeeded",
        "failed",
        "canceled",
        "unknown",
        "error",
        "throttled",
        "throttled-after",
        "not-found",
    ]
)


class ScheduleMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.now = 1000.0
        self.schedule = PollSchedule(
            policy_for=lambda route: POLICY,
            rng=random.Random(0),
            max_in_flight=MAX_IN_FLIGHT,
            min_gap=0.0,
            learner=DurationLearner(),
            wall_clock=lambda: 1_700_000_000.0 + self.now,
        )
        self.tracked: set[tuple[TaskRoute, str]] = set()
        self.flying: Counter[tuple[TaskRoute, str]] = Counter()
        self.finished: Counter[tuple[TaskRoute, str]] = Counter()
        self.handed: Counter[tuple[TaskRoute, str]] = Counter()
        self.launched = 0
        self.sent: dict[str, list[float]] = {"dashscope": [], "kling": []}

    @rule(
        number=st.integers(0, 12),
        route=st.sampled_from(ROUTES),
        model=st.sampled_from(["a", "b", None]),
    )
    def hand_over(self, number: int, route: TaskRoute, model: str | None) -> None:
        task = Task(id=f"t{number}", status=TaskStatus.PENDING, route=route, model=model)
        added = self.schedule.track(task, self.now)
        assert added == (task_key(task) not in self.tracked)
        if added:
            self.handed[task_key(task)] += 1
        self.tracked.add(task_key(task))

    @rule(seconds=st.floats(0.0, 20.0))
    def time_passes(self, seconds: float) -> None:
        self.now += seconds

    @rule()
    def launch(self) -> None:
        paused = {
            name: budget.pause.active(self.now) for name, budget in self.schedule.budgets.items()
        }
        task = self.schedule.pop_due(self.now)
        if task is None:
            return
        provider = task.route.provider.value
        assert not paused[provider], "no query may start while its provider is paused"
        sent = self.sent[provider]
        sent.append(self.now)
        if provider == "dashscope":
            assert sum(1 for at in sent if at > self.now - 1.0) <= 20, "DashScope's 20/s holds"
        key = task_key(task)
        assert key in self.tracked, "only tracked tasks are queried"
        self.flying[key] += 1
        self.launched += 1

    @precondition(lambda self: sum(self.flying.values()) > 0)
    @rule(data=st.data(), outcome=OUTCOMES, retry_after=st.floats(0.1, 30.0))
    def answer(self, data: st.DataObject, outcome: str, retry_after: float) -> None:
        key = data.draw(st.sampled_from(sorted(k for k, n in self.flying.items() if n)))
        self.flying[key] -= 1
        route_value, _, task_id = key.partition(" ")
        route = TaskRoute(route_value)
        if outcome == "error":
            self.schedule.failed(key, self.now)
            return
        if outcome in ("throttled", "throttled-after"):
            provider = route.provider.value
            others = {
                name: budget.pause.until
                for name, budget in self.schedule.budgets.items()
                if name != provider
            }
            self.schedule.refused(
                key, self.now, retry_after if outcome == "throttled-after" else None
            )
            assert self.schedule.budgets[provider].pause.until > self.now
            for name, until in others.items():
                assert self.schedule.budgets[name].pause.until == until, "the other waits not"
            return
        if outcome == "not-found":
            gone = self.schedule.not_found(key, self.now, TaskError(code="1203", message="gone"))
            if gone is not None:
                assert gone.status is TaskStatus.UNKNOWN and gone.error is not None
                self._finish(key)
            return
        status = {
            "running": TaskStatus.RUNNING,
            "pending": TaskStatus.PENDING,
            "succeeded": TaskStatus.SUCCEEDED,
            "failed": TaskStatus.FAILED,
            "canceled": TaskStatus.CANCELED,
            "unknown": TaskStatus.UNKNOWN,
        }[outcome]
        fresh = Task(id=task_id, status=status, route=route)
        settled = self.schedule.settle(fresh, self.now)
        if key not in self.tracked:
            assert settled is None, "a forgotten task yields nothing"
            return
        assert settled is not None
        if settled.finished:
            assert settled.task.done
            self._finish(key)
        else:
            assert key in self.schedule

    def _finish(self, key: tuple[TaskRoute, str]) -> None:
        self.finished[key] += 1
        self.tracked.discard(key)
        assert key not in self.schedule

    @precondition(lambda self: bool(self.tracked))
    @rule(data=st.data())
    def consumer_leaves(self, data: st.DataObject) -> None:
        key = data.draw(st.sampled_from(sorted(self.tracked)))
        assert self.schedule.forget(key) is not None
        self.tracked.discard(key)

    @invariant()
    def counts_agree(self) -> None:
        assert self.schedule.in_flight == sum(self.flying.values())
        assert self.schedule.in_flight <= MAX_IN_FLIGHT
        assert len(self.schedule) == len(self.tracked)

    @invariant()
    def nothing_is_stranded(self) -> None:
        # A tracked task not being queried right now has a future poll, unless the in-flight
        # bound is what holds it back.
        idle = [key for key in self.tracked if not self.flying[key]]
        if idle and self.schedule.in_flight < MAX_IN_FLIGHT:
            wake = self.schedule.next_wake(self.now)
            assert wake is not None

    @invariant()
    def finished_at_most_once(self) -> None:
        # A task id may be handed over again after it finished (a new consumer), but each
        # hand-over finishes at most once: never more finishes than hand-overs.
        for key, count in self.finished.items():
            assert count <= self.handed[key]


ScheduleMachine.TestCase.settings = settings(
    max_examples=150, stateful_step_count=60, deadline=None
)
TestScheduleMachine = ScheduleMachine.TestCase


def test_no_query_starts_within_the_last_millisecond_of_a_pause() -> None:
    """``pop_due`` counts a task due within a millisecond of its time; a refusal's pause has no
    such tolerance. Found by the state machine above: a refusal without Retry-After (a 1 s
    pause), then a query popped 10 us before the pause ended."""
    now = 1000.0
    schedule = PollSchedule(
        policy_for=lambda route: POLICY, rng=random.Random(0), max_in_flight=3, min_gap=0.0
    )
    schedule.track(Task(id="t0", status=TaskStatus.PENDING, route=TaskRoute.DASHSCOPE_TASKS), now)
    now += 3.0
    task = schedule.pop_due(now)
    assert task is not None
    schedule.refused(task_key(task), now, None)
    until = schedule.budgets["dashscope"].pause.until
    assert until > now
    assert schedule.pop_due(until - 1e-5) is None
    assert schedule.next_wake(until - 1e-5) == until  # the driver sleeps to the pause's end
    assert schedule.pop_due(until) is not None


def test_every_tracked_task_is_eventually_polled_and_finished() -> None:
    """Driving the core to completion: every task finishes exactly once, whatever the mix."""
    rng = random.Random(5)
    now = 0.0
    schedule = PollSchedule(policy_for=lambda route: POLICY, rng=rng, max_in_flight=4)
    tasks = [
        Task(id=f"t{i}", status=TaskStatus.PENDING, route=rng.choice(ROUTES)) for i in range(500)
    ]
    finish_at = {task_key(t): rng.uniform(1, 100) for t in tasks}
    for task in tasks:
        schedule.track(task, now)
    finished: Counter[tuple[TaskRoute, str]] = Counter()
    while len(schedule):
        wake = schedule.next_wake(now)
        assert wake is not None
        now = max(now, wake)
        while (task := schedule.pop_due(now)) is not None:
            key = task_key(task)
            roll = rng.random()
            if roll < 0.01:
                schedule.refused(key, now, retry_after=2.0)
                continue
            if roll < 0.05:
                schedule.failed(key, now)
                continue
            done = now >= finish_at[key]
            status = (
                (TaskStatus.FAILED if roll < 0.15 else TaskStatus.SUCCEEDED)
                if done
                else TaskStatus.RUNNING
            )
            settled = schedule.settle(attrs.evolve(task, status=status), now)
            assert settled is not None
            if settled.finished:
                finished[key] += 1
    assert set(finished) == set(finish_at) and set(finished.values()) == {1}
    assert schedule.in_flight == 0


def test_a_task_answered_just_before_its_learned_first_query_is_not_asked_again_at_once() -> None:
    """A task is asked when its due time is within ``pop_due``'s millisecond of tolerance; an
    answer a fraction of a millisecond before its learned first query must not make it due
    again in the same instant (it was, and a fake clock that does not move spun on it)."""
    learner = DurationLearner()
    for seconds in range(20, 60):
        learner.observe(TaskRoute.DASHSCOPE_TASKS, "m", float(seconds))
    # A spacing in seconds asks the fastest few before the earliest likely finish (20.37 s
    # here): a task answered then is still young enough to be due at its first query's time.
    policy = PollPolicy(target_delay_seconds=0.5, jitter=0.0)
    schedule = PollSchedule(
        policy_for=lambda route: policy,
        rng=random.Random(1),
        max_in_flight=4,
        learner=learner,
        rate_limits={"dashscope": math.inf, "kling": math.inf},  # no pacing between queries
    )
    task = Task(id="t", status=TaskStatus.PENDING, route=TaskRoute.DASHSCOPE_TASKS, model="m")
    schedule.track(task, 0.0)
    first = schedule.next_wake(0.0)
    assert first is not None and first > 10.0  # asked first where such tasks begin to end
    now = first - 0.0005  # within the tolerance: asked now
    asked = schedule.pop_due(now)
    assert asked is not None
    schedule.settle(attrs.evolve(asked, status=TaskStatus.RUNNING), now)
    assert schedule.pop_due(now) is None
    upcoming = schedule.next_wake(now)
    assert upcoming is not None and upcoming > now + 0.001
