"""The batch's edges: one job's local fault, lost Kling answers, keys reused in another folder."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from anyint_async import AnyIntSession, TaskStatus
from anyint_async.batch import BatchRequest, BatchRunner
from anyint_async.testing import DropConnection, FakeGateway, ServerError

from ..conftest import API_KEY, FAST_RETRY
from .helpers import QUICK, read_manifest


@pytest.fixture
async def session(gateway: FakeGateway):  # type: ignore[no-untyped-def]
    async with AnyIntSession(
        API_KEY, base_url=gateway.url, retry_policy=FAST_RETRY, poll_policy=QUICK
    ) as s:
        yield s


JOBS = [
    BatchRequest("clip", "kling.omni_video", {"prompt": "clip"}),
    BatchRequest("fox", "kling.images", {"prompt": "fox", "n": 2}),
    BatchRequest("fox-1", "kling.images", {"prompt": "another fox"}),
    BatchRequest("poster", "dashscope.images", {"model": "qwen-image-plus", "prompt": "poster"}),
    BatchRequest("movie", "dashscope.videos", {"model": "wan2.5-t2v", "prompt": "movie"}),
]


async def test_jobs_whose_names_look_alike_keep_their_own_files(
    session: AnyIntSession, tmp_path: Path
) -> None:
    results = {r.key: r for r in await BatchRunner(session, JOBS, tmp_path).run()}
    assert all(r.succeeded for r in results.values())
    assert [p.name for p in results["fox"].files] == ["fox@1.png", "fox@2.png"]
    assert [p.name for p in results["fox-1"].files] == ["fox-1.png"]
    every = [p for r in results.values() for p in r.files]
    assert len(set(every)) == len(every) == 6


@pytest.mark.parametrize("blocked", ["clip", "poster"])
async def test_a_file_that_cannot_be_written_fails_its_job_only(
    session: AnyIntSession, gateway: FakeGateway, tmp_path: Path, blocked: str
) -> None:
    # A folder stands where the job's one file goes: the disk refuses that file alone.
    extension = ".mp4" if blocked == "clip" else ".png"
    (tmp_path / f"{blocked}{extension}").mkdir()
    results = {r.key: r for r in await BatchRunner(session, JOBS, tmp_path).run()}
    assert set(results) == {job.key for job in JOBS}, "every job is reported"
    failed = results[blocked]
    assert failed.status is TaskStatus.SUCCEEDED and not failed.succeeded and not failed.saved
    assert failed.error is not None and failed.error.code == "FileWriteFailed"
    assert failed.note is not None and "a folder stands where the file goes" in failed.note
    assert all(r.succeeded and r.files for k, r in results.items() if k != blocked)
    entry = read_manifest(tmp_path)[blocked]
    assert entry["status"] == "SUCCEEDED" and entry["done"] is False
    assert entry["error"]["code"] == "FileWriteFailed"  # type: ignore[index]
    assert "nothing is created again" in str(entry["note"])
    created = dict(gateway.stats.creates)

    (tmp_path / f"{blocked}{extension}").rmdir()
    again = {r.key: r for r in await BatchRunner(session, JOBS, tmp_path).run()}
    assert again[blocked].succeeded and again[blocked].files
    assert (tmp_path / f"{blocked}{extension}").is_file()
    assert dict(gateway.stats.creates) == created, "saved on the re-run, never created twice"
    assert read_manifest(tmp_path)[blocked]["done"] is True


async def test_a_download_that_keeps_failing_fails_its_job_only(
    session: AnyIntSession, gateway: FakeGateway, tmp_path: Path
) -> None:
    jobs = JOBS[:3]
    results = {r.key: r for r in await BatchRunner(session, jobs[:2], tmp_path).run()}
    assert all(r.succeeded for r in results.values())
    gateway.add_fault(ServerError(routes=["file"], status=503))
    [result] = [r for r in await BatchRunner(session, jobs, tmp_path).run() if not r.resumed]
    assert [result.key, result.status] == ["fox-1", TaskStatus.SUCCEEDED]
    assert result.error is not None and result.error.code == "DownloadFailed"
    assert read_manifest(tmp_path)["fox-1"]["done"] is False
    gateway.clear_faults()
    again = {r.key: r for r in await BatchRunner(session, jobs, tmp_path).run()}
    assert again["fox-1"].succeeded and not again["fox-1"].resumed
    assert gateway.stats.creates[("kling.images.create", "another fox")] == 1


async def test_a_lost_kling_answer_is_adopted_by_its_external_id(
    session: AnyIntSession, gateway: FakeGateway, tmp_path: Path
) -> None:
    gateway.add_fault(DropConnection(routes=["kling.images.create"], times=1))
    job = BatchRequest("heroes.01", "kling.images", {"prompt": "heroes"})
    [result] = await BatchRunner(session, [job], tmp_path).run()
    assert result.succeeded and result.files
    assert gateway.stats.creates[("kling.images.create", "heroes")] == 1
    external = read_manifest(tmp_path)["heroes.01"]["external_task_id"]
    assert isinstance(external, str) and external.startswith("heroes.01.")
    assert gateway.stats.polls[external] >= 1, "looked up by its external id"


async def test_the_same_keys_in_another_folder_make_their_own_tasks(
    session: AnyIntSession, gateway: FakeGateway, tmp_path: Path
) -> None:
    job = BatchRequest("boat", "kling.omni_video", {"prompt": "boat"})
    [first] = await BatchRunner(session, [job], tmp_path / "monday").run()
    [second] = await BatchRunner(session, [job], tmp_path / "tuesday").run()
    assert first.succeeded and second.succeeded
    assert first.task_id != second.task_id, "a new folder never adopts another folder's task"
    assert gateway.stats.creates[("kling.omni_video.create", "boat")] == 2


async def test_a_full_disk_fails_the_job_it_hits_and_keeps_the_rest(
    session: AnyIntSession, gateway: FakeGateway, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import errno

    from anyint_async import download

    real_write = download.FileSink.write

    def write(self: download.FileSink, data: bytes) -> None:
        if self.path.name.startswith("clip"):
            raise OSError(errno.ENOSPC, "No space left on device")
        real_write(self, data)

    monkeypatch.setattr(download.FileSink, "write", write)
    results = {r.key: r for r in await BatchRunner(session, JOBS, tmp_path).run()}
    assert results["clip"].error is not None
    assert results["clip"].error.code == "FileWriteFailed"
    assert "No space left on device" in (results["clip"].note or "")
    assert all(r.succeeded for k, r in results.items() if k != "clip")
    leftovers = [n for n in os.listdir(tmp_path) if n.startswith(".clip") and n.endswith(".part")]
    assert leftovers == [], "the partial file is cleaned up"
    monkeypatch.setattr(download.FileSink, "write", real_write)
    again = {r.key: r for r in await BatchRunner(session, JOBS, tmp_path).run()}
    assert again["clip"].succeeded and not again["clip"].resumed
    assert gateway.stats.creates[("kling.omni_video.create", "clip")] == 1
