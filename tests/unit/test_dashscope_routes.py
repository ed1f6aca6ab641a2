"""DashScope routes: exact request bodies and headers, and every documented response shape."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aioresponses import aioresponses

from anyint_async import APIResponseValidationError, TaskRoute, TaskStatus

from .helpers import KEY, make_session, sent

IMAGE = "/dashscope/v1/services/aigc/multimodal-generation/generation"
VIDEO = "/dashscope/v1/services/aigc/video-generation/video-synthesis"
TASKS = "/dashscope/v1/tasks/"

IMAGE_RESPONSE = {
    "output": {
        "choices": [
            {
                "finish_reason": "stop",
                "message": {
                    "role": "assistant",
                    "content": [{"image": "https://dashscope-result.example/a.png?Expires=1"}],
                },
            }
        ],
        "task_metric": {"TOTAL": 1, "FAILED": 0, "SUCCEEDED": 1},
    },
    "usage": {"width": 1328, "height": 1328, "image_count": 1},
    "request_id": "d0250a3d-b07f-49e1-bdc8-000000",
}
CREATE_RESPONSE = {
    "request_id": "570dd72c-52ae-9151-b819-411edf66069e",
    "output": {"task_id": "c25723f0-8f2b-401a-b843-7ae05ae4e5e3", "task_status": "PENDING"},
}
SUCCEEDED = {
    "request_id": "1e1fb115-c22a-9769-af2c-056451a8f692",
    "output": {
        "task_id": "a54b0585-aa49-45be-8786-fc46414634da",
        "task_status": "SUCCEEDED",
        "submit_time": "2026-04-27 17:01:39.657",
        "scheduled_time": "2026-04-27 17:01:39.689",
        "end_time": "2026-04-27 17:07:10.758",
        "orig_prompt": "An urban fantasy scene in cinematic style...",
        "video_url": "https://example.com/generated-video.mp4",
    },
    "usage": {
        "duration": 10,
        "input_video_duration": 0,
        "output_video_duration": 10,
        "video_count": 1,
        "SR": 720,
        "ratio": "16:9",
    },
}


async def test_image_generate_sends_the_seed_example_exactly() -> None:
    with aioresponses() as mock:
        mock.post(f"https://gateway.test{IMAGE}", payload=IMAGE_RESPONSE)
        async with make_session() as session:
            result = await session.dashscope.images.generate(
                model="qwen-image-plus",
                prompt="A cinematic product poster for an AI music launch, neon highlights, "
                "premium studio lighting.",
                size="1328*1328",
                negative_prompt="",
                prompt_extend=True,
                watermark=False,
            )
        body, headers = sent(mock, "POST", IMAGE)
    assert body == {
        "model": "qwen-image-plus",
        "input": {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "text": "A cinematic product poster for an AI music launch, neon "
                            "highlights, premium studio lighting."
                        }
                    ],
                }
            ]
        },
        "parameters": {
            "size": "1328*1328",
            "negative_prompt": "",
            "prompt_extend": True,
            "watermark": False,
        },
    }
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert headers["Content-Type"] == "application/json"
    assert "X-DashScope-Async" not in headers  # the image route answers at once
    assert result.urls == ("https://dashscope-result.example/a.png?Expires=1",)
    assert (result.usage.width, result.usage.height, result.usage.image_count) == (1328, 1328, 1)
    assert result.request_id == "d0250a3d-b07f-49e1-bdc8-000000"
    assert result.raw["output"]["task_metric"]["TOTAL"] == 1


async def test_image_reference_pictures_become_image_blocks() -> None:
    with aioresponses() as mock:
        mock.post(f"https://gateway.test{IMAGE}", payload=IMAGE_RESPONSE)
        async with make_session() as session:
            await session.dashscope.images.generate(
                model="qwen-image-edit",
                prompt="Make it blue",
                images=["https://cdn.example/ref1.png", "https://cdn.example/ref2.png"],
            )
        body, _ = sent(mock, "POST", IMAGE)
    assert body["input"]["messages"][0]["content"] == [
        {"text": "Make it blue"},
        {"image": "https://cdn.example/ref1.png"},
        {"image": "https://cdn.example/ref2.png"},
    ]
    assert body["parameters"] == {}  # nothing the caller did not set


@pytest.mark.parametrize(
    ("model", "extra"),
    [
        ("happyhorse-1.0-t2v", {}),
        ("wan2.5-i2v-preview", {}),
    ],
)
async def test_video_create_sends_the_seed_examples_with_async_header(
    model: str, extra: dict[str, object]
) -> None:
    with aioresponses() as mock:
        mock.post(f"https://gateway.test{VIDEO}", payload=CREATE_RESPONSE)
        async with make_session() as session:
            task = await session.dashscope.videos.create(
                model=model,
                prompt="A graffiti rapper comes to life under a railway bridge at night.",
                img_url="https://your-domain.com/source-image.png",
                audio_url="https://your-domain.com/source-audio.mp3",
                resolution="720P",
                prompt_extend=True,
                duration=10,
                audio=True,
                shot_type="multi",
            )
        body, headers = sent(mock, "POST", VIDEO)
    assert body == {
        "model": model,
        "input": {
            "prompt": "A graffiti rapper comes to life under a railway bridge at night.",
            "img_url": "https://your-domain.com/source-image.png",
            "audio_url": "https://your-domain.com/source-audio.mp3",
        },
        "parameters": {
            "resolution": "720P",
            "prompt_extend": True,
            "duration": 10,
            "audio": True,
            "shot_type": "multi",
        },
    }
    assert headers["X-DashScope-Async"] == "enable"
    assert task.id == "c25723f0-8f2b-401a-b843-7ae05ae4e5e3"
    assert task.status is TaskStatus.PENDING
    assert task.route is TaskRoute.DASHSCOPE_TASKS
    assert task.model == model
    assert task.request_id == "570dd72c-52ae-9151-b819-411edf66069e"
    assert task.urls == () and task.error is None and not task.done


async def test_extra_body_merges_into_nested_sections() -> None:
    with aioresponses() as mock:
        mock.post(f"https://gateway.test{VIDEO}", payload=CREATE_RESPONSE)
        async with make_session() as session:
            await session.dashscope.videos.create(
                model="wan2.5-t2v",
                prompt="Waves",
                duration=5,
                extra_body={"parameters": {"new_knob": 3}, "metadata": {"tag": "x"}},
            )
        body, _ = sent(mock, "POST", VIDEO)
    assert body["parameters"] == {"duration": 5, "new_knob": 3}
    assert body["metadata"] == {"tag": "x"}


async def test_task_query_parses_the_seed_success_example() -> None:
    task_id = "a54b0585-aa49-45be-8786-fc46414634da"
    with aioresponses() as mock:
        mock.get(f"https://gateway.test{TASKS}{task_id}", payload=SUCCEEDED)
        async with make_session() as session:
            task = await session.dashscope.tasks.get(task_id)
        _, headers = sent(mock, "GET", TASKS + task_id)
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert task.succeeded and task.done
    assert task.urls == ("https://example.com/generated-video.mp4",)
    assert task.error is None
    assert task.created_at is not None and task.finished_at is not None
    assert task.created_at.utcoffset() == timedelta(hours=8)
    assert (task.finished_at - task.created_at) == timedelta(
        minutes=5, seconds=31, microseconds=101000
    )
    assert task.raw["usage"]["SR"] == 720  # unknown fields are kept, unmodified


async def test_task_query_carries_the_model_and_request_shape_it_is_told() -> None:
    # The answer says neither; a snapshot without them would be learned and yielded bare.
    task_id = "a54b0585-aa49-45be-8786-fc46414634da"
    with aioresponses() as mock:
        mock.get(f"https://gateway.test{TASKS}{task_id}", payload=SUCCEEDED)
        async with make_session() as session:
            task = await session.dashscope.tasks.get(
                task_id, model="wan2.5-t2v", workload="duration=5"
            )
    assert (task.model, task.workload) == ("wan2.5-t2v", "duration=5")


async def test_task_query_running_and_failed_and_unknown() -> None:
    running = {
        "request_id": "r1",
        "output": {
            "task_id": "t-1",
            "task_status": "RUNNING",
            "submit_time": "2026-04-27 17:01:39.657",
            "scheduled_time": "2026-04-27 17:01:39.689",
        },
    }
    failed = {
        "request_id": "r2",
        "output": {
            "task_id": "t-2",
            "task_status": "FAILED",
            "submit_time": "2026-04-27 17:01:39.657",
            "code": "DataInspectionFailed",
            "message": "Output data may contain inappropriate content.",
        },
    }
    unknown = {"request_id": "r3", "output": {"task_id": "t-3", "task_status": "UNKNOWN"}}
    with aioresponses() as mock:
        mock.get(f"https://gateway.test{TASKS}t-1", payload=running)
        mock.get(f"https://gateway.test{TASKS}t-2", payload=failed)
        mock.get(f"https://gateway.test{TASKS}t-3", payload=unknown)
        async with make_session() as session:
            t1 = await session.dashscope.tasks.get("t-1")
            t2 = await session.dashscope.tasks.get("t-2")
            t3 = await session.dashscope.tasks.get("t-3")
    assert t1.status is TaskStatus.RUNNING and not t1.done and t1.started_at is not None
    assert t2.status is TaskStatus.FAILED and t2.done and not t2.succeeded
    assert t2.error is not None and t2.error.code == "DataInspectionFailed"
    assert t2.error.message == "Output data may contain inappropriate content."
    assert t3.status is TaskStatus.UNKNOWN and t3.done and t3.urls == ()


async def test_image_task_results_list_is_read() -> None:
    body = {
        "request_id": "r",
        "output": {
            "task_id": "t-9",
            "task_status": "SUCCEEDED",
            "task_metrics": {"TOTAL": 2, "SUCCEEDED": 2, "FAILED": 0},
            "results": [{"url": "https://r.example/1.png"}, {"url": "https://r.example/2.png"}],
        },
    }
    with aioresponses() as mock:
        mock.get(f"https://gateway.test{TASKS}t-9", payload=body)
        async with make_session() as session:
            task = await session.dashscope.tasks.get("t-9")
    assert task.urls == ("https://r.example/1.png", "https://r.example/2.png")


@pytest.mark.parametrize(
    "payload",
    [
        {"request_id": "r", "output": {"task_status": "RUNNING"}},  # no task_id
        {"request_id": "r"},  # no output at all
        {"request_id": "r", "output": {"task_id": "x", "task_status": "RUNNING", "submit_time": 5}},
    ],
)
async def test_missing_or_mistyped_fields_raise_validation_error(
    payload: dict[str, object],
) -> None:
    with aioresponses() as mock:
        mock.get(f"https://gateway.test{TASKS}x", payload=payload)
        async with make_session() as session:
            with pytest.raises(APIResponseValidationError) as caught:
                await session.dashscope.tasks.get("x")
    assert "DashScope task query response has an unexpected shape" in str(caught.value)
    assert "request_id=r" in str(caught.value)


async def test_image_response_without_choices_is_a_validation_error() -> None:
    with aioresponses() as mock:
        mock.post(f"https://gateway.test{IMAGE}", payload={"output": {}, "request_id": "r"})
        async with make_session() as session:
            with pytest.raises(APIResponseValidationError, match="choices"):
                await session.dashscope.images.generate(model="m", prompt="p")
