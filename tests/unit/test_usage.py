"""Usage on results, parsed from the wire: what the seed and the reference show, and every
malformed shape kept from failing a paid result."""

from __future__ import annotations

import copy
import logging
from typing import Any

import pytest
from aioresponses import aioresponses

from anyint_async import TaskUsage
from anyint_async.billing import BilledTotals, image_task_usage, usage_from_json, usage_to_json
from anyint_async.models import ImageUsage

from .helpers import make_session
from .test_dashscope_routes import IMAGE, IMAGE_RESPONSE, SUCCEEDED, TASKS

TASK_ID = SUCCEEDED["output"]["task_id"]  # type: ignore[index]
KLING = "/transtreams/kling/v1/videos/omni-video/"


async def _dashscope_task(body: dict[str, Any]) -> Any:
    with aioresponses() as mock:
        mock.get(f"https://gateway.test{TASKS}{TASK_ID}", payload=body)
        async with make_session() as session:
            return await session.dashscope.tasks.get(TASK_ID)


async def test_the_seed_examples_usage_and_expanded_prompt_are_typed() -> None:
    body = copy.deepcopy(SUCCEEDED)
    body["output"]["actual_prompt"] = "An urban fantasy scene, expanded."  # type: ignore[index]
    task = await _dashscope_task(body)
    assert task.usage == TaskUsage(duration=10.0, video_count=1)
    assert task.usage.other == {
        "input_video_duration": 0,
        "output_video_duration": 10,
        "SR": 720,
        "ratio": "16:9",
    }
    assert task.actual_prompt == "An urban fantasy scene, expanded."


@pytest.mark.parametrize(
    ("usage", "expected"),
    [
        ({"duration": "ten", "video_count": 1}, TaskUsage(duration=None, video_count=1)),
        ({"duration": 10, "video_count": 1.5}, TaskUsage(duration=10.0, video_count=None)),
        ({"duration": True, "video_count": "2"}, TaskUsage(duration=None, video_count=2)),
        ({"duration": -3, "video_count": None}, TaskUsage()),
        ({"duration": "nan", "video_count": [1]}, TaskUsage()),
        ("12 seconds", None),
        ([10, 1], None),
        (None, None),
    ],
)
async def test_malformed_usage_is_none_with_a_debug_line_never_an_error(
    usage: Any, expected: TaskUsage | None, caplog: pytest.LogCaptureFixture
) -> None:
    body = copy.deepcopy(SUCCEEDED)
    body["usage"] = usage
    body["output"]["actual_prompt"] = {"not": "text"}  # type: ignore[index]
    with caplog.at_level(logging.DEBUG, logger="anyint_async"):
        task = await _dashscope_task(body)
    assert task.succeeded and task.urls  # the paid result is there whatever its usage says
    assert task.usage == expected
    assert task.actual_prompt is None
    if usage is not None:
        assert any("usage" in record.getMessage() for record in caplog.records)


async def test_a_task_without_usage_has_none() -> None:
    body = copy.deepcopy(SUCCEEDED)
    del body["usage"]
    task = await _dashscope_task(body)
    assert task.succeeded and task.usage is None and task.actual_prompt is None


@pytest.mark.parametrize(
    ("deduction", "units"), [("1", 1.0), ("0.5", 0.5), (2, 2.0), ("lots", None), (None, None)]
)
async def test_kling_units_are_its_final_unit_deduction(
    deduction: Any, units: float | None
) -> None:
    data: dict[str, Any] = {
        "task_id": "860000000000000001",
        "task_status": "succeed",
        "task_result": {"videos": [{"url": "https://kling-result.example/v.mp4"}]},
    }
    if deduction is not None:
        data["final_unit_deduction"] = deduction
    with aioresponses() as mock:
        mock.get(f"https://gateway.test{KLING}{data['task_id']}", payload={"code": 0, "data": data})
        async with make_session() as session:
            task = await session.kling.omni_video.get(data["task_id"])
    assert task.succeeded
    assert (task.usage.units if task.usage else None) == units


async def test_a_generated_images_usage_survives_a_mistyped_figure() -> None:
    body = copy.deepcopy(IMAGE_RESPONSE)
    body["usage"] = {"width": "wide", "height": 1328, "image_count": 1}
    with aioresponses() as mock:
        mock.post(f"https://gateway.test{IMAGE}", payload=body)
        async with make_session() as session:
            image = await session.dashscope.images.generate(model="qwen-image-plus", prompt="p")
    assert image.urls and image.usage == ImageUsage(width=None, height=1328, image_count=1)


def test_totals_count_each_unit_and_the_jobs_that_reported_nothing() -> None:
    usages = [
        TaskUsage(duration=10.0, video_count=1),
        TaskUsage(duration=5.0, video_count=1),
        TaskUsage(units=2.0),
        image_task_usage(ImageUsage(width=1, height=1, image_count=1)),
        None,
        TaskUsage(),  # every figure malformed: nothing reported
    ]
    totals = BilledTotals.of(usages)
    assert (totals.video_seconds, totals.videos, totals.images, totals.kling_units) == (
        15.0,
        2,
        1,
        2.0,
    )
    assert totals.unreported == 2
    assert totals.line() == (
        "billed (as the providers reported): 15 s of video (2 videos), 1 image, "
        "2 Kling units; 2 succeeded jobs reported nothing"
    )


def test_usage_round_trips_through_its_json() -> None:
    usage = TaskUsage(duration=10.0, video_count=1, other={"SR": 720})
    back = usage_from_json(usage_to_json(usage))
    assert back == usage and back is not None and back.other == {"SR": 720}
    assert usage_to_json(None) is None and usage_from_json(None) is None
