"""Each route gets the timeout that fits it: a slow synchronous generation is waited for, a
stalled answer still fails, and an answer still coming is never cut off."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from anyint_async import AnyIntSession, APITimeoutError, TaskStatus
from anyint_async.batch import BatchRequest, BatchRunner
from anyint_async.testing import FakeGateway, Fixed, ModelProfile, Slow

from ..conftest import API_KEY, FAST_PROFILES, FAST_RETRY

# Time scaled down: "a 75 s generation against a 60 s session timeout" becomes 1.0 s against
# 0.3 s. The route's own default (300 s) is far above both, as it is above 75 s.
GENERATION = 1.0
QUICK_CALLS = 0.3
SLOW_IMAGES = {
    **FAST_PROFILES,
    "dashscope.images": ModelProfile(run=Fixed(GENERATION), queue=Fixed(0.0)),
}


@pytest.fixture
async def slow_gateway() -> AsyncIterator[FakeGateway]:
    async with FakeGateway(seed=2, profiles=SLOW_IMAGES) as gateway:
        yield gateway


def _generations(gateway: FakeGateway) -> int:
    return gateway.stats.requests["dashscope.images.generate"]


async def test_a_generation_slower_than_the_session_timeout_succeeds_by_default(
    slow_gateway: FakeGateway,
) -> None:
    async with AnyIntSession(
        API_KEY, base_url=slow_gateway.url, timeout=QUICK_CALLS, retry_policy=FAST_RETRY
    ) as session:
        image = await session.dashscope.images.generate(model="qwen-image-plus", prompt="slow")
        assert image.urls
        # The same session's quick calls keep the short timeout.
        slow_gateway.add_fault(Slow(routes=["query"], delay=GENERATION))
        task = await session.kling.images.create(prompt="fox")
        with pytest.raises(APITimeoutError):
            await session.refresh(task)
    assert _generations(slow_gateway) == 1


async def test_a_per_call_timeout_cuts_a_generation_short_and_says_what_is_true(
    slow_gateway: FakeGateway,
) -> None:
    async with AnyIntSession(
        API_KEY, base_url=slow_gateway.url, retry_policy=FAST_RETRY
    ) as session:
        started = time.monotonic()
        with pytest.raises(APITimeoutError) as caught:
            await session.dashscope.images.generate(
                model="qwen-image-plus", prompt="slow", timeout=0.2
            )
        assert time.monotonic() - started < GENERATION
    error = caught.value
    assert error.may_have_created_task
    text = str(error)
    assert "within 0.2 s" in text
    assert "may have been made and billed" in text
    assert "cannot be fetched again" in text
    assert "timeout=" in text and "generation_timeout" in text and "--timeout" in text
    assert "look it up" not in text, "this route has nothing to look up"
    await asyncio.sleep(GENERATION)  # let the gateway finish the abandoned generation
    assert _generations(slow_gateway) == 1, "never sent twice"


async def test_the_session_wide_generation_timeout(slow_gateway: FakeGateway) -> None:
    async with AnyIntSession(
        API_KEY, base_url=slow_gateway.url, generation_timeout=0.2, retry_policy=FAST_RETRY
    ) as session:
        with pytest.raises(APITimeoutError, match=r"within 0\.2 s"):
            await session.dashscope.images.generate(model="qwen-image-plus", prompt="slow")
        image = await session.dashscope.images.generate(
            model="qwen-image-plus", prompt="slow", timeout=GENERATION * 5
        )
        assert image.urls


@pytest.mark.parametrize("bad", [0, -1, "300", True])
async def test_timeouts_are_checked(bad: object) -> None:
    from anyint_async import InvalidParameterError

    with pytest.raises(InvalidParameterError, match="generation_timeout must be a positive"):
        AnyIntSession(API_KEY, base_url="http://127.0.0.1:9", generation_timeout=bad)  # type: ignore[arg-type]
    async with AnyIntSession(API_KEY, base_url="http://127.0.0.1:9") as session:
        with pytest.raises(InvalidParameterError, match="timeout must be a positive"):
            await session.dashscope.images.generate(model="m", prompt="p", timeout=bad)  # type: ignore[arg-type]


async def test_a_batch_waits_for_a_slow_generation_with_the_route_default(
    slow_gateway: FakeGateway, tmp_path: Path
) -> None:
    job = BatchRequest("poster", "dashscope.images", {"model": "qwen-image-plus", "prompt": "slow"})
    async with AnyIntSession(
        API_KEY, base_url=slow_gateway.url, timeout=QUICK_CALLS, retry_policy=FAST_RETRY
    ) as session:
        [result] = await BatchRunner(session, [job], tmp_path).run()
    assert result.succeeded and result.files
    assert _generations(slow_gateway) == 1


async def test_a_timed_out_generation_in_a_batch_says_so_in_the_manifest(
    slow_gateway: FakeGateway, tmp_path: Path
) -> None:
    job = BatchRequest("poster", "dashscope.images", {"model": "qwen-image-plus", "prompt": "slow"})
    async with AnyIntSession(
        API_KEY, base_url=slow_gateway.url, generation_timeout=0.2, retry_policy=FAST_RETRY
    ) as session:
        [result] = await BatchRunner(session, [job], tmp_path).run()
        [again] = await BatchRunner(session, [job], tmp_path).run()
    assert result.status is TaskStatus.UNKNOWN and again.resumed
    [entry] = [json.loads(line) for line in (tmp_path / "manifest.jsonl").read_text().splitlines()]
    assert entry["status"] == "UNKNOWN" and entry["done"] is True
    assert "cannot be fetched again" in entry["note"]
    assert "--retry-uncertain" in entry["note"]
    assert "within 0.2 s" in entry["error"]["message"]
    await asyncio.sleep(GENERATION)
    assert _generations(slow_gateway) == 1, "a re-run does not pay again unasked"


async def test_an_answer_still_coming_is_not_cut_off_but_a_stalled_one_fails() -> None:
    """A query whose answer trickles in for longer than the timeout, each piece in time, is
    read whole; one that stops arriving fails after the timeout."""
    body = json.dumps(
        {"code": 0, "message": "SUCCEED", "request_id": "r", "data": _kling_task("t1")}
    ).encode()

    async def trickle(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/json"})
        response.content_length = len(body)
        await response.prepare(request)
        pieces = 6
        step = len(body) // pieces + 1
        for start in range(0, len(body), step):
            await asyncio.sleep(0.1)  # 0.6 s in all, each piece well within 0.3 s
            await response.write(body[start : start + step])
        return response

    async def stall(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(2.0)
        return web.json_response({})

    app = web.Application()
    app.router.add_get("/transtreams/kling/v1/images/generations/t1", trickle)
    app.router.add_get("/transtreams/kling/v1/images/generations/t2", stall)
    async with TestServer(app, host="127.0.0.1") as server:
        base = str(server.make_url("")).rstrip("/")
        async with AnyIntSession(API_KEY, base_url=base, timeout=QUICK_CALLS, max_retries=0) as s:
            task = await s.kling.images.get("t1")
            assert task.id == "t1"
            started = time.monotonic()
            with pytest.raises(APITimeoutError):
                await s.kling.images.get("t2")
            assert time.monotonic() - started < 1.5


def _kling_task(task_id: str) -> dict[str, object]:
    return {
        "task_id": task_id,
        "task_status": "processing",
        "created_at": 1_800_000_000_000,
        "updated_at": 1_800_000_000_000,
    }
