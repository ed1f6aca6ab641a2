"""Every published route, end to end: the session against the simulated gateway."""

from __future__ import annotations

import aiohttp
import pytest

from anyint_async import (
    AnyIntSession,
    AuthenticationError,
    BadRequestError,
    NotFoundError,
    TaskRoute,
    TaskStatus,
)
from anyint_async.testing import FakeGateway

from ..conftest import API_KEY, FAST_PROFILES, FAST_RETRY
from .helpers import settle

SEED_VIDEO = {
    "prompt": "An urban fantasy scene in cinematic style. A graffiti-painted teenage rapper comes alive.",
    "img_url": "https://your-domain.com/source-image.png",
    "audio_url": "https://your-domain.com/source-audio.mp3",
    "resolution": "720P",
    "prompt_extend": True,
    "duration": 10,
    "audio": True,
    "shot_type": "multi",
}


async def test_dashscope_image_generation_seed_example(
    session: AnyIntSession, gateway: FakeGateway
) -> None:
    result = await session.dashscope.images.generate(
        model="qwen-image-plus",
        prompt="A cinematic product poster for an AI music launch, neon highlights.",
        size="1328*1328",
        negative_prompt="",
        prompt_extend=True,
        watermark=False,
    )
    assert len(result.urls) == 1 and result.urls[0].startswith(gateway.files_url)
    assert (result.usage.width, result.usage.height, result.usage.image_count) == (1328, 1328, 1)
    assert gateway.stats.requests["dashscope.images.generate"] == 1


@pytest.mark.parametrize("model", ["happyhorse-1.0-t2v", "wan2.5-i2v-preview"])
async def test_dashscope_video_seed_examples_run_to_success(
    session: AnyIntSession, gateway: FakeGateway, model: str
) -> None:
    task = await session.dashscope.videos.create(model=model, **SEED_VIDEO)
    assert task.status is TaskStatus.PENDING and task.model == model
    done = await settle(session, task)
    assert done.status is TaskStatus.SUCCEEDED and done.model == model
    assert len(done.urls) == 1 and done.urls[0].endswith(".mp4", 0, done.urls[0].index("?"))
    assert done.created_at and done.started_at and done.finished_at
    assert done.raw["usage"]["video_count"] == 1
    assert gateway.stats.async_header_missing == 0  # the SDK sends X-DashScope-Async
    assert gateway.stats.polls[task.id] >= 1


async def test_dashscope_task_states_are_seen_in_order(gateway: FakeGateway) -> None:
    from anyint_async.testing import Fixed, ModelProfile

    gateway.profiles["slow-video"] = ModelProfile(queue=Fixed(0.15), run=Fixed(0.3))
    async with AnyIntSession(API_KEY, base_url=gateway.url, retry_policy=FAST_RETRY) as session:
        task = await session.dashscope.videos.create(model="slow-video", prompt="p")
        seen = [task.status]
        while not task.done:
            task = await session.refresh(task)
            if task.status is not seen[-1]:
                seen.append(task.status)
    assert seen == [TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.SUCCEEDED]


async def test_dashscope_unknown_task_id_is_unknown(session: AnyIntSession) -> None:
    task = await session.dashscope.tasks.get("no-such-task")
    assert task.status is TaskStatus.UNKNOWN and task.done


@pytest.mark.parametrize(
    ("family", "route", "kwargs", "suffix", "count"),
    [
        ("images", TaskRoute.KLING_IMAGES, {"prompt": "A red fox", "n": 3}, ".png", 3),
        (
            "omni_image",
            TaskRoute.KLING_OMNI_IMAGE,
            {"prompt": "<<<image_1>>> watercolor", "image_list": ["https://a/b.png"]},
            ".png",
            1,
        ),
        (
            "omni_image",
            TaskRoute.KLING_OMNI_IMAGE,
            {"prompt": "a comic", "result_type": "series", "series_amount": 3},
            ".png",
            3,
        ),
        (
            "omni_video",
            TaskRoute.KLING_OMNI_VIDEO,
            {"prompt": "A paper boat", "duration": 5, "mode": "std"},
            ".mp4",
            1,
        ),
    ],
)
async def test_kling_families_run_to_success(
    session: AnyIntSession,
    gateway: FakeGateway,
    family: str,
    route: TaskRoute,
    kwargs: dict[str, object],
    suffix: str,
    count: int,
) -> None:
    resource = getattr(session.kling, family)
    task = await resource.create(**kwargs)
    assert task.route is route and task.status is TaskStatus.PENDING
    assert task.id.isdigit() and 18 <= len(task.id) <= 19
    done = await settle(session, task)
    assert done.status is TaskStatus.SUCCEEDED
    assert len(done.urls) == count
    assert all(url.split("?")[0].endswith(suffix) for url in done.urls)
    assert done.model == "kling-v3-omni" if family != "images" else done.model == "kling-v2-1"
    assert gateway.stats.requests[f"kling.{family}.create"] == 1
    assert gateway.stats.requests[f"kling.{family}.get"] >= 1


async def test_kling_failed_task_carries_its_reason(session: AnyIntSession) -> None:
    task = await session.kling.omni_video.create(prompt="#fail on purpose", duration=5)
    done = await settle(session, task)
    assert done.status is TaskStatus.FAILED and not done.succeeded
    assert done.error is not None and "risk control" in (done.error.message or "")
    assert done.urls == ()


async def test_dashscope_failed_task_carries_provider_code(session: AnyIntSession) -> None:
    task = await session.dashscope.videos.create(model="wan2.5-t2v", prompt="#fail on purpose")
    done = await settle(session, task)
    assert done.status is TaskStatus.FAILED
    assert done.error is not None and done.error.code == "DataInspectionFailed"


async def test_kling_unknown_task_and_lookup_by_external_id(session: AnyIntSession) -> None:
    with pytest.raises(NotFoundError) as caught:
        await session.kling.images.get("123456789012345678")
    assert caught.value.code == "1203"
    task = await session.kling.images.create(prompt="fox", external_task_id="batch-7-fox")
    by_external = await session.kling.images.get("batch-7-fox")
    assert by_external.id == task.id and by_external.external_id == "batch-7-fox"
    # Another family does not know this task.
    with pytest.raises(NotFoundError):
        await session.kling.omni_image.get(task.id)


async def test_kling_duplicate_external_id_is_refused_by_the_gateway(
    session: AnyIntSession, gateway: FakeGateway
) -> None:
    await session.kling.omni_video.create(prompt="boat", external_task_id="job-1")
    with pytest.raises(BadRequestError) as caught:
        await session.kling.omni_video.create(prompt="boat", external_task_id="job-1")
    assert caught.value.code == "1201" and not caught.value.may_have_created_task
    assert gateway.stats.creates_by_external_id[("kling.omni_video.create", "job-1")] == 1


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (
            lambda s: s.dashscope.videos.create(
                model="m", prompt="p", extra_body={"parameters": {"duration": "10s"}}
            ),
            "InvalidParameter",
        ),
        (
            lambda s: s.dashscope.images.generate(
                model="m", prompt="p", extra_body={"parameters": {"size": "big"}}
            ),
            "InvalidParameter",
        ),
        (lambda s: s.kling.omni_video.create(prompt="p", extra_body={"duration": 5}), "1201"),
        (lambda s: s.kling.images.create(prompt="p", extra_body={"n": 12}), "1201"),
        (
            lambda s: s.kling.omni_image.create(
                prompt="p", extra_body={"image_list": [{"url": "x"}]}
            ),
            "1201",
        ),
    ],
)
async def test_gateway_validates_like_the_provider(
    session: AnyIntSession, gateway: FakeGateway, call: object, code: str
) -> None:
    with pytest.raises(BadRequestError) as caught:
        await call(session)  # type: ignore[operator]
    assert caught.value.code == code and caught.value.status == 400
    assert gateway.stats.tasks_created == 0


async def test_gateway_with_api_key_refuses_others() -> None:
    async with FakeGateway(api_key="right-key", profiles=FAST_PROFILES) as gw:
        async with AnyIntSession("wrong-key", base_url=gw.url, retry_policy=FAST_RETRY) as session:
            with pytest.raises(AuthenticationError) as ds:
                await session.dashscope.tasks.get("x")
            with pytest.raises(AuthenticationError) as kl:
                await session.kling.images.create(prompt="fox")
        async with AnyIntSession("right-key", base_url=gw.url) as session:
            assert (await session.kling.images.create(prompt="fox")).status is TaskStatus.PENDING
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{gw.url}/transtreams/kling/v1/images/generations/1") as response:
                assert response.status == 401
                assert (await response.json())["code"] == 1001  # no header at all: "empty"
    assert ds.value.code == "InvalidApiKey"
    assert kl.value.code == "1002"


async def test_tasks_of_one_key_are_invisible_to_another(gateway: FakeGateway) -> None:
    async with (
        AnyIntSession("key-a", base_url=gateway.url) as a,
        AnyIntSession("key-b", base_url=gateway.url) as b,
    ):
        ds_task = await a.dashscope.videos.create(model="wan2.5-t2v", prompt="p")
        kl_task = await a.kling.images.create(prompt="p")
        assert (await b.dashscope.tasks.get(ds_task.id)).status is TaskStatus.UNKNOWN
        with pytest.raises(NotFoundError):
            await b.kling.images.get(kl_task.id)


async def test_expired_dashscope_task_becomes_unknown() -> None:
    async with FakeGateway(profiles=FAST_PROFILES, task_ttl=0.2) as gw:
        async with AnyIntSession(API_KEY, base_url=gw.url) as session:
            task = await session.dashscope.videos.create(model="wan2.5-t2v", prompt="p")
            done = await settle(session, task)
            assert done.status is TaskStatus.SUCCEEDED
            import asyncio

            await asyncio.sleep(0.25)
            assert (await session.refresh(done)).status is TaskStatus.UNKNOWN
            kling_task = await settle(session, await session.kling.images.create(prompt="p"))
            await asyncio.sleep(0.25)
            with pytest.raises(NotFoundError):
                await session.refresh(kling_task)
