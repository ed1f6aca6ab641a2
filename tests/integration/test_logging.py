"""The log of a faulty run says what happened, at DEBUG, and never holds a secret."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from anyint_async import AnyIntSession, PollPolicy
from anyint_async.batch import BatchRequest, BatchRunner
from anyint_async.testing import FakeGateway, RateLimited, ServerError

from ..conftest import API_KEY, FAST_PROFILES, FAST_RETRY

QUICK = PollPolicy(first_poll=0.05, interval=0.03, max_interval=0.1)


async def test_a_faulty_run_reads_clearly_at_debug(
    caplog: pytest.LogCaptureFixture, tmp_path: Path
) -> None:
    caplog.set_level(logging.DEBUG, logger="anyint_async")
    faults = [
        ServerError(routes=["kling.images.create"], status=503, times=1),
        RateLimited(routes=["kling.omni_video.get"], retry_after=0.1, times=1),
        ServerError(routes=["file"], status=503, times=1),
    ]
    async with FakeGateway(seed=5, profiles=FAST_PROFILES, faults=faults) as gateway:
        async with AnyIntSession(
            API_KEY, base_url=gateway.url, retry_policy=FAST_RETRY, poll_policy=QUICK
        ) as session:
            jobs = [
                BatchRequest("fox", "kling.images", {"prompt": "fox"}),
                BatchRequest("boat", "kling.omni_video", {"prompt": "boat"}),
            ]
            results = await BatchRunner(session, jobs, tmp_path).run()
    assert all(r.succeeded for r in results)
    text = "\n".join(record.getMessage() for record in caplog.records)
    # One line per HTTP request, with status, request id, attempt and latency.
    assert "POST /transtreams/kling/v1/images/generations -> failed (attempt 1" in text
    assert "POST /transtreams/kling/v1/images/generations -> 200 (request_id=" in text
    # Each retry with its wait and reason; the URL without its signed query.
    assert re.search(
        r"retrying download of http://127\.0\.0\.1:\d+/files/\S+ in [0-9.]+s: HTTP 503", text
    )
    # A refusal pauses its own provider's queries, and each change of its paced rate is logged.
    assert "kling refused a query: its queries pause for" in text
    assert "kling task queries now paced at" in text
    assert " is RUNNING" in text or " is SUCCEEDED" in text
    assert "batch of 2 job(s)" in text and "batch finished: 2 succeeded" in text
    # Never the key, never a result URL's signature.
    assert API_KEY not in text
    assert "Signature=" not in text and "Expires=" not in text


def test_anyint_log_switches_logging_on_without_code(tmp_path: Path) -> None:
    script = (
        "import asyncio\n"
        "from anyint_async import AnyIntSession\n"
        "from anyint_async.testing import FakeGateway\n"
        "async def main():\n"
        "    async with FakeGateway() as gw:\n"
        "        async with AnyIntSession('sk-secret-123', base_url=gw.url) as s:\n"
        "            await s.kling.images.create(prompt='fox')\n"
        "asyncio.run(main())\n"
    )
    env = {**os.environ, "ANYINT_LOG": "debug"}
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "DEBUG anyint_async: POST /transtreams/kling/v1/images/generations -> 200" in done.stderr
    assert "sk-secret-123" not in done.stderr
    quiet = subprocess.run(  # noqa: S603
        [sys.executable, "-c", script],
        env={k: v for k, v in env.items() if k != "ANYINT_LOG"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert quiet.returncode == 0 and "anyint_async" not in quiet.stderr
