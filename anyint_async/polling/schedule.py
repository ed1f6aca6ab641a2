"""The scheduler's pure core: which task to query next, and when.

No asyncio and no clock inside: every call is told ``now``. That keeps the timing logic testable
with a fake clock (property tests drive it through thousands of events in milliseconds), and the
async shell in ``scheduler.py`` only moves tasks between this core and the network.

One heap of (due time, sequence number, key) drives every tracked task; rescheduling pushes a new
item and the entry remembers only its newest item's number, so stale items are skipped when they
surface.
"""

from __future__ import annotations

import heapq
import itertools
import math
import operator
import random
from collections import Counter, deque
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Final

import attrs
from attrs import frozen

from .._retry import RetryPolicy
from ..models import Provider, Task, TaskError, TaskRoute, TaskStatus
from .budget import QueryBudget
from .claimed_ages import ClaimedAges
from .entries import Entries, Entry, Key, Pool, key_of, route_of, task_key
from .learning import Clock, DurationEstimate, DurationLearner, GroupKey
from .policy import PollPolicy
from .snapshots import Packed, repeats, unpack
from .snapshots import created_at as claimed_created_at
from .snapshots import started_at as claimed_started_at
from .survivors import Survivors

__all__ = [
    "DEFAULT_QUERY_RATE_LIMITS",
    "PROVIDER_OF",
    "Key",
    "PollSchedule",
    "PollStats",
    "Settled",
    "carry_over",
    "task_key",
]

#: A heap item: (due time, sequence number, key); the number breaks ties in order of pushing.
_Item = tuple[float, int, Key]
_SEQ_OF_ITEM: Final = operator.itemgetter(1)
_EPSILON: Final = 1e-3
#: The least wait before a task answered now is asked again. Over ``_EPSILON``, the tolerance
#: within which ``pop_due`` counts a task due: pushed at that tolerance itself, a task was due
#: again in the same instant, asked twice for one answer's news (and a fake clock that does
#: not move on by itself spun on it).
_LEAST_WAIT: Final = 2 * _EPSILON
#: A provider's heap is swept of stale items when it holds more than this many per tracked task
#: (plus the slack, so small schedules never sweep): once stale items outnumber the tasks, so a
#: sweep costs a push or two, amortised. Lower, sweeps are shorter but far more frequent: at 1
#: one came every 1,024 stale items, a walk over every task each time (78 sweeps and 4.5 s of
#: CPU in the 100,000-task scheduler benchmark, none at 2).
_STALE_FACTOR: Final = 2
_STALE_SLACK: Final = 1024
#: Tasks of a model nothing is known of that are polled on the policy's curve; the rest of its
#: batch waits (up to the policy's wait cap) until the first of these finishes and says when
#: to look. (Fewer for a looser target saved queries on average, but the first finish of a
#: small sample comes late too often: 11 scouts at a target of 0.3 once saw theirs near the
#: batch's median, which doubled its p95.)
SCOUTS: Final = 32
#: Likewise for a request shape nothing is known of, of a model whose other shapes are known:
#: fewer, since the model's durations already say when to start looking.
SHAPE_SCOUTS: Final = 8
#: With a spacing in seconds, the scouts a pool grows to once it has been silent (no finish
#: seen) for ``_WIDEN_AFTER`` spacings. A task that is not a scout is found only when the first
#: scout's finish is, and 1 in n+1 of a batch is expected to end before the first of n scouts
#: does; a hundred leave that to about 1 in 100, the share the promise (nearly all within the
#: spacing) leaves out.
WIDE_SCOUTS: Final = 100
#: Spacings of silence before a pool's scouts grow. Sooner pays for nothing: at 5 s the first
#: finish was seen within three spacings on every shape and the p99 held (fake clock, 300 tasks
#: cold, 8 seeds: 0.98-1.00 S), and grown at two the scouts were asked just as a floored batch's
#: first finish came (5 s: 0.62 -> 0.69 of a loop's queries, no task found sooner). Later
#: misses: grown at four, a log-normal's fastest 2% (piled on its clip at 5 s, as a cluster
#: of quick refusals would be) waited up to 2.2 spacings at 2 s.
_WIDEN_AFTER: Final = 3.0
#: Reschedulings done in one call before handing the event loop back: a pool's first finish
#: moves every task of it, and 20,000 at once held the loop for 0.3 s. Spread over calls
#: (the shell yields between them), each slice holds it a few milliseconds.
_SLICE: Final = 256

#: Each route family's provider name (``route.provider`` builds an enum member each time: this
#: is read for every query sent).
PROVIDER_OF: Final[Mapping[str, str]] = {route.value: route.provider.value for route in TaskRoute}
_KLING_ROUTES: Final = tuple(route.value for route in TaskRoute if route.provider is Provider.KLING)
#: A callback that names a task not handed over yet (its create's answer is still on its way)
#: is kept this long, and at most this many such ids at once.
EARLY_CALLBACK_TTL: Final = 60.0
_EARLY_CALLBACKS: Final = 10_000

#: Task queries per second per account: DashScope documents 20 (reference/dashscope.md, "Limits
#: upstream"); Kling and AnyInt publish none, so Kling's is found from its answers.
DEFAULT_QUERY_RATE_LIMITS: Final[Mapping[str, float | None]] = {"dashscope": 20.0, "kling": None}


@frozen
class Settled:
    """What one answered query changed: the new snapshot, and whether status or life changed."""

    task: Task
    status_changed: bool
    finished: bool


@frozen
class PollStats:
    """What the scheduler sent: ``polls`` (queries on a task's poll curve), ``retries`` (a
    query sent again after a transient failure or a refusal), ``failed`` (transient failures:
    5xx, error pages, timeouts, dropped connections), ``refused`` (429s and Kling 1302), and
    each provider's paced rate (queries per second; ``inf`` when not paced); ``hedges``
    (a query asked again on another connection while the first was still unanswered, see
    ``HedgePolicy``), counted apart from the others."""

    polls: int
    retries: int
    failed: int
    refused: int
    rates: Mapping[str, float]
    hedges: int = 0


class PollSchedule:
    """Tracks tasks and decides which one to query at each moment.

    The async shell calls :meth:`pop_due` until it returns None, sleeps until :meth:`next_wake`,
    and reports every launched query back with exactly one of :meth:`settle`, :meth:`failed`,
    :meth:`refused` or :meth:`not_found` (or :meth:`abandon`).

    Each provider has its own heap and its own :class:`QueryBudget`: a provider that refuses
    queries slows only its own, and when more are due than a budget allows, the longest
    overdue go first.

    ``scouts``: how many tasks of a model nothing is known of are polled before its first
    finish (``SCOUTS``); ``wide_scouts``: how many with a spacing in seconds once that finish
    is long in coming (``WIDE_SCOUTS``). Told otherwise only to measure what those counts
    trade (``benchmarks.decisions``).
    """

    def __init__(
        self,
        *,
        policy_for: Callable[[TaskRoute], PollPolicy],
        rng: random.Random,
        max_in_flight: int,
        min_gap: float = 0.0,
        learner: DurationLearner | None = None,
        wall_clock: Callable[[], float] | None = None,
        rate_limits: Mapping[str, float | None] = DEFAULT_QUERY_RATE_LIMITS,
        retry: RetryPolicy | None = None,
        on_rate_change: Callable[[str, float], None] | None = None,
        scouts: int = SCOUTS,
        wide_scouts: int = WIDE_SCOUTS,
    ) -> None:
        self._policy_for = policy_for
        self._scout_count = scouts
        self._wide_scouts = wide_scouts
        self._rng = rng
        # The shell may move it (see ``inflight``); ``reached_cap`` says whether it bound since
        # the shell last cleared it.
        self.max_in_flight = max_in_flight
        self.reached_cap = False
        self._min_gap = min_gap
        self._learner = learner
        self._retry = retry or RetryPolicy()
        self.budgets = {
            provider.value: QueryBudget(
                rate_limits.get(provider.value), provider=provider.value, on_change=on_rate_change
            )
            for provider in Provider
        }
        self._heaps: dict[str, list[_Item]] = {provider.value: [] for provider in Provider}
        self._counts = {"polls": 0, "retries": 0, "failed": 0, "refused": 0, "hedges": 0}
        # Waits before re-sending a failed query (the RetryPolicy's, growing while failures
        # repeat), kept only for tasks whose last query failed.
        self._retry_waits: dict[Key, Iterator[float]] = {}
        # Callbacks: ids woken while their query was in flight (ask again after its answer),
        # and ids named before their task was handed over (id -> when the hint expires).
        self._woken: set[Key] = set()
        self._urgent: set[Key] = set()  # woken: asked at once, whatever was learned
        self._early: dict[str, float] = {}
        self._wall_clock = wall_clock
        self.claimed_ages = ClaimedAges()
        # Each task's state, in columns the garbage collector skips (see entries): every method
        # below gets a working copy and puts it back once changed (``_push`` does, last).
        self._entries = Entries()
        self._survivors = Survivors()
        self._recomputed_at = -math.inf
        # Pools whose first finish is known (see _pull_forward), and models that showed a
        # finish shorter than any before (True, see _hasten), with the tasks still to move.
        self._pulls: deque[tuple[Pool, Iterator[Key], bool]] = deque()
        # A call stopped at its slice with work left: the next is due at once.
        self._behind = False
        # Providers whose heap holds too many stale items: swept at the next pop_due, in two
        # turns of the event loop of their own (see _push and _sweep_step).
        self._sweeps: set[str] = set()
        # A sweep between its two turns: per provider, the sequence numbers of the items to
        # keep (those live at its first turn, and every one pushed since).
        self._sweeping: dict[str, set[int]] = {}
        self._estimates: dict[
            tuple[Clock, GroupKey], tuple[float, int, DurationEstimate | None]
        ] = {}
        # (clock, route, model, workload, by request) -> (the learner's revision, the group
        # that speaks for such tasks, its samples), see _estimate.
        self._groups: dict[
            tuple[Clock, TaskRoute, str | None, str | None, bool],
            tuple[int, GroupKey | None, int],
        ] = {}
        self._scouts: dict[Pool, int] = {}
        # Per model or request shape nothing is known of: its tasks that are not scouts,
        # waiting for them (a dict of keys, which the garbage collector does not walk, where a
        # list of them was a reference per task at every full collection until the first finish).
        self._unscouted: dict[Pool, dict[Key, None]] = {}
        self._sequence = itertools.count()
        self._next_send = float("-inf")
        self.in_flight = 0

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        return key in self._entries

    def snapshot(self, key: Key) -> Task | None:
        """The last known state of a tracked task."""
        packed = self._entries.packed(key)
        return None if packed is None else unpack(packed)

    def held_key(self, key: Key) -> Key:
        """The string a tracked task's key is held under (see ``Entries.held_key``)."""
        return self._entries.held_key(key)

    def packed(self, key: Key) -> Packed | None:
        """The last known state of a tracked task, packed (see ``snapshots``)."""
        return self._entries.packed(key)

    def running_models(self) -> Counter[tuple[str, str | None]]:
        """How many tracked tasks each (route family, model) has."""
        return self._entries.models()

    # --- tracking ----------------------------------------------------------------------------

    def track(self, task: Task, now: float, policy: PollPolicy | None = None) -> bool:
        """Start polling ``task``; False if it is already tracked (its policy stays)."""
        key = task_key(task)
        if key in self._entries:
            return False
        chosen = policy or self._policy_for(task.route)
        entry = Entry.handed_over(
            task,
            policy=chosen,
            handed_at=now,
            created_at=self._created_at(task, now, handed_at=now),
        )
        self._entries.track(entry)
        self._note_start(entry)
        # The first wait counts from creation when the task says when that was (Kling does),
        # so a batch created first and waited for afterwards is not polled late.
        first = entry.created_at + chosen.first_wait(self._rng)
        learned = self._learned_due(entry, now, first=True)
        self._enlist(key, entry)
        if not entry.scout:
            # The scouts' first finish pulls it forward (see _pull_forward); a query before
            # that could only say "still running", which the scouts already say for it.
            due = (first if learned is None else now) + chosen.wait_cap
        else:
            due = first if learned is None else min(learned, now + chosen.wait_cap)
        if task.callback:
            due = max(due, self._callback_due(entry, now))
        if self._early.pop(task.id, -math.inf) > now:
            due = now  # its callback came before its create's answer: ask at once
            self._urgent.add(key)
        self._push(entry, max(now, due))
        return True

    def wake(self, task_id: str, now: float) -> bool:
        """A callback named ``task_id``: ask the provider about it as soon as its budget
        allows. True if a tracked task was woken; an unknown id is kept for a while, in case
        its task is handed over later."""
        woken = False
        for route in _KLING_ROUTES:
            key = key_of(route, task_id)
            entry = self._entries.get(key)
            if entry is None:
                continue
            woken = True
            if entry.flying:
                # The answer on its way may predate the change the callback announces.
                self._woken.add(key)
            else:
                self._urgent.add(key)
                self._push(entry, now)
        if not woken:
            self._early.pop(task_id, None)
            self._early[task_id] = now + EARLY_CALLBACK_TTL
            while len(self._early) > _EARLY_CALLBACKS:
                del self._early[next(iter(self._early))]
        return woken

    def tracks_kling(self, task_id: str) -> bool:
        """True if a Kling task with this id is tracked (callbacks do not say the family)."""
        return any(key_of(route, task_id) in self._entries for route in _KLING_ROUTES)

    def _callback_due(self, entry: Entry, now: float) -> float:
        """When to ask about a task that will call back, if no callback wakes it first."""
        total = self._estimate(entry, now, "total")
        age = now - entry.created_at
        expected = entry.policy.first_poll if total is None else total.expected(age)
        return max(now, entry.created_at + expected) + entry.policy.callback_fallback

    def forget(self, key: Key) -> bool:
        """Stop polling a task; its heap items go stale. False if it was not tracked."""
        entry = self._entries.pop(key)
        if entry is None:
            return False
        self._discharge(entry)
        return True

    def forget_all(self) -> None:
        """Stop polling every task."""
        for key in list(self._entries):
            self.forget(key)

    # --- what to do next ---------------------------------------------------------------------

    def pop_due(self, now: float) -> Task | None:
        """The next task to query now, or None if nothing is due or a limit holds it back: its
        last snapshot, but for the raw body (a query needs the task's name, not its answer).

        Counts the query as in flight; report it back with settle, failed, refused or
        not_found.
        """
        self._behind = False
        if self._sweeps or self._sweeping:
            self._sweep_step()
            self._behind = True
            return None
        if self._pulls and self._move_pulled(now):
            self._behind = True
            return None
        if self.in_flight >= self.max_in_flight or now < self._next_send:
            return None
        moved = 0
        while (provider := self._most_overdue(now)) is not None:
            if moved >= _SLICE:
                self._behind = True
                return None
            item = heapq.heappop(self._heaps[provider])
            entry = self._entries.live(item[2], item[1])
            if entry is None:
                continue
            moved += 1
            key = item[2]
            if key in self._urgent:
                self._urgent.discard(key)
                learned = None
            else:
                learned = None if entry.polls else self._learned_due(entry, now, first=True)
            if learned is not None and learned > now + _EPSILON:
                # Such tasks were seen to take longer than this: ask when they may have finished.
                self._push(entry, min(learned, now + entry.policy.wait_cap))
                continue
            self._counts["retries" if entry.retrying else "polls"] += 1
            entry.polls += 1
            entry.flying = True
            self._entries.put(entry)
            self.in_flight += 1
            self.reached_cap = self.reached_cap or self.in_flight >= self.max_in_flight
            self._next_send = now + self._min_gap
            self.budgets[provider].spend(now)
            return unpack(entry.packed, status=entry.status, route=entry.route, with_raw=False)
        return None

    def next_wake(self, now: float) -> float | None:
        """When :meth:`pop_due` may next return a task; None if only an answer can change that."""
        if self._behind or self._pulls or self._sweeps or self._sweeping:
            return now  # work left from a slice, or a sweep: call again at once
        if self.in_flight >= self.max_in_flight:
            return None
        times = [
            max(head, self.budgets[provider].ready_at(now))
            for provider in self._heaps
            if (head := self._head(provider)) is not None
        ]
        return max(min(times), self._next_send) if times else None

    def hedge_ready_at(self, route: TaskRoute, now: float) -> float:
        """The earliest time a hedge of a query on ``route`` may be sent: it spends its
        provider's budget like any query."""
        return self.budgets[PROVIDER_OF[route]].ask(now)

    def hedged(self, route: TaskRoute, now: float) -> None:
        """A hedge of a query on ``route`` is sent at ``now``."""
        self._counts["hedges"] += 1
        self.budgets[PROVIDER_OF[route]].spend(now)

    def stats(self) -> PollStats:
        """Queries sent so far, by kind, and each provider's paced rate."""
        return PollStats(
            **self._counts, rates={name: budget.rate for name, budget in self.budgets.items()}
        )

    def _head(self, provider: str) -> float | None:
        """The due time of the provider's next live heap item (stale ones are dropped)."""
        heap = self._heaps[provider]
        while heap:
            due, seq, key = heap[0]
            if self._entries.is_live(key, seq):
                return due
            heapq.heappop(heap)
        return None

    def _most_overdue(self, now: float) -> str | None:
        """The provider whose next due task is the most overdue, among those whose budget
        allows a query now."""
        chosen, earliest = None, math.inf
        for provider in self._heaps:
            head = self._head(provider)
            if head is None or head > now + _EPSILON or head >= earliest:
                continue
            budget = self.budgets[provider]
            # The tolerance is for due times and the pacer's spacing, never for a pause the
            # gateway asked for: a query a millisecond before its Retry-After ends is one
            # sent inside it (the property test found one 10 us early).
            if budget.ask(now) <= now + _EPSILON and not budget.pause.active(now):
                chosen, earliest = provider, head
        return chosen

    # --- answers -----------------------------------------------------------------------------

    def settle(self, fresh: Task, now: float) -> Settled | None:
        """A query answered with ``fresh``. None if the task was forgotten meanwhile."""
        self.in_flight -= 1
        self.budgets[PROVIDER_OF[fresh.route]].answered(now)
        entry = self._entries.get(task_key(fresh))
        if entry is None:
            return None
        key = entry.key  # the string every structure holds already, not an equal one more
        entry.flying = False
        entry.retrying = False
        self._retry_waits.pop(key, None)
        previous_status, packed = entry.status, entry.packed
        fresh = _carry(
            fresh,
            model=entry.model,
            workload=entry.workload,
            started_at=claimed_started_at(packed),
            callback=entry.callback,
        )
        if not fresh.done and not repeats(packed, fresh):
            # Only what tells something new is packed: most answers repeat the last, but for
            # their request id, and die young.
            entry.hold(fresh)
        claimed = fresh.created_at
        if claimed is not None and claimed != claimed_created_at(packed):
            entry.created_at = self._created_at(fresh, now, handed_at=entry.handed_at)
        self._note_start(entry)
        if not fresh.done and fresh.status is not TaskStatus.UNKNOWN:
            entry.seen_at = now
            if fresh.model is not None:
                self._survivors.seen(
                    key,
                    (fresh.route, fresh.model, fresh.workload),
                    created=entry.created_at,
                    started=entry.started_at,
                    seen_at=now,
                    task_id=fresh.id,
                )
        in_grace = now - entry.handed_at < entry.policy.unknown_grace
        if fresh.status is TaskStatus.UNKNOWN and in_grace:
            # A task just created may not be visible to the query route yet.
            self._reschedule(key, entry, now)
            return Settled(task=fresh, status_changed=False, finished=False)
        changed = fresh.status is not previous_status
        if fresh.done:
            self._entries.pop(key)
            self._discharge(entry)
            self._learn(entry, fresh, now)
            return Settled(task=fresh, status_changed=changed, finished=True)
        self._reschedule(key, entry, now)
        return Settled(task=fresh, status_changed=changed, finished=False)

    def failed(self, key: Key, now: float) -> None:
        """A query failed in a way that heals (5xx, an error page, a timeout, a dropped
        connection): ask again within about a second, without moving the task along its poll
        curve. The task is as likely to have finished after a 502 as before it."""
        self.in_flight -= 1
        self._counts["failed"] += 1
        entry = self._entries.get(key)
        if entry is None:
            return
        entry.flying = False
        entry.retrying = True
        waits = self._retry_waits.get(key)
        if waits is None:
            waits = self._retry_waits[key] = self._retry.delays(self._rng)
        wait = min(next(waits), entry.policy.wait_cap)
        self._push(entry, now + wait)

    def refused(self, key: Key, now: float, retry_after: float | None = None) -> None:
        """The provider refused the query for its rate (429, Kling 1302): that provider pauses
        and slows down; the task is asked again when its budget allows."""
        self.in_flight -= 1
        self._counts["refused"] += 1
        budget = self.budgets[PROVIDER_OF[route_of(key)]]
        budget.refused(now, retry_after)
        entry = self._entries.get(key)
        if entry is None:
            return
        entry.flying = False
        entry.retrying = True
        self._push(entry, budget.ready_at(now))

    def abandon(self, key: Key) -> None:
        """A launched query ended with no verdict worth acting on: stop tracking the task."""
        self.in_flight -= 1
        self.forget(key)

    def not_found(self, key: Key, now: float, error: TaskError) -> Task | None:
        """The provider does not know the task. Within the grace period, ask again and return
        None; after it, stop tracking and return the last snapshot marked UNKNOWN."""
        self.in_flight -= 1
        self.budgets[PROVIDER_OF[route_of(key)]].answered(now)
        entry = self._entries.get(key)
        if entry is None:
            return None
        entry.flying = False
        if now - entry.handed_at < entry.policy.unknown_grace:
            self._reschedule(key, entry, now)
            return None
        self._entries.pop(key)
        self._discharge(entry)
        return attrs.evolve(entry.snapshot(), status=TaskStatus.UNKNOWN, error=error)

    # --- internals ---------------------------------------------------------------------------

    def _push(self, entry: Entry, due: float) -> None:
        """Schedule the task's next query at ``due``, and keep its entry as it stands: every
        change to an entry ends here, or with a ``put`` of its own."""
        entry.seq = next(self._sequence)
        entry.due = due
        self._entries.put(entry)
        provider = PROVIDER_OF[entry.route]
        heap = self._heaps[provider]
        heapq.heappush(heap, (due, entry.seq, entry.key))
        sweeping = self._sweeping.get(provider)
        if sweeping is not None:
            sweeping.add(entry.seq)  # pushed after the sweep read which items were live
        elif len(heap) > _STALE_FACTOR * len(self._entries) + _STALE_SLACK:
            # Rescheduling leaves the old item behind until it surfaces, which for a task
            # pushed back by the scouts' first finish may be minutes: sweep them out, or they
            # outweigh the tasks themselves. Not here: a push comes amid a slice of tasks
            # pulled forward or an answer's settling, and the sweep's hold added to theirs
            # (34 ms at 20,000 tasks in one run); pop_due gives it turns of its own.
            self._sweeps.add(provider)

    def _sweep_step(self) -> None:
        """One turn of a sweep of a provider's stale heap items: the first reads which items
        are live, the second drops the rest. Each keeps to C-level passes (a Python call per
        item held the event loop 72 ms at 20,000 tasks); in one turn the sweep held it 17-22
        ms there, the scheduler's longest step. Items pushed between the two turns are kept
        (``_push`` adds them); one that went stale in between is dropped when it surfaces, as
        any stale item is."""
        if self._sweeping:
            provider, live = self._sweeping.popitem()
            heap = self._heaps[provider]
            heap[:] = itertools.compress(heap, map(live.__contains__, map(_SEQ_OF_ITEM, heap)))
            heapq.heapify(heap)
            return
        provider = self._sweeps.pop()
        self._sweeping[provider] = self._entries.seqs()

    def _reschedule(self, key: Key, entry: Entry, now: float) -> None:
        policy = entry.policy
        if policy.learn:
            # A scout of a model or shape nothing is learned of is asked at the target's pace
            # for a task its age: one still running at ``age`` takes at least that long, so a
            # query ``target_delay`` times that later (or ``target_delay_seconds``) finds its
            # end within the target whatever the shape of the durations. The curve's coarser
            # steps found a batch's first finishes seconds late, and with them every task
            # that ended before the first finish was seen (fake clock, 6-36 s at 0.03: the
            # first tenth found 1.5-3.9 s late, against 1 s for a loop asking every second).
            wait = policy.target_wait(policy.unlearned_spacing(now - entry.created_at), self._rng)
        else:
            wait = policy.wait(entry.step, self._rng)
        entry.step += 1
        if key in self._woken:
            self._woken.discard(key)
            self._urgent.add(key)
            self._push(entry, now)
            return
        if entry.callback:
            self._push(entry, min(self._callback_due(entry, now), now + entry.policy.wait_cap))
            return
        if entry.scout and entry.pool is not None and entry.pool in self._scouts:
            self._widen_scouts(entry, now)
        due = self._learned_due(entry, now)
        if not entry.scout:
            # Nothing known of its model or shape yet and this task is not one of their
            # scouts: the scouts' first finish will pull it forward; until then, only the
            # cap's queries.
            due = now + entry.policy.wait_cap
        elif due is None:
            due = now + wait
        # However long the learned durations or the claimed age, a task is asked about again
        # within the cap: nothing learned or claimed can leave it unpolled for hours.
        self._push(entry, min(max(due, now + _LEAST_WAIT), now + entry.policy.wait_cap))

    def _learned_due(
        self,
        entry: Entry,
        now: float,
        *,
        first: bool = False,
        asked_at: float | None = None,
        spread: float | None = None,
    ) -> float | None:
        """When to ask next from what was learned of such tasks, or None if nothing was.

        ``first``: for a task not asked about yet, whose first query is due unless what was
        learned says it cannot have finished yet. ``asked_at``: when it was last asked, if not
        ``now`` (a task rescheduled because something was learned, not because it answered):
        its next query keeps its spacing from that one. ``spread``: the jitter's factor, drawn
        if not given (1: the latest the jitter allows)."""
        total = self._estimate(entry, now, "total")
        if total is None:
            return None
        policy = entry.policy
        if spread is None:
            spread = policy.target_spread(self._rng)
        age = now - entry.created_at
        # Never asked, and past the earliest likely finish. With a spacing in seconds it is
        # asked at once: a floor of durations shows as many tasks ending just after it, and
        # waiting until a spacing past it found each of them up to that whole spacing late
        # (fake clock, @5 s: the first tenth 5.3 s on average against 2.5 s for a loop asking
        # every 5 s), for at most one query of theirs. A fraction's spacing grows with age, so
        # the same shift moves every later query of the task earlier: at 0.3 it cost a fifth
        # more queries for a mean 1-9% lower, and that task keeps the spacing after it.
        in_seconds = policy.target_delay_seconds is not None
        ask_now = first and in_seconds
        if in_seconds:
            # The earliest likely finish only as far as many tasks were seen through it, for
            # every query. A task held for the scouts, created after the one whose finish was
            # seen first and so younger than the duration it showed, was first asked a spacing
            # past that (fake clock, a real-time run's log-normal as it was created, over
            # 0.7 s, at 5 s: tasks that ended at 5 s found 8.6 s late in 2 draws of 12; in
            # real time 8.8 s). So was a task already asked while young, a scout of tasks
            # created a few at a time or one seen queued, whose next query waited for that
            # finish (fake clock, 300 tasks of each shape created over a minute or queued up
            # to 10 s, 160 runs: at 1 s, tasks found past 1.5 spacings 340 -> 190 of 48,000
            # and runs with one past 3 spacings 17 -> 8, for 1.8% more queries; at 5 s 71 ->
            # 67 for 1% more; a batch created at once is asked as before). For a fraction not
            # so: asked at once there, they cost a floored batch's first batch 0.38 more
            # queries a task at 0.1 for a mean 3% lower (fake clock, 8 seeds); evidenced for
            # its later queries, 2-4% more for a mean under 1% lower, the tail over each
            # task's own run level.
            total = total.evidenced()
        # Only a first query, or a task younger than the earliest likely finish, needs it:
        # the rest (nearly every answer) skip its walk over the estimate.
        first_age = policy.learned_first_age(total) if first or age < total.early else math.inf
        if age < min(total.early, first_age) or (first and not ask_now and age < first_age):
            # Not asked since the earliest likely finish: ask one spacing after it (or sooner,
            # for the fastest few: learned_first_age), the jitter drawing it earlier only.
            jittered = total.early + (first_age - total.early) * spread
            due = entry.created_at + min(jittered, first_age)
        elif first:
            due = now
        else:
            last = now if asked_at is None else min(asked_at, now)
            due = last + policy.learned_wait(total, last - entry.created_at, spread)
        if entry.status not in (TaskStatus.PENDING, TaskStatus.RUNNING):
            return due
        run = self._estimate(entry, now, "run")
        if run is not None and in_seconds:
            run = run.evidenced()
        if run is not None:
            # A task seen queued cannot finish before a run's worth after that, nor one running
            # before a run's worth from its start: the queue, long when the account is busy,
            # costs no queries.
            if entry.status is TaskStatus.PENDING:
                began: float | None = (
                    entry.seen_at if entry.seen_at is not None else entry.created_at
                )
            else:
                began = entry.started_at
            if began is not None and began + run.early > now:
                # Not before that, and then one spacing after it, as for the total clock. One
                # whose earliest end has passed keeps the total clock's due.
                end_age = began + run.early - entry.created_at
                wait = policy.learned_wait(total, end_age, spread)
                due = max(due, began + policy.first_query_age(run.early, wait, run.fastest))
        return due

    def _estimate(self, entry: Entry, now: float, clock: Clock) -> DurationEstimate | None:
        """The learner's estimate for the entry's group, recomputed at most once a second (or
        when its samples doubled), and at most one group and clock at a given moment: each
        recompute reads every running task of its group."""
        learner = self._learner
        if learner is None or not entry.policy.learn:
            return None
        by_request = entry.policy.learn_by_request
        # Which group speaks for the task, and its samples, are read again only once something
        # new was learned: most answers come between two finishes (a batch is asked several
        # times for each task that ends).
        lookup = (clock, entry.route, entry.model, entry.workload, by_request)
        read = self._groups.get(lookup)
        if read is None or read[0] != learner.revision:
            found = learner.group_for(
                entry.route, entry.model, entry.workload, by_request=by_request, clock=clock
            )
            count = 0 if found is None else learner.samples(*found, clock=clock)
            read = self._groups[lookup] = (learner.revision, found, count)
        _, group, samples = read
        if group is None:
            return None
        cached = self._estimates.get((clock, group))
        if cached is not None:
            computed_at, computed_samples, estimate = cached
            fresh = now - computed_at < 1.0 and samples < 2 * computed_samples
            # One recompute per moment: a task's two clocks (or two groups) due together
            # would otherwise hold the event loop for both; the other waits for the next call.
            if fresh or self._recomputed_at == now:
                return estimate
        self._recomputed_at = now
        route, model, _ = group
        running, weight = self._survivors.ages(
            group,
            clock,
            lambda workload: learner.forgotten_before(route, model, workload, clock),
        )
        estimate = learner.estimate(group, running, clock, running_weight=weight)
        self._estimates[(clock, group)] = (now, max(1, samples), estimate)
        return estimate

    def _pool(self, entry: Entry) -> tuple[Pool, int] | None:
        """What of the task nothing is known of yet, and how many scouts that pool has: its
        model, else its request shape; None when both are known (or it learns nothing)."""
        route, model, workload = entry.route, entry.model, entry.workload
        if self._learner is None or not entry.policy.learn or model is None:
            return None
        if not self._learner.samples(route, model):
            return (route, model, None), self._scout_count
        shaped = entry.policy.learn_by_request and workload
        if shaped and not self._learner.samples(route, model, workload):
            return (route, model, workload), SHAPE_SCOUTS
        return None

    def _enlist(self, key: Key, entry: Entry) -> None:
        """A task of a model or request shape nothing is known of: a scout, or one that waits
        for the scouts."""
        # (A task that will call back is woken by its callback, not by scouts.)
        found = None if entry.callback else self._pool(entry)
        entry.scout, entry.pool = True, None
        if found is None:
            return
        pool, scouts = found
        pool = entry.pool = self._entries.pool(pool)
        if self._scouts.get(pool, 0) < scouts:
            self._scouts[pool] = self._scouts.get(pool, 0) + 1
        else:
            entry.scout = False
            self._unscouted.setdefault(pool, {})[key] = None

    def _widen_scouts(self, scout: Entry, now: float) -> None:
        """A scout of a pool still unknown answered that it runs. With a spacing in seconds,
        once it is ``_WIDEN_AFTER`` spacings old, the pool's scouts grow to ``wide_scouts``,
        the longest-waiting tasks first (the likeliest to have ended), each asked at once.

        Held back until the first scout's finish is seen, the tasks that end before it are
        found that late. Fake clock, 300 tasks cold, 8 seeds, at 1 s: the p99 was 1.30-1.46
        spacings on uniform, floored and log-normal durations on average, up to 3.6 in one
        draw (its fastest 32 scouts began ending at 8.6 s, eight of the rest ended at 5 s);
        grown, it is within 0.99 of a spacing on every shape and draw at 1 s and 2 s, the mean
        against a loop asking every spacing 1.02-1.08 -> 0.96-1.03 at 1 s, for 0.03-0.13 more
        of that loop's queries (uniform 6-36 s at 1 s: 0.75 -> 0.82 of its queries). A batch
        whose first finishes come in a tight cluster (two modes) pays that too, for no task
        found sooner: nothing before a finish tells it apart. So does a new request shape of
        a known model slower than its first finishes: each of its tasks is asked each spacing
        until the shape's own first finish (real time, four shapes at x1 to x3.6 in waves, at
        15 s: 7.76 queries a task against 6.9; the first wave's 7 of 125 tasks found up to 4.6
        spacings late are found within one)."""
        seconds = scout.policy.target_delay_seconds
        pool = scout.pool
        if seconds is None or pool is None or now - scout.created_at < _WIDEN_AFTER * seconds:
            return
        waiting = self._unscouted.get(pool)
        while waiting and self._scouts[pool] < self._wide_scouts:
            key = next(iter(waiting))
            del waiting[key]
            promoted = self._entries.get(key)
            if promoted is None:
                continue
            self._promote(pool, promoted, now)

    def _promote(self, pool: Pool, entry: Entry, now: float) -> None:
        """``entry``, waiting for its pool's scouts, becomes one: asked at ``now``, a scout's
        spacing after its last answer if that comes later, or when its query in flight
        answers."""
        entry.scout = True
        self._scouts[pool] += 1
        if entry.flying:
            self._entries.put(entry)  # its answer reschedules it
            return
        due = now
        if entry.seen_at is not None:
            # Asked a moment ago (as its model's scout, before a new request shape of the model
            # made it wait for that shape's scouts; or at the cap), it is asked a scout's
            # spacing after that answer: asked again at once, it only repeated it.
            spacing = entry.policy.unlearned_spacing(entry.seen_at - entry.created_at)
            due = max(now, entry.seen_at + entry.policy.target_wait(spacing, self._rng))
        self._push(entry, due)

    def _discharge(self, entry: Entry) -> None:
        """A task leaves: its retry and wake-up marks go, and if it was a scout of a pool still
        unknown, another of the pool's tasks takes its place, so the batch never waits on
        scouts that are gone."""
        key = entry.key
        self._survivors.gone(key)
        self._retry_waits.pop(key, None)
        self._woken.discard(key)
        self._urgent.discard(key)
        pool = entry.pool
        if not entry.scout or pool is None or pool not in self._scouts:
            return
        self._scouts[pool] -= 1
        unscouted = self._unscouted.get(pool)
        while unscouted and self._learner is not None and not self._learner.samples(*pool):
            waiting, _ = unscouted.popitem()  # the last listed, as a list's pop would
            successor = self._entries.get(waiting)
            if successor is None:
                continue
            self._promote(pool, successor, successor.handed_at)  # due as soon as may be
            break
        if not self._scouts[pool]:
            del self._scouts[pool]

    def _pull_forward(self, pool: Pool, now: float) -> None:
        """A pool's first finish is known (a model's, or a request shape's): every task of it
        is asked about when that says it may finish, not when the policy's curve (the scouts')
        or the wait for the scouts (the rest) would have it. One not asked about yet whose
        first learned query is past is asked at once: it may have ended before the first
        finish was seen. A task whose request shape is still unknown joins that shape's
        scouts, or waits for them."""
        self._scouts.pop(pool, None)
        self._unscouted.pop(pool, None)
        # Moved a slice at a time by pop_due: the tasks are listed now, as they stand.
        self._pulls.append((pool, iter(list(self._entries)), False))

    def _hasten(self, route: TaskRoute, model: str) -> None:
        """A task of ``model`` ended sooner than any of its model or request shape learned
        before: each of the model's tasks whose next query was set by the earliest likely
        finish is asked when what is known now says, if that comes sooner (``_hasten_one``).
        With a spacing in seconds that is its first query, or one asked while younger than
        that finish; with a fraction, its first only.

        Set once, such a query stood however much sooner later finishes showed tasks could
        end, and so did the estimate read for the next task (kept up to a second): of tasks
        created a few at a time whose first finishes happened to be slow, those that ended
        on the durations' clip at 5 s were found 1.7-4.8 s late at 1 s, at a first query set
        1.5 spacings past the fastest of those first finishes. Fake clock, the benchmarks'
        five shapes created over a minute or at once, queued or not, one or two request
        shapes (160 runs of 300 tasks): at 1 s, tasks found past 1.5 spacings 236 -> 167 and
        runs with a p99 past that 38 -> 23, for 0.5% more queries and a mean 0.5% lower; at 5
        s 57 -> 41 and 9 -> 4, for 1.2% more and a mean 1.4% lower. At a fraction, tasks found
        past 1.5 ``target_delay`` of their run 2390 -> 2174 at 0.03, 1960 -> 1817 at 0.1 and
        1960 -> 1736 at 0.3, for 0.5-0.9% more queries and a mean 1-4% lower; at 0.1 a moved
        query found its task ended 3,199 times, 0.27 s sooner than where it had been set.
        Batches created at once (16 draws of each shape at 0.03, 0.1 and 0.3, cold and as a
        session's second) read within 1.2% of their queries, their mean 4% lower to 1.4%
        higher (the draws part where one query moves); a cold Pareto at 0.3 finds 37 fewer
        tasks late.

        One sooner finish moves no quantile of many: at a fraction, whose first query waits
        a spacing past the earliest likely finish, it takes a run of them (a test pins eight),
        where with seconds one does (``PollPolicy.first_query_by`` reads the fastest)."""
        stale = [cached for cached in self._estimates if cached[1][:2] == (route, model)]
        for cached in stale:
            del self._estimates[cached]
        self._pulls.append(((route, model, None), iter(list(self._entries)), True))

    def _move_pulled(self, now: float) -> bool:
        """Move a slice of the tasks pulled forward (``_pull_forward``) or hastened
        (``_hasten``); True if some are left."""
        moved = 0
        while self._pulls:
            pool, pending, hasten = self._pulls[0]
            move = self._hasten_one if hasten else self._pull_one
            for key in pending:
                if move(pool, key, now):
                    moved += 1
                    if moved >= _SLICE:
                        return True
            self._pulls.popleft()
        return False

    def _model_entry(self, route: TaskRoute, model: str, key: Key) -> Entry | None:
        """The entry of task ``key`` if it is one of ``model``'s on ``route``; None if not, or
        if it is gone since it was listed."""
        if route_of(key) != route.value:
            return None
        entry = self._entries.get(key)
        if entry is None or entry.model != model:
            return None
        return entry

    def _pull_one(self, pool: Pool, key: Key, now: float) -> bool:
        """Reschedule one task a pool's first finish pulls forward; False if it is not one."""
        route, model, workload = pool
        entry = self._model_entry(route, model, key)
        if entry is None or entry.callback:
            return False
        if workload is not None and entry.workload != workload:
            return False
        self._enlist(key, entry)
        if entry.flying or entry.retrying or key in self._urgent:
            # Its answer, retry or wake-up reschedules it with what is known now.
            self._entries.put(entry)
            return True
        if not entry.scout:
            self._push(entry, now + entry.policy.wait_cap)
            return True
        due = self._learned_due(entry, now, first=not entry.polls, asked_at=entry.seen_at)
        if due is None:
            self._entries.put(entry)
        else:
            self._push(entry, min(max(due, now), now + entry.policy.wait_cap))
        return True

    def _hasten_one(self, pool: Pool, key: Key, now: float) -> bool:
        """Ask one task of the hastened model (``_hasten``) sooner if what is known now says
        so; False if it is not one of its tasks."""
        route, model, _ = pool
        entry = self._model_entry(route, model, key)
        if entry is None:
            return False
        idle = not (entry.flying or entry.retrying or entry.callback or key in self._urgent)
        if not (idle and entry.scout):
            # In flight, retried or woken, its next turn reads what is known now; one waiting
            # for scouts moves with their finish.
            return True
        if entry.polls and entry.policy.target_delay_seconds is None:
            # A fraction's later queries are spaced by the whole estimate, not by its earliest
            # finish alone: they stay (``_hasten``).
            return True
        if entry.due <= now:
            # Due already, and only waiting for its turn under a query limit: pushed again at
            # "now", it would lose its place to tasks due since (at 20 queries a second, 300
            # tasks at once at 1 s: the p99 15 -> 20 s in half the runs).
            return True
        first, asked_at = not entry.polls, entry.seen_at
        latest = self._learned_due(entry, now, first=first, asked_at=asked_at, spread=1.0)
        if latest is None or latest >= entry.due:
            return True
        due = self._learned_due(entry, now, first=first, asked_at=asked_at)
        assert due is not None  # (the same estimate as a moment ago)
        # One answered a moment ago is not asked again within the least wait: that answer said
        # all there is to say now.
        soonest = now if asked_at is None else max(now, asked_at + _LEAST_WAIT)
        due = max(due, soonest)
        if due < entry.due:
            self._push(entry, due)
        return True

    def _note_start(self, entry: Entry) -> None:
        if entry.started_at is not None:
            return
        started, created = claimed_started_at(entry.packed), claimed_created_at(entry.packed)
        if started is not None and created:
            queued = (started - created).total_seconds()
            entry.started_at = entry.created_at + max(0.0, queued)

    def _learn(self, entry: Entry, task: Task, now: float) -> None:
        if self._learner is None or task.status not in (TaskStatus.SUCCEEDED, TaskStatus.FAILED):
            return
        run_seconds = None
        if task.created_at is not None and task.finished_at is not None:
            # Both ends on the provider's clock: exact, and immune to our polling delay.
            seconds = (task.finished_at - task.created_at).total_seconds()
        else:
            seconds = now - entry.created_at
        if task.started_at is not None and task.finished_at is not None:
            run_seconds = (task.finished_at - task.started_at).total_seconds()
        pool = self._pool(entry)  # (before this finish is counted)
        shorter = self._learner.observe(
            task.route,
            task.model,
            seconds,
            workload=task.workload,
            run_seconds=run_seconds,
            created=entry.created_at,
            task_id=task.id,
        )
        if pool is not None:
            self._pull_forward(pool[0], now)
        elif shorter and task.model:
            self._hasten(task.route, task.model)

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


def carry_over(previous: Task, fresh: Task) -> Task:
    """Queries do not repeat what the create said (model, workload, callback), and Kling says when a
    task started only while it runs: keep what the last snapshot knew."""
    return _carry(
        fresh,
        model=previous.model,
        workload=previous.workload,
        started_at=previous.started_at,
        callback=previous.callback,
    )


def _carry(
    fresh: Task,
    *,
    model: str | None,
    workload: str | None,
    started_at: datetime | None,
    callback: bool,
) -> Task:
    if (
        (fresh.model is None and model is not None)
        or (fresh.workload is None and workload is not None)
        or (fresh.started_at is None and started_at is not None)
        or (callback and not fresh.callback)
    ):
        return attrs.evolve(
            fresh,
            model=fresh.model or model,
            workload=fresh.workload or workload,
            started_at=fresh.started_at or started_at,
            callback=fresh.callback or callback,
        )
    return fresh
