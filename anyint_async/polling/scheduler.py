"""The async shell around :class:`PollSchedule`: one driver per session, queries in flight,
and fan-out of results to whoever is waiting.

The driver is an ``asyncio`` task the session owns. It starts when a task is handed over, runs
its queries inside a ``TaskGroup`` (bounded by the schedule's ``max_in_flight``, which an
``InFlightCap`` moves by how busy the loop is), and ends by
itself when nothing is left to poll; ``close()`` cancels it and tells every waiter. Consumers never
share the driver's task: results and events reach them through their own queue, so user code
(event hooks included) runs in the user's task.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import math
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterable, Mapping

from .._errors import (
    APIError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SessionClosedError,
)
from .._retry import RetryPolicy
from .._telemetry import Telemetry
from ..models import Task, TaskError, TaskRoute, TaskStatus
from .budget import SharedRate
from .events import EventHook, TaskEvent, TaskEventKind
from .hedging import HedgePolicy, Hedging
from .inflight import InFlightCap
from .learning import DurationLearner
from .policy import DEFAULT_POLICIES, PollPolicy
from .schedule import (
    DEFAULT_QUERY_RATE_LIMITS,
    PROVIDER_OF,
    Key,
    PollSchedule,
    PollStats,
    task_key,
)
from .snapshots import Packed, unpack
from .watchers import Watchers

__all__ = ["PollScheduler", "Subscription"]

logger = logging.getLogger("anyint_async.polling")
# Queries handed to the workers before the driver yields to the event loop.
_POPS_PER_TURN = 256


def _log_rate(provider: str, rate: float) -> None:
    logger.debug("%s task queries now paced at %.2f per second", provider, rate)


def _retrieve(request: asyncio.Future[Task]) -> None:
    """A losing request's outcome is not wanted; reading it keeps asyncio from reporting an
    error nobody retrieved."""
    if not request.cancelled():
        request.exception()


class _Race:
    """The hedges of one query that went unanswered past its hedge delay (``_Flying``): the
    first hedge to come back interrupts the original request (by cancelling the coroutine
    awaiting it), and a timer starts each later hedge."""

    def __init__(
        self,
        shell: PollScheduler,
        task: Task,
        hedging: Hedging,
        owner: asyncio.Task[object],
        provider: str,
    ) -> None:
        self._shell = shell
        self._task = task
        self._hedging = hedging
        self._owner = owner
        self._provider = provider
        self._timer: asyncio.TimerHandle | None = None
        self._left = hedging.policy.per_query
        self.hedges: list[asyncio.Task[Task]] = []
        self.winner: asyncio.Task[Task] | None = None
        self._closed = False

    def arm(self) -> None:
        """Start the wait before the next hedge, if one is left."""
        if self._left > 0 and self.winner is None:
            delay = self._hedging.delay(self._provider)
            self._timer = asyncio.get_running_loop().call_later(delay, self.due)

    def due(self) -> None:
        """The query (or its last hedge) has waited its delay: send a hedge."""
        self._timer = None
        if self._closed or self.winner is not None or self._left <= 0:
            return
        ready = self._shell._hedge_ready_at(self._task)
        now = self._shell._clock()
        if ready > now:  # a hedge waits for its provider's budget like any query
            self._timer = asyncio.get_running_loop().call_later(ready - now, self.due)
            return
        if not self._hedging.may_hedge(self._provider):
            # The budget is spent, most often by a burst of answers slow at once. Each answer
            # earns part of a hedge back: look again a delay later, rather than leave a query
            # that hangs to its timeout (a minute, measured in ``hung-queries``).
            self.arm()
            return
        self._left -= 1
        hedge = self._shell._send_hedge(self._task, self._hedging, self._provider)
        hedge.add_done_callback(self._back)
        self.hedges.append(hedge)
        self.arm()

    def _back(self, hedge: asyncio.Task[Task]) -> None:
        # Once closed, the query is over and its coroutine has moved on: a hedge that came back
        # meanwhile must not interrupt whatever it awaits next.
        if self._closed or hedge.cancelled() or self.winner is not None:
            return
        self.winner = hedge
        self._owner.cancel()  # the original request is still out: drop it

    def close(self) -> None:
        """The query is over: no more hedges, and those still out are cancelled."""
        self._closed = True
        if self._timer is not None:
            self._timer.cancel()
        for hedge in self.hedges:
            if not hedge.done():
                hedge.cancel()
            hedge.add_done_callback(_retrieve)


class _Flying:
    """One provider's queries not answered yet, oldest first, and one timer for the oldest.

    Nearly every query is answered long before its hedge delay, so a query costs an entry
    here, not a timer of its own: a timer and a race per query, nearly all cancelled unused,
    cost 5-6 us of the scheduler's 66 (10,000 tasks, answers at once, no network), and kept
    thousands of handles in the heap the event loop's other timers share."""

    __slots__ = ("queries", "timer")

    def __init__(self) -> None:
        #: token -> (sent at, task, the coroutine's task awaiting the answer); in send order.
        self.queries: dict[int, tuple[float, Task, asyncio.Task[object]]] = {}
        self.timer: asyncio.TimerHandle | None = None


#: Put in a subscription's queue to wake a consumer that has nothing left to wait for.
END = object()


class Subscription:
    """One consumer's view: the tasks it still waits for and its queue of results and events."""

    def __init__(self, on_event: EventHook | None = None) -> None:
        self.queue: asyncio.Queue[object] = asyncio.Queue()
        # The tasks it waits for: None while the scheduler polls one (which holds its snapshot),
        # its last snapshot once the scheduler let go of it for this consumer (see _let_go).
        self.waiting: dict[Key, Packed | None] = {}
        self.on_event = on_event

    def emit(self, kind: TaskEventKind, task: Task) -> None:
        if self.on_event is not None:
            self.queue.put_nowait(TaskEvent(kind, task))


class PollScheduler:
    """Polls every handed-over task of a session from one heap, over the session's pool."""

    def __init__(
        self,
        fetch: Callable[[Task], Awaitable[Task]],
        *,
        policies: Mapping[TaskRoute, PollPolicy] | None = None,
        max_in_flight: int = 64,
        max_requests_per_second: float | None = None,
        query_rate_limits: Mapping[str, float | None] = DEFAULT_QUERY_RATE_LIMITS,
        retry: RetryPolicy | None = None,
        learner: DurationLearner | None = None,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        telemetry: Telemetry | None = None,
        hedging: HedgePolicy | None = None,
        loop_cpu_clock: Callable[[], float] | None = None,
    ) -> None:
        """``max_in_flight`` caps the queries in flight. Given ``loop_cpu_clock`` (the CPU
        seconds of the thread the event loop runs on: ``time.thread_time``), the cap starts
        lower and moves up to it and back by how busy that thread is (see ``inflight``);
        without it the cap is fixed."""
        chosen = {**DEFAULT_POLICIES, **(policies or {})}
        # None: queries are never hedged.
        self._hedging = None if hedging is None else Hedging(hedging)
        self._flying: dict[str, _Flying] = {}
        self._races: dict[int, _Race] = {}
        self._tokens = itertools.count()
        self._fetch = fetch
        self._clock = clock
        self._max_in_flight = max_in_flight
        self._idle_workers = 0
        self._asleep_until: float | None = None
        self.learner = learner if learner is not None else DurationLearner()
        self._schedule = PollSchedule(
            policy_for=chosen.__getitem__,
            rng=rng or random.Random(),
            max_in_flight=max_in_flight,
            min_gap=1.0 / max_requests_per_second if max_requests_per_second else 0.0,
            learner=self.learner,
            wall_clock=wall_clock,
            rate_limits=query_rate_limits,
            retry=retry,
            on_rate_change=_log_rate,
        )
        self._cap = (
            None if loop_cpu_clock is None else InFlightCap(max_in_flight, cpu=loop_cpu_clock)
        )
        if self._cap is not None:
            self._schedule.max_in_flight = self._cap.current
        self._telemetry = telemetry or Telemetry(enabled=False)
        self._telemetry.watch(
            in_flight=lambda: self._schedule.in_flight, tracked=lambda: len(self._schedule)
        )
        self._watchers: Watchers[Subscription] = Watchers()
        self._driver: asyncio.Task[None] | None = None
        self._driver_exiting = False
        self._wake = asyncio.Event()
        self._closed = False

    @property
    def tracked(self) -> int:
        """How many distinct tasks are being polled."""
        return len(self._schedule)

    def wake(self, task_id: str) -> bool:
        """A callback named ``task_id``: ask about it as soon as its provider's budget allows.
        True if a task being polled was woken (an unknown id is kept a minute, in case its
        task is handed over later)."""
        woken = self._schedule.wake(task_id, self._clock())
        if woken:
            self._wake.set()
        return woken

    def share_budget(self, provider: str, shared: SharedRate | None) -> None:
        """Pace ``provider``'s queries by a budget shared with other processes (None: alone)."""
        self._schedule.budgets[provider].shared = shared
        self._wake.set()

    def heard_refusal(self, provider: str, retry_after: float | None) -> None:
        """Another process on the account was refused for ``provider``'s rate: pause and slow
        down as if this one had been."""
        self._schedule.budgets[provider].refused(self._clock(), retry_after, heard=True)
        self._wake.set()

    def kick(self) -> None:
        """Something outside the schedule changed when a query may be sent (a shared budget's
        grant): look at the schedule again."""
        self._wake.set()

    def running_models(self) -> Counter[tuple[str, str | None]]:
        """How many tracked tasks each (route, model) has."""
        return self._schedule.running_models()

    def waits_for(self, task_id: str) -> bool:
        """True if a Kling task with this id is being polled."""
        return self._schedule.tracks_kling(task_id)

    def stats(self) -> PollStats:
        """Queries sent so far (polls, retries, failures, refusals) and the paced rates."""
        return self._schedule.stats()

    # --- consumers ---------------------------------------------------------------------------

    def watch(
        self, subscription: Subscription, tasks: Iterable[Task], policy: PollPolicy | None = None
    ) -> None:
        """Hand ``tasks`` over for ``subscription``; terminal ones are delivered at once."""
        if self._closed:
            raise SessionClosedError("this AnyIntSession is closed; its scheduler polls no more")
        now = self._clock()
        for task in tasks:
            if not isinstance(task, Task):
                raise InvalidParameterError(
                    "tasks", f"must hold Task objects (as returned by create), got {task!r:.60}"
                )
            key = task_key(task)
            if key in subscription.waiting:
                continue
            if task.done:
                subscription.emit(TaskEventKind.FINISHED, task)
                subscription.queue.put_nowait(task)
                continue
            tracked_now = self._schedule.track(task, now, policy)
            # The schedule's own string, not the equal one made above: about 100 bytes a task.
            key = self._schedule.held_key(key)
            subscription.waiting[key] = None
            self._watchers.add(key, subscription)
            if subscription.on_event is not None:
                snapshot = None if tracked_now else self._schedule.snapshot(key)
                subscription.emit(TaskEventKind.CREATED, snapshot or task)
        self._ensure_driver()

    def pending(self, subscription: Subscription) -> list[Task]:
        """Last snapshots of the tasks ``subscription`` waits for."""
        found = []
        for key, packed in subscription.waiting.items():
            if packed is None:
                packed = self._schedule.packed(key)
            if packed is not None:
                found.append(unpack(packed))
        return found

    def _let_go(self, subscription: Subscription) -> None:
        """The scheduler stops polling for ``subscription``: it keeps the last snapshots of
        what it waited for (its pending tasks), as polling would no longer update them."""
        waiting = subscription.waiting
        for key, packed in waiting.items():
            if packed is None:
                waiting[key] = self._schedule.packed(key)

    def unwatch(self, subscription: Subscription) -> None:
        """The consumer is gone (closed, broke out, cancelled): stop polling what only it
        waited for. Synchronous, so it can run from a finalizer."""
        self._let_go(subscription)
        for key in subscription.waiting:
            if self._watchers.discard(key, subscription):
                self._schedule.forget(key)
        self._wake.set()

    async def close(self) -> None:
        """Stop polling; every waiting consumer gets a SessionClosedError with its tasks."""
        self._closed = True
        for flying in self._flying.values():
            if flying.timer is not None:
                flying.timer.cancel()
                flying.timer = None
        driver, self._driver = self._driver, None
        if driver is not None and not driver.done():
            driver.cancel()
            # gather reports the driver's cancellation as a result, yet still raises if the
            # task calling close() is itself cancelled.
            await asyncio.gather(driver, return_exceptions=True)
        self._end_everyone(
            lambda subscription: SessionClosedError(
                f"the session was closed while {len(subscription.waiting)} task(s) were "
                "still being polled; their last snapshots are in .tasks",
                tasks=self.pending(subscription),
            )
        )

    # --- the driver --------------------------------------------------------------------------

    def _ensure_driver(self) -> None:
        self._wake.set()
        if self._driver is None or self._driver.done() or self._driver_exiting:
            self._driver_exiting = False
            self._driver = asyncio.get_running_loop().create_task(
                self._drive(), name="anyint_async poll scheduler"
            )

    async def _drive(self) -> None:
        loop = asyncio.get_running_loop()
        due: asyncio.Queue[Task] = asyncio.Queue()
        try:
            async with asyncio.TaskGroup() as group:
                # Long-lived workers take due tasks from a queue: no task is spawned per query.
                workers: list[asyncio.Task[None]] = []
                popped = 0
                while True:
                    now = self._clock()
                    task = self._schedule.pop_due(now)
                    if task is not None:
                        due.put_nowait(task)
                        if due.qsize() > self._idle_workers and len(workers) < self._max_in_flight:
                            workers.append(group.create_task(self._work(due)))
                        popped += 1
                        if popped % _POPS_PER_TURN == 0:
                            # Thousands due at once must not hold the loop: let the app run.
                            await asyncio.sleep(0)
                        continue
                    popped = 0
                    if not len(self._schedule) and not self._schedule.in_flight:
                        self._driver_exiting = True
                        for worker in workers:
                            worker.cancel()
                        return
                    self._wake.clear()
                    wake_at = self._schedule.next_wake(now)
                    timer = None
                    if wake_at is not None:
                        timer = loop.call_later(max(0.0, wake_at - now), self._wake.set)
                    self._asleep_until = math.inf if wake_at is None else wake_at
                    try:
                        await self._wake.wait()
                    finally:
                        self._asleep_until = None
                    if timer is not None:
                        timer.cancel()
        except Exception as exc:  # a bug must not leave consumers waiting forever
            logger.exception("the poll scheduler stopped on an unexpected error")
            self._fail_everyone(exc)

    async def _work(self, due: asyncio.Queue[Task]) -> None:
        while True:
            self._idle_workers += 1
            try:
                task = await due.get()
            finally:
                self._idle_workers -= 1
            await self._query(task)

    async def _query(self, task: Task) -> None:
        key = task_key(task)
        try:
            fresh = await (self._fetch(task) if self._hedging is None else self._hedged(task))
        except (AuthenticationError, PermissionDeniedError) as exc:
            # Will not heal by waiting: every consumer learns now rather than at its timeout.
            self._telemetry.queried(task, "refused")
            self._abandon(key)
            self._fail_everyone(exc)
        except RateLimitError as exc:
            self._telemetry.queried(task, "throttled")
            budget = self._schedule.budgets[PROVIDER_OF[task.route]]
            before = budget.pause.until
            self._schedule.refused(key, self._clock(), exc.retry_after)
            if budget.pause.until > before:
                self._telemetry.cooled_down()
                logger.debug(
                    "%s refused a query: its queries pause for %.2fs (Retry-After %s)",
                    budget.provider,
                    budget.pause.until - self._clock(),
                    exc.retry_after,
                )
        except (NotFoundError, BadRequestError) as exc:
            self._telemetry.queried(task, "not_found")
            error = TaskError(code=exc.code, message=exc.message)
            gone = self._schedule.not_found(key, self._clock(), error)
            if gone is not None:
                self._deliver(key, gone, finished=True, changed=True)
        except SessionClosedError:
            self._abandon(key)
        except APIError as exc:
            self._telemetry.queried(task, "failed")
            logger.debug("query for task %s failed, will ask again soon: %s", task.id, exc)
            self._schedule.failed(key, self._clock())
        else:
            self._telemetry.queried(task, "answered")
            settled = self._schedule.settle(fresh, self._clock())
            if settled is not None:
                if settled.status_changed:
                    logger.debug(
                        "task %s (%s) is %s", fresh.id, fresh.route.value, settled.task.status.value
                    )
                self._deliver(
                    key, settled.task, finished=settled.finished, changed=settled.status_changed
                )
        finally:
            self._move_cap()
            self._nudge()

    def _move_cap(self) -> None:
        """After an answer: let the cap on queries in flight look at how busy the loop was."""
        cap = self._cap
        if cap is None:
            return
        reached, self._schedule.reached_cap = self._schedule.reached_cap, False
        if cap.observe(self._clock(), reached=reached):
            logger.debug("task queries in flight: up to %d", cap.current)
        elif cap.current != self._schedule.max_in_flight:
            logger.debug("task queries in flight: down to %d", cap.current)
        self._schedule.max_in_flight = cap.current

    async def _timed(self, task: Task, hedging: Hedging, provider: str) -> Task:
        """One query, its answer time told to ``hedging``."""
        sent = self._clock()
        try:
            fresh = await self._fetch(task)
        except APITimeoutError:
            raise  # no answer: its time says nothing of how long answers take
        except APIError:
            hedging.answered(provider, self._clock() - sent)
            raise
        hedging.answered(provider, self._clock() - sent)
        return fresh

    async def _hedged(self, task: Task) -> Task:
        """Query ``task``; while no answer has come well past the provider's usual answer time,
        ask again on another connection (see ``HedgePolicy``). The first to come back (an
        answer or an error) is used; the others are cancelled, which closes their
        connections: one that hangs is not handed back to the pool.

        The first request runs in this coroutine; it is listed among its provider's
        unanswered queries, whose one timer starts a race of hedges for it if it is still
        unanswered at its hedge delay (``_hedge_due``)."""
        hedging = self._hedging
        owner = asyncio.current_task()
        assert hedging is not None
        assert owner is not None  # the workers' own tasks
        provider = PROVIDER_OF[task.route]
        flying = self._flying.get(provider)
        if flying is None:
            flying = self._flying[provider] = _Flying()
        token = next(self._tokens)
        flying.queries[token] = (self._clock(), task, owner)
        if flying.timer is None:
            self._arm_hedge_watch(flying, provider, hedging.delay(provider))
        try:
            return await self._timed(task, hedging, provider)
        except asyncio.CancelledError:
            race = self._races.get(token)
            if race is None or race.winner is None:
                raise
            if owner.uncancel():
                raise  # cancelled from outside too: that one counts
            return race.winner.result()
        finally:
            if flying.queries.pop(token, None) is None:  # handed to a race
                race = self._races.pop(token, None)
                if race is not None:
                    race.close()

    def _arm_hedge_watch(self, flying: _Flying, provider: str, delay: float) -> None:
        flying.timer = asyncio.get_running_loop().call_later(delay, self._hedge_due, provider)

    def _hedge_due(self, provider: str) -> None:
        """The oldest unanswered query of ``provider`` may have waited its hedge delay: start
        a race for each that has, and wait for the next oldest."""
        flying = self._flying[provider]
        flying.timer = None
        hedging = self._hedging
        if hedging is None or self._closed:
            return
        delay = hedging.delay(provider)
        now = self._clock()
        queries = flying.queries
        while queries:
            token, (sent, task, owner) = next(iter(queries.items()))
            if sent + delay > now:
                self._arm_hedge_watch(flying, provider, sent + delay - now)
                return
            del queries[token]
            race = self._races[token] = _Race(self, task, hedging, owner, provider)
            race.due()

    def _hedge_ready_at(self, task: Task) -> float:
        return self._schedule.hedge_ready_at(task.route, self._clock())

    def _send_hedge(self, task: Task, hedging: Hedging, provider: str) -> asyncio.Task[Task]:
        """Spend the budget, count and log one hedge of ``task``, and send it."""
        hedging.hedged(provider)
        self._schedule.hedged(task.route, self._clock())
        self._telemetry.hedged(task)
        logger.debug("no answer about task %s yet: asking again on another connection", task.id)
        return asyncio.get_running_loop().create_task(self._timed(task, hedging, provider))

    def _abandon(self, key: Key) -> None:
        """A query ended with no verdict worth acting on: stop polling its task, which its
        consumers keep among their pending tasks."""
        packed = self._schedule.packed(key)
        for subscription in self._watchers.get(key):
            if key in subscription.waiting and subscription.waiting[key] is None:
                subscription.waiting[key] = packed
        self._schedule.abandon(key)

    def _nudge(self) -> None:
        """Wake the driver only if this answer changed what it is waiting for: most answers
        push their task's next poll seconds away, later than the driver's own timer."""
        if self._asleep_until is None:
            return  # awake: it will look at the schedule before sleeping again
        if not len(self._schedule) and not self._schedule.in_flight:
            self._wake.set()  # nothing left: let it end
            return
        upcoming = self._schedule.next_wake(self._clock())
        if upcoming is not None and upcoming < self._asleep_until:
            self._wake.set()

    def _deliver(self, key: Key, task: Task, *, finished: bool, changed: bool) -> None:
        if finished:
            self._telemetry.finished(task)
        watchers = self._watchers.pop(key) if finished else self._watchers.get(key)
        for subscription in watchers:
            if finished:
                subscription.waiting.pop(key, None)
                subscription.emit(TaskEventKind.FINISHED, task)
                subscription.queue.put_nowait(task)
            elif changed and task.status is TaskStatus.RUNNING:
                subscription.emit(TaskEventKind.RUNNING, task)

    def _fail_everyone(self, error: BaseException) -> None:
        self._end_everyone(lambda subscription: error)

    def _end_everyone(self, error_for: Callable[[Subscription], BaseException]) -> None:
        """End every consumer's iteration with an error, and stop polling everything."""
        subscriptions = self._watchers.everyone()
        for subscription in subscriptions:
            subscription.queue.put_nowait(error_for(subscription))
            self._let_go(subscription)
        self._watchers.clear()
        self._schedule.forget_all()
