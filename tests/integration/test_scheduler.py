"""The polling scheduler against the simulated gateway: many tasks, faults, cancellation,
timeouts, a closing session, the streaming poller and status events."""

from __future__ import annotations

import asyncio
import gc
import random
import time
from collections import Counter
from pathlib import Path

import pytest

from anyint_async import (
    AnyIntSession,
    AuthenticationError,
    PollPolicy,
    SessionClosedError,
    Task,
    TaskEvent,
    TaskEventKind,
    TaskFailedError,
    TaskStatus,
    TaskTimeoutError,
)
from anyint_async.testing import (
    FakeGateway,
    Fixed,
    KlingCode,
    LogNormal,
    ModelProfile,
    RateLimited,
    ServerError,
    Slow,
)

from ..conftest import API_KEY, FAST_RETRY, NO_LIMITS

FAMILIES = ("dashscope.videos", "kling.images", "kling.omni_image", "kling.omni_video")
QUICK = PollPolicy(first_poll=0.05, interval=0.03, max_interval=0.1, unknown_grace=0.3)


async def _create_mixed(session: AnyIntSession, count: int, seed: int) -> list[Task]:
    rng = random.Random(seed)
    limit = asyncio.Semaphore(50)

    async def create(i: int) -> Task:
        async with limit:
            kind = rng.randrange(4)
            if kind == 0:
                return await session.dashscope.videos.create(
                    model=f"wan-{i % 3}", prompt=f"video {i}"
                )
            if kind == 1:
                return await session.kling.images.create(prompt=f"image {i}")
            if kind == 2:
                return await session.kling.omni_image.create(prompt=f"omni image {i}")
            return await session.kling.omni_video.create(prompt=f"omni video {i}", duration=5)

    return list(await asyncio.gather(*(create(i) for i in range(count))))


async def test_a_thousand_mixed_tasks_through_bursts_each_yielded_once() -> None:
    profiles = {
        family: ModelProfile(run=LogNormal(2.5, 0.5, low=0.5, high=7.0), queue=Fixed(0.05))
        for family in FAMILIES
    }
    # Several hundred queries a second: enough to crowd the pool, not to starve a busy 2-core
    # box that runs client and gateway in one process.
    policy = PollPolicy(first_poll=0.6, interval=0.4, max_interval=1.0, jitter=0.1)
    retry_after = 0.3
    async with FakeGateway(profiles=profiles, fail_rate=0.1, seed=21) as gw:
        async with AnyIntSession(
            API_KEY,
            base_url=gw.url,
            retry_policy=FAST_RETRY,
            poll_policy=policy,
            query_rate_limits=NO_LIMITS,
        ) as session:
            tasks = await _create_mixed(session, 1000, seed=4)
            start = gw.elapsed()
            gw.add_fault(
                ServerError(
                    routes=["query"], status=503, rate=0.3, after=start + 0.4, until=start + 0.9
                )
            )
            # A burst of three 429s, counted rather than windowed: a busy machine may send
            # nothing in any given 50 ms.
            gw.add_fault(
                RateLimited(routes=["query"], retry_after=retry_after, after=start + 1.2, times=3)
            )
            yielded: list[Task] = []
            seen_at: dict[str, float] = {}
            handed = time.time()
            async for done in session.as_completed(tasks, timeout=120):
                yielded.append(done)
                seen_at[done.id] = time.time()
    ids = [t.id for t in yielded]
    assert Counter(ids).most_common(1)[0][1] == 1, "no task yielded twice"
    assert set(ids) == {t.id for t in tasks}, "every task yielded"
    assert all(t.done for t in yielded)
    failed = [t for t in yielded if t.status is TaskStatus.FAILED]
    assert 50 <= len(failed) <= 150 and all(t.error is not None for t in failed)
    assert all(t.urls for t in yielded if t.succeeded)
    stats = gw.stats
    assert (
        stats.statuses.get("kling.images.get 503", 0)
        + stats.statuses.get("dashscope.tasks.get 503", 0)
        > 0
    )
    assert stats.retry_after_windows, "the 429 burst happened"
    assert stats.queries_inside_retry_after(grace=0.05) == [], "nobody queried inside a cool-down"
    # Finishing order, within the poll granularity (longest wait, jittered, plus a cool-down),
    # plus a second of slack: client and gateway share this process, and a busy shared machine
    # can hold the event loop that long while 1,000 tasks are in play.
    granularity = policy.max_interval * (1 + policy.jitter) + retry_after + 1.0
    # A task that finished before it was handed over counts as finishing at the hand-over.
    finish = {task_id: max(at, handed) for task_id, at in stats.finished_at.items()}
    latest_so_far = float("-inf")
    for task in yielded:
        assert finish[task.id] >= latest_so_far - granularity
        latest_so_far = max(latest_so_far, finish[task.id])
    assert stats.duplicate_creates() == {}


async def test_wait_returns_success_and_raises_failure(session: AnyIntSession) -> None:
    done = await session.wait(await session.kling.omni_video.create(prompt="boat"), policy=QUICK)
    assert done.succeeded and done.urls
    with pytest.raises(TaskFailedError) as caught:
        await session.wait(
            await session.dashscope.videos.create(model="wan", prompt="#fail"), policy=QUICK
        )
    assert caught.value.task.status is TaskStatus.FAILED
    assert "DataInspectionFailed" in str(caught.value)


async def test_wait_timeout_carries_the_last_snapshot(gateway: FakeGateway) -> None:
    gateway.profiles["slow"] = ModelProfile(run=Fixed(30.0), queue=Fixed(0.0))
    async with AnyIntSession(API_KEY, base_url=gateway.url, query_rate_limits=NO_LIMITS) as session:
        task = await session.dashscope.videos.create(model="slow", prompt="p")
        with pytest.raises(TaskTimeoutError) as caught:
            await session.wait(task, timeout=0.3, policy=QUICK)
        assert session._scheduler.tracked == 0
    assert caught.value.task.id == task.id
    assert caught.value.task.status is TaskStatus.RUNNING  # a fresh snapshot, not the input


async def test_as_completed_timeout_yields_finished_then_reports_the_rest(
    gateway: FakeGateway,
) -> None:
    gateway.profiles["slow"] = ModelProfile(run=Fixed(30.0), queue=Fixed(0.0))
    async with AnyIntSession(API_KEY, base_url=gateway.url, query_rate_limits=NO_LIMITS) as session:
        quick = [await session.kling.images.create(prompt=f"q{i}") for i in range(3)]
        slow = [
            await session.dashscope.videos.create(model="slow", prompt=f"s{i}") for i in range(2)
        ]
        got = []
        with pytest.raises(TaskTimeoutError) as caught:
            async for done in session.as_completed(quick + slow, timeout=0.6, policy=QUICK):
                got.append(done.id)
    assert sorted(got) == sorted(t.id for t in quick)
    assert sorted(t.id for t in caught.value.tasks) == sorted(t.id for t in slow)


async def test_already_finished_and_duplicate_inputs(
    session: AnyIntSession, gateway: FakeGateway
) -> None:
    done = await session.wait(await session.kling.images.create(prompt="fox"), policy=QUICK)
    running = await session.kling.images.create(prompt="owl")
    polls_before = gateway.stats.polls[done.id]
    out = [t async for t in session.as_completed([done, running, running], policy=QUICK)]
    assert [t.id for t in out] == [done.id, running.id]  # the finished one at once, no poll
    assert gateway.stats.polls[done.id] == polls_before


async def test_breaking_out_stops_polling(session: AnyIntSession, gateway: FakeGateway) -> None:
    gateway.profiles["slow"] = ModelProfile(run=Fixed(30.0), queue=Fixed(0.0))
    quick = await session.kling.images.create(prompt="fast")
    slow = [await session.dashscope.videos.create(model="slow", prompt=f"s{i}") for i in range(5)]
    async for done in session.as_completed([quick, *slow], policy=QUICK):
        assert done.id == quick.id
        break
    gc.collect()
    await asyncio.sleep(0.05)
    assert session._scheduler.tracked == 0
    polls = sum(gateway.stats.polls[t.id] for t in slow)
    await asyncio.sleep(0.3)
    assert sum(gateway.stats.polls[t.id] for t in slow) == polls, "no query after the break"
    assert _stray_tasks() == []


async def test_cancelling_the_consumer_stops_polling(
    session: AnyIntSession, gateway: FakeGateway
) -> None:
    gateway.profiles["slow"] = ModelProfile(run=Fixed(30.0), queue=Fixed(0.0))
    slow = [await session.dashscope.videos.create(model="slow", prompt=f"s{i}") for i in range(5)]

    async def consume() -> None:
        async for _ in session.as_completed(slow, policy=QUICK):
            pass

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    await asyncio.sleep(0.05)
    assert session._scheduler.tracked == 0
    polls = sum(gateway.stats.polls[t.id] for t in slow)
    assert polls > 0
    await asyncio.sleep(0.3)
    assert sum(gateway.stats.polls[t.id] for t in slow) == polls
    assert _stray_tasks() == []


# A tenth of a second between queries, no jitter, no learning: queries are countable.
STEADY = PollPolicy(first_poll=0.1, interval=0.1, max_interval=0.1, jitter=0.0, learn=False)


async def _shared(session: AnyIntSession, gateway: FakeGateway, run: float) -> Task:
    """One video that runs ``run`` seconds, for two consumers to wait for."""
    gateway.profiles["medium"] = ModelProfile(run=Fixed(run), queue=Fixed(0.0))
    return await session.dashscope.videos.create(model="medium", prompt="shared")


async def test_two_consumers_share_one_poll_per_task(
    session: AnyIntSession, gateway: FakeGateway
) -> None:
    task = await _shared(session, gateway, 0.5)
    first, second = await asyncio.gather(
        session.wait(task, policy=STEADY), session.wait(task, policy=STEADY)
    )
    assert first.id == second.id and first.succeeded
    assert gateway.stats.polls[task.id] <= 7  # one schedule for both: about 0.5 s / 0.1 s


async def test_a_consumer_leaving_keeps_polling_what_another_still_waits_for(
    session: AnyIntSession, gateway: FakeGateway
) -> None:
    task = await _shared(session, gateway, 0.6)
    leaving = asyncio.create_task(session.wait(task, policy=STEADY))
    staying = asyncio.create_task(session.wait(task, policy=STEADY))
    await asyncio.sleep(0.2)
    leaving.cancel()
    with pytest.raises(asyncio.CancelledError):
        await leaving
    assert session._scheduler.tracked == 1, "still polled for the consumer that stayed"
    done = await asyncio.wait_for(staying, timeout=5)
    assert done.id == task.id and done.succeeded
    assert session._scheduler.tracked == 0


async def test_closing_the_session_ends_iterators_with_the_tasks(gateway: FakeGateway) -> None:
    gateway.profiles["slow"] = ModelProfile(run=Fixed(30.0), queue=Fixed(0.0))
    session = AnyIntSession(API_KEY, base_url=gateway.url, query_rate_limits=NO_LIMITS)
    slow = [await session.dashscope.videos.create(model="slow", prompt=f"s{i}") for i in range(3)]

    async def consume() -> list[Task]:
        return [t async for t in session.as_completed(slow, policy=QUICK)]

    consumer = asyncio.create_task(consume())
    await asyncio.sleep(0.2)
    await session.close()
    with pytest.raises(SessionClosedError) as caught:
        await consumer
    assert sorted(t.id for t in caught.value.tasks) == sorted(t.id for t in slow)
    assert "3 task(s)" in str(caught.value)
    with pytest.raises(SessionClosedError):
        await session.wait(slow[0])
    assert _stray_tasks() == []


async def test_streaming_poller_takes_tasks_while_iterating(session: AnyIntSession) -> None:
    results: list[Task] = []
    async with session.poller(policy=QUICK) as poller:

        async def produce() -> list[str]:
            made = []
            for i in range(6):
                task = await session.kling.images.create(prompt=f"stream {i}")
                poller.add(task)
                made.append(task.id)
                await asyncio.sleep(0.05)
            poller.close()
            return made

        producer = asyncio.create_task(produce())
        async for done in poller:
            results.append(done)
        made = await producer
    assert sorted(t.id for t in results) == sorted(made)
    with pytest.raises(Exception, match="closed"):
        poller.add(results[0])


async def test_leaving_the_poller_block_keeps_pending_visible(
    gateway: FakeGateway, session: AnyIntSession
) -> None:
    gateway.profiles["slow"] = ModelProfile(run=Fixed(30.0), queue=Fixed(0.0))
    task = await session.dashscope.videos.create(model="slow", prompt="p")
    async with session.poller(policy=QUICK) as poller:
        poller.add(task)
        for _ in range(100):
            if session.poll_stats().polls >= 2:
                break
            await asyncio.sleep(0.02)
        (last,) = poller.pending
    assert [t.id for t in poller.pending] == [task.id]
    assert session._scheduler.tracked == 0
    # The last answer, as it was when polling stopped; not the create's.
    (kept,) = poller.pending
    assert task.status is TaskStatus.PENDING and kept.status is TaskStatus.RUNNING
    assert kept == last and kept.raw == last.raw
    assert kept.raw["output"]["task_status"] == "RUNNING"


async def test_events_report_created_running_finished(
    gateway: FakeGateway, session: AnyIntSession
) -> None:
    gateway.profiles["staged"] = ModelProfile(run=Fixed(0.3), queue=Fixed(0.15))
    tasks = [
        await session.dashscope.videos.create(model="staged", prompt=f"e{i}") for i in range(3)
    ]
    events: list[TaskEvent] = []

    async def record(event: TaskEvent) -> None:
        events.append(event)

    async for _ in session.as_completed(tasks, policy=QUICK, on_event=record):
        pass
    for task in tasks:
        kinds = [e.kind for e in events if e.task.id == task.id]
        assert kinds == [TaskEventKind.CREATED, TaskEventKind.RUNNING, TaskEventKind.FINISHED]


async def test_authentication_failure_ends_iteration(
    session: AnyIntSession, gateway: FakeGateway
) -> None:
    tasks = [await session.kling.images.create(prompt=f"a{i}") for i in range(3)]
    gateway.add_fault(KlingCode(routes=["kling.images.get"], code=1004, http_status=401))
    stream = session.as_completed(tasks, policy=QUICK)
    with pytest.raises(AuthenticationError):
        async for _ in stream:
            pass
    assert session._scheduler.tracked == 0
    # Nothing is lost: every task it waited for is still listed, the refused query's too.
    assert sorted(t.id for t in stream.pending) == sorted(t.id for t in tasks)


async def test_forgotten_task_is_yielded_unknown_after_grace(session: AnyIntSession) -> None:
    ghost_kling = Task(
        id="123456789012345678", status=TaskStatus.PENDING, route=session.kling.images._route
    )
    ghost_dashscope = Task(
        id="no-such-task", status=TaskStatus.PENDING, route=ghost_kling.route.DASHSCOPE_TASKS
    )
    out = [
        t
        async for t in session.as_completed([ghost_kling, ghost_dashscope], policy=QUICK, timeout=5)
    ]
    by_id = {t.id: t for t in out}
    assert by_id["no-such-task"].status is TaskStatus.UNKNOWN
    assert by_id[ghost_kling.id].status is TaskStatus.UNKNOWN
    assert by_id[ghost_kling.id].error is not None and by_id[ghost_kling.id].error.code == "1203"


async def test_in_flight_queries_are_bounded(gateway: FakeGateway) -> None:
    gateway.add_fault(Slow(routes=["query"], delay=0.1))
    async with AnyIntSession(
        API_KEY, base_url=gateway.url, max_polls_in_flight=4, query_rate_limits=NO_LIMITS
    ) as session:
        tasks = [await session.kling.images.create(prompt=f"b{i}") for i in range(20)]
        gateway.reset_stats()
        out = [t async for t in session.as_completed(tasks, policy=QUICK)]
    assert len(out) == 20
    assert gateway.stats.peak_concurrent <= 4


async def _peak_queries_in_flight(
    gateway: FakeGateway, *, busy_loop: bool, max_polls_in_flight: int | None = None
) -> int:
    """The most task queries the gateway held at once while 80 videos of 4 s were polled as
    often as they could be, every answer 0.3 s away; with ``busy_loop`` the app keeps the
    event loop's thread busy meanwhile (4 ms of work at each turn)."""
    gateway.profiles["far"] = ModelProfile(run=Fixed(4.0), queue=Fixed(0.0))
    gateway.add_fault(Slow(routes=["query"], delay=0.3))
    eager = PollPolicy(first_poll=0.05, interval=0.05, max_interval=0.05, learn=False)
    async with AnyIntSession(
        API_KEY,
        base_url=gateway.url,
        query_rate_limits=NO_LIMITS,
        query_hedging=False,
        max_polls_in_flight=max_polls_in_flight,
    ) as session:
        tasks = await asyncio.gather(
            *(session.dashscope.videos.create(model="far", prompt=f"f{i}") for i in range(80))
        )
        gateway.reset_stats()
        done = asyncio.Event()

        async def app_work() -> None:
            while not done.is_set():
                until = time.perf_counter() + 0.004
                while time.perf_counter() < until:
                    pass
                await asyncio.sleep(0)

        worker = asyncio.create_task(app_work()) if busy_loop else None
        try:
            async with asyncio.timeout(30):
                out = [t async for t in session.as_completed(tasks, policy=eager)]
        finally:
            done.set()
            if worker is not None:
                await worker
    assert len(out) == 80
    return gateway.stats.peak_concurrent


async def test_queries_in_flight_rise_past_the_floor_while_the_loop_waits_on_a_far_network(
    gateway: FakeGateway,
) -> None:
    # The default ceiling is 48 (three quarters of 64 connections); the cap starts at 16.
    assert await _peak_queries_in_flight(gateway, busy_loop=False) > 24


async def test_queries_in_flight_stay_at_the_floor_while_the_app_keeps_the_loop_busy(
    gateway: FakeGateway,
) -> None:
    assert await _peak_queries_in_flight(gateway, busy_loop=True) <= 16


async def test_a_max_polls_in_flight_the_app_sets_is_kept_however_busy_the_loop(
    gateway: FakeGateway,
) -> None:
    assert await _peak_queries_in_flight(gateway, busy_loop=True, max_polls_in_flight=40) > 24


async def test_request_rate_is_capped(gateway: FakeGateway) -> None:
    gateway.profiles["slow"] = ModelProfile(run=Fixed(30.0), queue=Fixed(0.0))
    async with AnyIntSession(API_KEY, base_url=gateway.url, max_requests_per_second=20) as session:
        tasks = [
            await session.dashscope.videos.create(model="slow", prompt=f"r{i}") for i in range(30)
        ]
        gateway.reset_stats()
        with pytest.raises(TaskTimeoutError):
            async for _ in session.as_completed(tasks, policy=QUICK, timeout=1.0):
                pass
    times = [r.at for r in gateway.stats.log if r.route == "dashscope.tasks.get"]
    assert len(times) >= 5
    # Slowness can only lower the rate, so these bounds cannot flake on a busy machine.
    assert len(times) <= 20 * 1.0 + 2
    assert (len(times) - 1) / (times[-1] - times[0]) <= 20 * 1.1


async def test_learning_moves_first_polls_of_a_model(gateway: FakeGateway) -> None:
    gateway.profiles["learned"] = ModelProfile(run=Fixed(0.6), queue=Fixed(0.0))
    policy = PollPolicy(first_poll=0.05, interval=0.05, max_interval=0.05, jitter=0.0)
    async with AnyIntSession(
        API_KEY, base_url=gateway.url, poll_policy=policy, query_rate_limits=NO_LIMITS
    ) as session:
        first_wave = [
            await session.dashscope.videos.create(model="learned", prompt=f"w1-{i}")
            for i in range(4)
        ]
        [t async for t in session.as_completed(first_wave)]
        second_wave = [
            await session.dashscope.videos.create(model="learned", prompt=f"w2-{i}")
            for i in range(4)
        ]
        [t async for t in session.as_completed(second_wave)]
    before = sum(gateway.stats.polls[t.id] for t in first_wave) / 4
    after = sum(gateway.stats.polls[t.id] for t in second_wave) / 4
    assert before >= 8  # about 0.6 s / 0.05 s
    assert after <= 3  # first poll waits for the learned duration


async def test_a_session_starts_from_the_durations_an_earlier_one_remembered(
    gateway: FakeGateway, tmp_path: Path
) -> None:
    gateway.profiles["remembered"] = ModelProfile(run=Fixed(0.6), queue=Fixed(0.0))
    policy = PollPolicy(first_poll=0.05, interval=0.05, max_interval=0.05, jitter=0.0)
    memory = tmp_path / "durations.json"

    async def batch(name: str, remember: Path | None) -> float:
        async with AnyIntSession(
            API_KEY,
            base_url=gateway.url,
            poll_policy=policy,
            query_rate_limits=NO_LIMITS,
            duration_memory=remember,
        ) as session:
            made = [
                await session.dashscope.videos.create(model="remembered", prompt=f"{name}-{i}")
                for i in range(4)
            ]
            assert len([t async for t in session.as_completed(made)]) == 4
        return sum(gateway.stats.polls[t.id] for t in made) / len(made)

    first = await batch("first", memory)
    text = memory.read_text()
    assert "remembered" in text and API_KEY not in text and "first-" not in text
    cold = await batch("cold", None)
    warm = await batch("warm", memory)
    assert first >= 8 and cold >= 8  # about 0.6 s / 0.05 s: learned only by polling
    assert warm <= 3  # the first query waits for the remembered duration


def _stray_tasks() -> list[asyncio.Task[object]]:
    me = asyncio.current_task()
    return [
        t
        for t in asyncio.all_tasks()
        if t is not me and "poll scheduler" in t.get_name() and not t.done()
    ]


async def test_durations_are_learned_per_request_shape(gateway: FakeGateway) -> None:
    # Run time grows with the seconds asked for: 0.3 s for a 5 s video, 0.6 s for a 10 s one.
    gateway.profiles["shaped"] = ModelProfile(run=Fixed(0.3), queue=Fixed(0.0))
    policy = PollPolicy(first_poll=0.05, interval=0.05, max_interval=0.05, jitter=0.0)
    async with AnyIntSession(
        API_KEY, base_url=gateway.url, poll_policy=policy, query_rate_limits=NO_LIMITS
    ) as session:

        async def wave(name: str) -> list[Task]:
            made = [
                await session.dashscope.videos.create(
                    model="shaped", prompt=f"{name}-{i}", duration=5 if i % 2 else 10
                )
                for i in range(12)
            ]
            done = [t async for t in session.as_completed(made)]
            # What the request said stays on the snapshot the scheduler yields.
            assert {t.workload for t in done} == {"duration=5", "duration=10"}
            return made

        await wave("first")
        second = await wave("second")
    long = [t for t in second if t.workload == "duration=10"]
    # Learned apart, the 10 s videos are not asked about while only 5 s ones can have ended.
    assert sum(gateway.stats.polls[t.id] for t in long) / len(long) <= 3


async def test_kling_says_when_a_task_started_while_it_runs(gateway: FakeGateway) -> None:
    gateway.profiles["kling-v3-omni"] = ModelProfile(run=Fixed(0.4), queue=Fixed(0.2))
    async with AnyIntSession(API_KEY, base_url=gateway.url, query_rate_limits=NO_LIMITS) as session:
        task = await session.kling.omni_video.create(prompt="a boat", duration=5, mode="pro")
        assert task.workload == "duration=5 mode=pro"
        await asyncio.sleep(0.3)
        running = await session.refresh(task)
    assert running.status is TaskStatus.RUNNING
    assert running.started_at is not None and task.created_at is not None
    queued = (running.started_at - task.created_at).total_seconds()
    assert 0.1 <= queued <= 0.3
