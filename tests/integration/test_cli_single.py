"""Single-task commands never lose sight of a paid task: the id is printed the moment the task
exists, and Ctrl-C, SIGTERM, a hang-up or --timeout print the command that resumes it. Real
signals to a real subprocess, output piped (not a terminal)."""

from __future__ import annotations

import asyncio
import json
import shlex
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from .test_cli import (
    POLLING,
    GatewayProcess,
    _anyint,
    _env,
    _run,
    _wait_until,
    running_gateway,
)

# Videos run 3 real seconds: long enough to be interrupted, short enough for the resume.
LONG = {"kind": "fixed", "seconds": 600}
PROFILES = {
    family: {"run": LONG, "queue": {"kind": "fixed", "seconds": 0}}
    for family in ("kling.omni_video", "dashscope.videos")
}
COMMANDS = {
    "kling": ["kling", "omni-video", "--prompt", "a boat", "--duration", "5"],
    "dashscope": ["dashscope", "video", "--model", "wan2.5-t2v", "--prompt", "a boat"],
}


@pytest.fixture
async def long_gateway(tmp_path: Path) -> AsyncIterator[GatewayProcess]:
    async with running_gateway(tmp_path, profiles=PROFILES) as gateway:
        yield gateway


async def _created_line(process: asyncio.subprocess.Process) -> str:
    """Read stderr until the lasting 'created task' line; return it."""
    assert process.stderr is not None
    async with asyncio.timeout(20):
        while True:
            line = (await process.stderr.readline()).decode()
            assert line, "the command ended before saying what it created"
            if line.startswith("created task "):
                return line.strip()


def _videos(folder: Path) -> list[Path]:
    return [path for path in folder.iterdir() if path.suffix == ".mp4"]


def _resume(stderr: str) -> list[str]:
    [line] = [row.strip() for row in stderr.splitlines() if row.strip().startswith("anyint task")]
    return shlex.split(line)


async def _resume_and_check(gateway: GatewayProcess, command: list[str], out: Path) -> None:
    assert command[:3] == ["anyint", "task", "get"]
    code, _, stderr = await _run(gateway.url, *command[1:], *POLLING)
    assert code == 0, stderr
    assert _videos(out), "the resumed run saved it"
    stats = await gateway.stats()
    creates = stats["creates"]
    assert isinstance(creates, list) and [item["count"] for item in creates] == [1]


@pytest.mark.parametrize(
    ("provider", "signum"),
    [
        ("kling", signal.SIGINT),
        ("kling", signal.SIGTERM),
        ("dashscope", signal.SIGINT),
        ("dashscope", signal.SIGHUP),
    ],
)
async def test_a_signal_during_the_wait_prints_the_task_and_how_to_resume(
    long_gateway: GatewayProcess, tmp_path: Path, provider: str, signum: signal.Signals
) -> None:
    out = tmp_path / "out"
    process = await _anyint(long_gateway.url, *COMMANDS[provider], "--out", str(out), *POLLING)
    created = await _created_line(process)
    process.send_signal(signum)
    _, rest = await asyncio.wait_for(process.communicate(), timeout=20)
    stderr = rest.decode()
    assert process.returncode == 128 + signum
    task_id = created.split()[2]
    assert f"interrupted ({signum.name}): task {task_id}" in stderr
    assert "goes on upstream" in stderr
    command = _resume(stderr)
    assert command[3] == task_id and command[command.index("--out") + 1] == str(out)
    assert "in .tasks" not in stderr and "Traceback" not in stderr
    await _resume_and_check(long_gateway, command, out)


@pytest.mark.parametrize("provider", ["kling", "dashscope"])
async def test_timeout_prints_the_task_and_how_to_resume(
    long_gateway: GatewayProcess, tmp_path: Path, provider: str
) -> None:
    out = tmp_path / "out"
    code, _, stderr = await _run(
        long_gateway.url, *COMMANDS[provider], "--out", str(out), "--timeout", "0.5", *POLLING
    )
    assert code == 124, stderr
    assert "after --timeout 0.5s" in stderr and "goes on upstream" in stderr
    assert "in .tasks" not in stderr and "Traceback" not in stderr
    await _resume_and_check(long_gateway, _resume(stderr), out)


async def test_json_mode_prints_events_for_machines(
    long_gateway: GatewayProcess, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    process = await _anyint(
        long_gateway.url, *COMMANDS["kling"], "--out", str(out), "--json", *POLLING
    )
    await _created_line(process)
    process.send_signal(signal.SIGINT)
    stdout, _ = await asyncio.wait_for(process.communicate(), timeout=20)
    assert process.returncode == 130
    created, unfinished = map(json.loads, stdout.decode().splitlines())
    assert created["event"] == "created"
    assert unfinished["event"] == "unfinished" and unfinished["reason"] == "signal"
    assert unfinished["task"]["id"] == created["task"]["id"]
    assert shlex.split(unfinished["resume"])[:4] == ["anyint", "task", "get", created["task"]["id"]]


async def test_a_signal_during_the_create_waits_for_its_answer(tmp_path: Path) -> None:
    # The create answers slowly: a Ctrl-C then must not throw away the id of a task being made.
    async with running_gateway(
        tmp_path,
        profiles=PROFILES,
        faults=[{"kind": "slow", "routes": ["create"], "delay": 1.0}],
    ) as gateway:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "anyint_async",
            *COMMANDS["kling"],
            "--out",
            str(tmp_path / "out"),
            *POLLING,
            env=_env(gateway.url),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        await _wait_until(
            gateway,
            lambda stats: stats.get("requests", {}).get("kling.omni_video.create"),
        )
        process.send_signal(signal.SIGINT)
        _, rest = await asyncio.wait_for(process.communicate(), timeout=20)
        stderr = rest.decode()
        assert process.returncode == 130
        assert "stopping once the request in flight has answered" in stderr
        assert "created task " in stderr and "goes on upstream" in stderr
        await _resume_and_check(gateway, _resume(stderr), tmp_path / "out")


async def test_dashscope_image_timeout_flag(tmp_path: Path) -> None:
    # Generation takes 1 s (200 simulated s at this scale): the default waits for it, a shorter
    # --timeout gives up and says what that costs.
    slow = {"dashscope.images": {"run": {"kind": "fixed", "seconds": 200}}}
    image = ["dashscope", "image", "--model", "qwen-image-plus", "--out", str(tmp_path / "out")]
    async with running_gateway(tmp_path, profiles=slow) as gateway:
        code, _, stderr = await _run(gateway.url, *image, "--prompt", "waited for")
        assert code == 0, stderr
        code, _, stderr = await _run(gateway.url, *image, "--prompt", "cut", "--timeout", "0.3")
        assert code == 2
        assert stderr.startswith("error: POST /dashscope/v1/services/aigc/multimodal-generation")
        assert "within 0.3 s" in stderr and "cannot be fetched again" in stderr
        assert "--timeout" in stderr and "Traceback" not in stderr
        stats = await gateway.stats()
        requests = stats["requests"]
        assert isinstance(requests, dict) and requests["dashscope.images.generate"] == 2


async def test_ctrl_c_during_a_generation_waits_for_the_paid_image(tmp_path: Path) -> None:
    # The image is being made (1 s): Ctrl-C must not throw away what is being paid for.
    slow = {"dashscope.images": {"run": {"kind": "fixed", "seconds": 200}}}
    out = tmp_path / "out"
    async with running_gateway(tmp_path, profiles=slow) as gateway:
        process = await _anyint(
            gateway.url,
            "dashscope",
            "image",
            "--model",
            "qwen-image-plus",
            "--prompt",
            "a poster",
            "--out",
            str(out),
        )
        await _wait_until(
            gateway, lambda stats: stats.get("requests", {}).get("dashscope.images.generate")
        )
        process.send_signal(signal.SIGINT)
        _, rest = await asyncio.wait_for(process.communicate(), timeout=20)
        assert process.returncode == 0, rest.decode()
        assert "stopping once the request in flight has answered" in rest.decode()
        assert (out / "image.png").is_file()
        stats = await gateway.stats()
        requests = stats["requests"]
        assert isinstance(requests, dict) and requests["dashscope.images.generate"] == 1


async def test_a_result_that_cannot_be_saved_says_how_to_fetch_it(tmp_path: Path) -> None:
    out = tmp_path / "out"
    (out / "boat.mp4").mkdir(parents=True)  # a folder stands where the video goes
    async with running_gateway(tmp_path) as gateway:
        code, _, stderr = await _run(
            gateway.url, *COMMANDS["kling"], "--out", str(out), "--name", "boat", *POLLING
        )
        assert code == 1, stderr
        assert "succeeded, but its files were not saved" in stderr
        assert "is done upstream" in stderr and "Traceback" not in stderr
        (out / "boat.mp4").rmdir()
        await _resume_and_check(gateway, _resume(stderr), out)
        assert (out / "boat.mp4").is_file()
