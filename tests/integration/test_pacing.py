"""Query budgets per provider and retries of failed queries, against a simulated gateway that
enforces per-account query limits (``query_rate_limit``) and injects transient failures.

Counts, not clocks: what was refused, what was retried, and that every task came out once.
"""

from __future__ import annotations

import math
from collections import Counter

import pytest

from anyint_async import AnyIntSession, InvalidParameterError, PollPolicy, RateLimitError, Task
from anyint_async.testing import FakeGateway, Fixed, ModelProfile, ServerError

from ..conftest import API_KEY, FAST_RETRY

# Every task runs about a second: long enough for a hundred tasks polled this fast to meet the
# limits, short enough for a test.
PROFILES = {
    family: ModelProfile(run=Fixed(0.8), queue=Fixed(0.1))
    for family in ("dashscope.videos", "kling.omni_video")
}
EAGER = PollPolicy(first_poll=0.05, interval=0.05, max_interval=0.05, learn=False)


async def _create(session: AnyIntSession, dashscope: int, kling: int) -> list[Task]:
    made = [
        await session.dashscope.videos.create(model="wan2.5-t2v", prompt=f"d{i}")
        for i in range(dashscope)
    ]
    made += [await session.kling.omni_video.create(prompt=f"k{i}") for i in range(kling)]
    return made


async def test_the_simulated_gateway_refuses_queries_past_its_limit() -> None:
    async with (
        FakeGateway(profiles=PROFILES, query_rate_limit={"kling": 5}) as gateway,
        AnyIntSession(API_KEY, base_url=gateway.url, retry_policy=FAST_RETRY) as session,
    ):
        task = await session.kling.omni_video.create(prompt="a boat")
        outcomes: Counter[str] = Counter()
        for _ in range(12):
            try:
                await session.kling.omni_video.get(task.id)
                outcomes["answered"] += 1
            except RateLimitError:
                outcomes["refused"] += 1
    assert outcomes["answered"] >= 5
    assert gateway.stats.queries_refused["kling"] >= 1
    assert "dashscope" not in gateway.stats.queries_refused


async def test_a_known_limit_is_never_exceeded_and_an_unknown_one_is_found() -> None:
    limits = {"dashscope": 20.0, "kling": 10.0}
    async with (
        FakeGateway(profiles=PROFILES, query_rate_limit=limits, seed=3) as gateway,
        AnyIntSession(
            API_KEY, base_url=gateway.url, poll_policy=EAGER, retry_policy=FAST_RETRY
        ) as session,
    ):
        tasks = await _create(session, dashscope=60, kling=60)
        seen = Counter([t.id async for t in session.as_completed(tasks, timeout=120)])
        stats = session.poll_stats()
    assert seen == Counter(t.id for t in tasks), "every task exactly once"
    # DashScope's 20/s is the default: paced below it from the first query, nothing refused.
    assert gateway.stats.queries_refused["dashscope"] == 0
    # Kling's limit is unpublished: found from the first refusals, then few more.
    kling_queries = sum(gateway.stats.polls[t.id] for t in tasks[60:])
    assert gateway.stats.queries_refused["kling"] <= 0.1 * kling_queries
    assert stats.rates["kling"] < 12.0
    assert stats.rates["dashscope"] == 20.0  # Kling's refusals never slowed DashScope
    assert stats.refused == gateway.stats.queries_refused["kling"]


async def test_told_there_is_no_limit_the_sdk_does_not_pace() -> None:
    async with (
        FakeGateway(profiles=PROFILES) as gateway,
        AnyIntSession(
            API_KEY,
            base_url=gateway.url,
            poll_policy=EAGER,
            query_rate_limits={"dashscope": math.inf, "kling": math.inf},
        ) as session,
    ):
        tasks = await _create(session, dashscope=40, kling=0)
        [t async for t in session.as_completed(tasks, timeout=60)]
        assert math.isinf(session.poll_stats().rates["dashscope"])


async def test_a_failed_query_is_retried_not_skipped() -> None:
    failing = ServerError(routes=["query"], rate=0.2, status=502)
    async with (
        FakeGateway(profiles=PROFILES, faults=[failing], seed=5) as gateway,
        AnyIntSession(
            API_KEY,
            base_url=gateway.url,
            # Asked first when every task has ended, then only after 30 s: a failed first query
            # that waited for the next step of the curve would wait 30 s.
            poll_policy=PollPolicy(first_poll=1.5, interval=30.0, max_interval=30.0, learn=False),
            retry_policy=FAST_RETRY,
        ) as session,
    ):
        tasks = await _create(session, dashscope=20, kling=20)
        seen = [t.id async for t in session.as_completed(tasks, timeout=25)]
        stats = session.poll_stats()
    assert sorted(seen) == sorted(t.id for t in tasks)
    assert stats.failed == failing.fired > 0
    assert stats.retries >= stats.failed  # each failure was asked again...
    assert stats.polls <= 3 * len(tasks)  # ...without costing a step of the poll curve


@pytest.mark.parametrize(
    ("limits", "field"),
    [
        ({"openai": 5.0}, "query_rate_limits"),
        ({"kling": 0}, "query_rate_limits['kling']"),
        ({"kling": "10"}, "query_rate_limits['kling']"),
        ([("kling", 1.0)], "query_rate_limits"),
    ],
)
def test_bad_rate_limits_name_the_field(limits: object, field: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        AnyIntSession(API_KEY, query_rate_limits=limits)  # type: ignore[arg-type]
    assert caught.value.field == field
