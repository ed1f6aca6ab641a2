"""The simulated gateway's run times follow the request (video seconds, resolution, mode,
images), and a busy account's queue grows, as real providers' do."""

from __future__ import annotations

import pytest

from anyint_async import AnyIntSession
from anyint_async.testing import FakeGateway, Fixed, ModelProfile, profiles_from_json

from ..conftest import API_KEY


def _took(gateway: FakeGateway, task_id: str) -> float:
    return gateway.stats.finished_at[task_id] - gateway.stats.created_at[task_id]


async def test_run_time_follows_what_the_request_asks() -> None:
    base = ModelProfile(run=Fixed(10.0), queue=Fixed(0.0))
    profiles = {"kling.omni_video": base, "dashscope.videos": base, "kling.images": base}
    async with FakeGateway(time_scale=0.01, profiles=profiles) as gateway:
        async with AnyIntSession(API_KEY, base_url=gateway.url) as session:
            short = await session.kling.omni_video.create(prompt="a", duration=5, mode="std")
            long = await session.kling.omni_video.create(prompt="b", duration=10, mode="pro")
            plain = await session.dashscope.videos.create(model="wan2.5-t2v", prompt="c")
            sharp = await session.dashscope.videos.create(
                model="wan2.5-t2v", prompt="d", duration=10, resolution="1080P"
            )
            one = await session.kling.images.create(prompt="e")
            three = await session.kling.images.create(prompt="f", n=3)
    assert _took(gateway, short.id) == pytest.approx(0.1, abs=1e-5)
    assert _took(gateway, long.id) == pytest.approx(0.1 * 2 * 1.6, abs=1e-5)
    assert _took(gateway, plain.id) == pytest.approx(0.1, abs=1e-5)
    assert _took(gateway, sharp.id) == pytest.approx(0.1 * 2 * 1.8, abs=1e-5)
    assert _took(gateway, three.id) == pytest.approx(_took(gateway, one.id) * 2.0, abs=1e-5)
    # What each request asked for is reported, for whoever compares clients on these tasks.
    assert gateway.stats.run_factors[long.id] == pytest.approx(3.2)
    assert gateway.stats.run_factors[sharp.id] == pytest.approx(3.6)
    assert gateway.stats.to_json()["run_factors"][plain.id] == 1.0


async def test_a_profile_can_ignore_the_request() -> None:
    flat = ModelProfile(run=Fixed(10.0), queue=Fixed(0.0), scales_with_request=False)
    async with FakeGateway(time_scale=0.01, profiles={"kling.omni_video": flat}) as gateway:
        async with AnyIntSession(API_KEY, base_url=gateway.url) as session:
            task = await session.kling.omni_video.create(prompt="a", duration=10, mode="pro")
    assert _took(gateway, task.id) == pytest.approx(0.1, abs=1e-5)
    assert gateway.stats.run_factors[task.id] == 1.0


async def test_a_busy_accounts_queue_grows() -> None:
    busy = ModelProfile(run=Fixed(30.0), queue=Fixed(0.0), queue_per_task=5.0)
    async with FakeGateway(time_scale=0.01, profiles={"kling.omni_video": busy}) as gateway:
        async with AnyIntSession(API_KEY, base_url=gateway.url) as session:
            tasks = [
                await session.kling.omni_video.create(prompt=f"p{i}", duration=5) for i in range(4)
            ]
    took = [_took(gateway, task.id) for task in tasks]
    # Each task waits 5 simulated seconds more for every task already in flight.
    assert took == pytest.approx([0.3, 0.35, 0.4, 0.45], abs=1e-5)


def test_profiles_from_json_carry_the_new_fields() -> None:
    [profile] = profiles_from_json(
        {
            "wan2.5-t2v": {
                "run": {"kind": "fixed", "seconds": 60},
                "scales_with_request": False,
                "queue_per_task": 2.5,
            }
        }
    ).values()
    assert profile.scales_with_request is False and profile.queue_per_task == 2.5
