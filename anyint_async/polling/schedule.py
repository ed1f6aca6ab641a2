"""The scheduler's pure core: which task to query next, and when.

No asyncio and no clock inside: every call is told ``now``. That keeps the timing logic testable
with a fake clock (property tests drive it through thousands of events in milliseconds), and the
async shell in ``scheduler.py`` only moves tasks between this core and the network.

One heap of (due time, sequence, key, generation) drives every tracked task; rescheduling pushes
a new item and bumps the entry's generation, so stale heap items are skipped when they surface.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterator
from typing import Final

import attrs
from attrs import define, frozen

from ..models import Task, TaskError, TaskRoute, TaskStatus
from .claimed_ages import ClaimedAges
from .cooldown import RateLimitCooldown
from .learning import DurationLearner, LearnedTiming
from .policy import PollPolicy

__all__ = ["Key", "PollSchedule", "Settled", "task_key"]

Key = tuple[TaskRoute, str]
_EPSILON: Final = 1e-3


def task_key(task: Task) -> Key:
    """Tasks are the same task when route family and id agree (ids are per family on Kling)."""
    return (task.route, task.id)


@frozen
class Settled:
    """What one answered query changed: the new snapshot, and whether status or life changed."""

    task: Task
    status_changed: bool
    finished: bool


@define(slots=True)
class _Entry:
    task: Task
    policy: PollPolicy
    waits: Iterator[float]
    handed_at: float
    created_at: float
    generation: int = 0
    polls: int = 0


class PollSchedule:
    """Tracks tasks and decides which one to query at each moment.

    The async shell calls :meth:`pop_due` until it returns None, sleeps until :meth:`next_wake`,
    and reports every launched query back with exactly one of :meth:`settle`, :meth:`retry_later`
    or :meth:`not_found` (or :meth:`abandon`).
    """

    def __init__(
        self,
        *,
        policy_for: Callable[[TaskRoute], PollPolicy],
        rng: random.Random,
        max_in_flight: int,
        min_gap: float = 0.0,
        learner: DurationLearner | None = None,
        cooldown: RateLimitCooldown | None = None,
        wall_clock: Callable[[], float] | None = None,
    ) -> None:
        self._policy_for = policy_for
        self._rng = rng
        self._max_in_flight = max_in_flight
        self._min_gap = min_gap
        self._learner = learner
        self.cooldown = cooldown or RateLimitCooldown()
        self._wall_clock = wall_clock
        self.claimed_ages = ClaimedAges()
        self._entries: dict[Key, _Entry] = {}
        self._timings: dict[
            tuple[TaskRoute, str | None], tuple[float, int, LearnedTiming | None]
        ] = {}
        self._heap: list[tuple[float, int, Key, int]] = []
        self._sequence = itertools.count()
        self._next_send = float("-inf")
        self.in_flight = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def snapshot(self, key: Key) -> Task | None:
        """The last known state of a tracked task."""
        entry = self._entries.get(key)
        return entry.task if entry else None

    # --- tracking ----------------------------------------------------------------------------

    def track(self, task: Task, now: float, policy: PollPolicy | None = None) -> bool:
        """Start polling ``task``; False if it is already tracked (its policy stays)."""
        key = task_key(task)
        if key in self._entries:
            return False
        chosen = policy or self._policy_for(task.route)
        waits = chosen.waits(self._rng)
        entry = _Entry(
            task=task,
            policy=chosen,
            waits=waits,
            handed_at=now,
            created_at=self._created_at(task, now, handed_at=now),
        )
        self._entries[key] = entry
        # The first wait counts from creation when the task says when that was (Kling does),
        # so a batch created first and waited for afterwards is not polled late.
        self._push(key, entry, max(now, entry.created_at + next(waits)))
        return True

    def forget(self, key: Key) -> Task | None:
        """Stop polling a task; its heap items go stale. Returns its last snapshot."""
        entry = self._entries.pop(key, None)
        return entry.task if entry else None

    def tasks(self) -> list[Task]:
        """Last snapshots of every tracked task."""
        return [entry.task for entry in self._entries.values()]

    # --- what to do next ---------------------------------------------------------------------

    def pop_due(self, now: float) -> Task | None:
        """The next task to query now, or None if nothing is due or a limit holds it back.

        Counts the query as in flight; report it back with settle, retry_later or not_found.
        """
        if self.in_flight >= self._max_in_flight or self.cooldown.active(now):
            return None
        if now < self._next_send:
            return None
        while self._heap and self._heap[0][0] <= now + _EPSILON:
            _, _, key, generation = heapq.heappop(self._heap)
            entry = self._entries.get(key)
            if entry is None or entry.generation != generation:
                continue
            learned = self._learned_first_poll(entry, now)
            if learned is not None and learned > now + _EPSILON:
                # The model's tasks were seen to take longer than this: ask when they finish.
                self._push(key, entry, min(learned, now + entry.policy.wait_cap))
                continue
            entry.polls += 1
            self.in_flight += 1
            self._next_send = now + self._min_gap
            return entry.task
        return None

    def next_wake(self, now: float) -> float | None:
        """When :meth:`pop_due` may next return a task; None if only an answer can change that."""
        if self.in_flight >= self._max_in_flight:
            return None
        while self._heap:
            due, _, key, generation = self._heap[0]
            entry = self._entries.get(key)
            if entry is not None and entry.generation == generation:
                return max(due, self.cooldown.until, self._next_send)
            heapq.heappop(self._heap)
        return None

    # --- answers -----------------------------------------------------------------------------

    def settle(self, fresh: Task, now: float) -> Settled | None:
        """A query answered with ``fresh``. None if the task was forgotten meanwhile."""
        self.in_flight -= 1
        self.cooldown.succeeded()
        key = task_key(fresh)
        entry = self._entries.get(key)
        if entry is None:
            return None
        previous = entry.task
        if fresh.model is None and previous.model is not None:
            fresh = attrs.evolve(fresh, model=previous.model)
        entry.task = fresh
        if fresh.created_at is not None and fresh.created_at != previous.created_at:
            entry.created_at = self._created_at(fresh, now, handed_at=entry.handed_at)
        in_grace = now - entry.handed_at < entry.policy.unknown_grace
        if fresh.status is TaskStatus.UNKNOWN and in_grace:
            # A task just created may not be visible to the query route yet.
            self._reschedule(key, entry, now)
            return Settled(task=fresh, status_changed=False, finished=False)
        changed = fresh.status is not previous.status
        if fresh.done:
            del self._entries[key]
            self._learn(entry, fresh, now)
            return Settled(task=fresh, status_changed=changed, finished=True)
        self._reschedule(key, entry, now)
        return Settled(task=fresh, status_changed=changed, finished=False)

    def retry_later(
        self, key: Key, now: float, *, rate_limited: bool = False, retry_after: float | None = None
    ) -> None:
        """A query failed in a way that heals: ask again later (all later, on a 429)."""
        self.in_flight -= 1
        resume = now
        if rate_limited:
            resume = self.cooldown.throttled(now, retry_after)
        entry = self._entries.get(key)
        if entry is not None:
            wait = min(next(entry.waits), entry.policy.wait_cap)
            self._push(key, entry, max(resume, now + wait))

    def abandon(self, key: Key) -> Task | None:
        """A launched query ended with no verdict worth acting on: stop tracking the task."""
        self.in_flight -= 1
        return self.forget(key)

    def not_found(self, key: Key, now: float, error: TaskError) -> Task | None:
        """The provider does not know the task. Within the grace period, ask again and return
        None; after it, stop tracking and return the last snapshot marked UNKNOWN."""
        self.in_flight -= 1
        entry = self._entries.get(key)
        if entry is None:
            return None
        if now - entry.handed_at < entry.policy.unknown_grace:
            self._reschedule(key, entry, now)
            return None
        del self._entries[key]
        return attrs.evolve(entry.task, status=TaskStatus.UNKNOWN, error=error)

    # --- internals ---------------------------------------------------------------------------

    def _push(self, key: Key, entry: _Entry, due: float) -> None:
        entry.generation += 1
        heapq.heappush(self._heap, (due, next(self._sequence), key, entry.generation))

    def _reschedule(self, key: Key, entry: _Entry, now: float) -> None:
        wait = next(entry.waits)
        learned = self._learned(entry, now)
        if learned is not None:
            jitter = entry.policy.jitter
            age = max(0.0, now - entry.created_at)
            wait = learned.wait(age) * self._rng.uniform(1 - jitter, 1 + jitter)
        # However long the learned durations or the claimed age, a task is asked about again
        # within the cap: nothing learned or claimed can leave it unpolled for hours.
        self._push(key, entry, now + min(max(wait, _EPSILON), entry.policy.wait_cap))

    def _learned(self, entry: _Entry, now: float) -> LearnedTiming | None:
        """The learner's timing for the entry's model, recomputed at most once a second (or
        when its samples doubled): the estimate walks every running task of the model."""
        if self._learner is None or not entry.policy.learn:
            return None
        group = (entry.task.route, entry.task.model)
        samples = self._learner.samples(*group)
        cached = self._timings.get(group)
        if cached is not None:
            computed_at, computed_samples, timing = cached
            if now - computed_at < 1.0 and samples < 2 * computed_samples:
                return timing
        running = [
            now - other.created_at
            for other in self._entries.values()
            if (other.task.route, other.task.model) == group
        ]
        timing = self._learner.timing(entry.task.route, entry.task.model, running)
        self._timings[group] = (now, max(1, samples), timing)
        return timing

    def _learned_first_poll(self, entry: _Entry, now: float) -> float | None:
        timing = None if entry.polls else self._learned(entry, now)
        return None if timing is None else entry.created_at + timing.first_poll

    def _learn(self, entry: _Entry, task: Task, now: float) -> None:
        if self._learner is None or task.status not in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
            return
        if task.created_at is not None and task.finished_at is not None:
            # Both ends on the provider's clock: exact, and immune to our polling delay.
            seconds = (task.finished_at - task.created_at).total_seconds()
        else:
            seconds = now - entry.created_at
        self._learner.observe(task.route, task.model, seconds)

    def _created_at(self, task: Task, now: float, *, handed_at: float) -> float:
        """When the task was created, on the scheduler's clock: never later than its
        hand-over, and never earlier than the provider's clock can be trusted for
        (see ``ClaimedAges``)."""
        if task.created_at is None or self._wall_clock is None:
            return handed_at
        claimed_age = self._wall_clock() - task.created_at.timestamp()
        provider = task.route.value.split(".", 1)[0]
        return self.claimed_ages.created_at(
            provider, claimed_age=claimed_age, now=now, handed_at=handed_at
        )
