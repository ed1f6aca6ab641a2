"""The gateway as its own process: prints its URL, serves, stops cleanly on a signal."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path

import aiohttp
import pytest

from anyint_async import AnyIntSession, TaskStatus

from .helpers import settle


async def _start(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "anyint_async.testing",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    line = await asyncio.wait_for(process.stdout.readline(), timeout=20)
    return process, line.decode().strip()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_process_serves_then_stops_on_signal(signum: int, tmp_path: Path) -> None:
    faults = tmp_path / "faults.json"
    faults.write_text(
        json.dumps([{"kind": "server_error", "status": 503, "times": 1, "routes": ["query"]}])
    )
    profiles = tmp_path / "profiles.json"
    profiles.write_text(
        json.dumps(
            {
                "kling.omni_video": {
                    "run": {"kind": "fixed", "seconds": 200},
                    "queue": {"kind": "fixed", "seconds": 0},
                }
            }
        )
    )
    process, url = await _start(
        "--time-scale",
        "0.0005",
        "--seed",
        "5",
        "--api-key",
        "proc-key",
        "--faults",
        str(faults),
        "--profiles",
        str(profiles),
    )
    try:
        assert url.startswith("http://127.0.0.1:")
        async with AnyIntSession("proc-key", base_url=url) as session:
            task = await session.kling.omni_video.create(prompt="boat", duration=5)
            done = await settle(session, task)
        assert done.status is TaskStatus.SUCCEEDED
        async with aiohttp.ClientSession() as http, http.get(f"{url}/_sim/stats") as response:
            stats = await response.json()
        assert stats["requests"]["kling.omni_video.create"] == 1
        assert stats["statuses"]["kling.omni_video.get 503"] == 1  # the fault file was loaded
        assert stats["time_scale"] == 0.0005
        [(task_id, finished)] = stats["finished_at"].items()
        assert task_id == task.id
        # The profiles file was loaded: 200 simulated seconds x 0.0005.
        assert finished - stats["created_at"][task_id] == pytest.approx(0.1, abs=0.002)
    finally:
        process.send_signal(signum)
        code = await asyncio.wait_for(process.wait(), timeout=20)
    assert code == 0
