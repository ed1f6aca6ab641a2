"""Sessions of one account sharing through a real ``redis-server`` on loopback (never a fake):
the query budget, callbacks passed on to the session that waits, learned durations, and what
happens when Redis is unreachable, killed, restarted or slow."""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
import redis.asyncio as redis
from aiohttp import web

from anyint_async import AnyIntSession, CallbackOutcome, PollPolicy, Task
from anyint_async.testing import FakeGateway, Fixed, LocalRedis, ModelProfile, Uniform

from ..conftest import API_KEY, FAST_RETRY, NO_LIMITS

# Far more queries wanted than the account allows: every session is held by the limit.
EAGER = PollPolicy(first_poll=0.05, interval=0.05, max_interval=0.05, jitter=0.0)
# Without a callback, a task is asked about only 20 s after its expected end.
WAITING = PollPolicy(first_poll=0.2, interval=0.2, max_interval=0.5, callback_fallback=20.0)
LIMITED = {"dashscope.videos": ModelProfile(run=Uniform(1.0, 2.0), queue=Fixed(0.0))}


@pytest.fixture
async def redis_server() -> AsyncIterator[LocalRedis]:
    async with LocalRedis() as server:
        yield server


def _session(gateway: FakeGateway, **args: object) -> AnyIntSession:
    return AnyIntSession(
        API_KEY,
        base_url=gateway.url,
        retry_policy=FAST_RETRY,
        **args,  # type: ignore[arg-type]
    )


async def _videos(session: AnyIntSession, name: str, count: int, model: str) -> list[Task]:
    return [
        await session.dashscope.videos.create(model=model, prompt=f"{name}-{i}")
        for i in range(count)
    ]


async def _batch_of_workers(
    gateway: FakeGateway, workers: int, per_worker: int, **args: object
) -> list[list[Task]]:
    """``workers`` sessions on one account, each waiting for its own DashScope videos."""

    async def worker(index: int) -> list[Task]:
        async with _session(gateway, poll_policy=EAGER, **args) as session:
            made = await _videos(session, f"w{index}", per_worker, "wan2.2-t2v-plus")
            done = [t async for t in session.as_completed(made, timeout=60)]
            assert Counter(t.id for t in done) == Counter(t.id for t in made)
            assert all(t.succeeded for t in done)
            return done

    return await asyncio.gather(*(worker(i) for i in range(workers)))


async def test_sessions_with_redis_share_the_accounts_query_limit(
    redis_server: LocalRedis,
) -> None:
    async with FakeGateway(profiles=LIMITED, query_rate_limit={"dashscope": 20}) as gateway:
        await _batch_of_workers(gateway, 4, 15, coordination_url=redis_server.url)
        queries = sum(gateway.stats.polls.values())
        refused = gateway.stats.queries_refused["dashscope"]
    # Four sessions each paced at 19 a second alone are refused again and again (12 of 89
    # queries in one run). Shared, none should be; one is allowed for a loaded machine, whose
    # event loops may each send a granted query late.
    assert refused <= 1, (refused, queries)


async def test_sessions_without_redis_still_find_their_share_of_the_limit() -> None:
    """Each alone at 19 a second: the account's limit is met with refusals at first, and
    within a few seconds each session has found its share."""
    long_enough = {"dashscope.videos": ModelProfile(run=Uniform(6.0, 8.0), queue=Fixed(0.0))}
    async with FakeGateway(profiles=long_enough, query_rate_limit={"dashscope": 20}) as gateway:
        await _batch_of_workers(gateway, 4, 15)
        queries = [r for r in gateway.stats.log if r.route == "dashscope.tasks.get"]
    first = queries[0].at
    refused = [r for r in queries if r.status == 429]
    assert refused and refused[0].at < first + 2.0
    settled = [r for r in queries if r.at > first + 3.0]
    late = [r for r in settled if r.status == 429]
    assert len(late) <= 0.05 * len(settled), (len(late), len(settled))


@asynccontextmanager
async def _receiver(session: AnyIntSession, outcomes: Counter[str]) -> AsyncIterator[str]:
    """A web app on loopback feeding every callback to ``session``, counting the outcomes."""

    async def feed(request: web.Request) -> web.StreamResponse:
        body = await request.read()
        outcome = await session.receive_callback(body, request.headers)
        outcomes[outcome.value] += 1
        return web.json_response({"outcome": outcome.value})

    app = web.Application()
    app.router.add_post("/anyint/callback", feed)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/anyint/callback"
    finally:
        await runner.cleanup()


async def test_a_callback_that_reaches_another_worker_wakes_the_one_waiting(
    redis_server: LocalRedis,
) -> None:
    """Every callback lands on worker B; worker A made the tasks and waits for them. Redis
    passes each on, and what Redis saw holds no key, prompt or result URL."""
    profiles = {"kling.omni_video": ModelProfile(run=Fixed(0.4), queue=Fixed(0.1))}
    seen: list[str] = []
    spy = redis.Redis.from_url(redis_server.url)

    async def monitor() -> None:
        async with spy.monitor() as commands:
            async for command in commands.listen():
                seen.append(str(command))

    watching = asyncio.create_task(monitor())
    outcomes: Counter[str] = Counter()
    async with FakeGateway(profiles=profiles) as gateway:
        coordinated = {"coordination_url": redis_server.url, "query_rate_limits": NO_LIMITS}
        async with _session(gateway, poll_policy=WAITING, **coordinated) as receiver:
            async with _receiver(receiver, outcomes) as url:
                async with _session(
                    gateway, poll_policy=WAITING, callback_url=url, **coordinated
                ) as waiter:
                    made = [
                        await waiter.kling.omni_video.create(prompt=f"secret-prompt-{i}")
                        for i in range(6)
                    ]
                    began = time.monotonic()
                    done = [t async for t in waiter.as_completed(made, timeout=15)]
                    waited = time.monotonic() - began
                    heard = waiter.coordination_stats().callbacks_heard
                passed_on = receiver.coordination_stats().callbacks_passed_on
        urls = [url for t in done for url in t.urls]
    await asyncio.sleep(0.2)
    watching.cancel()
    await asyncio.gather(watching, return_exceptions=True)
    everything = "\n".join(seen)
    keys = [key.decode() for key in await spy.keys("*")]
    values = [str(await spy.get(key)) for key in keys if await spy.type(key) == b"string"]
    await spy.aclose()

    assert sorted(t.id for t in done) == sorted(t.id for t in made)
    assert all(t.succeeded for t in done)
    assert waited < 5.0  # woken by the callbacks B passed on, not 20 s fallbacks
    assert outcomes["forwarded"] >= 6 and passed_on == outcomes["forwarded"]
    assert heard >= 6
    assert max(gateway.stats.polls[t.id] for t in made) <= 3
    assert "PUBLISH" in everything.upper()  # the monitor did see the traffic
    stored = everything + "\n".join(keys + values)
    for secret in (API_KEY, "secret-prompt", *urls):
        assert secret not in stored


async def test_without_redis_a_stray_callback_warns_once_naming_coordination_url(
    gateway: FakeGateway, caplog: pytest.LogCaptureFixture
) -> None:
    body = {"task_id": "not-mine", "task_status": "succeed"}
    async with _session(gateway, query_rate_limits=NO_LIMITS) as session:
        with caplog.at_level(logging.WARNING, logger="anyint_async.callbacks"):
            first = await session.receive_callback(body)
            second = await session.receive_callback({**body, "task_id": "nor-this"})
    assert first is second is CallbackOutcome.IGNORED
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "coordination_url" in warnings[0].getMessage()


async def test_a_new_worker_starts_from_what_the_others_learned(
    gateway: FakeGateway, redis_server: LocalRedis
) -> None:
    gateway.profiles["shared"] = ModelProfile(run=Fixed(0.6), queue=Fixed(0.0))

    async def batch(name: str, **args: object) -> float:
        async with _session(gateway, poll_policy=EAGER, query_rate_limits=NO_LIMITS, **args) as s:
            made = await _videos(s, name, 4, "shared")
            assert len([t async for t in s.as_completed(made, timeout=15)]) == 4
        return sum(gateway.stats.polls[t.id] for t in made) / len(made)

    first = await batch("first", coordination_url=redis_server.url)
    alone = await batch("alone")
    warm = await batch("warm", coordination_url=redis_server.url)
    assert first >= 8 and alone >= 8  # about 0.6 s / 0.05 s: learned only by polling
    assert warm <= 3  # the first query waits for the duration another session shared


async def test_redis_killed_and_restarted_mid_run_loses_no_task(
    redis_server: LocalRedis, caplog: pytest.LogCaptureFixture
) -> None:
    async with FakeGateway(profiles=LIMITED, query_rate_limit={"dashscope": 20}) as gateway:
        sessions = [
            _session(gateway, poll_policy=EAGER, coordination_url=redis_server.url)
            for _ in range(2)
        ]
        with caplog.at_level(logging.INFO, logger="anyint_async.coordination"):
            for session in sessions:
                await session.__aenter__()
            try:
                assert [s.coordination_state for s in sessions] == ["up", "up"]
                made = [
                    await _videos(s, f"k{i}", 20, "wan2.2-t2v-plus") for i, s in enumerate(sessions)
                ]
                waits = [
                    asyncio.create_task(_collect(s, tasks))
                    for s, tasks in zip(sessions, made, strict=True)
                ]
                await asyncio.sleep(0.5)
                await redis_server.kill()
                await _until(lambda: all(s.coordination_state == "down" for s in sessions))
                await asyncio.sleep(0.5)
                await redis_server.start()
                await _until(lambda: all(s.coordination_state == "up" for s in sessions))
                done = await asyncio.gather(*waits)
                assert [s.coordination_stats().drops for s in sessions] == [1, 1]
            finally:
                for session in sessions:
                    await session.close()
    for tasks, finished in zip(made, done, strict=True):
        assert Counter(t.id for t in finished) == Counter(t.id for t in tasks)
    downs = [r for r in caplog.records if "is down" in r.getMessage()]
    backs = [r for r in caplog.records if "is back" in r.getMessage()]
    assert len(downs) == 2 and len(backs) == 2  # once per session and change


async def test_redis_unreachable_at_start_then_started_is_joined(gateway: FakeGateway) -> None:
    server = LocalRedis()  # its port is free: nothing listens yet
    async with _session(
        gateway, poll_policy=EAGER, query_rate_limits=NO_LIMITS, coordination_url=server.url
    ) as session:
        assert session.coordination_state == "down"
        made = await _videos(session, "alone", 4, "wan2.2-t2v-plus")
        assert len([t async for t in session.as_completed(made, timeout=15)]) == 4
        async with server:
            await _until(lambda: session.coordination_state == "up")


async def test_a_slow_redis_is_left_behind_and_rejoined(redis_server: LocalRedis) -> None:
    async with FakeGateway(profiles=LIMITED, query_rate_limit={"dashscope": 20}) as gateway:
        async with _session(
            gateway, poll_policy=EAGER, coordination_url=redis_server.url
        ) as session:
            made = await _videos(session, "slow", 20, "wan2.2-t2v-plus")
            waiting = asyncio.create_task(_collect(session, made))
            stall = redis.Redis.from_url(redis_server.url)
            # The server answers nothing for 2.5 s: every command of the session times out.
            stalled = asyncio.create_task(stall.execute_command("DEBUG", "SLEEP", "2.5"))
            await _until(lambda: session.coordination_state == "down")
            done = await waiting
            await stalled
            await stall.aclose()
            await _until(lambda: session.coordination_state == "up")
    assert Counter(t.id for t in done) == Counter(t.id for t in made)


async def test_a_borrowed_redis_client_is_used_and_never_closed(
    gateway: FakeGateway, redis_server: LocalRedis
) -> None:
    client = redis.Redis.from_url(redis_server.url)
    async with _session(gateway, query_rate_limits=NO_LIMITS, coordination=client) as session:
        assert session.coordination_state == "up"
    assert await client.ping()  # still open: the app owns it
    await client.aclose()


async def _collect(session: AnyIntSession, tasks: list[Task]) -> list[Task]:
    return [t async for t in session.as_completed(tasks, timeout=60)]


async def _until(condition: object, within: float = 15.0) -> None:
    """Wait (bounded) until ``condition()`` holds."""
    assert callable(condition)
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def test_durations_are_shared_only_once_their_batch_no_longer_cuts_them_short(
    gateway: FakeGateway, redis_server: LocalRedis, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Early finishes of a batch still running are its short tasks: passed off as the whole,
    they would make another worker think its own tasks overdue. They are shared once the
    session has finished four for each still running (here: when the batch is done)."""
    from anyint_async.coordination import link

    monkeypatch.setattr(link, "SHARE_EVERY", 0.1)
    gateway.profiles["spread"] = ModelProfile(run=Uniform(0.2, 3.0), queue=Fixed(0.0))
    spy = redis.Redis.from_url(redis_server.url)
    async with _session(
        gateway, poll_policy=EAGER, query_rate_limits=NO_LIMITS, coordination_url=redis_server.url
    ) as session:
        made = await _videos(session, "spread", 12, "spread")
        shared_while_running = []
        async for _ in session.as_completed(made, timeout=15):
            await asyncio.sleep(0.25)  # a share cycle or two
            shared_while_running.append(await spy.keys("*:durations"))
        await asyncio.sleep(0.3)
        shared_after = await spy.keys("*:durations")
    await spy.aclose()
    assert shared_while_running[:6] == [[]] * 6  # half the batch still running: nothing shared
    assert len(shared_after) == 1
