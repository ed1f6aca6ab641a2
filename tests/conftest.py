"""Shared fixtures: a fast retry policy, a clean environment, the simulated gateway."""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator, Iterator

import pytest
from hypothesis import settings

from anyint_async import AnyIntSession, RetryPolicy
from anyint_async.testing import FakeGateway, Fixed, ModelProfile

from . import aioresponses_compat

aioresponses_compat.install()

# CI replays the same examples every run: a red build then means a change, not a new draw.
settings.register_profile("ci", derandomize=True, deadline=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

API_KEY = "sk-test-0123456789abcdef"
FAST_RETRY = RetryPolicy(max_retries=3, initial_delay=0.001, max_delay=0.01, max_retry_after=5)
# The simulated gateway enforces no query limit unless a test asks it to: tell the SDK so, as a
# user of an unlimited relay would (the default paces DashScope at 20/s and starts Kling slow).
NO_LIMITS = {"dashscope": math.inf, "kling": math.inf}

# Every route family finishes in tens of milliseconds: tests wait on lifecycles, not on clocks.
FAST_PROFILES = {
    family: ModelProfile(run=Fixed(0.05), queue=Fixed(0.02))
    for family in (
        "dashscope.images",
        "dashscope.videos",
        "kling.images",
        "kling.omni_image",
        "kling.omni_video",
    )
}


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("ANYINT_API_KEY", raising=False)
    monkeypatch.delenv("ANYINT_BASE_URL", raising=False)
    monkeypatch.delenv("ANYINT_COORDINATION_URL", raising=False)
    return


@pytest.fixture
async def gateway() -> AsyncIterator[FakeGateway]:
    async with FakeGateway(time_scale=1.0, seed=7, profiles=FAST_PROFILES) as gw:
        yield gw


@pytest.fixture
async def session(gateway: FakeGateway) -> AsyncIterator[AnyIntSession]:
    async with AnyIntSession(
        API_KEY, base_url=gateway.url, retry_policy=FAST_RETRY, query_rate_limits=NO_LIMITS
    ) as s:
        yield s
