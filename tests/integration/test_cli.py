"""The anyint command, run as a real process against a simulated gateway process:
crash (SIGKILL) and Ctrl-C (SIGINT) mid-batch, then resume, with no task created twice."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

ROUTES = [
    "dashscope.images",
    "dashscope.videos",
    "kling.images",
    "kling.omni_image",
    "kling.omni_video",
]
POLLING = ["--first-poll", "0.05", "--poll-interval", "0.05", "--max-poll-interval", "0.2"]


class GatewayProcess:
    def __init__(self, process: asyncio.subprocess.Process, url: str) -> None:
        self.process, self.url = process, url

    async def stats(self) -> dict[str, object]:
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/_sim/stats") as response:
            data: dict[str, object] = await response.json()
            return data


async def _start_gateway(
    tmp_path: Path,
    *,
    faults: list[dict[str, object]] | None = None,
    profiles: dict[str, object] | None = None,
    time_scale: float = 0.005,
) -> GatewayProcess:
    args = ["--time-scale", str(time_scale), "--seed", "3", "--api-key", "cli-key"]
    if faults:
        spec = tmp_path / "faults.json"
        spec.write_text(json.dumps(faults))
        args += ["--faults", str(spec)]
    if profiles:
        spec = tmp_path / "profiles.json"
        spec.write_text(json.dumps(profiles))
        args += ["--profiles", str(spec)]
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "anyint_async.testing",
        "--port",
        "0",
        *args,
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    url = (await asyncio.wait_for(process.stdout.readline(), timeout=20)).decode().strip()
    return GatewayProcess(process, url)


@contextlib.asynccontextmanager
async def running_gateway(tmp_path: Path, **options: Any) -> AsyncIterator[GatewayProcess]:
    """A gateway process for the length of a block (options as ``_start_gateway``'s)."""
    gateway = await _start_gateway(tmp_path, **options)
    try:
        yield gateway
    finally:
        gateway.process.terminate()
        await gateway.process.wait()


@pytest.fixture
async def gateway_process(tmp_path: Path) -> AsyncIterator[GatewayProcess]:
    async with running_gateway(tmp_path) as gateway:
        yield gateway


def _env(url: str) -> dict[str, str]:
    return {**os.environ, "ANYINT_API_KEY": "cli-key", "ANYINT_BASE_URL": url}


def _write_jobs(path: Path, count: int, routes: list[str]) -> list[str]:
    keys = []
    with path.open("w") as handle:
        for i in range(count):
            route = routes[i % len(routes)]
            params: dict[str, object] = {"prompt": f"cli job {i}"}
            if route == "dashscope.images":
                params["model"] = "qwen-image-plus"
            elif route == "dashscope.videos":
                params["model"] = "wan2.5-t2v"
            key = f"job-{i:03d}"
            keys.append(key)
            handle.write(json.dumps({"key": key, "route": route, "params": params}) + "\n")
    return keys


async def _anyint(url: str, *args: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "anyint_async",
        *args,
        env=_env(url),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def _run(url: str, *args: str) -> tuple[int, str, str]:
    process = await _anyint(url, *args)
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def _wait_until(gateway: GatewayProcess, predicate: object) -> dict[str, object]:
    async with asyncio.timeout(60):
        while True:
            stats = await gateway.stats()
            if predicate(stats):  # type: ignore[operator]
                return stats
            await asyncio.sleep(0.05)


def _answered_creates(stats: dict[str, object]) -> int:
    statuses = stats.get("statuses", {})
    assert isinstance(statuses, dict)
    return sum(
        count for name, count in statuses.items() if name.endswith((".create 200", ".generate 200"))
    )


def _assert_complete(out: Path, keys: list[str], stats: dict[str, object]) -> None:
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [entry["key"] for entry in manifest] == keys
    for entry in manifest:
        assert entry["done"] and entry["status"] == "SUCCEEDED", entry
        assert entry["files"], entry
        for name in entry["files"]:
            assert (out / name).stat().st_size > 0
    leftovers = [p.name for p in out.iterdir() if p.name.endswith(".part")]
    assert leftovers == []
    creates = stats["creates"]
    assert isinstance(creates, list)
    assert all(item["count"] == 1 for item in creates), "no (route, prompt) created twice"
    assert len(creates) == len(keys)
    by_external = stats["creates_by_external_id"]
    assert isinstance(by_external, list) and all(item["count"] == 1 for item in by_external)
    assert stats["file_auth_headers"] == 0


async def test_sigkill_during_kling_creates_then_resume(tmp_path: Path) -> None:
    # Slow creates keep several in flight when the kill lands: the resumed run must look them up.
    async with running_gateway(
        tmp_path, faults=[{"kind": "slow", "routes": ["create"], "delay": 0.3}]
    ) as gateway:
        jobs, out = tmp_path / "jobs.jsonl", tmp_path / "out"
        keys = _write_jobs(jobs, 40, ["kling.images", "kling.omni_image", "kling.omni_video"])
        process = await _anyint(
            gateway.url, "batch", str(jobs), "--out", str(out), "--concurrency", "8", *POLLING
        )
        await _wait_until(gateway, lambda s: s.get("tasks_created", 0) >= 10)
        process.kill()
        await process.wait()
        assert process.returncode == -signal.SIGKILL
        code, stdout, stderr = await _run(
            gateway.url, "batch", str(jobs), "--out", str(out), *POLLING
        )
        assert code == 0, stderr + stdout
        await asyncio.sleep(0.5)  # creates the killed run had in flight reach the gateway
        _assert_complete(out, keys, await gateway.stats())


async def test_sigkill_while_polling_then_resume(
    gateway_process: GatewayProcess, tmp_path: Path
) -> None:
    jobs, out = tmp_path / "jobs.jsonl", tmp_path / "out"
    keys = _write_jobs(jobs, 30, ROUTES)
    process = await _anyint(
        gateway_process.url, "batch", str(jobs), "--out", str(out), "--concurrency", "10", *POLLING
    )
    # Every create answered (images are generated at once): the kill lands while polling.
    await _wait_until(gateway_process, lambda s: _answered_creates(s) == 30)
    await asyncio.sleep(0.05)
    process.kill()
    await process.wait()
    stats = await gateway_process.stats()
    assert stats["file_requests"] < 30, "killed before the batch had finished"
    code, stdout, stderr = await _run(
        gateway_process.url, "batch", str(jobs), "--out", str(out), *POLLING
    )
    assert code == 0, stderr + stdout
    _assert_complete(out, keys, await gateway_process.stats())


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGHUP])
async def test_ctrl_c_stops_cleanly_and_the_next_run_resumes(
    gateway_process: GatewayProcess, tmp_path: Path, signum: signal.Signals
) -> None:
    jobs, out = tmp_path / "jobs.jsonl", tmp_path / "out"
    keys = _write_jobs(jobs, 30, ROUTES)
    process = await _anyint(
        gateway_process.url,
        "batch",
        str(jobs),
        "--out",
        str(out),
        "--concurrency",
        "2",
        "--creates-per-second",
        "20",
        *POLLING,
    )
    await _wait_until(gateway_process, lambda s: s.get("tasks_created", 0) >= 5)
    process.send_signal(signum)  # a hang-up (a closed terminal) stops as gently as Ctrl-C
    out_text, err_text = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 130, err_text
    text = out_text.decode() + err_text.decode()
    assert "run again to resume" in text
    assert "Traceback" not in text
    manifest = [json.loads(line) for line in (out / "manifest.jsonl").read_text().splitlines()]
    assert [entry["key"] for entry in manifest] == keys  # complete even when stopped
    stopped_at = (await gateway_process.stats())["tasks_created"]
    assert isinstance(stopped_at, int) and stopped_at < 30
    code, stdout, stderr = await _run(
        gateway_process.url, "batch", str(jobs), "--out", str(out), *POLLING
    )
    assert code == 0, stderr + stdout
    _assert_complete(out, keys, await gateway_process.stats())


async def test_bad_jobs_line_is_one_clear_error(
    gateway_process: GatewayProcess, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        json.dumps({"key": "a", "route": "kling.images", "params": {"prompt": "p"}})
        + "\n"
        + json.dumps(
            {
                "key": "b",
                "route": "dashscope.videos",
                "params": {"model": "m", "prompt": "p", "duration": "10s"},
            }
        )
        + "\n"
    )
    code, _stdout, stderr = await _run(
        gateway_process.url, "batch", str(jobs), "--out", str(tmp_path / "out")
    )
    assert code == 2
    assert (
        stderr.strip() == f"error: {jobs}:2: params.duration: must be an int of seconds, got '10s'"
    )
    assert "Traceback" not in stderr
    code, _, stderr = await _run(
        gateway_process.url, "batch", str(jobs), "--out", str(tmp_path / "out"), "--debug"
    )
    assert code != 0 and "Traceback" in stderr


async def test_failed_job_gives_a_non_zero_exit_and_a_summary(
    gateway_process: GatewayProcess, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text(
        json.dumps({"key": "ok", "route": "kling.images", "params": {"prompt": "fine"}})
        + "\n"
        + json.dumps({"key": "bad", "route": "kling.images", "params": {"prompt": "#fail"}})
        + "\n"
    )
    code, stdout, _stderr = await _run(
        gateway_process.url, "batch", str(jobs), "--out", str(tmp_path / "out"), *POLLING
    )
    assert code == 1
    assert "batch summary" in stdout and "not succeeded (1)" in stdout and "bad" in stdout


async def test_a_batch_remembers_how_long_its_tasks_took(
    gateway_process: GatewayProcess, tmp_path: Path
) -> None:
    jobs, memory = tmp_path / "jobs.jsonl", tmp_path / "cache" / "durations.json"
    _write_jobs(jobs, 6, ["dashscope.videos", "kling.omni_video"])
    code, _stdout, _stderr = await _run(
        gateway_process.url,
        *("batch", str(jobs), "--out", str(tmp_path / "out"), "--duration-memory", str(memory)),
        *POLLING,
    )
    assert code == 0
    remembered = json.loads(memory.read_text())
    models = {group["model"] for group in remembered["groups"]}
    assert models == {"wan2.5-t2v", "kling-v3-omni"}
    assert "cli-key" not in memory.read_text() and "cli job" not in memory.read_text()


async def test_single_commands_with_json(gateway_process: GatewayProcess, tmp_path: Path) -> None:
    out = tmp_path / "one"
    code, stdout, stderr = await _run(
        gateway_process.url,
        "kling",
        "omni-video",
        "--prompt",
        "a boat",
        "--duration",
        "5",
        "--mode",
        "std",
        "--out",
        str(out),
        "--name",
        "boat",
        "--json",
        *POLLING,
    )
    assert code == 0, stderr
    created, payload = map(json.loads, stdout.splitlines())
    # The id is out before the wait begins: an event line first, then the result.
    assert created["event"] == "created" and created["task"]["route"] == "kling.omni_video"
    assert f"created task {created['task']['id']} (kling.omni_video)" in stderr
    assert (
        payload["task"]["status"] == "SUCCEEDED" and payload["task"]["route"] == "kling.omni_video"
    )
    assert payload["task"]["id"] == created["task"]["id"]
    assert payload["files"] == [str(out / "boat.mp4")] and (out / "boat.mp4").exists()

    code, stdout, stderr = await _run(
        gateway_process.url,
        "dashscope",
        "image",
        "--model",
        "qwen-image-plus",
        "--prompt",
        "poster",
        "--size",
        "1328*1328",
        "--no-prompt-extend",
        "--out",
        str(out),
        "--json",
    )
    assert code == 0, stderr
    assert json.loads(stdout)["image"]["usage"]["width"] == 1328

    code, stdout, stderr = await _run(
        gateway_process.url,
        "dashscope",
        "video",
        "--model",
        "happyhorse-1.0-t2v",
        "--prompt",
        "rap",
        "--duration",
        "10",
        "--audio",
        "--out",
        str(out),
        "--json",
        *POLLING,
    )
    assert code == 0, stderr
    task_id = json.loads(stdout.splitlines()[-1])["task"]["id"]
    code, stdout, stderr = await _run(
        gateway_process.url,
        "task",
        "get",
        task_id,
        "--provider",
        "dashscope",
        "--out",
        str(out / "again"),
        "--json",
        *POLLING,
    )
    assert code == 0, stderr
    assert json.loads(stdout)["files"] == [str(out / "again" / f"{task_id}.mp4")]

    code, _, stderr = await _run(
        gateway_process.url, "kling", "image", "--prompt", "p", "--n", "12", "--out", str(out)
    )
    assert code == 2 and stderr.strip() == "error: n must be at most 9, got 12"


async def test_demo_runs_with_no_key_and_no_network(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANYINT_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "anyint_async",
        "demo",
        "--count",
        "30",
        "--out",
        str(tmp_path / "demo"),
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout=120)
    assert process.returncode == 0, err.decode()
    text = " ".join(out.decode().split())  # rich wraps lines at 80 columns off a terminal
    assert "batch summary" in text and "API key seen by the file host: 0 times" in text
    manifest = (tmp_path / "demo" / "manifest.jsonl").read_text().splitlines()
    assert len(manifest) == 30


async def test_an_unwritable_output_folder_is_one_line(
    gateway_process: GatewayProcess, tmp_path: Path
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    _write_jobs(jobs, 1, ["kling.images"])
    blocker = tmp_path / "taken"
    blocker.write_text("a file where the output folder should go")
    code, _, stderr = await _run(
        gateway_process.url, "batch", str(jobs), "--out", str(blocker / "out")
    )
    assert code == 2
    assert stderr.startswith("error: ") and "Traceback" not in stderr


async def test_a_local_fault_fails_one_job_and_a_rerun_saves_it(
    gateway_process: GatewayProcess, tmp_path: Path
) -> None:
    jobs, out = tmp_path / "jobs.jsonl", tmp_path / "out"
    keys = _write_jobs(jobs, 6, ["kling.omni_video"])
    out.mkdir()
    (out / f"{keys[2]}.mp4").mkdir()  # a folder stands where one job's file goes
    code, stdout, stderr = await _run(gateway_process.url, "batch", str(jobs), "--out", str(out))
    assert code == 1, stderr
    assert "Traceback" not in stderr + stdout
    assert "a folder stands where the file goes" in stdout
    saved = [key for key in keys if (out / f"{key}.mp4").is_file()]
    assert saved == [key for key in keys if key != keys[2]], "the other jobs are saved"
    (out / f"{keys[2]}.mp4").rmdir()
    code, stdout, stderr = await _run(gateway_process.url, "batch", str(jobs), "--out", str(out))
    assert code == 0, stderr + stdout
    _assert_complete(out, keys, await gateway_process.stats())


async def test_a_missing_key_names_the_environment_variable(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ANYINT_")}
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "anyint_async",
        "kling",
        "image",
        "--prompt",
        "a fox",
        "--base-url",
        "http://127.0.0.1:9",
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    _, err = await asyncio.wait_for(process.communicate(), timeout=60)
    assert process.returncode == 2
    message = err.decode().strip()
    assert message.startswith("error: no API key: set the ANYINT_API_KEY environment variable")
    assert "api_key=" not in message


async def test_the_delay_knob_sets_how_often_a_batch_asks(tmp_path: Path) -> None:
    # Videos of about 5 s: asked once a second until the first ends, then at the knob's pace
    # (under the SDK's default DashScope pacing of 20 queries a second).
    jobs = tmp_path / "jobs.jsonl"
    _write_jobs(jobs, 6, ["dashscope.videos"])
    prior = ["--first-poll", "1", "--poll-interval", "1", "--max-poll-interval", "1"]
    queries: dict[str, int] = {}
    for seconds in ("0.05", "2"):
        async with running_gateway(tmp_path, time_scale=0.02) as gateway:
            code, stdout, stderr = await _run(
                gateway.url,
                *("batch", str(jobs), "--out", str(tmp_path / seconds), *prior),
                *("--target-delay-seconds", seconds),
            )
            assert code == 0, stderr + stdout
            polls = (await gateway.stats())["polls"]
            assert isinstance(polls, dict)
            queries[seconds] = sum(polls.values())
    assert queries["0.05"] > 2 * queries["2"]


async def test_a_delay_target_out_of_range_is_one_clear_error(tmp_path: Path) -> None:
    jobs = tmp_path / "jobs.jsonl"
    _write_jobs(jobs, 1, ["kling.images"])
    batch = ("batch", str(jobs), "--out", str(tmp_path / "out"))
    code, _, stderr = await _run("http://127.0.0.1:9", *batch, "--target-delay", "5")
    assert code == 2 and "Traceback" not in stderr
    assert stderr.strip().startswith("error: target_delay must be a fraction")
    code, _, stderr = await _run(
        "http://127.0.0.1:9", *batch, "--target-delay", "0.1", "--target-delay-seconds", "3"
    )
    assert code == 2 and "not allowed with argument" in stderr


async def test_a_batch_ends_with_what_it_billed(
    gateway_process: GatewayProcess, tmp_path: Path
) -> None:
    jobs, out = tmp_path / "jobs.jsonl", tmp_path / "out"
    _write_jobs(jobs, 10, ROUTES)
    code, stdout, stderr = await _run(
        gateway_process.url, "batch", str(jobs), "--out", str(out), "--json", *POLLING
    )
    assert code == 0, stderr
    lines = [json.loads(line) for line in stdout.splitlines()]
    results, summary = lines[:-1], lines[-1]
    assert len(results) == 10 and all(line["usage"] is not None for line in results)
    stats = await gateway_process.stats()
    billed = summary["billed"]
    assert billed.pop("jobs_reporting_nothing") == 0
    assert billed == stats["billed"]
    assert billed["video_seconds"] == 2 * 5  # two DashScope videos of the default 5 s
    # People read the same totals as the summary's last line.
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("billed (as the providers reported): 10 s of video (2 videos)")
    # A run that finds every job done bills nothing new and says the same totals.
    code, stdout, _ = await _run(
        gateway_process.url, "batch", str(jobs), "--out", str(out), "--json", *POLLING
    )
    assert code == 0
    again = json.loads(stdout.splitlines()[-1])["billed"]
    again.pop("jobs_reporting_nothing")
    assert again == billed
