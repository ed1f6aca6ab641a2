"""One contender in its own process: create the tasks, wait for all, report what it measured.

    python -m benchmarks.client CONTENDER --url URL --count N [...]

Prints one JSON line: when each task was seen done (client wall clock), CPU seconds, RSS.
Contenders:

- ``anyint``: the SDK's streaming poller with a preset's policies (scaled by
  ``--policy-scale``): ``anyint`` (default), ``anyint-fast``, ``anyint-frugal``, ``anyint@0.2``
  (the default with that ``target_delay``), ``anyint@25s`` (with ``target_delay_seconds=25``,
  scaled too); ``-nolearn`` turns duration learning off,
  ``-model`` learns per model alone instead of per request shape (``--shapes``); ``-warm``
  starts from ``--duration-memory``, written by an earlier run of the same scenario.
- ``official``: the ``dashscope`` SDK's asyncio client, ``videos.jobs.create`` then its own
  ``wait`` for each task, gathered (one coroutine per task, as its users write it).
- ``naive-1s`` / ``naive-5s``: one coroutine per task, ``aiohttp`` GET and ``json`` parse, fixed
  sleep (seconds scaled by ``--naive-scale``, by default ``--policy-scale`` like the rest).
  ``naive-1s-spread``: the 1 s loop, each task's queries starting at a random point of the
  second, so they leave one or a few at a time (the bare loop's CPU at a schedule's spread).
- ``heap-5s``: the same bare GET + json every 5 s from one heap and one driver for every task,
  at most 64 in flight: what a client that keeps nothing per task but its id holds (the floor
  under loop lag at 20,000 tasks); ``heap-5s-keep`` keeps each running task's last answer too.
- ``typed-5s``: the 5 s loop through the SDK's own typed calls, no scheduler: what its transport
  and models cost a query, the floor under its CPU per query. ``typed-1s-spread``: the same
  every 1 s, each task's queries starting at a random point of the second, as
  ``naive-1s-spread``'s: what they cost at a schedule's timing, the scheduler aside.
- ``scheduler-only``: the scheduler's core alone over ``--count`` tasks on a simulated clock,
  no network: memory per tracked task and time per scheduling step.
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import gc
import heapq
import json
import math
import os
import random
import resource
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Iterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import attrs

from .collecting import collection_ms
from .contenders import anyint_setting

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELED", "UNKNOWN"}
VIDEO_PATH = "/dashscope/v1/services/aigc/video-generation/video-synthesis"


def _rss_kib() -> int:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") // 1024


def _peak_rss_kib() -> int:
    """This process's own peak RSS since it was exec'd (``VmHWM``). Not ``ru_maxrss``: Linux
    carries the parent's peak across exec into it, so a runner grown large from an earlier
    contender's report would show as this one's memory."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


CREATION: dict[str, float] = {}


async def _in_waves(
    count: int, waves: int, gap: float, concurrency: int, create: Callable[[int], Awaitable[None]]
) -> None:
    """Create ``count`` tasks in ``waves`` waves ``gap`` seconds apart, ``concurrency`` at once.

    Records the CPU spent until the last create answered, so CPU per query can leave the
    creates out (they cost the same for every contender).
    """
    per_wave = -(-count // waves)
    for wave in range(waves):
        start = time.monotonic()
        numbers = iter(range(wave * per_wave, min(count, (wave + 1) * per_wave)))

        async def worker(numbers: Iterator[int] = numbers) -> None:
            for i in numbers:
                await create(i)

        # ``concurrency`` workers share the wave's numbers: a coroutine per task gathered at
        # once (20,000 of them) held the loop 0.2 s at the start, which the loop-lag figure
        # then charged to the scheduler.
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        if wave < waves - 1:
            await asyncio.sleep(max(0.0, gap - (time.monotonic() - start)))
    CREATION["cpu"] = _cpu()


SESSIONS: list[Any] = []
#: The SDK's own counts of what it sent (``poll_stats``), read before its session closes.
SENT: dict[str, int] = {}


@asynccontextmanager
async def _callback_receiver(contender: str, shared: str = "") -> AsyncIterator[str | None]:
    """For ``anyint-callbacks``: a loopback aiohttp app whose route feeds the session's
    callbacks (the session is the one this process opens next). With ``shared`` (a URL that
    several workers receive callbacks at, as behind a load balancer), this receiver registers
    there and the tasks are created with the shared URL."""
    if "callbacks" not in contender:
        yield None
        return
    import aiohttp
    from aiohttp import web

    from anyint_async.webhooks import aiohttp_handler

    app = web.Application()
    app.router.add_post("/callback", aiohttp_handler(lambda: SESSIONS[0]))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    own = f"http://127.0.0.1:{runner.addresses[0][1]}/callback"
    try:
        if shared:
            async with aiohttp.ClientSession() as http:
                await (await http.post(f"{shared}/_register", json={"url": own})).read()
        yield shared or own
    finally:
        await runner.cleanup()


async def run_anyint(args: argparse.Namespace, seen: dict[str, float]) -> None:
    from anyint_async import AnyIntSession
    from anyint_async.polling import POLL_PRESETS

    setting = anyint_setting(args.contender)
    assert setting is not None  # main() sends only anyint names here
    preset, target, seconds = setting.preset, setting.target, setting.seconds
    learn, by_request = setting.learn, setting.by_request
    # Told the gateway's exact limits (``-exact``), or the SDK's defaults where the gateway
    # enforces limits, or that there are none where it enforces none.
    limits: dict[str, float | None] = {"dashscope": math.inf, "kling": math.inf}
    enforced = dict(_pairs(args.limits))
    if enforced or args.sdk_defaults:
        limits = {**limits, **enforced} if "exact" in setting.variants else {}
    scale = args.policy_scale
    policies = {
        route: attrs.evolve(
            policy,
            first_poll=policy.first_poll * scale,
            interval=policy.interval * scale,
            max_interval=policy.max_interval * scale,
            learn=learn,
            learn_by_request=by_request,
            target_delay=target if target is not None else policy.target_delay,
            target_delay_seconds=seconds * scale if seconds is not None else None,
        )
        for route, policy in POLL_PRESETS[preset].items()
    }
    shapes = [shape.split(":") for shape in args.shapes.split(",")] if args.shapes else []
    async with (
        _callback_receiver(args.contender, args.callback_via) as callback_url,
        AnyIntSession(
            "bench-key",
            base_url=args.url,
            poll_policy=policies,
            max_connections=64,
            max_polls_in_flight=setting.polls_in_flight,
            query_rate_limits=limits or None,
            callback_url=callback_url,
            duration_memory=args.duration_memory or None,
        ) as session,
        session.poller() as poller,
    ):
        SESSIONS.append(session)

        async def create(i: int) -> None:
            if _is_kling(i, args):
                poller.add(await session.kling.omni_video.create(prompt=f"{args.prefix}-{i}"))
                return
            extra: dict[str, Any] = {}
            if shapes:
                duration, resolution = shapes[i % len(shapes)]
                extra = {"duration": int(duration), "resolution": resolution}
            task = await session.dashscope.videos.create(
                model=args.model, prompt=f"{args.prefix}-{i}", **extra
            )
            poller.add(task)

        async def creating() -> None:
            await _in_waves(args.count, args.waves, args.wave_gap, args.create_concurrency, create)
            poller.close()

        creator = asyncio.create_task(creating())
        yielded = 0
        async for done in poller:
            seen[done.id] = time.time()
            yielded += 1
        await creator
        sent = session.poll_stats()
        SENT.update(polls=sent.polls, retries=sent.retries, hedges=sent.hedges, yielded=yielded)
        link = session.coordination_stats()
        SENT.update(link_drops=link.drops, callbacks_passed_on=link.callbacks_passed_on)
        SENT["coordination"] = link.state  # type: ignore[assignment]


#: One sample of the loop's lag: when its sleep began, how late it woke, and the CPU time the
#: loop's thread had over the sleep and the lag together.
LagSample = tuple[float, float, float]


async def _sampling_lag(work: Awaitable[None], lags: list[LagSample]) -> None:
    """Run ``work`` while sampling the event loop's lag: how late a 10 ms sleep wakes, as a
    web app's other requests would feel it. The thread's CPU time over each sample tells a
    hold the process worked through from one it spent waiting for a core."""

    async def sample() -> None:
        while True:
            before = time.perf_counter()
            cpu_before = time.thread_time()
            await asyncio.sleep(0.01)
            lag = max(0.0, time.perf_counter() - before - 0.01)
            lags.append((before, lag, time.thread_time() - cpu_before))

    sampler = asyncio.create_task(sample())
    try:
        await work
    finally:
        sampler.cancel()


class _Collections:
    """Every garbage collection's generation and span (``gc.callbacks``), to tell the loop's
    holds that had a full collection in them from those that had none."""

    def __init__(self) -> None:
        #: (generation, began, ended, the thread's CPU time in it), times in seconds.
        self.spans: list[tuple[int, float, float, float]] = []
        self._began = 0.0
        self._cpu_began = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._began = time.perf_counter()
            self._cpu_began = time.thread_time()
        else:
            cpu = time.thread_time() - self._cpu_began
            self.spans.append((info["generation"], self._began, time.perf_counter(), cpu))

    def figures(self, lags: list[LagSample]) -> dict[str, Any]:
        """The loop's holds, with and without a full collection in them, and the collections'
        own lengths (ms). A hold's own work is at most the CPU time the thread had over its
        sample (and never more than the hold): the rest of it the process waited for a core."""
        full = [(began, ended) for generation, began, ended, _ in self.spans if generation == 2]
        full_cpu = [cpu for generation, _, _, cpu in self.spans if generation == 2]
        young = [ended - began for generation, began, ended, _ in self.spans if generation < 2]
        starts = [began for began, _ in full]
        own_work = max((min(lag, cpu) for _, lag, cpu in lags), default=0.0)
        outside = 0.0
        for before, lag, _ in lags:  # in the order their sleeps began
            # A sample overlaps a full collection that began before its wake-up and ended
            # after its sleep began.
            woke = before + 0.01 + lag
            i = bisect.bisect_right(starts, woke)
            if i and full[i - 1][1] > before:
                continue
            outside = max(outside, lag)
        return {
            "loop_holds_over_10ms": sum(1 for _, lag, _ in lags if lag > 0.01),
            "loop_lag_max_without_full_gc_ms": round(outside * 1000, 1),
            "gc_full_count": len(full),
            "gc_full_max_ms": round(max((e - b for b, e in full), default=0.0) * 1000, 1),
            "gc_full_max_cpu_ms": round(max(full_cpu, default=0.0) * 1000, 1),
            "loop_lag_max_own_work_ms": round(own_work * 1000, 1),
            "gc_young_max_ms": round(max(young, default=0.0) * 1000, 1),
        }


def _pairs(text: str) -> list[tuple[str, float]]:
    """``dashscope=20,kling=10`` -> [("dashscope", 20.0), ("kling", 10.0)]."""
    found = []
    for item in filter(None, text.split(",")):
        name, _, value = item.partition("=")
        found.append((name, float(value)))
    return found


def _is_kling(i: int, args: argparse.Namespace) -> bool:
    """Task ``i`` is a Kling omni video: one in every ``count / kling_count`` tasks, spread."""
    if not args.kling_count:
        return False
    if args.kling_count >= args.count:
        return True
    count: int = args.count
    kling: int = args.kling_count
    return (i * kling) // count != ((i + 1) * kling) // count


def _loop_sleep(args: argparse.Namespace, seconds: float) -> float:
    """A fixed loop's sleep of ``seconds``, on the clock the loops share (``--naive-scale``,
    by default the policies'): the typed loop must ask exactly as the 5 s loop does."""
    scale: float = args.policy_scale if args.naive_scale is None else args.naive_scale
    return seconds * scale


def _loop_timing(args: argparse.Namespace) -> tuple[float, random.Random | None]:
    """A fixed loop's sleep between a task's queries (1 s or 5 s, as its name says, on
    ``_loop_sleep``'s clock), and for a ``-spread`` loop the draws of each task's first wait
    within it, so that its tasks' queries leave one or a few at a time, as a schedule's do,
    not all at once."""
    interval = _loop_sleep(args, 1.0 if "-1s" in args.contender else 5.0)
    return interval, random.Random(0) if args.contender.endswith("-spread") else None


async def _bare_create(http: aiohttp.ClientSession, args: argparse.Namespace, i: int) -> str:
    """Create video ``i`` with a bare POST + json, as the plain loops do; its task id."""
    payload = {"model": args.model, "input": {"prompt": f"{args.prefix}-{i}"}}
    async with http.post(
        f"{args.url}{VIDEO_PATH}", json=payload, headers={"X-DashScope-Async": "enable"}
    ) as response:
        body = json.loads(await response.read())
    task_id: str = body["output"]["task_id"]
    return task_id


async def run_naive(args: argparse.Namespace, seen: dict[str, float]) -> None:
    """A coroutine per task asking every 1 or 5 s (bare GET + ``json``). ``naive-1s-spread``
    first waits a random part of the second, so its tasks' queries leave one or a few at a
    time, as a schedule's do, not all of them at once each second."""
    interval, phases = _loop_timing(args)
    headers = {"Authorization": "Bearer bench-key"}
    connector = aiohttp.TCPConnector(limit=64)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:
        watchers: list[asyncio.Task[None]] = []

        async def watch(task_id: str) -> None:
            if phases is not None:
                await asyncio.sleep(interval * phases.random())
            while True:
                await asyncio.sleep(interval)
                async with http.get(f"{args.url}/dashscope/v1/tasks/{task_id}") as response:
                    body = json.loads(await response.read())
                # A refusal (429) has no output: the loop just asks again next time.
                if body.get("output", {}).get("task_status") in TERMINAL:
                    seen[task_id] = time.time()
                    return

        async def create(i: int) -> None:
            watchers.append(asyncio.create_task(watch(await _bare_create(http, args, i))))

        await _in_waves(args.count, args.waves, args.wave_gap, args.create_concurrency, create)
        await asyncio.gather(*watchers)


async def run_heap(args: argparse.Namespace, seen: dict[str, float]) -> None:
    """The least a Python client on aiohttp holds while it polls: one heap of (due, task id)
    for every task and one driver, each task asked every 5 s (bare GET + json), at most 64
    queries in flight. No object per task but its id and its heap entry (a string, and a tuple
    of a float and that string, which the collector stops tracking at its first look): what is
    left of a full collection's walk is the libraries' and the
    queries' in flight, the floor under any client's loop lag at the same query rate.

    ``heap-5s-keep`` keeps each running task's last answer (a dict per task, dropped once the
    task is done), as any client that shows a pending task's state must: the same floor plus
    one tracked object per task."""
    interval = _loop_sleep(args, 5.0)
    kept: dict[str, Any] | None = {} if args.contender.endswith("-keep") else None
    headers = {"Authorization": "Bearer bench-key"}
    connector = aiohttp.TCPConnector(limit=64)
    due: list[tuple[float, str]] = []
    in_flight: set[asyncio.Task[None]] = set()
    slots = asyncio.Semaphore(64)
    # Bounded: a thousand queries a task, on average, stops the run (none comes near).
    most = args.count * 1000
    asked = 0
    async with aiohttp.ClientSession(connector=connector, headers=headers) as http:

        async def ask(task_id: str) -> None:
            try:
                async with http.get(f"{args.url}/dashscope/v1/tasks/{task_id}") as response:
                    body = json.loads(await response.read())
            finally:
                slots.release()
            if body.get("output", {}).get("task_status") in TERMINAL:
                seen[task_id] = time.time()
                if kept is not None:
                    kept.pop(task_id, None)
            else:
                if kept is not None:
                    kept[task_id] = body
                heapq.heappush(due, (time.monotonic() + interval, task_id))

        async def create(i: int) -> None:
            task_id = await _bare_create(http, args, i)
            heapq.heappush(due, (time.monotonic() + interval, task_id))

        creating = asyncio.create_task(
            _in_waves(args.count, args.waves, args.wave_gap, args.create_concurrency, create)
        )
        while len(seen) < args.count:
            if creating.done() and not due and not in_flight:
                break  # a task that never answered done: reported as not seen
            if asked > most:
                raise RuntimeError(f"heap loop: {asked} queries and {len(seen)} tasks seen")
            now = time.monotonic()
            if not due or due[0][0] > now:
                await asyncio.sleep(min(0.05, due[0][0] - now) if due else 0.05)
                continue
            await slots.acquire()
            _, task_id = heapq.heappop(due)
            asked += 1
            query = asyncio.create_task(ask(task_id))
            in_flight.add(query)
            query.add_done_callback(in_flight.discard)
        await creating


async def run_typed(args: argparse.Namespace, seen: dict[str, float]) -> None:
    """The naive loop through the SDK's own typed calls (``videos.create``, then ``tasks.get``
    every 5 s, or every 1 s for ``typed-1s-spread``, its tasks' queries spread over the second
    as ``naive-1s-spread``'s; no scheduler): what the SDK's transport and models cost a query
    before any scheduling, beside the bare GET + json at the same timing."""
    from anyint_async import AnyIntSession

    interval, phases = _loop_timing(args)
    async with AnyIntSession("bench-key", base_url=args.url, max_connections=64) as session:
        watchers: list[asyncio.Task[None]] = []

        async def watch(task_id: str) -> None:
            if phases is not None:
                await asyncio.sleep(interval * phases.random())
            while True:
                await asyncio.sleep(interval)
                task = await session.dashscope.tasks.get(task_id, model=args.model)
                if task.done:
                    seen[task_id] = time.time()
                    return

        async def create(i: int) -> None:
            task = await session.dashscope.videos.create(
                model=args.model, prompt=f"{args.prefix}-{i}"
            )
            watchers.append(asyncio.create_task(watch(task.id)))

        await _in_waves(args.count, args.waves, args.wave_gap, args.create_concurrency, create)
        await asyncio.gather(*watchers)


async def run_official(args: argparse.Namespace, seen: dict[str, float]) -> None:
    # The official SDK reads its base URL from DASHSCOPE_HTTP_BASE_URL; with the gateway's URL
    # plus /dashscope/v1 its paths are exactly AnyInt's.
    os.environ["DASHSCOPE_HTTP_BASE_URL"] = f"{args.url}/dashscope/v1"
    from dashscope.v2 import AsyncClient

    async with AsyncClient(api_key="bench-key") as client:
        waiting: list[asyncio.Task[None]] = []

        async def wait(job: Any) -> None:
            done = await client.videos.jobs.wait(job)
            seen[done.task_id] = time.time()

        async def create(i: int) -> None:
            job = await client.videos.jobs.create(model=args.model, prompt=f"{args.prefix}-{i}")
            waiting.append(asyncio.create_task(wait(job)))

        await _in_waves(args.count, args.waves, args.wave_gap, args.create_concurrency, create)
        await asyncio.gather(*waiting)


def run_scheduler_only(args: argparse.Namespace) -> dict[str, Any]:
    """The pure scheduling core over ``count`` tasks on a simulated clock (no network)."""
    from anyint_async import Task, TaskRoute, TaskStatus
    from anyint_async.polling import DEFAULT_POLICIES, DurationLearner
    from anyint_async.polling.schedule import PollSchedule, task_key

    rng = random.Random(args.seed)
    tasks = [
        Task(
            id=f"{rng.getrandbits(64):016x}",
            status=TaskStatus.PENDING,
            route=TaskRoute.DASHSCOPE_TASKS,
            model="bench-video",
        )
        for _ in range(args.count)
    ]
    finish = {task_key(t): rng.lognormvariate(5.4, 0.4) for t in tasks}
    # Answers carry the provider's times, as DashScope's and Kling's do (the simulated gateway's
    # too): created, started (no queue here), and finished once done. Without them the core
    # learns when it found each task, not when it ended, and its cold batch's first queries
    # were pushed back a dozen times each as those durations crept up: half as much CPU again a
    # step as the same core spends on the providers' answers.
    epoch = datetime(2026, 1, 1, tzinfo=UTC)
    clock = [0.0]
    schedule = PollSchedule(
        policy_for=DEFAULT_POLICIES.__getitem__,
        rng=rng,
        max_in_flight=64,
        learner=DurationLearner(),
        wall_clock=lambda: epoch.timestamp() + clock[0],
        rate_limits={"dashscope": math.inf, "kling": math.inf},  # no network, no limit
    )
    base = _rss_kib()
    for task in tasks:
        schedule.track(task, 0.0)
    tracked_rss = _rss_kib() - base
    steps = 0
    cpu0 = _cpu()
    now = 0.0
    while len(schedule):
        wake = schedule.next_wake(now)
        now = clock[0] = max(now, wake if wake is not None else now)
        while (due := schedule.pop_due(now)) is not None:
            steps += 1
            ends = finish[task_key(due)]
            answer = attrs.evolve(
                due,
                status=TaskStatus.SUCCEEDED if now >= ends else TaskStatus.RUNNING,
                created_at=epoch,
                started_at=epoch,
                finished_at=epoch + timedelta(seconds=ends) if now >= ends else None,
            )
            schedule.settle(answer, now)
    cpu = _cpu() - cpu0
    return {
        "count": args.count,
        "tracked_rss_kib": tracked_rss,
        "rss_per_task_bytes": tracked_rss * 1024 / args.count,
        "queries_simulated": steps,
        "queries_per_task": steps / args.count,
        "cpu_seconds": cpu,
        "cpu_per_step_us": cpu / steps * 1e6,
    }


CONTENDERS: dict[
    str, Callable[[argparse.Namespace, dict[str, float]], Coroutine[Any, Any, None]]
] = {
    "official": run_official,
    "naive-1s": run_naive,
    "naive-1s-spread": run_naive,
    "naive-5s": run_naive,
    "typed-5s": run_typed,
    "typed-1s-spread": run_typed,
    "heap-5s": run_heap,
    "heap-5s-keep": run_heap,
}


def _runner(
    contender: str,
) -> Callable[[argparse.Namespace, dict[str, float]], Coroutine[Any, Any, None]]:
    return run_anyint if anyint_setting(contender) is not None else CONTENDERS[contender]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.client")
    parser.add_argument(
        "contender",
        help=(
            "anyint[-model][-nolearn|-fast|-frugal|@TARGET], official, naive-1s, naive-5s, "
            "typed-5s or scheduler-only"
        ),
    )
    parser.add_argument("--url", default="")
    parser.add_argument("--count", type=int, required=True)
    parser.add_argument("--model", default="bench-video")
    parser.add_argument("--prefix", default="bench")
    parser.add_argument("--waves", type=int, default=1)
    parser.add_argument("--wave-gap", type=float, default=0.0)
    parser.add_argument("--create-concurrency", type=int, default=32)
    parser.add_argument("--policy-scale", type=float, default=1.0)
    parser.add_argument("--naive-scale", type=float, default=None)
    parser.add_argument(
        "--duration-memory", default="", help="anyint: the session's duration_memory file"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--shapes", default="", help="video shapes in turn, e.g. 5:720P,10:1080P (anyint only)"
    )
    parser.add_argument(
        "--limits", default="", help="the gateway's query limits, e.g. dashscope=20,kling=10"
    )
    parser.add_argument(
        "--kling-count", type=int, default=0, help="how many tasks are Kling omni videos"
    )
    parser.add_argument(
        "--sdk-defaults",
        action="store_true",
        help="keep the SDK's default query limits though the gateway enforces none",
    )
    parser.add_argument(
        "--callback-via",
        default="",
        help="anyint-callbacks: a callback URL shared by several workers (register there)",
    )
    parser.add_argument(
        "--sample-lag",
        action="store_true",
        help="sample the event loop's lag every 10 ms (its own CPU then counts in CPU per query)",
    )
    args = parser.parse_args(argv)
    if args.contender == "scheduler-only":
        print(json.dumps(run_scheduler_only(args)))
        return
    # Imports first, so the RSS baseline holds the libraries and the growth is the tasks'.
    if args.contender == "official":
        import dashscope.v2  # noqa: F401
    else:
        import anyint_async  # noqa: F401
    setting = anyint_setting(args.contender)
    if setting is not None and "gcfreeze" in setting.variants:
        # What a web app may do once its imports are done: the libraries' objects leave every
        # later collection (see lag-20000).
        gc.freeze()
    seen: dict[str, float] = {}
    rss_base = _rss_kib()
    cpu0 = _cpu()
    started = time.time()
    samples: list[LagSample] = []
    collections = _Collections()
    imports_collection: dict[str, float] = {}
    if args.sample_lag:
        # What the imports alone cost a full collection on this machine at this hour: the
        # floor under every full collection in the run, whatever the client keeps.
        imports_collection["gc_imports_ms"] = collection_ms(repeat=3)
        gc.callbacks.append(collections)
    work = _runner(args.contender)(args, seen)
    asyncio.run(_sampling_lag(work, samples) if args.sample_lag else work)
    if args.sample_lag:
        gc.callbacks.remove(collections)
        # Again once the session is closed: the machine's pace may have moved during the run.
        imports_collection["gc_after_ms"] = collection_ms(repeat=3)
    lags = sorted(lag for _, lag, _ in samples)
    report = {
        "loop_lag_max_ms": round(lags[-1] * 1000, 1) if lags else None,
        "loop_lag_p99_ms": round(lags[int(0.99 * (len(lags) - 1))] * 1000, 1) if lags else None,
        **(collections.figures(samples) if samples else {}),
        **imports_collection,
        "started": started,
        "ended": time.time(),
        "seen": seen,
        "sent": SENT,
        "cpu_seconds": _cpu() - cpu0,
        "cpu_after_creates_seconds": _cpu() - CREATION.get("cpu", cpu0),
        "rss_base_kib": rss_base,
        "rss_peak_kib": _peak_rss_kib(),
    }
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
