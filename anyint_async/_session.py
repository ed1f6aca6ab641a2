"""``AnyIntSession``: configuration, lifecycle, and the provider route families."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import time
from collections.abc import Awaitable, Iterable, Mapping
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self

import aiohttp
import attrs
from yarl import URL

from ._callbacks import RUNNING_WORDS, CallbackOutcome, read_callback, verify_signature
from ._errors import (
    ConfigurationError,
    InvalidParameterError,
    SessionClosedError,
    TaskFailedError,
)
from ._logging import configure_from_env
from ._retry import RetryPolicy
from ._telemetry import Telemetry
from ._transport import ConnectionPool, Transport, read_timeout
from ._validate import check_seconds, check_task_id, check_url
from .coordination.stats import CoordinationStats
from .download import Downloader
from .models import ImageResult, Task, TaskRoute
from .polling.events import EventHook
from .polling.hedging import HedgePolicy
from .polling.learning import DurationLearner
from .polling.memory import load_memory, save_memory
from .polling.policy import POLL_PRESETS, PollPolicy
from .polling.schedule import DEFAULT_QUERY_RATE_LIMITS, PollStats, carry_over
from .polling.scheduler import PollScheduler
from .polling.streams import AsCompleted, Poller
from .providers.dashscope import DEFAULT_GENERATION_TIMEOUT, DashScope
from .providers.kling import Kling

if TYPE_CHECKING:
    from .coordination.link import Coordinator

__all__ = ["DEFAULT_BASE_URL", "AnyIntSession"]

DEFAULT_BASE_URL = "https://gateway.api.anyint.ai"
API_KEY_ENV = "ANYINT_API_KEY"
BASE_URL_ENV = "ANYINT_BASE_URL"
COORDINATION_URL_ENV = "ANYINT_COORDINATION_URL"
#: How long opening a session (``async with``) waits for coordination's first connection, so a
#: fresh worker starts warm; past it the session polls alone and the link keeps trying.
COORDINATION_START_WAIT = 1.0

logger = logging.getLogger("anyint_async.callbacks")

# `refresh` also takes a provider name where the route is unambiguous.


class _Query(Protocol):
    def __call__(
        self, task_id: str, *, model: str | None = ..., workload: str | None = ...
    ) -> Awaitable[Task]: ...


_ROUTE_ALIASES = {"dashscope": TaskRoute.DASHSCOPE_TASKS}


def _check_base_url(value: str) -> URL:
    url = URL(value)
    if url.scheme not in ("http", "https") or not url.host:
        raise ConfigurationError(
            f"base_url must be an absolute http(s) URL such as {DEFAULT_BASE_URL}, got {value!r}"
        )
    if url.query_string or url.fragment:
        raise ConfigurationError(f"base_url must not carry a query or fragment, got {value!r}")
    if url.scheme == "http" and not _is_loopback(url.host):
        raise ConfigurationError(
            f"base_url must use https (plain http is allowed only for loopback hosts such as "
            f"127.0.0.1 or localhost, where the simulated gateway runs), got {value!r}"
        )
    return url


def _is_loopback(host: str) -> bool:
    if host.lower() in ("localhost", "localhost."):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _check_hedging(value: HedgePolicy | bool) -> HedgePolicy | None:
    if isinstance(value, HedgePolicy):
        return value
    if isinstance(value, bool):
        return HedgePolicy() if value else None
    raise InvalidParameterError(
        "query_hedging",
        f"must be True (the default), False (never hedge) or a HedgePolicy, got {value!r}",
    )


def _check_timeout(timeout: float | aiohttp.ClientTimeout) -> aiohttp.ClientTimeout:
    if isinstance(timeout, aiohttp.ClientTimeout):
        return timeout
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
        raise InvalidParameterError(
            "timeout",
            f"must be a positive number of seconds or an aiohttp.ClientTimeout, got {timeout!r}",
        )
    return read_timeout(float(timeout))


class AnyIntSession:
    """An async client for the AnyInt gateway's DashScope and Kling media routes.

    The API key comes from ``api_key`` or the ``ANYINT_API_KEY`` environment variable, the base URL
    from ``base_url``, ``ANYINT_BASE_URL`` or the public gateway. ``timeout`` bounds each quick
    call (creates, queries, a download's first byte and each later read): its answer must start
    within that many seconds and never stall longer, but an answer still coming is never cut
    off. DashScope image generation answers only when the image is made, so it waits
    ``generation_timeout`` (default 300 s) instead. The session owns one
    ``aiohttp.ClientSession`` (one connection pool of ``max_connections``) unless you pass your
    own as ``http_session``: then it borrows it and never closes it.

    ``query_rate_limits`` paces task queries per provider: a number is a known limit per second,
    ``None`` an unknown one found from the provider's refusals, ``math.inf`` no limit at all.
    The default, ``{"dashscope": 20.0, "kling": None}``, is DashScope's documented 20 queries a
    second per account and Kling's unpublished one; a refusal slows only its own provider.
    ``max_requests_per_second`` caps every query together. ``max_polls_in_flight`` fixes
    the most task queries in flight at once. By default the session picks it: it starts at 16
    and, twice a second, raises the cap toward three quarters of ``max_connections`` while the
    cap bound and the event loop's thread had time to spare (answers crossing a far network),
    and lowers it back while that thread was busy (answers coming faster than it handles them,
    or the app's own work), so a busy loop is not handed dozens of answers at once for nothing.

    ``poll_policy`` sets how waiting tasks are polled: a preset (``"fast"``, ``"default"``,
    ``"frugal"``: each task found within 5%, 10% or 30% of its run after its end, half that on
    average, see ``POLL_PRESETS``), one ``PollPolicy`` for every route, or a dict of route to
    ``PollPolicy``.
    ``query_hedging``: a task query still unanswered well past its provider's usual answer
    time (a few times the 99th percentile of recent answers, at least half a second, at most
    2 s past that percentile) is asked again on another connection, and the first answer is
    used; the stuck request is cancelled and its connection closed. ``False`` turns it off, a
    ``HedgePolicy`` tunes it. Creates are never hedged.
    ``duration_memory`` names a small JSON file: read here, written when the session closes,
    it carries how long each model's tasks took to the next session, whose first tasks are then
    polled like the rest of a batch (no ids, prompts or keys are written to it).
    ``coordination_url`` (or ``ANYINT_COORDINATION_URL``; needs ``anyint_async[redis]``): a
    Redis shared by every session of the account (web-app workers, replicas). They then share
    each known query limit (the whole account stays under DashScope's 20 a second), Kling
    callbacks (one that reaches a worker not waiting for its task wakes the worker that is)
    and learned durations (a new worker starts warm). An app that holds a
    ``redis.asyncio.Redis`` passes it as ``coordination`` instead; it is borrowed, never
    closed. Redis down, slow or restarted: each session polls alone and rejoins when it can;
    no wait fails for it. Only a keyed hash of the API key, task ids, send times and durations
    reach Redis.

    Examples:
        >>> async with AnyIntSession() as session:  # doctest: +SKIP
        ...     task = await session.kling.omni_video.create(prompt="A paper boat", duration=5)
        ...     task = await session.refresh(task)
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        timeout: float | aiohttp.ClientTimeout = 60.0,
        generation_timeout: float = DEFAULT_GENERATION_TIMEOUT,
        max_retries: int | None = None,
        retry_policy: RetryPolicy | None = None,
        max_connections: int = 64,
        http_session: aiohttp.ClientSession | None = None,
        poll_policy: PollPolicy
        | Mapping[TaskRoute, PollPolicy]
        | Mapping[str, PollPolicy]
        | str
        | None = None,
        max_polls_in_flight: int | None = None,
        max_requests_per_second: float | None = None,
        query_rate_limits: Mapping[str, float | None] | None = None,
        max_downloads: int = 4,
        callback_url: str | None = None,
        callback_secret: str | None = None,
        duration_memory: str | os.PathLike[str] | None = None,
        query_hedging: HedgePolicy | bool = True,
        coordination_url: str | None = None,
        coordination: Any = None,
    ) -> None:
        configure_from_env()
        key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
        if not isinstance(key, str) or not key.strip():
            raise ConfigurationError(
                f"no API key: pass api_key= or set the {API_KEY_ENV} environment variable"
            )
        base = base_url or os.environ.get(BASE_URL_ENV) or DEFAULT_BASE_URL
        policy = retry_policy or RetryPolicy()
        if max_retries is not None:
            policy = attrs.evolve(policy, max_retries=max_retries)
        _check_positive_int(max_connections, "max_connections")
        if http_session is not None and not isinstance(http_session, aiohttp.ClientSession):
            raise InvalidParameterError(
                "http_session", f"must be an aiohttp.ClientSession, got {type(http_session)!r}"
            )
        pool = ConnectionPool(max_connections=max_connections, http_session=http_session)
        self._telemetry = Telemetry()
        transport = Transport(
            base_url=_check_base_url(base),
            api_key=key.strip(),
            timeout=_check_timeout(timeout),
            retry=policy,
            pool=pool,
            telemetry=self._telemetry,
        )
        self._transport = transport
        self._downloader = Downloader(
            pool,
            retry=policy,
            timeout=transport.timeout,
            max_concurrent=_check_positive_int(max_downloads, "max_downloads"),
            telemetry=self._telemetry,
        )
        self.dashscope = DashScope(
            transport, generation_timeout=check_seconds(generation_timeout, "generation_timeout")
        )
        self._callback_secret = _check_secret(callback_secret)
        self.kling = Kling(transport, callback_url=check_url(callback_url, "callback_url"))
        self._getters = _query_routes(self.dashscope, self.kling)
        # The scheduler's queries skip per-request retries: it reschedules a failed query itself
        # and answers a 429 with one pause for every task, which retries inside would defeat.
        polling = transport.with_retry(attrs.evolve(policy, max_retries=0))
        self._poll_getters = _query_routes(DashScope(polling), Kling(polling))
        self._memory = _check_memory_path(duration_memory)
        learner = DurationLearner()
        if self._memory is not None:
            load_memory(self._memory, learner)
        self._scheduler = PollScheduler(
            self._poll,
            learner=learner,
            policies=_check_policies(poll_policy),
            # Leave a quarter of the pool to creates and downloads by default.
            max_in_flight=_check_positive_int(
                max_polls_in_flight or max(1, max_connections * 3 // 4), "max_polls_in_flight"
            ),
            max_requests_per_second=_check_rate(max_requests_per_second),
            query_rate_limits=_check_query_rate_limits(query_rate_limits),
            retry=policy,
            telemetry=self._telemetry,
            hedging=_check_hedging(query_hedging),
            # By default, fewer queries in flight while the loop is busy answering, more while
            # it waits on a far network (see polling/inflight.py); a number given is kept.
            loop_cpu_clock=time.thread_time if max_polls_in_flight is None else None,
        )
        self._untracked_warned = False
        self._coordinator = _coordinator(
            coordination_url,
            coordination,
            api_key=key.strip(),
            base_url=self.base_url,
            scheduler=self._scheduler,
            learner=learner,
            rate_limits=_check_query_rate_limits(query_rate_limits),
        )

    @property
    def base_url(self) -> str:
        """The gateway this session talks to."""
        return self._transport.base_url

    async def receive_callback(
        self, body: bytes | str | Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> CallbackOutcome:
        """Feed one Kling callback; say what became of it. Never raises on what was sent.

        A callback is a hint: the task it names is asked about at once (within its provider's
        budget), and the answer, never the callback's body, is what waiters get. One that says
        the task is still submitted or processing spends no query: no answer could end a wait. With
        ``callback_secret`` set, the Standard Webhooks signature in ``headers`` must verify
        over the raw ``body`` (bytes or str; a parsed mapping cannot be verified and is refused).
        """
        if self._callback_secret is not None:
            raw = body.encode() if isinstance(body, str) else body
            if not isinstance(raw, bytes) or not verify_signature(
                self._callback_secret, raw, headers or {}
            ):
                logger.info("callback refused: missing or bad signature")
                return CallbackOutcome.BAD_SIGNATURE
        named = read_callback(body)
        if named is None:
            logger.info("callback ignored: not a Kling task body")
            return CallbackOutcome.MALFORMED
        task_id, status = named
        if status in RUNNING_WORDS:
            # Still on its way: no answer could end a wait, so no query is spent on it.
            waited_for = self._scheduler.waits_for(task_id)
            logger.debug("callback: task %s is %s", task_id, status)
            return CallbackOutcome.ACCEPTED if waited_for else CallbackOutcome.IGNORED
        if self._scheduler.wake(task_id):
            logger.debug("callback for task %s: asking about it now", task_id)
            return CallbackOutcome.ACCEPTED
        if self._coordinator is not None:
            self._coordinator.start()
            if self._coordinator.pass_on_callback(task_id):
                logger.debug("callback for task %s passed on to the account's sessions", task_id)
                return CallbackOutcome.FORWARDED
        if not self._untracked_warned:
            self._untracked_warned = True
            advice = (
                "give every session the same coordination_url (Redis) so that callbacks "
                "reach the session that waits"
                if self._coordinator is None
                else "coordination_url is set but Redis is not reachable now, so it was not "
                "passed on"
            )
            logger.warning(
                "a callback named task %s, which this session does not wait for. If several "
                "workers or replicas share the callback URL, the one waiting for it polls it "
                "late: %s. (Logged once per session.)",
                task_id,
                advice,
            )
        logger.debug("callback for task %s, which no one waits for (yet)", task_id)
        return CallbackOutcome.IGNORED

    async def accept_callback(
        self, body: bytes | str | Mapping[str, Any], headers: Mapping[str, str] | None = None
    ) -> bool:
        """Feed one Kling callback; True when it named a task this session is waiting for.

        See :meth:`receive_callback`, which also says why a callback was not accepted.
        """
        return await self.receive_callback(body, headers) is CallbackOutcome.ACCEPTED

    @property
    def coordination_state(self) -> str:
        """``"off"`` without coordination, else where the link to Redis stands: ``"connecting"``,
        ``"up"`` (sharing), ``"down"`` (polling alone, reconnecting) or ``"closed"``."""
        return "off" if self._coordinator is None else self._coordinator.state.value

    def coordination_stats(self) -> CoordinationStats:
        """What the link to Redis did: its state, how often it dropped, and the callbacks and
        refusals passed on and heard (all zero, state ``"off"``, without coordination)."""
        if self._coordinator is None:
            return CoordinationStats(state="off")
        return self._coordinator.stats()

    def poll_stats(self) -> PollStats:
        """What the scheduler has sent so far: polls, retries after transient failures or
        refusals, failures, refusals, and each provider's paced query rate."""
        return self._scheduler.stats()

    @property
    def closed(self) -> bool:
        """True once ``close()`` was called."""
        return self._transport.closed

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return f"<AnyIntSession base_url={self.base_url!r} api_key=<hidden> {state}>"

    async def refresh(self, task: Task | str, *, route: TaskRoute | str | None = None) -> Task:
        """Query a task again, whichever route made it, and return the new snapshot.

        Pass a :class:`Task`, or a task id with ``route`` (a :class:`TaskRoute` value such as
        ``"kling.omni_video"``, or ``"dashscope"``). What the query does not say (the model a
        task was created with, its request shape, whether it calls back, and once a Kling task
        has finished, when it started) is carried over from the task given.

        Examples:
            >>> task = await session.refresh(task)  # doctest: +SKIP
            >>> task = await session.refresh("8672837417", route="kling.images")  # doctest: +SKIP
        """
        if isinstance(task, Task):
            task_id, chosen = task.id, _resolve_route(route or task.route)
        elif isinstance(task, str):
            if route is None:
                raise InvalidParameterError(
                    "route", "is required with a task id: one of " + _route_choices()
                )
            task_id, chosen = check_task_id(task, "task"), _resolve_route(route)
        else:
            raise InvalidParameterError("task", f"must be a Task or a task id, got {task!r:.60}")
        if not isinstance(task, Task):
            return await self._getters[chosen](task_id)
        # As the scheduler does for each answer: without them, a refreshed task handed to
        # wait() would be learned as its model's rather than its request shape's, and polled
        # as though it would not call back.
        fresh = await self._getters[chosen](task_id, model=task.model, workload=task.workload)
        return carry_over(task, fresh)

    async def wait(
        self,
        task: Task,
        *,
        timeout: float | None = 600.0,  # noqa: ASYNC109 (the documented contract; it also
        # bounds polling, which asyncio.timeout around the call would cut without the snapshot)
        policy: PollPolicy | None = None,
        on_event: EventHook | None = None,
    ) -> Task:
        """Wait until ``task`` succeeds and return its final snapshot.

        Raises ``TaskFailedError`` (carrying the task) if it ends FAILED, CANCELED or UNKNOWN,
        and ``TaskTimeoutError`` (carrying the last snapshot) after ``timeout`` seconds.

        Examples:
            >>> task = await session.kling.omni_video.create(prompt="A boat")  # doctest: +SKIP
            >>> done = await session.wait(task, timeout=900)  # doctest: +SKIP
            >>> done.urls  # doctest: +SKIP
            ('https://...mp4',)
        """
        stream = self.as_completed([task], timeout=timeout, policy=policy, on_event=on_event)
        try:
            done = await anext(stream)
        finally:
            await stream.aclose()
        if not done.succeeded:
            raise TaskFailedError(done)
        return done

    def as_completed(
        self,
        tasks: Iterable[Task],
        *,
        timeout: float | None = None,
        policy: PollPolicy | None = None,
        on_event: EventHook | None = None,
    ) -> AsCompleted:
        """Yield each task once, as a terminal snapshot, the moment it is seen to finish.

        Failed, canceled and unknown tasks are yielded too (``succeeded`` is False). Every task
        is polled by the session's one scheduler; leaving the loop stops polling them.

        Examples:
            >>> async for done in session.as_completed(tasks, timeout=1800):  # doctest: +SKIP
            ...     print(done.id, done.status, done.urls)
        """
        self._start_coordination()
        return AsCompleted(
            self._scheduler, tasks, timeout=timeout, policy=policy, on_event=on_event
        )

    def poller(
        self,
        *,
        timeout: float | None = None,
        policy: PollPolicy | None = None,
        on_event: EventHook | None = None,
    ) -> Poller:
        """A stream to add tasks to while iterating; ends after ``close()`` once drained.

        Examples:
            >>> async with session.poller() as poller:  # doctest: +SKIP
            ...     poller.add(await session.kling.images.create(prompt="A fox"))
            ...     poller.close()
            ...     async for done in poller:
            ...         print(done.urls)
        """
        self._start_coordination()
        return Poller(self._scheduler, timeout=timeout, policy=policy, on_event=on_event)

    async def download(
        self, result: Task | ImageResult, dest: str | os.PathLike[str], *, name: str | None = None
    ) -> list[Path]:
        """Stream every result file of a finished task (or generated image) into ``dest``.

        Files are named ``name`` (default: the task id) plus an extension from the content type,
        ``name@1``, ``name@2``, ... when there are several. ``name`` is a plain file name: ``.``,
        ``..``, separators, control characters and names over 200 bytes are refused (put
        sub-folders in ``dest``). Each file is written to a temporary name and renamed when
        complete. The API key is never sent to the result host. An expired URL raises
        ``ResultExpiredError`` (``refresh`` the task for fresh URLs); a disk that refuses the
        file raises ``FileWriteError``.

        Examples:
            >>> done = await session.wait(task)  # doctest: +SKIP
            >>> await session.download(done, "out", name="hero-01")  # doctest: +SKIP
            [PosixPath('out/hero-01.mp4')]
        """
        if isinstance(result, Task):
            if not result.succeeded or not result.urls:
                raise InvalidParameterError(
                    "result",
                    f"has nothing to download: task {result.id} is {result.status.value}"
                    + ("" if result.done else "; wait for it first"),
                )
            stem = name if name is not None else result.id
        elif isinstance(result, ImageResult):
            if not result.urls:
                raise InvalidParameterError("result", "has no image URLs to download")
            stem = name if name is not None else (result.request_id or "image")
        else:
            raise InvalidParameterError(
                "result", f"must be a Task or an ImageResult, got {result!r:.60}"
            )
        task = result if isinstance(result, Task) else None
        return await self._downloader.download(result.urls, Path(dest), stem, task=task)

    async def _poll(self, task: Task) -> Task:
        # What the query does not say, said by the getter: the scheduler carries it over
        # otherwise, a copy of every DashScope answer (a sixth of settling one, in a profile
        # of 10,000 videos).
        return await self._poll_getters[task.route](
            task.id, model=task.model, workload=task.workload
        )

    def _start_coordination(self) -> None:
        if self._coordinator is not None:
            self._coordinator.start()

    async def close(self) -> None:
        """Stop polling and close the connection pool the session owns. Safe to call twice.

        Anyone still iterating over tasks gets a ``SessionClosedError`` whose ``tasks`` hold the
        last snapshots of the unfinished ones.
        """
        if self._coordinator is not None:
            await self._coordinator.close()
        await self._scheduler.close()
        await self._transport.close()
        self._telemetry.close()
        if self._memory is not None:
            memory, self._memory = self._memory, None  # once: a second close has nothing new
            await asyncio.to_thread(save_memory, memory, self._scheduler.learner)

    async def __aenter__(self) -> Self:
        if self.closed:
            raise SessionClosedError("this AnyIntSession is closed; create a new one")
        if self._coordinator is not None:
            await self._coordinator.wait_up(COORDINATION_START_WAIT)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _coordinator(
    url: str | None,
    client: Any,
    *,
    api_key: str,
    base_url: str,
    scheduler: PollScheduler,
    learner: DurationLearner,
    rate_limits: Mapping[str, float | None],
) -> Coordinator | None:
    """The link to Redis named by ``coordination_url`` (or its environment variable), or over
    the client passed as ``coordination``; None without either."""
    if url is not None and client is not None:
        raise InvalidParameterError(
            "coordination", "give coordination_url or coordination (a Redis client), not both"
        )
    if url is None and client is None:
        url = os.environ.get(COORDINATION_URL_ENV) or None
        if url is None:
            return None
    try:
        import redis.asyncio

        from .coordination.keys import AccountKeys, account_id
        from .coordination.link import Coordinator, connect_url
    except ImportError:
        raise ConfigurationError(
            "coordination needs the redis extra: pip install 'anyint_async[redis]'"
        ) from None
    if client is not None:
        if not isinstance(client, redis.asyncio.Redis):
            raise InvalidParameterError(
                "coordination",
                f"must be a redis.asyncio.Redis client, got {type(client).__name__}",
            )
        owned, where = False, "the Redis client given"
    else:
        # The URL may carry a password: errors name its scheme, never the URL.
        parsed = URL(url.strip()) if isinstance(url, str) else None
        scheme = parsed.scheme if parsed is not None else type(url).__name__
        if scheme not in ("redis", "rediss", "unix"):
            raise InvalidParameterError(
                "coordination_url",
                "must be a Redis URL such as redis://localhost:6379/0 (redis://, rediss:// or "
                f"unix://), got one of scheme {scheme!r}",
            )
        assert isinstance(url, str)
        assert parsed is not None
        try:
            client = connect_url(url.strip())
        except ValueError:
            raise InvalidParameterError(
                "coordination_url", "could not be read as a Redis URL (redis://host:port/db)"
            ) from None
        owned, where = True, f"{parsed.scheme}://{parsed.host or ''}:{parsed.port or ''}"
    return Coordinator(
        client,
        owned=owned,
        keys=AccountKeys(account_id(api_key, base_url)),
        scheduler=scheduler,
        learner=learner,
        rate_limits=rate_limits,
        where=where,
    )


def _check_memory_path(value: str | os.PathLike[str] | None) -> Path | None:
    if value is None:
        return None
    if not isinstance(value, str | os.PathLike) or not os.fspath(value):
        raise InvalidParameterError(
            "duration_memory",
            f"must be a file path (str or Path) or None, got {value!r:.60}",
        )
    path = Path(value)
    if path.is_dir():
        raise InvalidParameterError(
            "duration_memory", f"names a folder; give a file path such as {path / 'durations.json'}"
        )
    return path


def _query_routes(dashscope: DashScope, kling: Kling) -> dict[TaskRoute, _Query]:
    return {
        TaskRoute.DASHSCOPE_TASKS: dashscope.tasks.get,
        TaskRoute.KLING_IMAGES: kling.images.get,
        TaskRoute.KLING_OMNI_IMAGE: kling.omni_image.get,
        TaskRoute.KLING_OMNI_VIDEO: kling.omni_video.get,
    }


def _check_policies(
    value: PollPolicy | Mapping[TaskRoute, PollPolicy] | Mapping[str, PollPolicy] | str | None,
) -> dict[TaskRoute, PollPolicy]:
    if value is None:
        return {}
    if isinstance(value, str):
        if value not in POLL_PRESETS:
            raise InvalidParameterError(
                "poll_policy",
                f"must name a preset ({', '.join(map(repr, POLL_PRESETS))}), got {value!r}",
            )
        return dict(POLL_PRESETS[value])
    if isinstance(value, PollPolicy):
        return dict.fromkeys(TaskRoute, value)
    if isinstance(value, Mapping):
        chosen = {}
        for route, policy in value.items():
            if not isinstance(policy, PollPolicy):
                raise InvalidParameterError(
                    f"poll_policy[{route!r}]", f"must be a PollPolicy, got {policy!r:.60}"
                )
            chosen[_resolve_route(route)] = policy
        return chosen
    raise InvalidParameterError(
        "poll_policy",
        "must be a PollPolicy, a dict of route to PollPolicy or a preset name "
        f"('fast', 'default', 'frugal'), got {value!r:.60}",
    )


def _check_secret(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameterError(
            "callback_secret", "must be the non-empty secret your callbacks are signed with"
        )
    return value.strip()


def _check_query_rate_limits(
    value: Mapping[str, float | None] | None,
) -> dict[str, float | None]:
    limits = dict(DEFAULT_QUERY_RATE_LIMITS)
    if value is None:
        return limits
    if not isinstance(value, Mapping):
        raise InvalidParameterError(
            "query_rate_limits",
            f'must be a dict such as {{"dashscope": 20.0, "kling": None}}, got {value!r:.60}',
        )
    for provider, limit in value.items():
        if provider not in limits:
            raise InvalidParameterError(
                "query_rate_limits", f"takes 'dashscope' and 'kling', got {provider!r}"
            )
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int | float) or not limit > 0
        ):
            raise InvalidParameterError(
                f"query_rate_limits[{provider!r}]",
                "must be queries per second (> 0), None to find it from refusals, or math.inf "
                f"for no limit, got {limit!r}",
            )
        limits[provider] = None if limit is None else float(limit)
    return limits


def _check_positive_int(value: object, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise InvalidParameterError(field, f"must be an int >= 1, got {value!r}")
    return value


def _check_rate(value: object) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InvalidParameterError(
            "max_requests_per_second", f"must be a positive number or None, got {value!r}"
        )
    return float(value)


def _route_choices() -> str:
    return ", ".join(repr(r.value) for r in TaskRoute) + ", 'dashscope'"


def _resolve_route(route: TaskRoute | str) -> TaskRoute:
    if isinstance(route, TaskRoute):
        return route
    if isinstance(route, str):
        alias = _ROUTE_ALIASES.get(route.strip().lower())
        if alias is not None:
            return alias
        try:
            return TaskRoute(route.strip().lower())
        except ValueError:
            pass
    raise InvalidParameterError(
        "route", f"must name a task route: one of {_route_choices()}; got {route!r:.60}"
    )
