"""One writer per batch folder, with real processes: the same batch started twice at once is
refused by one run and finished by the other, with no job created twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from anyint_async import AnyIntSession, BatchLockedError
from anyint_async.batch import LOCK_NAME, BatchRequest, BatchResult, BatchRunner
from anyint_async.testing import FakeGateway, Fixed, ModelProfile

from ..conftest import API_KEY, FAST_RETRY, NO_LIMITS
from .helpers import QUICK, read_manifest
from .test_cli import POLLING, GatewayProcess, _anyint, _env, _wait_until, running_gateway

ROUTES = ["dashscope.images", "dashscope.videos", "kling.omni_image", "kling.omni_video"]


def _jobs_file(path: Path, count: int, tag: str, routes: list[str] = ROUTES) -> list[str]:
    keys = []
    with path.open("w") as handle:
        for i in range(count):
            route = routes[i % len(routes)]
            params: dict[str, object] = {"prompt": f"{tag} job {i}"}
            if route == "dashscope.images":
                params["model"] = "qwen-image-plus"
            elif route == "dashscope.videos":
                params["model"] = "wan2.5-t2v"
            keys.append(f"job-{i:03d}")
            handle.write(json.dumps({"key": keys[-1], "route": route, "params": params}) + "\n")
    return keys


def _created_per_prompt(stats: dict[str, object], tag: str) -> dict[str, int]:
    creates = stats["creates"]
    assert isinstance(creates, list)
    return {
        item["prompt"]: item["count"]
        for item in creates
        if str(item.get("prompt", "")).startswith(f"{tag} ")
    }


async def _finish(process: asyncio.subprocess.Process) -> tuple[int, str, float]:
    started = time.monotonic()
    _, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, err.decode(), time.monotonic() - started


async def test_two_runs_started_together_one_finishes_one_refuses(tmp_path: Path) -> None:
    # Slow creates widen the window in which a second run would have created the same jobs.
    async with running_gateway(
        tmp_path, faults=[{"kind": "slow", "routes": ["create"], "delay": 0.05}]
    ) as gateway:
        for trial in range(6):
            tag = f"trial{trial}"
            jobs, out = tmp_path / f"{tag}.jsonl", tmp_path / tag
            keys = _jobs_file(jobs, 16, tag)
            args = ("batch", str(jobs), "--out", str(out), "--concurrency", "8", *POLLING)
            first, second = await asyncio.gather(
                _anyint(gateway.url, *args), _anyint(gateway.url, *args)
            )
            ends = await asyncio.gather(_finish(first), _finish(second))
            codes = sorted(code for code, _, _ in ends)
            assert codes == [0, 2], ends
            refused = next(end for end in ends if end[0] == 2)
            assert "is being written by another run (pid " in refused[1], refused[1]
            assert "nothing was created" in refused[1]
            assert "Traceback" not in refused[1]
            manifest = read_manifest(out)
            assert list(manifest) == keys
            assert all(entry["status"] == "SUCCEEDED" for entry in manifest.values())
            created = _created_per_prompt(await gateway.stats(), tag)
            assert len(created) == len(keys)
            assert set(created.values()) == {1}, f"trial {trial}: a job was created twice"


async def test_a_killed_run_holds_nothing(tmp_path: Path) -> None:
    async with running_gateway(tmp_path) as gateway:
        jobs, out = tmp_path / "jobs.jsonl", tmp_path / "out"
        # Kling jobs: a create the kill caught in flight is looked up by its external id, so
        # the next run finishes with no --retry-uncertain (a DashScope one would be UNKNOWN).
        keys = _jobs_file(jobs, 24, "killed", ["kling.omni_image", "kling.omni_video"])
        args = ("batch", str(jobs), "--out", str(out), "--concurrency", "4", *POLLING)
        process = await _anyint(gateway.url, *args)
        await _wait_for_creates(gateway, 4)
        process.kill()
        await process.wait()
        assert process.returncode == -signal.SIGKILL
        assert (out / LOCK_NAME).exists()  # what it left is a file, not a lock
        resumed = await _anyint(gateway.url, *args, "--json")
        stdout, stderr = await asyncio.wait_for(resumed.communicate(), timeout=120)
        assert resumed.returncode == 0, stderr.decode()
        manifest = read_manifest(out)
        assert list(manifest) == keys
        assert all(entry["status"] == "SUCCEEDED" for entry in manifest.values())
        # What the crash and the resume billed together, each job once: what the gateway made.
        billed = json.loads(stdout.decode().splitlines()[-1])["billed"]
        stats = await gateway.stats()
        assert billed["kling_units"] == stats["billed"]["kling_units"] == len(keys)


async def _wait_for_creates(gateway: GatewayProcess, count: int) -> None:
    await _wait_until(gateway, lambda stats: stats.get("tasks_created", 0) >= count)


async def _first_create(gateway: FakeGateway) -> None:
    async with asyncio.timeout(30):
        while True:
            if gateway.stats.tasks_created >= 1:
                return
            await asyncio.sleep(0.01)


def _requests(count: int) -> list[BatchRequest]:
    return [
        BatchRequest(
            key=f"job-{i:03d}",
            route="dashscope.videos",
            params={"model": "wan2.5-t2v", "prompt": f"in-process job {i}"},
        )
        for i in range(count)
    ]


#: Videos that take half a second: a first run is still going when a second one starts.
_SLOW_VIDEOS = {"dashscope.videos": ModelProfile(run=Fixed(0.5), queue=Fixed(0.0))}


@pytest.fixture
async def slow_gateway() -> FakeGateway:  # type: ignore[misc]
    async with FakeGateway(seed=5, profiles=_SLOW_VIDEOS) as gateway:
        yield gateway


@contextlib.asynccontextmanager
async def _first_run_going(
    gateway: FakeGateway, folder: Path
) -> AsyncIterator[tuple[AnyIntSession, asyncio.Task[list[BatchResult]]]]:
    """A session and a batch run into ``folder`` that has created its first task."""
    async with AnyIntSession(
        API_KEY,
        base_url=gateway.url,
        retry_policy=FAST_RETRY,
        poll_policy=QUICK,
        query_rate_limits=NO_LIMITS,
    ) as session:
        first = asyncio.create_task(BatchRunner(session, _requests(6), folder).run())
        await _first_create(gateway)
        yield session, first


async def test_a_second_runner_in_the_same_process_is_refused(
    slow_gateway: FakeGateway, tmp_path: Path
) -> None:
    requests = _requests(6)
    async with _first_run_going(slow_gateway, tmp_path) as (session, first):
        with pytest.raises(BatchLockedError) as refused:
            await BatchRunner(session, requests, tmp_path).run()
        assert refused.value.holder.pid == os.getpid()
        assert slow_gateway.stats.tasks_created <= len(requests)
        results = await first
        assert all(result.succeeded for result in results)
        # Once the first run ended the folder is free: a re-run resumes, creating nothing.
        again = await BatchRunner(session, requests, tmp_path).run()
        assert all(result.resumed for result in again)
    assert slow_gateway.stats.tasks_created == len(requests)


_OTHER_PROCESS = """
import asyncio, sys
from anyint_async import AnyIntSession, BatchLockedError, BatchRunner
from anyint_async.batch import BatchRequest

async def main() -> None:
    requests = [BatchRequest(key=f"job-{i:03d}", route="dashscope.videos",
                             params={"model": "wan2.5-t2v", "prompt": f"in-process job {i}"})
                for i in range(6)]
    async with AnyIntSession("sk-other", base_url=sys.argv[1]) as session:
        try:
            await BatchRunner(session, requests, sys.argv[2]).run()
        except BatchLockedError as error:
            print(error.holder.pid)
            sys.exit(2)

asyncio.run(main())
"""


class _HeldClock:
    """A gateway clock that stands still until released: the first run's tasks cannot end,
    and so the run cannot let go of its folder, before the other process has tried it, however
    long that process takes to start (on a busy machine, longer than the tasks' 0.5 s)."""

    def __init__(self) -> None:
        self._held_at: float | None = time.monotonic()

    def __call__(self) -> float:
        return time.monotonic() if self._held_at is None else self._held_at

    def release(self) -> None:
        self._held_at = None


async def test_a_runner_in_another_process_is_refused(tmp_path: Path) -> None:
    clock = _HeldClock()
    async with (
        FakeGateway(seed=5, profiles=_SLOW_VIDEOS, clock=clock) as gateway,
        _first_run_going(gateway, tmp_path) as (_, first),
    ):
        other = await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            _OTHER_PROCESS,
            gateway.url,
            str(tmp_path),
            env=_env(gateway.url),
            stdout=asyncio.subprocess.PIPE,
        )
        out, _ = await asyncio.wait_for(other.communicate(), timeout=60)
        assert not first.done()  # the clock held: the first run still writes the folder
        assert other.returncode == 2
        assert out.decode().strip() == str(os.getpid())
        clock.release()
        assert all(result.succeeded for result in await first)
        assert gateway.stats.tasks_created == 6
