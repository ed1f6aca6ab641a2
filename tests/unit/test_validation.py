"""Bad input is refused before any network call, with an error that names the field."""

from __future__ import annotations

import string
from typing import Any

import pytest
from aioresponses import aioresponses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyint_async import InvalidParameterError, TaskStatus
from anyint_async._retry import parse_retry_after

from .helpers import make_session

SAFE_ID = st.from_regex(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,40}", fullmatch=True).filter(
    lambda value: ".." not in value
)
PATH_CHANGERS = st.sampled_from([*list("/?#% \t\n\\"), "..", "\x00"])


async def _refused(call: Any) -> InvalidParameterError:
    """Run ``call(session)`` and return the InvalidParameterError, proving nothing was sent."""
    with aioresponses() as mock:
        async with make_session() as session:
            with pytest.raises(InvalidParameterError) as caught:
                await call(session)
        assert not mock.requests
    return caught.value


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(prefix=st.text(max_size=5), bad=PATH_CHANGERS, suffix=st.text(max_size=5))
async def test_task_ids_that_would_change_the_path_are_refused(
    prefix: str, bad: str, suffix: str
) -> None:
    task_id = prefix + bad + suffix
    for getter in ("dashscope", "kling"):
        if getter == "dashscope":
            error = await _refused(lambda s: s.dashscope.tasks.get(task_id))
        else:
            error = await _refused(lambda s: s.kling.omni_video.get(task_id))
        assert error.field == "task_id"


@pytest.mark.parametrize(
    "task_id", ["", "../x", "a/b", "a?b", " a", "a b", "..", ".hidden", "-x", None, 123]
)
async def test_listed_bad_task_ids(task_id: object) -> None:
    error = await _refused(lambda s: s.dashscope.tasks.get(task_id))
    assert error.field == "task_id"


@settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(task_id=SAFE_ID)
async def test_safe_task_ids_reach_exactly_their_path(task_id: str) -> None:
    body = {"output": {"task_id": task_id, "task_status": "RUNNING"}}
    with aioresponses() as mock:
        mock.get(f"https://gateway.test/dashscope/v1/tasks/{task_id}", payload=body)
        async with make_session() as session:
            task = await session.dashscope.tasks.get(task_id)
    assert task.id == task_id and task.status is TaskStatus.RUNNING


@pytest.mark.parametrize("prompt", ["", "   ", "\n\t", None, 5])
async def test_empty_or_mistyped_prompts(prompt: object) -> None:
    calls = [
        lambda s: s.dashscope.images.generate(model="m", prompt=prompt),
        lambda s: s.dashscope.videos.create(model="m", prompt=prompt),
        lambda s: s.kling.images.create(prompt=prompt),
        lambda s: s.kling.omni_image.create(prompt=prompt),
    ]
    for call in calls:
        assert (await _refused(call)).field == "prompt"


async def test_omni_video_prompt_required_without_custom_shots() -> None:
    error = await _refused(lambda s: s.kling.omni_video.create())
    assert error.field == "prompt" and "multi_prompt" in str(error)


async def test_kling_prompt_longer_than_2500_is_refused() -> None:
    error = await _refused(lambda s: s.kling.images.create(prompt="x" * 2501))
    assert str(error) == "prompt must be at most 2500 characters, got 2501"


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    size=st.text(alphabet=string.digits + "*xX ,", max_size=12).filter(
        lambda s: not __import__("re").fullmatch(r"[1-9][0-9]{1,4}\*[1-9][0-9]{1,4}", s)
    )
)
async def test_sizes_not_w_star_h_are_refused(size: str) -> None:
    error = await _refused(lambda s: s.dashscope.images.generate(model="m", prompt="p", size=size))
    assert error.field == "size" and "W*H" in str(error)


@pytest.mark.parametrize("duration", ["10s", "10", 10.0, True, [10]])
async def test_dashscope_duration_must_be_an_int(duration: object) -> None:
    error = await _refused(
        lambda s: s.dashscope.videos.create(model="m", prompt="p", duration=duration)
    )
    assert error.field == "duration"
    assert str(error) == f"duration must be an int of seconds, got {duration!r}"


@pytest.mark.parametrize("duration", ["5s", 5.5, "2", 16, "", True])
async def test_kling_duration_must_be_whole_seconds_in_range(duration: object) -> None:
    error = await _refused(lambda s: s.kling.omni_video.create(prompt="p", duration=duration))
    assert error.field == "duration"


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"n": 0}, "n"),
        ({"n": 10}, "n"),
        ({"aspect_ratio": "5:4"}, "aspect_ratio"),
        ({"resolution": "4k"}, "resolution"),
        ({"image_fidelity": 1.5}, "image_fidelity"),
        ({"image_reference": "pose"}, "image_reference"),
        ({"watermark": "no"}, "watermark"),
        ({"element_list": ["abc"]}, "element_list[0]"),
        ({"element_list": 5}, "element_list"),
        ({"extra_body": ["x"]}, "extra_body"),
        ({"model": ""}, "model"),
    ],
)
async def test_kling_image_arguments(kwargs: dict[str, object], field: str) -> None:
    error = await _refused(lambda s: s.kling.images.create(prompt="p", **kwargs))
    assert error.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"image_list": "https://a"}, "image_list"),
        ({"image_list": [{"url": "https://a"}]}, "image_list[0]"),
        ({"video_list": ["https://a", "https://b"]}, "video_list"),
        ({"mode": "fast"}, "mode"),
        ({"sound": True}, "sound"),
        ({"multi_prompt": ["shot"]}, "multi_prompt[0]"),
        ({"multi_prompt": [{"prompt": " "}]}, "multi_prompt[0].prompt"),
    ],
)
async def test_kling_omni_video_arguments(kwargs: dict[str, object], field: str) -> None:
    error = await _refused(lambda s: s.kling.omni_video.create(prompt="p", **kwargs))
    assert error.field == field


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"prompt_extend": "yes"}, "prompt_extend"),
        ({"audio": 1}, "audio"),
        ({"img_url": ""}, "img_url"),
        ({"seed": -1}, "seed"),
        ({"resolution": 720}, "resolution"),
    ],
)
async def test_dashscope_video_arguments(kwargs: dict[str, object], field: str) -> None:
    error = await _refused(lambda s: s.dashscope.videos.create(model="m", prompt="p", **kwargs))
    assert error.field == field


async def test_images_must_be_a_list_of_urls() -> None:
    error = await _refused(
        lambda s: s.dashscope.images.generate(model="m", prompt="p", images="https://a")
    )
    assert error.field == "images"


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("0", 0.0),
        ("7", 7.0),
        ("0.25", 0.25),
        ("-3", 0.0),
        ("soon", None),
        (None, None),
        ("nan", None),
    ],
)
def test_retry_after_values(header: str | None, seconds: float | None) -> None:
    assert parse_retry_after(header) == seconds


def test_retry_after_http_date() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("Tue, 24 Nov 2026 12:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Tue, 24 Nov 2026 11:00:00 GMT", now=now) == 0.0
