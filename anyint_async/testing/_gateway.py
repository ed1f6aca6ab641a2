"""``FakeGateway``: a real aiohttp server on loopback that speaks AnyInt's published media routes.

Two listeners: the API (DashScope and Kling routes, plus ``/_sim/*`` controls) and a file host on
another port that serves the signed, expiring result URLs. The file host records any
``Authorization`` header it receives, so a test can prove a client never leaks its key there.

This package imports nothing from the client (session, transport, providers, models): a server
that shared the client's code could not catch the client's mistakes.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import random
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from types import TracebackType
from typing import Any, Self

from aiohttp import web
from attrs import define

from . import _dashscope_wire as dashscope
from . import _kling_wire as kling
from ._callbacks import CallbackFaults, CallbackSender, loopback_problem
from ._dashscope_wire import Rejected
from ._faults import (
    DropConnection,
    Fault,
    Hang,
    KlingCode,
    MalformedBody,
    RateLimited,
    ServerError,
    Slow,
    TruncatedBody,
    fault_to_json,
    faults_from_json,
)
from ._media import UrlSigner, make_mp4, make_png
from ._rate_limit import SlidingWindowLimit
from ._stats import GatewayStats, RequestRecord
from ._store import Phase, SimTask, TaskStore
from ._timing import ModelProfile, default_profiles, pick_profile, request_factor

__all__ = ["FakeGateway"]

_DAY = 86_400.0
#: How often a held request (``Hang``) looks whether its client hung up.
_HOLD_STEP = 0.05
_KLING_FAMILIES = {
    "kling.images": "/transtreams/kling/v1/images/generations",
    "kling.omni_image": "/transtreams/kling/v1/images/omni-image",
    "kling.omni_video": "/transtreams/kling/v1/videos/omni-video",
}
_SERVER_ERROR_CODES: dict[str, dict[int, str | int]] = {
    "dashscope": {500: "InternalError", 502: "InternalError", 503: "ServiceUnavailable"},
    "kling": {500: 5000, 503: 5001, 504: 5002},
}


@define
class _Exchange:
    """What the pipeline learns about one request: its route, provider, account and task."""

    route: str
    provider: str
    owner: str = ""
    task_id: str | None = None


Handler = Callable[[web.Request, _Exchange], Awaitable[web.StreamResponse]]
Endpoint = Callable[[web.Request], Awaitable[web.StreamResponse]]


class _Answer(Exception):
    """Ends a request early with a ready response (auth failure, fault, rejection)."""

    def __init__(self, response: web.StreamResponse) -> None:
        super().__init__()
        self.response = response


class FakeGateway:
    """A simulated AnyInt gateway for tests, demos and benchmarks.

    Durations are drawn per model from ``profiles`` (simulated seconds) and multiplied by
    ``time_scale``: with ``time_scale=0.001`` a four-minute video takes 0.24 s. ``seed`` makes
    ids, durations and failures repeatable. With ``api_key`` only that key is accepted, else any
    non-empty bearer key. ``max_in_flight`` caps each account's unfinished tasks per provider,
    like Kling's resource packs (Kling answers 1303, DashScope ``Throttling.AllocationQuota``).
    ``clock_skew`` (real seconds, negative: behind) shifts every timestamp the providers write
    (Kling ``created_at``/``updated_at``, DashScope ``submit_time``...), to test a wrong clock.
    ``query_rate_limit`` (``{"dashscope": 20, "kling": 10}``) refuses task queries beyond N in
    any one second per account and provider, as each provider does (429, ``Retry-After: 1``);
    ``gw.stats.queries_refused`` counts the refusals. A Kling create with ``callback_url`` gets
    its task's ``data`` POSTed there when it starts running and when it ends, signed per
    Standard Webhooks when ``callback_secret`` is set, with ``callback_faults`` (lost,
    duplicated, delayed, reordered, or a relay that drops them all); ``gw.callbacks.counts``
    counts them. Only loopback callback URLs are accepted (a Kling-style 400 says why).

    Examples:
        >>> async with FakeGateway(time_scale=0.001) as gw:  # doctest: +SKIP
        ...     async with AnyIntSession("any-key", base_url=gw.url) as session:
        ...         task = await session.kling.images.create(prompt="a fox")
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        files_host: str | None = None,
        files_port: int = 0,
        api_key: str | None = None,
        time_scale: float = 1.0,
        seed: int | None = 0,
        fail_rate: float = 0.0,
        profiles: Mapping[str, ModelProfile] | None = None,
        faults: Iterable[Fault] = (),
        max_in_flight: int | None = None,
        url_ttl: float | None = None,
        task_ttl: float | None = None,
        video_bytes: int = 64 * 1024,
        max_log: int = 1_000_000,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        clock_skew: float = 0.0,
        query_rate_limit: Mapping[str, float] | None = None,
        callback_faults: CallbackFaults | None = None,
        callback_secret: str | None = None,
    ) -> None:
        if time_scale <= 0:
            raise ValueError(f"time_scale must be > 0, got {time_scale!r}")
        if not 0.0 <= fail_rate <= 1.0:
            raise ValueError(f"fail_rate must be between 0 and 1, got {fail_rate!r}")
        self._host = host
        self._port = port
        self._files_host = files_host or host
        self._files_port = files_port
        self._api_key = api_key
        self.time_scale = time_scale
        self.fail_rate = fail_rate
        self.profiles: dict[str, ModelProfile] = {**default_profiles(), **(profiles or {})}
        self.faults: list[Fault] = list(faults)
        self.max_in_flight = max_in_flight
        self.clock_skew = float(clock_skew)
        unknown = set(query_rate_limit or {}) - {"dashscope", "kling"}
        if unknown:
            raise ValueError(f"query_rate_limit takes 'dashscope' and 'kling', got {unknown}")
        self.query_limits = {
            provider: SlidingWindowLimit(per_second)
            for provider, per_second in (query_rate_limit or {}).items()
        }
        self._url_ttl = url_ttl
        self._task_ttl = task_ttl
        self._video_bytes = video_bytes
        self._max_log = max_log
        self._clock = clock
        self._wall_clock = wall_clock
        self._seed = seed if seed is not None else random.randrange(2**32)
        self._rng = random.Random(seed)
        self._signer = UrlSigner(self._rng.randbytes(32))
        self.stats = GatewayStats()
        self.store = TaskStore()
        self.callbacks = CallbackSender(
            callback_faults or CallbackFaults(),
            rng=random.Random(self._seed + 1),
            secret=callback_secret,
            wall_clock=wall_clock,
        )
        self._t0 = clock()
        self._wall0 = wall_clock()
        self._runners: list[web.AppRunner] = []
        self.url = ""
        self.files_url = ""

    # --- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> Self:
        """Bind both listeners and start serving; ``url`` and ``files_url`` are then set."""
        api = web.Application(client_max_size=8 * 1024 * 1024)
        self._add_api_routes(api)
        files = web.Application()
        files.router.add_get("/files/{task_id}/{name}", self._wrap("files.get", "file", self._file))
        api_runner = await self._serve(api, self._host, self._port)
        files_runner = await self._serve(files, self._files_host, self._files_port)
        self.url = _base_url(api_runner)
        self.files_url = _base_url(files_runner)
        self._t0 = self._clock()
        self._wall0 = self._wall_clock()
        await self.callbacks.start()
        return self

    async def _serve(self, app: web.Application, host: str, port: int) -> web.AppRunner:
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runners.append(runner)
        return runner

    async def stop(self) -> None:
        """Stop serving and close every connection."""
        await self.callbacks.stop()
        runners, self._runners = self._runners, []
        for runner in runners:
            await runner.cleanup()

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # --- controls ----------------------------------------------------------------------------

    def add_fault(self, fault: Fault) -> Fault:
        """Inject ``fault`` from now on; returns it (its ``fired`` counts firings)."""
        self.faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        """Remove every fault."""
        self.faults.clear()

    def reset_stats(self) -> None:
        """Start the counters afresh (tasks are kept)."""
        self.stats = GatewayStats()

    def elapsed(self) -> float:
        """Real seconds since the gateway started."""
        return self._clock() - self._t0

    def _wall(self, monotonic: float) -> float:
        return self._wall0 + (monotonic - self._t0)

    def _provider_wall(self, monotonic: float) -> float:
        """The time a provider writes into its answers: off by ``clock_skew``, as a relay that
        writes UTC for UTC+8, or a provider clock hours off, would make it. Counters keep the
        true time."""
        return self._wall(monotonic) + self.clock_skew

    def _request_id(self) -> str:
        return str(uuid.UUID(int=self._rng.getrandbits(128), version=4))

    # --- routing and the request pipeline ------------------------------------------------------

    def _add_api_routes(self, app: web.Application) -> None:
        router = app.router
        router.add_post(
            "/dashscope/v1/services/aigc/multimodal-generation/generation",
            self._wrap("dashscope.images.generate", "generate", self._dashscope_image),
        )
        router.add_post(
            "/dashscope/v1/services/aigc/video-generation/video-synthesis",
            self._wrap("dashscope.videos.create", "create", self._dashscope_video),
        )
        router.add_get(
            "/dashscope/v1/tasks/{task_id}",
            self._wrap("dashscope.tasks.get", "query", self._dashscope_task),
        )
        for family, path in _KLING_FAMILIES.items():
            router.add_post(path, self._wrap(f"{family}.create", "create", self._kling_create))
            router.add_get(path, self._wrap(f"{family}.get", "query", self._kling_query))
            router.add_get(
                path + "/{task_id}", self._wrap(f"{family}.get", "query", self._kling_query)
            )
        router.add_get("/_sim/stats", self._sim_stats)
        router.add_get("/_sim/faults", self._sim_faults)
        router.add_post("/_sim/faults", self._sim_faults)
        router.add_delete("/_sim/faults", self._sim_faults)

    def _wrap(self, route: str, kind: str, handler: Handler) -> Endpoint:
        provider = route.split(".", 1)[0]

        async def pipeline(request: web.Request) -> web.StreamResponse:
            stats = self.stats
            stats.requests[route] += 1
            stats.in_flight += 1
            stats.peak_concurrent = max(stats.peak_concurrent, stats.in_flight)
            exchange = _Exchange(route=route, provider=provider)
            arrived = self.elapsed()
            status = 0
            try:
                response = await self._run(request, exchange, kind, handler)
                status = response.status
                return response
            finally:
                stats.in_flight -= 1
                stats.statuses[f"{route} {status}"] += 1
                if len(stats.log) < self._max_log:
                    stats.log.append(RequestRecord(arrived, route, status, exchange.task_id))

        return pipeline

    async def _run(
        self, request: web.Request, exchange: _Exchange, kind: str, handler: Handler
    ) -> web.StreamResponse:
        if request.can_read_body:
            # Read the whole body first, as a real gateway does before forwarding: a client that
            # gives up during a slow answer has still delivered its create.
            await request.read()
        if kind == "file":
            self.stats.file_requests += 1
            if "Authorization" in request.headers:
                self.stats.file_auth_headers += 1
        answering: Fault | None = None
        for fault in list(self.faults):
            if answering is not None and not isinstance(fault, Slow):
                continue  # one fault answers; the others keep their turn (and their count)
            if not fault.fires(exchange.route, kind, self.elapsed(), self._rng):
                continue
            if isinstance(fault, Hang):
                await self._hold(request, fault)
            elif isinstance(fault, Slow):
                await asyncio.sleep(fault.delay)
            else:
                answering = fault
        try:
            if kind != "file":
                self._authenticate(request, exchange)
            if answering is not None and not answering.processed:
                return self._fault_response(exchange, answering)
            response = await handler(request, exchange)
        except _Answer as early:
            return early.response
        if answering is not None:
            return self._spoil(request, exchange, answering, response)
        return response

    @staticmethod
    async def _hold(request: web.Request, fault: Hang) -> None:
        """Hold a request for the fault's delay, watching whether its client hangs up."""
        loop = asyncio.get_running_loop()
        ends = loop.time() + fault.delay
        while (left := ends - loop.time()) > 0:
            transport = request.transport
            if transport is None or transport.is_closing():
                fault.abandoned += 1
                return  # no one to answer; the handler's response goes nowhere
            await asyncio.sleep(min(_HOLD_STEP, left))

    def _authenticate(self, request: web.Request, exchange: _Exchange) -> None:
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            code_kling, message = 1001, "Authorization is empty"
        elif self._api_key is not None and key != self._api_key:
            code_kling, message = 1002, "Authorization is invalid"
        else:
            # Accounts are told apart by a digest: the key itself is never stored.
            exchange.owner = hashlib.sha256(key.encode()).hexdigest()[:16]
            return
        if exchange.provider == "kling":
            raise _Answer(self._error(exchange, 401, code_kling, message))
        raise _Answer(self._error(exchange, 401, "InvalidApiKey", "Invalid API-key provided."))

    def _error(
        self, exchange: _Exchange, status: int, code: str | int, message: str
    ) -> web.Response:
        rid = self._request_id()
        if exchange.provider == "kling":
            body = kling.error_body(int(code), message, rid)
        else:
            body = dashscope.error_body(code, message, rid)
        return web.json_response(body, status=status)

    def _admit_query(self, exchange: _Exchange) -> None:
        """Refuse a task query beyond the provider's per-account limit, as the provider does:
        429 with ``Throttling.RateQuota`` (DashScope) or code 1302 (Kling), ``Retry-After: 1``."""
        limit = self.query_limits.get(exchange.provider)
        if limit is None or limit.admit(exchange.owner, self._clock()):
            return
        self.stats.queries_refused[exchange.provider] += 1
        raise _Answer(self._throttled(exchange, 1.0))

    def _throttled(self, exchange: _Exchange, retry_after: float | None) -> web.StreamResponse:
        headers = {} if retry_after is None else {"Retry-After": _seconds_header(retry_after)}
        if exchange.provider == "files":
            return web.Response(status=429, text="Too Many Requests", headers=headers)
        code: str | int = 1302 if exchange.provider == "kling" else "Throttling.RateQuota"
        response = self._error(exchange, 429, code, "Requests rate limit exceeded")
        response.headers.update(headers)
        return response

    def _fault_response(self, exchange: _Exchange, fault: Fault) -> web.StreamResponse:
        provider = exchange.provider
        if isinstance(fault, RateLimited):
            if fault.retry_after is not None:
                now = self.elapsed()
                self.stats.retry_after_windows.append(
                    (now, now + fault.retry_after, exchange.provider)
                )
            return self._throttled(exchange, fault.retry_after)
        if isinstance(fault, KlingCode):
            return self._error(
                exchange,
                fault.http_status,
                fault.code,
                _KLING_MESSAGES.get(fault.code, "Kling error"),
            )
        assert isinstance(fault, ServerError)
        if provider == "files":
            return web.Response(status=fault.status, text="Service Unavailable")
        codes = _SERVER_ERROR_CODES.get(provider, {})
        fallback: str | int = 5000 if provider == "kling" else "InternalError"
        return self._error(
            exchange, fault.status, codes.get(fault.status, fallback), "The service is unavailable"
        )

    def _spoil(
        self,
        request: web.Request,
        exchange: _Exchange,
        fault: Fault,
        response: web.StreamResponse,
    ) -> web.StreamResponse:
        """Corrupt an answer whose work was done: the dangerous case for a create."""
        if isinstance(fault, DropConnection):
            if request.transport is not None:
                request.transport.close()
            return response
        body = response.body if isinstance(response, web.Response) else b""
        raw = body if isinstance(body, bytes) else b""
        if isinstance(fault, TruncatedBody):
            if exchange.provider == "files":
                return _PartialFile(raw, response.content_type)
            return web.Response(body=raw[: max(1, len(raw) // 2)], content_type="application/json")
        assert isinstance(fault, MalformedBody)
        return web.Response(
            text="<html><body><h1>502 Bad Gateway</h1></body></html>", content_type="text/html"
        )

    async def _json(self, request: web.Request, exchange: _Exchange) -> dict[str, Any]:
        try:
            body = await request.json()
        except (json.JSONDecodeError, UnicodeDecodeError):
            body = None
        if not isinstance(body, dict):
            code: str | int = 1200 if exchange.provider == "kling" else "InvalidParameter"
            raise _Answer(self._error(exchange, 400, code, "The request body is not a JSON object"))
        return body

    def _reject(self, exchange: _Exchange, rejected: Rejected) -> _Answer:
        return _Answer(self._error(exchange, rejected.status, rejected.code, rejected.message))

    # --- task creation -------------------------------------------------------------------------

    def _new_task(
        self,
        exchange: _Exchange,
        *,
        family: str,
        model: str,
        prompt: str,
        outputs: int,
        media: str,
        external_id: str | None,
        body: dict[str, Any],
    ) -> SimTask:
        owner = exchange.owner
        provider = family.split(".", 1)[0]
        now = self._clock()
        if self.max_in_flight is not None and (
            self.store.in_flight(owner, provider, now) + (outputs if media == "png" else 1)
            > self.max_in_flight
        ):
            if provider == "kling":
                raise _Answer(self._error(exchange, 429, 1303, _KLING_MESSAGES[1303]))
            raise _Answer(
                self._error(
                    exchange, 429, "Throttling.AllocationQuota", "Too many tasks in progress"
                )
            )
        profile = pick_profile(self.profiles, family, model)
        fate = self._fate(family, model, prompt)
        request = {**body.get("parameters", {}), **body} if provider == "dashscope" else body
        busy = self.store.in_flight(owner, provider, now) if profile.queue_per_task else 0
        queued = (profile.queue.sample(fate) + busy * profile.queue_per_task) * self.time_scale
        factor = request_factor(request) if profile.scales_with_request else 1.0
        running = profile.run.sample(fate) * self.time_scale * factor
        fail_rate = self.fail_rate if profile.fail_rate is None else profile.fail_rate
        fails = "#fail" in prompt or fate.random() < fail_rate
        started = now + queued
        finishes = started + running
        task_ttl = (
            self._task_ttl
            if self._task_ttl is not None
            else (_DAY if provider == "dashscope" else 30 * _DAY)
        )
        if provider == "kling":
            task_id = str(self._rng.randrange(10**17, 10**19))
        else:
            task_id = str(uuid.UUID(int=self._rng.getrandbits(128), version=4))
        task = SimTask(
            id=task_id,
            family=family,
            model=model,
            prompt=prompt,
            owner=owner,
            external_id=external_id,
            created=now,
            started=started,
            finishes=finishes,
            fails=fails,
            outputs=outputs,
            media=media,
            expires=max(finishes, now + task_ttl * self.time_scale),
            request=request,
        )
        self.store.add(task)
        exchange.task_id = task_id
        self.stats.creates[(f"{family}.create", prompt)] += 1
        if external_id is not None:
            self.stats.creates_by_external_id[(f"{family}.create", external_id)] += 1
        self.stats.created_at[task_id] = self._wall(now)
        self.stats.finished_at[task_id] = self._wall(finishes)
        self.stats.run_factors[task_id] = factor
        if not fails:
            wire = dashscope if provider == "dashscope" else kling
            self.stats.billed.update(wire.billed(task))
        return task

    def _fate(self, family: str, model: str, prompt: str) -> random.Random:
        """The random draws of one task, from the seed and what was asked (and how often), not
        from arrival order: concurrent clients that create the same batch see the same
        durations and failures, which is what makes side-by-side benchmarks fair."""
        occurrence = self.stats.creates[(f"{family}.create", prompt)]
        return random.Random(f"{self._seed}/{family}/{model}/{prompt}/{occurrence}")

    def _urls(self, task: SimTask) -> list[str]:
        """Fresh signed URLs: each answer signs anew, valid ``url_ttl`` from now, so querying
        a task again is how a client replaces an expired URL."""
        ttl = self._url_ttl
        if ttl is None:
            ttl = _DAY if task.provider == "dashscope" else 30 * _DAY
        expires = self._wall_clock() + ttl * self.time_scale
        return [
            self._signer.sign(self.files_url, f"/files/{task.id}/{i}.{task.media}", expires)
            for i in range(task.outputs)
        ]

    # --- DashScope -----------------------------------------------------------------------------

    async def _dashscope_image(
        self, request: web.Request, exchange: _Exchange
    ) -> web.StreamResponse:
        body = await self._json(request, exchange)
        try:
            model, prompt = dashscope.validate_image(body)
        except Rejected as rejected:
            raise self._reject(exchange, rejected) from None
        self.stats.creates[("dashscope.images.generate", prompt)] += 1
        profile = pick_profile(self.profiles, "dashscope.images", model)
        await asyncio.sleep(profile.run.sample(self._rng) * self.time_scale)
        fail_rate = self.fail_rate if profile.fail_rate is None else profile.fail_rate
        if "#fail" in prompt or self._rng.random() < fail_rate:
            return self._error(exchange, 400, *dashscope.FAILURE)
        image_id = f"img-{uuid.UUID(int=self._rng.getrandbits(128), version=4)}"
        ttl = _DAY if self._url_ttl is None else self._url_ttl
        url = self._signer.sign(
            self.files_url,
            f"/files/{image_id}/0.png",
            self._wall_clock() + ttl * self.time_scale,
        )
        size = body.get("parameters", {}).get("size") or "1328*1328"
        width, _, height = size.partition("*")
        self.stats.billed["images"] += 1
        return web.json_response(
            {
                "output": {
                    "choices": [
                        {
                            "finish_reason": "stop",
                            "message": {"role": "assistant", "content": [{"image": url}]},
                        }
                    ],
                    "task_metric": {"TOTAL": 1, "FAILED": 0, "SUCCEEDED": 1},
                },
                "usage": {"width": int(width), "height": int(height), "image_count": 1},
                "request_id": self._request_id(),
            }
        )

    async def _dashscope_video(
        self, request: web.Request, exchange: _Exchange
    ) -> web.StreamResponse:
        body = await self._json(request, exchange)
        if request.headers.get("X-DashScope-Async", "").lower() != "enable":
            self.stats.async_header_missing += 1
        try:
            model, prompt = dashscope.validate_video(body)
        except Rejected as rejected:
            raise self._reject(exchange, rejected) from None
        task = self._new_task(
            exchange,
            family="dashscope.videos",
            model=model,
            prompt=prompt,
            outputs=1,
            media="mp4",
            external_id=None,
            body=body,
        )
        return web.json_response(
            {
                "request_id": self._request_id(),
                "output": {"task_id": task.id, "task_status": "PENDING"},
            }
        )

    async def _dashscope_task(
        self, request: web.Request, exchange: _Exchange
    ) -> web.StreamResponse:
        task_id = request.match_info["task_id"]
        exchange.task_id = task_id
        self._admit_query(exchange)
        self.stats.polls[task_id] += 1
        task = self.store.tasks.get(task_id)
        if task is not None and (task.owner != exchange.owner or task.provider != "dashscope"):
            task = None
        body = dashscope.task_body(
            task, task_id, self._clock(), self._provider_wall, self._urls, self._request_id()
        )
        return web.json_response(body)

    # --- Kling ---------------------------------------------------------------------------------

    async def _kling_create(self, request: web.Request, exchange: _Exchange) -> web.StreamResponse:
        family = exchange.route.rsplit(".", 1)[0]
        body = await self._json(request, exchange)
        try:
            model, prompt, outputs = kling.validate_create(family, body)
        except Rejected as rejected:
            raise self._reject(exchange, rejected) from None
        callback_url = body.get("callback_url")
        problem = None if callback_url is None else loopback_problem(callback_url)
        if problem is not None:
            raise _Answer(self._error(exchange, 400, 1201, problem))
        external_id = body.get("external_task_id")
        if external_id is not None and self.store.external_taken(
            exchange.owner, family, external_id
        ):
            raise _Answer(
                self._error(exchange, 400, 1201, "external_task_id already exists for this account")
            )
        task = self._new_task(
            exchange,
            family=family,
            model=model,
            prompt=prompt,
            outputs=outputs,
            media="mp4" if family == "kling.omni_video" else "png",
            external_id=external_id,
            body=body,
        )
        if isinstance(callback_url, str):
            self._send_callbacks(task, callback_url)
        return web.json_response(
            kling.task_body(
                task, self._clock(), self._provider_wall, self._urls, self._request_id()
            )
        )

    def _send_callbacks(self, task: SimTask, url: str) -> None:
        """Kling calls back when the task starts running and when it ends: its ``data``."""
        now = self._clock()

        def body_at(moment: float) -> Callable[[], dict[str, Any]]:
            def body() -> dict[str, Any]:
                answer = kling.task_body(
                    task, moment, self._provider_wall, self._urls, self._request_id()
                )
                data: dict[str, Any] = answer["data"]
                return data

            return body

        self.callbacks.schedule(
            url,
            [
                (task.started - now, body_at(task.started)),
                (task.finishes - now, body_at(task.finishes)),
            ],
        )

    async def _kling_query(self, request: web.Request, exchange: _Exchange) -> web.StreamResponse:
        family = exchange.route.rsplit(".", 1)[0]
        ident = request.match_info.get("task_id") or request.query.get("external_task_id")
        if not ident:
            return self._error(exchange, 400, 1200, "task_id or external_task_id is required")
        exchange.task_id = ident
        self._admit_query(exchange)
        self.stats.polls[ident] += 1
        task = self.store.find(exchange.owner, family, ident)
        now = self._clock()
        if task is None or task.phase(now) is Phase.EXPIRED:
            return self._error(exchange, 404, 1203, "task not found")
        return web.json_response(
            kling.task_body(task, now, self._provider_wall, self._urls, self._request_id())
        )

    # --- the file host -------------------------------------------------------------------------

    async def _file(self, request: web.Request, exchange: _Exchange) -> web.StreamResponse:
        expires = request.query.get("Expires")
        if not self._signer.check(request.path, expires, request.query.get("Signature")):
            return _oss_error("SignatureDoesNotMatch", "The request signature does not match.")
        assert expires is not None
        if self._wall_clock() > float(expires):
            return _oss_error("AccessDenied", "Request has expired.")
        task_id, name = request.match_info["task_id"], request.match_info["name"]
        if name.endswith(".mp4"):
            return web.Response(body=make_mp4(task_id, self._video_bytes), content_type="video/mp4")
        return web.Response(body=make_png(task_id + name), content_type="image/png")

    # --- /_sim controls ------------------------------------------------------------------------

    async def _sim_stats(self, request: web.Request) -> web.StreamResponse:
        data = self.stats.to_json()
        data["elapsed"] = self.elapsed()
        data["files_url"] = self.files_url
        data["time_scale"] = self.time_scale
        data["callbacks"] = dict(self.callbacks.counts)
        return web.json_response(data, dumps=_dumps)

    async def _sim_faults(self, request: web.Request) -> web.StreamResponse:
        if request.method == "POST":
            try:
                spec = await request.json()
                added = faults_from_json(spec if isinstance(spec, list) else [spec])
            except (ValueError, TypeError) as exc:
                return web.json_response({"error": str(exc)}, status=400)
            self.faults.extend(added)
        elif request.method == "DELETE":
            self.clear_faults()
        return web.json_response([fault_to_json(f) for f in self.faults], dumps=_dumps)


_KLING_MESSAGES = {
    1302: "request rate too fast, please try again later",
    1303: "parallel task over resource pack limit",
    5000: "internal server error",
    5001: "service temporarily unavailable",
}


class _PartialFile(web.StreamResponse):
    """Promises the whole file in Content-Length, sends half, then hangs up."""

    def __init__(self, data: bytes, content_type: str) -> None:
        super().__init__(status=200)
        self._data = data
        self.content_type = content_type
        self.content_length = len(data)

    async def prepare(self, request: web.BaseRequest) -> Any:
        writer = await super().prepare(request)
        await self.write(self._data[: len(self._data) // 2])
        if request.transport is not None:
            request.transport.close()
        return writer


def _oss_error(code: str, message: str) -> web.Response:
    text = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    )
    return web.Response(status=403, text=text, content_type="application/xml")


def _seconds_header(seconds: float) -> str:
    return str(int(seconds)) if float(seconds).is_integer() else f"{seconds:.3f}"


def _base_url(runner: web.AppRunner) -> str:
    host, port = runner.addresses[0][:2]
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


def _dumps(data: Any) -> str:
    return json.dumps(data, default=str)
