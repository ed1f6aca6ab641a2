"""Every fault kind the gateway injects, and what the session does with it.

Queries heal through transient faults; creates are never sent twice unless the fault proves
nothing was created, and the gateway's counters show it.
"""

from __future__ import annotations

import asyncio

import pytest

from anyint_async import (
    AnyIntSession,
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    InternalServerError,
    RateLimitError,
    RetryPolicy,
    TaskStatus,
)
from anyint_async.testing import (
    DropConnection,
    FakeGateway,
    KlingCode,
    MalformedBody,
    RateLimited,
    ServerError,
    Slow,
    TruncatedBody,
)

from ..conftest import API_KEY, FAST_PROFILES, FAST_RETRY

QUERY_FAULTS = [
    ServerError(routes=["query"], status=503, times=2),
    ServerError(routes=["query"], status=500, times=2),
    RateLimited(routes=["query"], retry_after=0.05, times=2),
    DropConnection(routes=["query"], times=2),
    TruncatedBody(routes=["query"], times=2),
    MalformedBody(routes=["query"], times=2),
    KlingCode(routes=["kling.images.get"], code=5001, http_status=503, times=2),
]


@pytest.mark.parametrize("fault", QUERY_FAULTS, ids=lambda f: f.kind)
async def test_queries_heal_through_transient_faults(
    session: AnyIntSession, gateway: FakeGateway, fault: object
) -> None:
    ds = await session.dashscope.videos.create(model="wan2.5-t2v", prompt="p")
    kl = await session.kling.images.create(prompt="p")
    gateway.add_fault(fault)  # type: ignore[arg-type]
    await asyncio.sleep(0.1)
    done = [await session.refresh(ds), await session.refresh(kl)]
    assert [t.status for t in done] == [TaskStatus.SUCCEEDED, TaskStatus.SUCCEEDED]
    assert fault.fired == 2  # type: ignore[attr-defined]
    assert gateway.stats.tasks_created == 2


@pytest.mark.parametrize(
    ("fault", "error_type"),
    [
        (DropConnection(routes=["create"], times=1), APIConnectionError),
        (TruncatedBody(routes=["create"], times=1), APIResponseValidationError),
        (MalformedBody(routes=["create"], times=1), APIResponseValidationError),
        (ServerError(routes=["create"], status=500, times=1), InternalServerError),
    ],
    ids=lambda v: getattr(v, "kind", ""),
)
async def test_ambiguous_create_faults_never_duplicate(
    session: AnyIntSession, gateway: FakeGateway, fault: object, error_type: type[Exception]
) -> None:
    gateway.add_fault(fault)  # type: ignore[arg-type]
    for create in (
        lambda: session.dashscope.videos.create(model="wan2.5-t2v", prompt="ds-prompt"),
        lambda: session.kling.omni_video.create(prompt="kl-prompt", duration=5),
    ):
        fault.fired = 0  # type: ignore[attr-defined]
        with pytest.raises(error_type) as caught:
            await create()
        assert caught.value.may_have_created_task  # type: ignore[attr-defined]
    creates = gateway.stats.creates
    assert gateway.stats.duplicate_creates() == {}
    processed = type(fault).processed
    # Faults that strike after the work was done leave exactly one task; the SDK sent no second.
    assert creates[("dashscope.videos.create", "ds-prompt")] == (1 if processed else 0)
    assert creates[("kling.omni_video.create", "kl-prompt")] == (1 if processed else 0)
    assert gateway.stats.requests["dashscope.videos.create"] == 1
    assert gateway.stats.requests["kling.omni_video.create"] == 1


async def test_slow_create_times_out_and_is_not_resent(gateway: FakeGateway) -> None:
    gateway.add_fault(Slow(routes=["create"], delay=0.4, times=1))
    async with AnyIntSession(
        API_KEY, base_url=gateway.url, timeout=0.15, retry_policy=FAST_RETRY
    ) as session:
        with pytest.raises(APITimeoutError) as caught:
            await session.kling.images.create(prompt="slow fox")
    assert caught.value.may_have_created_task
    await asyncio.sleep(0.4)  # the gateway finishes the work after the client gave up
    assert gateway.stats.creates[("kling.images.create", "slow fox")] == 1
    assert gateway.stats.requests["kling.images.create"] == 1


async def test_slow_query_times_out_then_heals(gateway: FakeGateway) -> None:
    async with AnyIntSession(
        API_KEY, base_url=gateway.url, timeout=0.15, retry_policy=FAST_RETRY
    ) as session:
        task = await session.kling.images.create(prompt="fox")
        gateway.add_fault(Slow(routes=["query"], delay=0.4, times=1))
        again = await session.refresh(task)
    assert again.id == task.id
    assert gateway.stats.requests["kling.images.get"] == 2


@pytest.mark.parametrize(
    "fault",
    [
        RateLimited(routes=["create"], retry_after=0.05, times=2),
        KlingCode(routes=["create"], code=1302, http_status=429, times=2),
        KlingCode(routes=["create"], code=1303, http_status=429, times=2),
        KlingCode(routes=["create"], code=1303, http_status=200, times=2),
    ],
    ids=["429-retry-after", "kling-1302", "kling-1303", "kling-1303-under-200"],
)
async def test_refused_creates_are_retried_into_exactly_one_task(
    session: AnyIntSession, gateway: FakeGateway, fault: object
) -> None:
    gateway.add_fault(fault)  # type: ignore[arg-type]
    task = await session.kling.omni_video.create(prompt="boat", duration=5)
    assert task.status is TaskStatus.PENDING
    assert fault.fired == 2  # type: ignore[attr-defined]
    assert gateway.stats.requests["kling.omni_video.create"] == 3
    assert gateway.stats.creates[("kling.omni_video.create", "boat")] == 1


async def test_retry_after_is_honoured(gateway: FakeGateway) -> None:
    async with AnyIntSession(API_KEY, base_url=gateway.url, retry_policy=FAST_RETRY) as session:
        task = await session.dashscope.videos.create(model="wan2.5-t2v", prompt="p")
        gateway.add_fault(RateLimited(routes=["query"], retry_after=0.3, times=1))
        await session.refresh(task)
    gets = [r for r in gateway.stats.log if r.route == "dashscope.tasks.get"]
    assert [r.status for r in gets] == [429, 200]
    assert gets[1].at - gets[0].at >= 0.3
    assert gateway.stats.queries_inside_retry_after() == []


async def test_long_retry_after_surfaces_as_rate_limit(gateway: FakeGateway) -> None:
    policy = RetryPolicy(max_retries=3, initial_delay=0.001, max_delay=0.01, max_retry_after=1.0)
    gateway.add_fault(RateLimited(routes=["query"], retry_after=30))
    async with AnyIntSession(API_KEY, base_url=gateway.url, retry_policy=policy) as session:
        with pytest.raises(RateLimitError) as caught:
            await session.dashscope.tasks.get("t")
    assert caught.value.retry_after == 30 and caught.value.code == "Throttling.RateQuota"
    assert gateway.stats.requests["dashscope.tasks.get"] == 1


async def test_rate_faults_fire_at_their_rate_and_window() -> None:
    async with FakeGateway(seed=3, profiles=FAST_PROFILES) as gw:
        burst = gw.add_fault(ServerError(routes=["dashscope.tasks"], rate=0.5, after=0.0, until=60))
        later = gw.add_fault(ServerError(routes=["query"], after=3600))
        no_retry = RetryPolicy(max_retries=0)
        async with AnyIntSession(API_KEY, base_url=gw.url, retry_policy=no_retry) as session:
            outcomes = []
            for _ in range(200):
                try:
                    await session.dashscope.tasks.get("t")
                    outcomes.append(True)
                except InternalServerError:
                    outcomes.append(False)
    assert 60 <= outcomes.count(False) <= 140  # rate 0.5 of 200, seeded
    assert burst.fired == outcomes.count(False)
    assert later.fired == 0


async def test_concurrency_cap_answers_1303_and_allocation_quota() -> None:
    async with FakeGateway(profiles=FAST_PROFILES, max_in_flight=2) as gw:
        no_retry = RetryPolicy(max_retries=0)
        async with AnyIntSession(API_KEY, base_url=gw.url, retry_policy=no_retry) as session:
            await session.kling.images.create(prompt="a")
            await session.kling.images.create(prompt="b")
            with pytest.raises(RateLimitError) as kling_full:
                await session.kling.images.create(prompt="c")
            with pytest.raises(RateLimitError) as kling_n:
                await session.kling.omni_image.create(prompt="d", n=3)
            await session.dashscope.videos.create(model="wan2.5-t2v", prompt="a")
            await session.dashscope.videos.create(model="wan2.5-t2v", prompt="b")
            with pytest.raises(RateLimitError) as ds_full:
                await session.dashscope.videos.create(model="wan2.5-t2v", prompt="c")
            await asyncio.sleep(0.15)  # the first tasks finish and free their slots
            assert (await session.kling.images.create(prompt="c")).status is TaskStatus.PENDING
    assert kling_full.value.code == "1303" and not kling_full.value.may_have_created_task
    assert kling_n.value.code == "1303"
    assert ds_full.value.code == "Throttling.AllocationQuota"


async def test_fail_rate_fails_about_that_share() -> None:
    async with FakeGateway(profiles=FAST_PROFILES, fail_rate=0.3, seed=11) as gw:
        async with AnyIntSession(API_KEY, base_url=gw.url) as session:
            tasks = [await session.kling.images.create(prompt=f"p{i}") for i in range(60)]
            await asyncio.sleep(0.15)
            done = [await session.refresh(t) for t in tasks]
    failed = [t for t in done if t.status is TaskStatus.FAILED]
    assert 8 <= len(failed) <= 30
    assert all(t.error is not None for t in failed)
