"""Downloads of result files from the simulated gateway's file host."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from anyint_async import (
    AnyIntSession,
    DownloadError,
    InvalidParameterError,
    PollPolicy,
    ResultExpiredError,
    Task,
    TaskRoute,
    TaskStatus,
)
from anyint_async.testing import FakeGateway, ServerError, TruncatedBody

from ..conftest import API_KEY, FAST_PROFILES, FAST_RETRY

QUICK = PollPolicy(first_poll=0.05, interval=0.03, max_interval=0.1)


def _files(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())


async def test_downloads_every_file_with_the_right_extension(
    session: AnyIntSession, gateway: FakeGateway, tmp_path: Path
) -> None:
    images = await session.wait(await session.kling.images.create(prompt="fox", n=2), policy=QUICK)
    video = await session.wait(await session.kling.omni_video.create(prompt="boat"), policy=QUICK)
    generated = await session.dashscope.images.generate(model="qwen-image-plus", prompt="poster")
    image_paths = await session.download(images, tmp_path / "heroes", name="fox")
    video_paths = await session.download(video, tmp_path)
    poster = await session.download(generated, tmp_path, name="poster")
    assert [p.name for p in image_paths] == ["fox@1.png", "fox@2.png"]
    assert image_paths[0].parent == tmp_path / "heroes"
    assert video_paths == [tmp_path / f"{video.id}.mp4"]
    assert poster == [tmp_path / "poster.png"]
    assert image_paths[0].read_bytes().startswith(b"\x89PNG")
    assert video_paths[0].read_bytes()[4:8] == b"ftyp"
    assert video_paths[0].stat().st_size == 64 * 1024
    assert _files(tmp_path) == sorted(
        ["heroes/fox@1.png", "heroes/fox@2.png", f"{video.id}.mp4", "poster.png"]
    )
    assert gateway.stats.file_requests == 4
    assert gateway.stats.file_auth_headers == 0, "the API key never goes to the file host"


@pytest.mark.parametrize(
    "name",
    [
        "../escape",
        "/etc/evil",
        "a/../../b",
        "..",
        ".",
        "",
        " ",
        "a\x00b",
        "a\\b",
        "x" * 201,
        "é" * 101,
    ],
)
async def test_names_that_escape_the_folder_are_refused(
    session: AnyIntSession, gateway: FakeGateway, tmp_path: Path, name: str
) -> None:
    done = await session.wait(await session.kling.images.create(prompt="fox"), policy=QUICK)
    target = tmp_path / "out"
    with pytest.raises(InvalidParameterError) as caught:
        await session.download(done, target, name=name)
    assert caught.value.field == "name"
    assert gateway.stats.file_requests == 0
    assert _files(tmp_path) == []


async def test_unfinished_or_failed_tasks_have_nothing_to_download(
    session: AnyIntSession, tmp_path: Path
) -> None:
    pending = await session.kling.images.create(prompt="fox")
    with pytest.raises(InvalidParameterError, match="wait for it first"):
        await session.download(pending, tmp_path)
    failed = await anext(
        session.as_completed([await session.kling.images.create(prompt="#fail")], policy=QUICK)
    )
    with pytest.raises(InvalidParameterError, match="FAILED"):
        await session.download(failed, tmp_path)


async def test_expired_url_says_so_and_a_refresh_brings_a_fresh_one(tmp_path: Path) -> None:
    async with FakeGateway(profiles=FAST_PROFILES, url_ttl=0.2) as gw:
        async with AnyIntSession(API_KEY, base_url=gw.url, retry_policy=FAST_RETRY) as session:
            done = await session.wait(
                await session.kling.omni_video.create(prompt="boat"), policy=QUICK
            )
            await asyncio.sleep(0.3)
            with pytest.raises(ResultExpiredError) as caught:
                await session.download(done, tmp_path, name="boat")
            message = str(caught.value)
            assert "expired" in message and "session.refresh(task)" in message
            assert "Signature" not in message and "Signature" not in caught.value.url
            fresh = await session.refresh(done)
            assert await session.download(fresh, tmp_path, name="boat") == [tmp_path / "boat.mp4"]
    assert _files(tmp_path) == ["boat.mp4"]


async def test_transient_file_host_failures_are_retried(
    session: AnyIntSession, gateway: FakeGateway, tmp_path: Path
) -> None:
    done = await session.wait(await session.kling.omni_video.create(prompt="boat"), policy=QUICK)
    gateway.add_fault(ServerError(routes=["file"], status=503, times=1))
    gateway.add_fault(TruncatedBody(routes=["file"], times=1))
    paths = await session.download(done, tmp_path, name="boat")
    assert paths[0].stat().st_size == 64 * 1024
    assert gateway.stats.file_requests == 3
    assert _files(tmp_path) == ["boat.mp4"]  # no .part left behind


async def test_a_download_that_keeps_breaking_leaves_no_partial_file(
    session: AnyIntSession, gateway: FakeGateway, tmp_path: Path
) -> None:
    done = await session.wait(await session.kling.omni_video.create(prompt="boat"), policy=QUICK)
    gateway.add_fault(TruncatedBody(routes=["file"]))
    with pytest.raises(DownloadError) as caught:
        await session.download(done, tmp_path, name="boat")
    assert "after 4 attempts" in str(caught.value)
    assert _files(tmp_path) == []


async def test_downloads_are_bounded(gateway: FakeGateway, tmp_path: Path) -> None:
    from anyint_async.testing import Slow

    gateway.add_fault(Slow(routes=["file"], delay=0.1))
    async with AnyIntSession(API_KEY, base_url=gateway.url, max_downloads=2) as session:
        done = await session.wait(
            await session.kling.images.create(prompt="fox", n=6), policy=QUICK
        )
        gateway.reset_stats()
        paths = await session.download(done, tmp_path)
    assert len(paths) == 6
    assert gateway.stats.peak_concurrent <= 2


def test_download_rejects_other_objects(tmp_path: Path) -> None:
    session = AnyIntSession(API_KEY, base_url="http://127.0.0.1:9")
    task = Task(id="x", status=TaskStatus.SUCCEEDED, route=TaskRoute.KLING_IMAGES)  # no URLs
    with pytest.raises(InvalidParameterError, match="nothing to download"):
        asyncio.run(session.download(task, tmp_path))
    with pytest.raises(InvalidParameterError, match="Task or an ImageResult"):
        asyncio.run(session.download("https://x/y.png", tmp_path))  # type: ignore[arg-type]
