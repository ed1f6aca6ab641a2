"""The gateway's counters, its JSON stats endpoint, and its file host."""

from __future__ import annotations

import asyncio

import aiohttp

from anyint_async import AnyIntSession
from anyint_async.testing import FakeGateway, Fixed, Slow, TruncatedBody

from ..conftest import API_KEY, FAST_PROFILES
from .helpers import settle


async def test_counters_track_requests_creates_polls_and_finish_times(
    session: AnyIntSession, gateway: FakeGateway
) -> None:
    tasks = [await session.kling.images.create(prompt="same prompt") for _ in range(2)]
    tasks.append(await session.dashscope.videos.create(model="wan2.5-t2v", prompt="other"))
    done = [await settle(session, t) for t in tasks]
    stats = gateway.stats
    assert stats.requests["kling.images.create"] == 2
    assert stats.requests["dashscope.videos.create"] == 1
    assert stats.creates[("kling.images.create", "same prompt")] == 2
    assert stats.duplicate_creates() == {("kling.images.create", "same prompt"): 2}
    assert stats.tasks_created == 3
    for task in done:
        assert stats.polls[task.id] >= 1
        assert task.id in stats.finished_at
    assert (
        sum(stats.polls.values())
        == stats.requests["kling.images.get"] + stats.requests["dashscope.tasks.get"]
    )
    finished = stats.finished_at[done[2].id]
    assert done[2].finished_at is not None
    assert abs(done[2].finished_at.timestamp() - finished) < 0.01  # the wire time agrees


async def test_peak_concurrency_is_measured(session: AnyIntSession, gateway: FakeGateway) -> None:
    gateway.add_fault(Slow(routes=["query"], delay=0.2))
    await asyncio.gather(*(session.dashscope.tasks.get(f"t{i}") for i in range(8)))
    assert gateway.stats.peak_concurrent == 8
    assert gateway.stats.in_flight == 0


async def test_stats_endpoint_matches_python_counters(
    session: AnyIntSession, gateway: FakeGateway
) -> None:
    task = await session.kling.omni_video.create(prompt="boat", external_task_id="job-9")
    await settle(session, task)
    async with aiohttp.ClientSession() as http, http.get(f"{gateway.url}/_sim/stats") as response:
        data = await response.json()
    assert data["requests"] == dict(gateway.stats.requests)
    assert data["polls"] == dict(gateway.stats.polls)
    assert data["creates"] == [{"route": "kling.omni_video.create", "prompt": "boat", "count": 1}]
    assert data["creates_by_external_id"][0]["external_task_id"] == "job-9"
    assert data["finished_at"][task.id] == gateway.stats.finished_at[task.id]
    assert data["files_url"] == gateway.files_url
    assert len(data["log"]) == len(gateway.stats.log)


async def test_faults_can_be_injected_over_http(gateway: FakeGateway) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            f"{gateway.url}/_sim/faults", json={"kind": "server_error", "status": 503, "times": 1}
        ) as r:
            assert r.status == 200
        async with http.post(f"{gateway.url}/_sim/faults", json={"kind": "nope"}) as r:
            assert r.status == 400
        headers = {"Authorization": "Bearer k"}
        async with http.get(f"{gateway.url}/dashscope/v1/tasks/x", headers=headers) as r:
            assert r.status == 503 and (await r.json())["code"] == "ServiceUnavailable"
        async with http.get(f"{gateway.url}/_sim/faults") as r:
            assert (await r.json())[0]["fired"] == 1
        async with http.delete(f"{gateway.url}/_sim/faults") as r:
            assert await r.json() == []
    assert gateway.faults == []


async def test_result_files_are_real_and_need_no_key(
    session: AnyIntSession, gateway: FakeGateway
) -> None:
    image = await session.dashscope.images.generate(model="qwen-image-plus", prompt="poster")
    video = await settle(session, await session.kling.omni_video.create(prompt="boat", duration=5))
    async with aiohttp.ClientSession() as http:
        async with http.get(image.urls[0]) as r:
            png = await r.read()
            assert r.status == 200 and r.content_type == "image/png"
        async with http.get(video.urls[0]) as r:
            mp4 = await r.read()
            assert r.status == 200 and r.content_type == "video/mp4"
            assert r.content_length == len(mp4)
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and png.endswith(b"IEND\xaeB`\x82")
    assert mp4[4:8] == b"ftyp" and b"mdat" in mp4[:64]
    assert gateway.stats.file_requests == 2
    assert gateway.stats.file_auth_headers == 0


async def test_file_host_counts_leaked_authorization_headers(
    session: AnyIntSession, gateway: FakeGateway
) -> None:
    image = await session.dashscope.images.generate(model="qwen-image-plus", prompt="poster")
    async with (
        aiohttp.ClientSession() as http,
        http.get(image.urls[0], headers={"Authorization": f"Bearer {API_KEY}"}),
    ):
        pass
    assert gateway.stats.file_auth_headers == 1
    assert API_KEY not in str(gateway.stats.to_json())  # counted, never stored


async def test_expired_and_tampered_urls_are_refused() -> None:
    async with FakeGateway(profiles=FAST_PROFILES, url_ttl=0.1) as gw:
        async with AnyIntSession(API_KEY, base_url=gw.url) as session:
            image = await session.dashscope.images.generate(model="qwen-image-plus", prompt="p")
        url = image.urls[0]
        async with aiohttp.ClientSession() as http:
            async with http.get(url.replace("Signature=", "Signature=0")) as r:
                assert r.status == 403 and "SignatureDoesNotMatch" in await r.text()
            async with http.get(url) as r:
                assert r.status == 200
            await asyncio.sleep(0.15)
            async with http.get(url) as r:
                assert r.status == 403 and "Request has expired" in await r.text()


async def test_truncated_file_download_is_detectably_short(
    session: AnyIntSession, gateway: FakeGateway
) -> None:
    video = await settle(session, await session.kling.omni_video.create(prompt="boat", duration=5))
    gateway.add_fault(TruncatedBody(routes=["file"], times=1))
    async with aiohttp.ClientSession() as http:
        try:
            async with http.get(video.urls[0]) as r:
                await r.read()
            truncated_ok = False
        except aiohttp.ClientPayloadError:
            truncated_ok = True
        async with http.get(video.urls[0]) as r:
            assert len(await r.read()) == r.content_length
    assert truncated_ok


async def test_same_seed_same_fates_whatever_the_arrival_order() -> None:
    from anyint_async.testing import LogNormal, ModelProfile

    profiles = {"bench": ModelProfile(run=LogNormal(5.0, 0.5), queue=Fixed(0.0))}
    durations = []
    for order in (range(12), reversed(range(12))):
        async with FakeGateway(profiles=profiles, seed=9, fail_rate=0.3) as gw:
            async with AnyIntSession(API_KEY, base_url=gw.url) as session:
                for i in order:
                    await session.dashscope.videos.create(model="bench", prompt=f"p{i}")
            by_prompt = {}
            for task in gw.store.tasks.values():
                by_prompt[task.prompt] = (round(task.finishes - task.created, 6), task.fails)
            durations.append(by_prompt)
    assert durations[0] == durations[1]
    assert len({d for d, _ in durations[0].values()}) == 12  # and they do differ per prompt
