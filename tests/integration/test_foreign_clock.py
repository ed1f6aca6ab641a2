"""A provider clock that is wrong, end to end: the simulated gateway writes its timestamps hours
or minutes off, and every task is still yielded about as soon as with a true clock."""

from __future__ import annotations

import asyncio
import time

import pytest

from anyint_async import AnyIntSession, PollPolicy, Task
from anyint_async.testing import FakeGateway, Fixed, LogNormal, ModelProfile

from ..conftest import API_KEY, FAST_RETRY

# Real seconds: durations spread enough for the learner to matter, short enough for a test.
PROFILES = {
    family: ModelProfile(run=LogNormal(0.6, 0.4, low=0.2), queue=Fixed(0.05))
    for family in ("dashscope.videos", "kling.omni_video")
}
# The default cap on waits (120 s) stays: a stalled task would blow the test's time limit.
POLICY = PollPolicy(first_poll=0.1, interval=0.05, max_interval=0.2)


async def _p95_delay(skew: float) -> float:
    async with FakeGateway(seed=4, profiles=PROFILES, clock_skew=skew) as gateway:
        async with AnyIntSession(
            API_KEY, base_url=gateway.url, retry_policy=FAST_RETRY, poll_policy=POLICY
        ) as session:
            tasks: list[Task] = []
            for i in range(24):
                tasks.append(
                    await session.dashscope.videos.create(model="wan2.5-t2v", prompt=f"v{i}")
                )
                tasks.append(await session.kling.omni_video.create(prompt=f"k{i}"))
            delays = []
            async with asyncio.timeout(30):
                async for done in session.as_completed(tasks):
                    assert done.succeeded
                    delays.append(time.time() - gateway.stats.finished_at[done.id])
    assert len(delays) == len(tasks)
    delays.sort()
    return delays[int(0.95 * (len(delays) - 1))]


@pytest.mark.parametrize("skew", [-8 * 3600.0, 8 * 3600.0, -300.0])
async def test_every_task_is_yielded_as_soon_as_with_a_true_clock(skew: float) -> None:
    true_clock = await _p95_delay(0.0)
    skewed = await _p95_delay(skew)
    # Compared inside one run, with room for a shared machine's noise; a stall costs minutes.
    assert skewed <= 2 * true_clock + 0.25, (skewed, true_clock)


async def test_the_gateway_writes_skewed_times_and_keeps_true_counters() -> None:
    async with FakeGateway(seed=1, profiles=PROFILES, clock_skew=-8 * 3600.0) as gateway:
        async with AnyIntSession(API_KEY, base_url=gateway.url) as session:
            task = await session.kling.omni_video.create(prompt="p")
            assert task.created_at is not None
            behind = time.time() - task.created_at.timestamp()
            assert 8 * 3600 - 5 < behind < 8 * 3600 + 5
            true_age = time.time() - gateway.stats.created_at[task.id]
            assert 0 <= true_age < 5
