"""What was made and what it cost, against the simulated gateway: typed usage on finished
tasks, and batch totals that match what the gateway billed, a crash and a resume included."""

from __future__ import annotations

import json
from pathlib import Path

from anyint_async import AnyIntSession
from anyint_async.batch import BatchRequest, BatchRunner
from anyint_async.testing import FakeGateway

from ..conftest import API_KEY, FAST_RETRY, NO_LIMITS
from .helpers import QUICK, read_manifest


def _session(gateway: FakeGateway) -> AnyIntSession:
    return AnyIntSession(
        API_KEY,
        base_url=gateway.url,
        retry_policy=FAST_RETRY,
        poll_policy=QUICK,
        query_rate_limits=NO_LIMITS,
    )


async def test_a_finished_video_says_what_it_made(gateway: FakeGateway) -> None:
    async with _session(gateway) as session:
        created = await session.dashscope.videos.create(
            model="happyhorse-1.0-t2v", prompt="a paper boat", duration=10
        )
        video = await session.wait(created, timeout=30)
        plain = await session.wait(
            await session.dashscope.videos.create(
                model="wan2.5-t2v", prompt="a red fox", prompt_extend=False
            ),
            timeout=30,
        )
        omni = await session.wait(
            await session.kling.omni_video.create(prompt="a lighthouse", duration=5), timeout=30
        )
    assert video.succeeded and video.usage is not None
    assert video.usage.duration == 10 and video.usage.video_count == 1
    assert video.usage.other["SR"] == 720
    # prompt_extend is on by default: the provider rewrote the prompt and says so.
    assert video.actual_prompt is not None and video.actual_prompt.startswith("a paper boat")
    assert video.actual_prompt != "a paper boat"
    assert plain.actual_prompt == "a red fox"
    assert omni.usage is not None and omni.usage.units == 1.0
    assert omni.usage.duration is None  # Kling reports units, not seconds


def _mixed(count: int) -> list[BatchRequest]:
    jobs = []
    for i in range(count):
        kind = i % 5
        if kind == 0:
            route, params = "dashscope.images", {"model": "qwen-image-plus", "prompt": f"p{i}"}
        elif kind == 1:
            route = "dashscope.videos"
            params = {"model": "wan2.5-t2v", "prompt": f"v{i}", "duration": 5 + i % 3}
        elif kind == 2:
            route, params = "kling.images", {"prompt": f"k{i}", "n": 1 + i % 2}
        elif kind == 3:
            route, params = "kling.omni_image", {"prompt": f"o{i}"}
        else:
            route, params = "kling.omni_video", {"prompt": f"m{i}"}
        jobs.append(BatchRequest(key=f"job-{i:03d}", route=route, params=params))
    return jobs


async def test_a_batch_totals_what_it_made_and_a_resume_counts_each_job_once(
    gateway: FakeGateway, tmp_path: Path
) -> None:
    jobs = _mixed(30)
    async with _session(gateway) as session:
        # A run stopped part-way (Ctrl-C: creates in flight are journaled, tasks left) ...
        first = BatchRunner(session, jobs, tmp_path, concurrency=4)
        seen = 0
        async with first.results() as results:
            async for _ in results:
                seen += 1
                if seen == 12:
                    first.stop()
        # ... and the run that finishes it.
        runner = BatchRunner(session, jobs, tmp_path, concurrency=4)
        landed = await runner.run()
        again = BatchRunner(session, jobs, tmp_path)
        await again.run()
    assert 12 <= sum(result.resumed for result in landed) < len(jobs)
    assert all(result.succeeded for result in landed)
    assert all(result.usage is not None for result in landed)
    manifest = read_manifest(tmp_path)
    assert all(entry["usage"] is not None for entry in manifest.values())
    seconds = sum(
        job.params["duration"]
        for job in jobs
        if job.route == "dashscope.videos"  # type: ignore[misc]
    )
    totals = runner.billed
    assert totals.video_seconds == seconds
    assert (
        sum(
            entry["usage"]["duration"]  # type: ignore[index]
            for entry in manifest.values()
            if entry["route"] == "dashscope.videos"
        )
        == seconds
    )
    assert totals.videos == 6 and totals.images == 6 and totals.unreported == 0
    assert totals.kling_units == sum(1 + i % 2 for i in range(2, 30, 5)) + 12
    # Nothing was created twice, so what the gateway billed is what the batch totals say,
    # and a run that finds every job done says the same.
    assert gateway.stats.duplicate_creates() == {}
    assert dict(gateway.stats.billed) == {
        "video_seconds": totals.video_seconds,
        "videos": totals.videos,
        "images": totals.images,
        "kling_units": totals.kling_units,
    }
    assert again.billed == totals
    json.dumps(manifest)  # the usage in the manifest is plain JSON
