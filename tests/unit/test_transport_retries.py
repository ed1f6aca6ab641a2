"""Retries: queries heal through transient failures; creates never risk a duplicate task."""

from __future__ import annotations

import random
from types import SimpleNamespace

import aiohttp
import pytest
from aioresponses import aioresponses

from anyint_async import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    BadRequestError,
    InternalServerError,
    RateLimitError,
    RetryPolicy,
    TaskStatus,
)

from .helpers import count, make_session

TASK = "/dashscope/v1/tasks/t-1"
VIDEO = "/dashscope/v1/services/aigc/video-generation/video-synthesis"
KLING = "/transtreams/kling/v1/videos/omni-video"
RUNNING = {"request_id": "r", "output": {"task_id": "t-1", "task_status": "RUNNING"}}
CREATED = {"request_id": "r", "output": {"task_id": "t-1", "task_status": "PENDING"}}
KLING_CREATED = {"code": 0, "data": {"task_id": "9", "task_status": "submitted"}}


def refused() -> aiohttp.ClientConnectorError:
    key = SimpleNamespace(host="gateway.test", port=443, ssl=True)
    return aiohttp.ClientConnectorError(key, OSError(111, "Connection refused"))  # type: ignore[arg-type]


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 503, "payload": {"code": "ServiceUnavailable", "message": "busy"}},
        {"status": 500, "payload": {"code": "InternalError", "message": "oops"}},
        {"status": 429, "payload": {"code": "Throttling", "message": "slow"}},
        {"status": 408, "payload": {}},
        {"status": 200, "body": '{"output": {', "content_type": "application/json"},
        {"exception": aiohttp.ServerDisconnectedError()},
        {"exception": TimeoutError()},
        {"exception": refused()},
    ],
)
async def test_query_retries_transient_failures(failure: dict[str, object]) -> None:
    with aioresponses() as mock:
        mock.get(f"https://gateway.test{TASK}", **failure)  # type: ignore[arg-type]
        mock.get(f"https://gateway.test{TASK}", **failure)  # type: ignore[arg-type]
        mock.get(f"https://gateway.test{TASK}", payload=RUNNING)
        async with make_session() as session:
            task = await session.dashscope.tasks.get("t-1")
        assert count(mock, "GET", TASK) == 3
    assert task.status is TaskStatus.RUNNING


async def test_query_gives_up_after_max_retries() -> None:
    with aioresponses() as mock:
        mock.get(
            f"https://gateway.test{TASK}",
            status=503,
            payload={"code": "ServiceUnavailable", "message": "busy"},
            repeat=True,
        )
        async with make_session(max_retries=2) as session:
            with pytest.raises(InternalServerError) as caught:
                await session.dashscope.tasks.get("t-1")
        assert count(mock, "GET", TASK) == 3
    assert not caught.value.may_have_created_task  # a query creates nothing


@pytest.mark.parametrize(
    ("path", "payload"),
    [
        (TASK, {"code": "Throttling.FreeTierOnly", "message": "free tier used up"}),
        ("/transtreams/kling/v1/videos/omni-video/9", {"code": 1102, "message": "balance"}),
        ("/transtreams/kling/v1/videos/omni-video/9", {"code": 1101, "message": "arrears"}),
    ],
)
async def test_billing_429s_are_not_retried(path: str, payload: dict[str, object]) -> None:
    with aioresponses() as mock:
        mock.get(f"https://gateway.test{path}", status=429, payload=payload, repeat=True)
        async with make_session() as session:
            with pytest.raises(RateLimitError):
                if path == TASK:
                    await session.dashscope.tasks.get("t-1")
                else:
                    await session.kling.omni_video.get("9")
        assert count(mock, "GET", path) == 1


async def test_retry_after_beyond_the_cap_is_raised_not_waited() -> None:
    with aioresponses() as mock:
        mock.get(
            f"https://gateway.test{TASK}",
            status=429,
            payload={"code": "Throttling"},
            headers={"Retry-After": "3600"},
            repeat=True,
        )
        async with make_session() as session:
            with pytest.raises(RateLimitError) as caught:
                await session.dashscope.tasks.get("t-1")
        assert count(mock, "GET", TASK) == 1
    assert caught.value.retry_after == 3600.0


# --- creates ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("failure", "error_type"),
    [
        (
            {"status": 500, "payload": {"code": "InternalError", "message": "oops"}},
            InternalServerError,
        ),
        (
            {"status": 503, "payload": {"code": "ServiceUnavailable", "message": "busy"}},
            InternalServerError,
        ),
        ({"exception": aiohttp.ServerDisconnectedError()}, APIConnectionError),
        ({"exception": TimeoutError()}, APITimeoutError),
        (
            {"status": 200, "body": '{"request_id": "r", "out', "content_type": "application/json"},
            APIResponseValidationError,
        ),
        (
            {"status": 200, "body": "<html>ok</html>", "content_type": "text/html"},
            APIResponseValidationError,
        ),
    ],
)
async def test_ambiguous_create_failures_are_not_retried_and_say_so(
    failure: dict[str, object], error_type: type[Exception]
) -> None:
    with aioresponses() as mock:
        mock.post(f"https://gateway.test{VIDEO}", **failure)  # type: ignore[arg-type]
        mock.post(f"https://gateway.test{VIDEO}", payload=CREATED)
        async with make_session() as session:
            with pytest.raises(error_type) as caught:
                await session.dashscope.videos.create(model="wan2.5-t2v", prompt="waves")
        assert count(mock, "POST", VIDEO) == 1  # never sent twice: it may have been created
    error = caught.value
    assert getattr(error, "may_have_created_task", False) is True
    assert "may have been created" in str(error)


@pytest.mark.parametrize(
    "failure",
    [
        {"status": 429, "payload": {"code": "Throttling.RateQuota", "message": "slow"}},
        {"status": 429, "payload": {"code": "Throttling.AllocationQuota", "message": "busy"}},
        {"status": 429, "body": "Too Many Requests", "content_type": "text/plain"},
        {"exception": refused()},
    ],
)
async def test_dashscope_create_retried_when_nothing_was_created(
    failure: dict[str, object],
) -> None:
    with aioresponses() as mock:
        mock.post(f"https://gateway.test{VIDEO}", **failure)  # type: ignore[arg-type]
        mock.post(f"https://gateway.test{VIDEO}", payload=CREATED)
        async with make_session() as session:
            task = await session.dashscope.videos.create(model="wan2.5-t2v", prompt="waves")
        assert count(mock, "POST", VIDEO) == 2
    assert task.id == "t-1"


@pytest.mark.parametrize(
    ("status", "code"),
    [(429, 1302), (429, 1303), (200, 1303), (200, 1302)],
)
async def test_kling_create_retried_on_rate_and_concurrency_codes(status: int, code: int) -> None:
    with aioresponses() as mock:
        mock.post(
            f"https://gateway.test{KLING}", status=status, payload={"code": code, "message": "wait"}
        )
        mock.post(f"https://gateway.test{KLING}", payload=KLING_CREATED)
        async with make_session() as session:
            task = await session.kling.omni_video.create(prompt="a boat", duration=5)
        assert count(mock, "POST", KLING) == 2
    assert task.id == "9"


@pytest.mark.parametrize(
    ("status", "code"),
    [(500, 5000), (503, 5001), (504, 5002), (200, 5000)],
)
async def test_kling_create_server_errors_are_ambiguous(status: int, code: int) -> None:
    with aioresponses() as mock:
        mock.post(
            f"https://gateway.test{KLING}", status=status, payload={"code": code, "message": "x"}
        )
        mock.post(f"https://gateway.test{KLING}", payload=KLING_CREATED)
        async with make_session() as session:
            with pytest.raises(InternalServerError) as caught:
                await session.kling.omni_video.create(prompt="a boat")
        assert count(mock, "POST", KLING) == 1
    assert caught.value.may_have_created_task


async def test_rejected_create_is_not_flagged_as_maybe_created() -> None:
    with aioresponses() as mock:
        mock.post(
            f"https://gateway.test{VIDEO}",
            status=400,
            payload={"code": "InvalidParameter", "message": "bad duration"},
        )
        async with make_session() as session:
            with pytest.raises(BadRequestError) as caught:
                await session.dashscope.videos.create(model="wan2.5-t2v", prompt="waves")
    assert not caught.value.may_have_created_task
    assert "may have been created" not in str(caught.value)


def test_retry_policy_waits_grow_with_jitter_and_cap() -> None:
    policy = RetryPolicy(initial_delay=1.0, max_delay=8.0)
    waits = policy.delays(random.Random(3))
    values = [next(waits) for _ in range(8)]
    ceilings = [1, 2, 4, 8, 8, 8, 8, 8]
    for value, ceiling in zip(values, ceilings, strict=True):
        assert ceiling / 2 <= value <= ceiling
    assert values == [next(w) for w in [policy.delays(random.Random(3))]] + values[1:]


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"max_retries": -1}, "max_retries"),
        ({"initial_delay": -0.5}, "initial_delay"),
        ({"max_delay": "1"}, "max_delay"),
    ],
)
def test_retry_policy_rejects_bad_values(kwargs: dict[str, object], field: str) -> None:
    from anyint_async import InvalidParameterError

    with pytest.raises(InvalidParameterError) as caught:
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


async def test_image_generation_is_billed_so_never_resent_on_an_ambiguous_failure() -> None:
    path = "/dashscope/v1/services/aigc/multimodal-generation/generation"
    with aioresponses() as mock:
        mock.post(f"https://gateway.test{path}", exception=TimeoutError())
        mock.post(f"https://gateway.test{path}", payload={"output": {"choices": []}})
        async with make_session() as session:
            with pytest.raises(APITimeoutError) as caught:
                await session.dashscope.images.generate(model="qwen-image-plus", prompt="p")
        assert count(mock, "POST", path) == 1
    assert caught.value.may_have_created_task
