"""The FastAPI example app runs as written, against the simulated gateway."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import httpx
import pytest

from anyint_async import PollPolicy, TaskRoute
from anyint_async.polling import DEFAULT_POLICIES
from anyint_async.testing import FakeGateway
from examples.fastapi_app import create_app

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def fast_polls(monkeypatch: pytest.MonkeyPatch) -> None:
    # The example keeps the real defaults (videos first polled after 10 s); shrink them here.
    for route in TaskRoute:
        monkeypatch.setitem(DEFAULT_POLICIES, route, PollPolicy(first_poll=0.05, interval=0.05))


async def test_the_fastapi_app_waits_for_a_video_and_streams_a_batch(
    gateway: FakeGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_polls: None
) -> None:
    monkeypatch.setenv("ANYINT_API_KEY", "fastapi-key")
    monkeypatch.setenv("ANYINT_BASE_URL", gateway.url)
    app = create_app(tmp_path)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
            video = await client.post("/video", json={"prompt": "a boat"})
            assert video.status_code == 200
            assert video.json()["video"].startswith(gateway.files_url)
            failed = await client.post("/video", json={"prompt": "#fail this"})
            assert failed.status_code == 422 and "FAILED" in failed.json()["detail"]

            jobs = [
                {"key": f"fox-{i}", "route": "kling.images", "params": {"prompt": f"fox {i}"}}
                for i in range(3)
            ]
            stream = await client.post("/batches", json={"name": "foxes", "jobs": jobs})
            assert stream.status_code == 200
            assert stream.headers["content-type"].startswith("text/event-stream")
            events = [
                json.loads(line.removeprefix("data: "))
                for line in stream.text.splitlines()
                if line.startswith('data: {"')
            ]
            assert sorted(e["key"] for e in events) == ["fox-0", "fox-1", "fox-2"]
            assert all(e["status"] == "SUCCEEDED" and e["saved"] for e in events)
            assert events[-1]["finished"] == 3 and "event: done" in stream.text
            assert (tmp_path / "foxes" / "fox-0.png").exists()

            bad = await client.post("/batches", json={"name": "bad", "jobs": [{"key": "a b"}]})
            assert bad.status_code == 400 and "not a valid key" in bad.json()["detail"]
    assert gateway.stats.file_auth_headers == 0


async def test_the_fastapi_app_is_woken_by_kling_callbacks(
    gateway: FakeGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fast_polls: None
) -> None:
    """The app served for real on loopback: the gateway's callbacks reach its mount."""
    import socket

    import uvicorn

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    monkeypatch.setenv("ANYINT_API_KEY", "fastapi-key")
    monkeypatch.setenv("ANYINT_BASE_URL", gateway.url)
    monkeypatch.setenv("ANYINT_CALLBACK_URL", f"http://127.0.0.1:{port}/anyint/callback")
    # Without a callback, a task created with one is asked about only a minute after its end.
    for route in TaskRoute:
        monkeypatch.setitem(
            DEFAULT_POLICIES, route, PollPolicy(first_poll=0.05, callback_fallback=60.0)
        )
    server = uvicorn.Server(
        uvicorn.Config(create_app(tmp_path), log_level="warning", lifespan="on")
    )
    serving = asyncio.create_task(server.serve(sockets=[listener]))
    try:
        for _ in range(200):  # bounded: up to 10 s for the server to start
            if server.started:
                break
            await asyncio.sleep(0.05)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client:
            video = await client.post("/video", json={"prompt": "a boat at dawn"})
            assert video.status_code == 200, video.text
            task_id = video.json()["task_id"]
            wrong = await client.get("/anyint/callback")
            assert wrong.status_code == 405
            junk = await client.post("/anyint/callback", content=b"<html>")
            assert junk.status_code == 400
    finally:
        server.should_exit = True
        await serving
    assert gateway.callbacks.counts["answered"] >= 1
    assert gateway.stats.polls[task_id] <= 3  # woken by callbacks, not polled


async def test_the_fastapi_app_under_three_uvicorn_workers_shares_callbacks_through_redis(
    gateway: FakeGateway, tmp_path: Path
) -> None:
    """``uvicorn --workers 3``: three processes on one port, so a callback reaches any of them.
    With the app's sessions coordinated through Redis every request gets its own task's video
    within seconds; a callback landing on a worker not waiting for its task would otherwise
    leave that task to the 60 s fallback, past this test's time."""
    import socket
    import subprocess
    import sys

    from anyint_async.testing import LocalRedis

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with LocalRedis() as redis_server:
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("ANYINT_")},
            "ANYINT_API_KEY": "fastapi-key",
            "ANYINT_BASE_URL": gateway.url,
            "ANYINT_CALLBACK_URL": f"http://127.0.0.1:{port}/anyint/callback",
            "ANYINT_COORDINATION_URL": redis_server.url,
            "RENDERS_DIR": str(tmp_path),
        }
        server = subprocess.Popen(  # noqa: ASYNC220, S603 (our own command; killed below)
            [
                sys.executable,
                "-m",
                "uvicorn",
                "examples.fastapi_app:app",
                "--workers",
                "3",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
        )
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
                for _ in range(300):  # bounded: up to 30 s for the workers to start
                    try:
                        if (await client.get("/openapi.json")).status_code == 200:
                            break
                    except httpx.TransportError:
                        pass
                    await asyncio.sleep(0.1)
                else:
                    pytest.fail("uvicorn did not start")
                await asyncio.sleep(2.0)  # every worker up, not only the first to answer
                answers = await asyncio.gather(
                    *(client.post("/video", json={"prompt": f"boat {i}"}) for i in range(9))
                )
        finally:
            server.terminate()
            try:
                await asyncio.wait_for(asyncio.to_thread(server.wait), 20)
            except TimeoutError:
                server.kill()
    assert all(a.status_code == 200 for a in answers), [a.text for a in answers]
    ids = [a.json()["task_id"] for a in answers]
    assert len(set(ids)) == 9
    for answer in answers:  # each request got the video of the task it made
        assert f"/files/{answer.json()['task_id']}/" in answer.json()["video"]
    assert gateway.callbacks.counts["answered"] >= 9
