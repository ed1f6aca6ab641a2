"""The link to Redis: connect, share while up, fall back to polling alone while down.

States: ``connecting`` (the first attempt), ``up``, ``down`` (unreachable, dropped, or too slow:
any command past ``COMMAND_TIMEOUT``), ``closed``. While up, four loops run over one connection
pool: the listener (callbacks and refusals other sessions pass on), the publisher (what this
session passes on), one lease refill per shared budget, and the durations share. The first
error in any of them takes the link down: leases stop (each session paces alone, as without
coordination), one WARNING says so, and the link reconnects with jittered exponential backoff;
rejoining is logged once too. Nothing waits on Redis to poll, so no wait raises or loses a task
because Redis blinked.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import json
import logging
import math
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any, Final

import backoff
import redis.asyncio as redis
from redis.exceptions import RedisError

from ..models import TaskRoute
from ..polling.learning import DurationLearner
from ..polling.scheduler import PollScheduler
from .keys import AccountKeys
from .lease import MAX_BATCH, Lease
from .scripts import REFUSED, TAKE
from .stats import CoordinationStats

__all__ = ["COMMAND_TIMEOUT", "Coordinator", "LinkState", "connect_url"]

logger = logging.getLogger("anyint_async.coordination")

#: Any command slower than this counts as Redis being down: a slow Redis must not slow polling.
COMMAND_TIMEOUT: Final = 1.0
#: Granted send times reach this far ahead (seconds): a few sends per ask at 20 a second.
HORIZON: Final = 0.25
#: Below a known limit, a little more than a process alone paces (0.95, ``QueryBudget``):
#: several event loops' lateness adds up where one loop's does not (see ``lease.GRACE``).
MARGIN: Final = 0.92
#: After a refusal the account's rate is cut to this share, then climbs this share a second.
BACK_OFF: Final = 0.9
CLIMB: Final = 0.02
SLOWEST: Final = 0.2
#: How often what this session learned is merged into what the account shares.
SHARE_EVERY: Final = 15.0
#: Kept while any session shares; a week unused and it is gone (it is only a head start).
DURATIONS_TTL: Final = 7 * 24 * 3600
#: What the account shares of durations stays small: at most this many groups.
MAX_GROUPS: Final = 256
#: A group is shared once this session has this many finished durations of it for each of its
#: tasks still running (so at most a fifth of its sample is cut short).
COMPLETE: Final = 4
#: Messages waiting to be passed on while Redis is slow; past it they are dropped (each is a
#: hint: a lost one costs a callback's fallback, never a task).
MAX_OUTBOX: Final = 1024
_RECONNECT_MAX: Final = 30.0
_CLOSE_TRIES: Final = 10

_ERRORS = (RedisError, OSError, TimeoutError)


class LinkState(enum.StrEnum):
    """Where the link to Redis stands (``AnyIntSession.coordination_state``)."""

    OFF = "off"
    CONNECTING = "connecting"
    UP = "up"
    DOWN = "down"
    CLOSED = "closed"


def connect_url(url: str) -> redis.Redis:
    """A client for ``url`` that fails fast: no retries inside it (the link reconnects itself)
    and every command bounded by ``COMMAND_TIMEOUT``."""
    return redis.Redis.from_url(
        url,
        socket_timeout=COMMAND_TIMEOUT,
        socket_connect_timeout=COMMAND_TIMEOUT,
        retry_on_timeout=False,
        retry=None,
        health_check_interval=0,
    )


class Coordinator:
    """Shares one session's budget, callbacks and learned durations with the account's other
    sessions through Redis. ``client`` is borrowed when ``owned`` is False (never closed)."""

    def __init__(
        self,
        client: redis.Redis,
        *,
        owned: bool,
        keys: AccountKeys,
        scheduler: PollScheduler,
        learner: DurationLearner,
        rate_limits: Mapping[str, float | None],
        where: str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._client = client
        self._owned = owned
        self._keys = keys
        self._scheduler = scheduler
        self._learner = learner
        self._where = where
        self._clock = clock
        self._me = f"{id(self):x}.{time.time_ns():x}"
        self.state = LinkState.CONNECTING
        self._up = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._outbox: asyncio.Queue[str] = asyncio.Queue(MAX_OUTBOX)
        self._background: set[asyncio.Task[None]] = set()
        self._pulled = False
        self._wanted: dict[str, asyncio.Event] = {}
        self._rates: dict[str, float] = {}
        self.leases: dict[str, Lease] = {}
        self._take = client.register_script(TAKE)
        self._refused = client.register_script(REFUSED)
        for provider, limit in rate_limits.items():
            shared = limit is not None and math.isfinite(limit)
            if shared:
                assert limit is not None
                self._rates[provider] = limit * MARGIN
            self._wanted[provider] = asyncio.Event()
            lease = Lease(
                provider, shared=shared, on_want=self._want, on_refused=self._pass_on_refusal
            )
            self.leases[provider] = lease
            scheduler.share_budget(provider, lease)
        self._counts = {"drops": 0, "passed_on": 0, "heard": 0, "refusals_heard": 0}

    # --- what the session calls --------------------------------------------------------------

    def start(self) -> None:
        """Start the link (needs a running event loop); safe to call again."""
        if self._runner is None and self.state is not LinkState.CLOSED:
            self._runner = asyncio.get_running_loop().create_task(
                self._run(), name="anyint_async coordination"
            )

    async def wait_up(self, within: float) -> bool:
        """Wait up to ``within`` seconds for the link's first connection (a fresh worker then starts
        warm); False if it is not up by then. Never raises for Redis."""
        self.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._up.wait(), within)
        return self.state is LinkState.UP

    def pass_on_callback(self, task_id: str) -> bool:
        """A callback for a task this session does not wait for: pass its id to the others.
        False while the link is down (nobody would hear it)."""
        if self.state is not LinkState.UP:
            return False
        posted = self._post({"k": "wake", "id": task_id})
        self._counts["passed_on"] += posted
        return posted

    def stats(self) -> CoordinationStats:
        """What the link did so far."""
        counts = self._counts
        return CoordinationStats(
            state=self.state.value,
            drops=counts["drops"],
            callbacks_passed_on=counts["passed_on"],
            callbacks_heard=counts["heard"],
            refusals_heard=counts["refusals_heard"],
        )

    async def close(self) -> None:
        """Share what was learned one last time (if up), stop, and close what is owned."""
        if self.state is LinkState.UP:
            with contextlib.suppress(*_ERRORS):
                await asyncio.wait_for(self._share_durations_once(), COMMAND_TIMEOUT)
        self.state = LinkState.CLOSED
        runner, self._runner = self._runner, None
        if runner is not None:
            # Bounded: a cancellation swallowed inside the Redis client must not hang close();
            # the loop also ends by itself once it sees the link closed.
            for _ in range(_CLOSE_TRIES):
                runner.cancel()
                done, _ = await asyncio.wait({runner}, timeout=0.5)
                if done:
                    break
            else:
                logger.warning(
                    "coordination: the link did not stop within %.0f s", _CLOSE_TRIES / 2
                )
        for provider, lease in self.leases.items():
            lease.stop()
            self._scheduler.share_budget(provider, None)
        if self._owned:
            with contextlib.suppress(*_ERRORS):
                await self._client.aclose()

    # --- the state machine -------------------------------------------------------------------

    async def _run(self) -> None:
        waits = _reconnect_waits()
        while self.state is not LinkState.CLOSED:
            try:
                await self._connected()
            except asyncio.CancelledError:
                raise
            except _ERRORS as error:
                if self.state is LinkState.UP:
                    waits = _reconnect_waits()  # a drop after being up starts short again
                self._went_down(error)
            except Exception:  # a bug here must not stop polling: stay down, log it
                logger.exception("coordination stopped on an unexpected error")
                self._went_down(None)
                return
            await asyncio.sleep(next(waits))

    async def _connected(self) -> None:
        client = self._client
        await asyncio.wait_for(client.ping(), COMMAND_TIMEOUT)
        pubsub = client.pubsub()
        try:
            await asyncio.wait_for(pubsub.subscribe(self._keys.channel), COMMAND_TIMEOUT)
            await asyncio.wait_for(self._pull_durations(), COMMAND_TIMEOUT)
            self._went_up()
            loops: list[Awaitable[None]] = [
                self._listen(pubsub),
                self._publish(),
                self._share_durations(),
                *(self._refill(lease) for lease in self.leases.values() if lease.shared),
            ]
            await _first_error(loops)
        finally:
            with contextlib.suppress(*_ERRORS):
                await asyncio.wait_for(pubsub.aclose(), COMMAND_TIMEOUT)

    def _went_up(self) -> None:
        was = self.state
        if was is LinkState.CLOSED:
            raise asyncio.CancelledError  # closed while connecting: stop here
        self.state = LinkState.UP
        for lease in self.leases.values():
            lease.active = True
        self._up.set()
        self._scheduler.kick()
        if was is LinkState.DOWN:
            logger.warning("coordination through %s is back: sharing again", self._where)
        else:
            logger.info("coordination through %s is up", self._where)

    def _went_down(self, error: BaseException | None) -> None:
        was = self.state
        if was is LinkState.CLOSED:
            return
        self.state = LinkState.DOWN
        for lease in self.leases.values():
            lease.stop()
        while not self._outbox.empty():  # stale by the time Redis is back
            self._outbox.get_nowait()
        self._scheduler.kick()
        if was is LinkState.UP:
            self._counts["drops"] += 1
        if was is not LinkState.DOWN:
            reason = type(error).__name__ if error is not None else "an error"
            logger.warning(
                "coordination through %s is down (%s): this session polls alone, paced as if "
                "no other shared the account, and reconnects in the background",
                self._where,
                reason,
            )

    # --- the loops while up ------------------------------------------------------------------

    async def _listen(self, pubsub: Any) -> None:
        while True:
            # A bounded wait: a dead connection shows as an error here within the timeout.
            message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
            if message is None or message.get("type") != "message":
                continue
            self._heard(message.get("data"))

    def _heard(self, data: object) -> None:
        try:
            event = json.loads(data) if isinstance(data, bytes | str) else None
        except ValueError:
            return
        if not isinstance(event, dict) or event.get("w") == self._me:
            return  # not ours to read, or our own message coming back
        if event.get("k") == "wake" and isinstance(event.get("id"), str):
            self._counts["heard"] += 1
            self._scheduler.wake(event["id"])
        elif event.get("k") == "refused" and event.get("p") in self.leases:
            pause = event.get("ra")
            retry_after = float(pause) if isinstance(pause, int | float) and pause >= 0 else None
            self._counts["refusals_heard"] += 1
            self._scheduler.heard_refusal(event["p"], retry_after)

    async def _publish(self) -> None:
        while True:
            message = await self._outbox.get()
            await asyncio.wait_for(
                self._client.publish(self._keys.channel, message), COMMAND_TIMEOUT
            )

    async def _refill(self, lease: Lease) -> None:
        wanted = self._wanted[lease.provider]
        rate = self._rates[lease.provider]
        keys = [self._keys.next_send(lease.provider), self._keys.cut(lease.provider)]
        while True:
            await wanted.wait()
            pause = lease.retry_at - self._clock()
            if pause > 0:
                await asyncio.sleep(pause)
            wanted.clear()
            reply = await asyncio.wait_for(
                self._take(keys=keys, args=[rate, min(lease.batch, MAX_BATCH), HORIZON, CLIMB]),
                COMMAND_TIMEOUT,
            )
            count, first, step = int(reply[0]), float(reply[1]), float(reply[2])
            lease.grant(self._clock(), count=count, first=first, step=step)
            if count:
                wanted.clear()  # asks made while this one was out are answered by it
            else:
                wanted.set()  # nothing free yet: ask again when the account's next send nears
            self._scheduler.kick()

    async def _share_durations(self) -> None:
        while True:
            await asyncio.sleep(SHARE_EVERY)
            await asyncio.wait_for(self._share_durations_once(), COMMAND_TIMEOUT)

    async def _pull_durations(self) -> None:
        """A session that tracks nothing yet starts from what the account learned. One that
        is polling already never takes another's durations mid-run: theirs may be the early
        finishes of a batch still running, which would pass for the whole of it."""
        if self._pulled or self._scheduler.tracked:
            return
        self._pulled = True
        shared = _export(await self._client.get(self._keys.durations))
        taken = self._learner.restore(shared) if shared is not None else 0
        if taken:
            logger.debug("coordination: %d groups of durations taken from the account", taken)

    async def _share_durations_once(self) -> None:
        """Merge what this session learned into what the account shares: each group of which
        this session has finished enough, by far, against what it still polls (so a sample cut
        short by a batch still running is not passed off as the whole), replaces the account's
        copy of that group."""
        running = self._scheduler.running_models()
        export = self._learner.export()
        complete = {
            _group_key(group): group
            for group in export.get("groups", [])
            if self._finished(group) >= COMPLETE * running[(group["route"], group["model"])]
        }
        if not complete:
            return
        shared = _groups(await self._client.get(self._keys.durations))
        shared.update(complete)
        export["groups"] = list(shared.values())[-MAX_GROUPS:]
        await self._client.set(self._keys.durations, json.dumps(export), ex=DURATIONS_TTL)

    def _finished(self, group: Mapping[str, Any]) -> int:
        """How many of the group's model's tasks this session saw finish itself (the export
        keeps at most 200 quantiles however many finished, and fills them with remembered
        ones)."""
        try:
            route = TaskRoute(group["route"])
        except ValueError:
            return 0
        return self._learner.samples(route, group["model"], remembered=False)

    # --- what the sync side asks for ---------------------------------------------------------

    def _want(self, provider: str) -> None:
        self._wanted[provider].set()

    def _pass_on_refusal(self, provider: str, retry_after: float | None) -> None:
        if self.state is not LinkState.UP:
            return
        self._post({"k": "refused", "p": provider, "ra": retry_after})
        rate = self._rates.get(provider)
        if rate is None:
            return
        pause = 1.0 if retry_after is None else retry_after
        keys = [self._keys.next_send(provider), self._keys.cut(provider)]
        cut = self._refused(keys=keys, args=[rate, pause, BACK_OFF, CLIMB, SLOWEST])
        task = asyncio.get_running_loop().create_task(_quietly(cut))
        self._background.add(task)  # held until done: the loop keeps only weak references
        task.add_done_callback(self._background.discard)

    def _post(self, event: dict[str, Any]) -> bool:
        if self.state is not LinkState.UP:
            return False  # a hint held until Redis is back would arrive stale
        event["w"] = self._me
        try:
            self._outbox.put_nowait(json.dumps(event))
        except asyncio.QueueFull:
            return False
        return True


def _group_key(group: Mapping[str, Any]) -> tuple[str, ...]:
    return tuple(str(group.get(field)) for field in ("clock", "route", "model", "workload"))


def _export(raw: bytes | str | None) -> dict[str, Any] | None:
    """The account's shared export; None if absent, damaged or foreign (the next share
    replaces it)."""
    try:
        shared = json.loads(raw) if raw is not None else None
    except ValueError:
        return None
    return shared if isinstance(shared, dict) else None


def _groups(raw: bytes | str | None) -> dict[tuple[str, ...], dict[str, Any]]:
    """The groups of a shared export, by identity; nothing if absent, damaged or foreign."""
    shared = _export(raw)
    groups = shared.get("groups") if shared is not None else None
    if not isinstance(groups, list):
        return {}
    return {_group_key(g): g for g in groups if isinstance(g, dict)}


async def _quietly(command: Awaitable[Any]) -> None:
    """A fire-and-forget command: its failure shows in the loops, which take the link down."""
    with contextlib.suppress(*_ERRORS):
        await asyncio.wait_for(command, COMMAND_TIMEOUT)


async def _first_error(loops: list[Awaitable[None]]) -> None:
    """Run ``loops`` until the first one raises; cancel the rest and raise that error."""
    tasks = [asyncio.ensure_future(loop) for loop in loops]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        for task in done:
            error = task.exception()
            if error is not None:
                raise error
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _reconnect_waits() -> Iterator[float]:
    """Jittered exponential waits between attempts to connect: 0.05 s to 30 s."""
    expo = backoff.expo(base=2, factor=0.25, max_value=_RECONNECT_MAX)
    next(expo)  # backoff's generators yield once before the first value
    return (backoff.full_jitter(wait) + 0.05 for wait in expo)
