"""Kling routes: request bodies per family, envelope quirks, status and timestamp mapping."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from aioresponses import aioresponses

from anyint_async import (
    APIResponseValidationError,
    BadRequestError,
    RateLimitError,
    TaskRoute,
    TaskStatus,
)

from .helpers import KEY, make_session, sent

IMAGES = "/transtreams/kling/v1/images/generations"
OMNI_IMAGE = "/transtreams/kling/v1/images/omni-image"
OMNI_VIDEO = "/transtreams/kling/v1/videos/omni-video"


def created(task_id: str = "867283741759111202", **data: Any) -> dict[str, Any]:
    return {
        "code": 0,
        "message": "SUCCEED",
        "request_id": "c0656403-1e6e-4b7e-b8f8-2cdd2595f2b9",
        "data": {
            "task_id": task_id,
            "task_status": "submitted",
            "task_info": {"external_task_id": "text2video_kling_v3_final-1774805076"},
            "created_at": 1774805076166,
            "updated_at": 1774805076166,
            **data,
        },
    }


VIDEO_SUCCEEDED = {
    "code": 0,
    "message": "SUCCEED",
    "request_id": "q-1",
    "data": {
        "task_id": "867283741759111202",
        "task_status": "succeed",
        "task_status_msg": "",
        "task_info": {"external_task_id": "job-42"},
        "task_result": {
            "videos": [
                {
                    "id": "v1",
                    "url": "https://kling.example/v.mp4",
                    "watermark_url": "https://kling.example/w.mp4",
                    "duration": "5.041",
                }
            ]
        },
        "watermark_info": {"enabled": False},
        "final_unit_deduction": "1",
        "created_at": 1722769557708,
        "updated_at": 1722769587708,
    },
}


async def test_images_create_sends_model_name_and_model() -> None:
    with aioresponses() as mock:
        mock.post(f"https://gateway.test{IMAGES}", payload=created())
        async with make_session() as session:
            task = await session.kling.images.create(
                prompt="A red fox in snow",
                negative_prompt="blurry",
                n=2,
                aspect_ratio="1:1",
                resolution="2k",
                element_list=[829836802793406551],
                watermark=False,
                external_task_id="job-1",
            )
        body, headers = sent(mock, "POST", IMAGES)
    assert body == {
        "model_name": "kling-v2-1",
        "model": "kling-v2-1",
        "prompt": "A red fox in snow",
        "negative_prompt": "blurry",
        "element_list": [{"element_id": 829836802793406551}],
        "resolution": "2k",
        "n": 2,
        "aspect_ratio": "1:1",
        "watermark_info": {"enabled": False},
        "external_task_id": "job-1",
    }
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert task.route is TaskRoute.KLING_IMAGES and task.model == "kling-v2-1"
    assert task.status is TaskStatus.PENDING
    assert task.created_at == datetime(2026, 3, 29, 17, 24, 36, 166000, tzinfo=UTC)
    assert task.external_id == "text2video_kling_v3_final-1774805076"


async def test_omni_image_wraps_plain_urls_under_image_key() -> None:
    with aioresponses() as mock:
        mock.post(f"https://gateway.test{OMNI_IMAGE}", payload=created())
        async with make_session() as session:
            task = await session.kling.omni_image.create(
                prompt="<<<image_1>>> as a watercolor",
                image_list=["https://cdn.example/a.png", {"image": "https://cdn.example/b.png"}],
                result_type="series",
                series_amount="auto",
            )
        body, _ = sent(mock, "POST", OMNI_IMAGE)
    assert body == {
        "model_name": "kling-v3-omni",
        "model": "kling-v3-omni",
        "prompt": "<<<image_1>>> as a watercolor",
        "image_list": [
            {"image": "https://cdn.example/a.png"},
            {"image": "https://cdn.example/b.png"},
        ],
        "result_type": "series",
        "series_amount": "auto",
    }
    assert task.route is TaskRoute.KLING_OMNI_IMAGE


@pytest.mark.parametrize("duration", [7, "7"])
async def test_omni_video_sends_duration_as_string(duration: int | str) -> None:
    with aioresponses() as mock:
        mock.post(f"https://gateway.test{OMNI_VIDEO}", payload=created())
        async with make_session() as session:
            task = await session.kling.omni_video.create(
                prompt="<<<image_1>>> strolling in Tokyo, meets <<<element_1>>>",
                image_list=["https://cdn.example/a.png"],
                element_list=[{"element_id": 829836802793406551}],
                mode="pro",
                aspect_ratio="16:9",
                duration=duration,
                sound="off",
                external_task_id="job-42",
            )
        body, _ = sent(mock, "POST", OMNI_VIDEO)
    # The reference's own example, field for field (plus `model`, sent alongside model_name).
    assert body == {
        "model_name": "kling-v3-omni",
        "model": "kling-v3-omni",
        "prompt": "<<<image_1>>> strolling in Tokyo, meets <<<element_1>>>",
        "image_list": [{"image_url": "https://cdn.example/a.png"}],
        "element_list": [{"element_id": 829836802793406551}],
        "mode": "pro",
        "aspect_ratio": "16:9",
        "duration": "7",
        "sound": "off",
        "external_task_id": "job-42",
    }
    assert task.route is TaskRoute.KLING_OMNI_VIDEO


async def test_omni_video_multi_shot_without_prompt() -> None:
    with aioresponses() as mock:
        mock.post(f"https://gateway.test{OMNI_VIDEO}", payload=created())
        async with make_session() as session:
            await session.kling.omni_video.create(
                multi_shot=True,
                shot_type="customize",
                multi_prompt=[
                    {"prompt": "A door opens", "duration": 2},
                    {"prompt": "A cat walks in", "duration": "3"},
                ],
                duration=5,
            )
        body, _ = sent(mock, "POST", OMNI_VIDEO)
    assert "prompt" not in body
    assert body["multi_prompt"] == [
        {"index": 1, "prompt": "A door opens", "duration": "2"},
        {"index": 2, "prompt": "A cat walks in", "duration": "3"},
    ]


@pytest.mark.parametrize(
    ("family", "path"),
    [("images", IMAGES), ("omni_image", OMNI_IMAGE), ("omni_video", OMNI_VIDEO)],
)
async def test_each_family_queries_its_own_route(family: str, path: str) -> None:
    with aioresponses() as mock:
        mock.get(f"https://gateway.test{path}/867283741759111202", payload=VIDEO_SUCCEEDED)
        async with make_session() as session:
            task = await getattr(session.kling, family).get("867283741759111202")
        _, headers = sent(mock, "GET", f"{path}/867283741759111202")
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert task.route.value == f"kling.{family}"
    assert task.status is TaskStatus.SUCCEEDED
    assert task.urls == ("https://kling.example/v.mp4",)
    assert task.finished_at == datetime(2024, 8, 4, 11, 6, 27, 708000, tzinfo=UTC)
    assert task.raw["data"]["task_result"]["videos"][0]["duration"] == "5.041"


async def test_images_and_series_images_are_results() -> None:
    body = {
        "code": 0,
        "data": {
            "task_id": "1",
            "task_status": "succeed",
            "task_result": {
                "result_type": "series",
                "series_images": [
                    {"index": 0, "url": "https://k.example/0.png", "watermark_url": "w"},
                    {"index": 1, "url": "https://k.example/1.png", "watermark_url": "w"},
                ],
            },
        },
    }
    with aioresponses() as mock:
        mock.get(f"https://gateway.test{OMNI_IMAGE}/1", payload=body)
        async with make_session() as session:
            task = await session.kling.omni_image.get("1")
    assert task.urls == ("https://k.example/0.png", "https://k.example/1.png")


@pytest.mark.parametrize(
    ("word", "status"),
    [
        ("submitted", TaskStatus.PENDING),
        ("processing", TaskStatus.RUNNING),
        ("succeed", TaskStatus.SUCCEEDED),
        ("failed", TaskStatus.FAILED),
        ("some-new-word", TaskStatus.UNKNOWN),
    ],
)
async def test_status_words_map(word: str, status: TaskStatus) -> None:
    body = {"code": 0, "data": {"task_id": "1", "task_status": word, "task_status_msg": "why"}}
    with aioresponses() as mock:
        mock.get(f"https://gateway.test{IMAGES}/1", payload=body)
        async with make_session() as session:
            task = await session.kling.images.get("1")
    assert task.status is status
    assert task.raw["data"]["task_status"] == word  # the provider's own word is kept
    if status is TaskStatus.FAILED:
        assert task.error is not None and task.error.message == "why"


async def test_query_carries_the_model_and_request_shape_it_is_told() -> None:
    body = {"code": 0, "data": {"task_id": "1", "task_status": "processing"}}
    with aioresponses() as mock:
        mock.get(f"https://gateway.test{IMAGES}/1", payload=body)
        async with make_session() as session:
            task = await session.kling.images.get("1", model="kling-v2-1", workload="n=2")
    assert (task.model, task.workload) == ("kling-v2-1", "n=2")


async def test_timestamps_in_seconds_are_normalised() -> None:
    body = created(created_at=1774805076, updated_at=1774805076.5)
    with aioresponses() as mock:
        mock.get(f"https://gateway.test{IMAGES}/1", payload=body)
        async with make_session() as session:
            task = await session.kling.images.get("1")
    assert task.created_at == datetime(2026, 3, 29, 17, 24, 36, tzinfo=UTC)
    assert task.updated_at == datetime(2026, 3, 29, 17, 24, 36, 500000, tzinfo=UTC)


@pytest.mark.parametrize("code", [0, "0", "success", "SUCCEED"])
async def test_success_codes_int_or_string(code: object) -> None:
    with aioresponses() as mock:
        mock.post(f"https://gateway.test{IMAGES}", payload={**created(), "code": code})
        async with make_session() as session:
            task = await session.kling.images.create(prompt="p")
    assert task.status is TaskStatus.PENDING


async def test_non_zero_code_under_http_200_is_an_error() -> None:
    body = {"code": 1201, "message": "prompt is invalid", "request_id": "rq-7"}
    with aioresponses() as mock:
        mock.post(f"https://gateway.test{IMAGES}", payload=body)
        async with make_session() as session:
            with pytest.raises(BadRequestError) as caught:
                await session.kling.images.create(prompt="p")
    error = caught.value
    assert (error.status, error.code, error.request_id) == (400, "1201", "rq-7")
    assert str(error) == "400 1201: prompt is invalid (request_id=rq-7)"
    assert not error.may_have_created_task


async def test_string_code_1303_under_http_200_is_a_rate_limit() -> None:
    body = {"code": "1303", "message": "parallel task over resource pack limit"}
    with aioresponses() as mock:
        for _ in range(4):
            mock.post(f"https://gateway.test{IMAGES}", payload=body)
        async with make_session() as session:
            with pytest.raises(RateLimitError) as caught:
                await session.kling.images.create(prompt="p")
    assert caught.value.code == "1303"


async def test_string_failure_code_with_task_payload_is_a_failed_task() -> None:
    body = {
        "code": "task_failed",
        "message": "failed",
        "data": {"task_id": "1", "task_status": "failed", "task_status_msg": "risk control"},
    }
    with aioresponses() as mock:
        mock.get(f"https://gateway.test{IMAGES}/1", payload=body)
        async with make_session() as session:
            task = await session.kling.images.get("1")
    assert task.status is TaskStatus.FAILED
    assert task.error is not None and task.error.message == "risk control"


async def test_missing_data_is_a_validation_error() -> None:
    with aioresponses() as mock:
        mock.get(f"https://gateway.test{IMAGES}/1", payload={"code": 0, "message": "SUCCEED"})
        async with make_session() as session:
            with pytest.raises(APIResponseValidationError, match="Kling image query response"):
                await session.kling.images.get("1")
