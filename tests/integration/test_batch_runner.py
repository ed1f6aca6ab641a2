"""The batch runner against the simulated gateway, in process."""

from __future__ import annotations

from pathlib import Path

import pytest

from anyint_async import AnyIntSession, TaskStatus
from anyint_async.batch import BatchFileError, BatchProgress, BatchRequest, BatchRunner
from anyint_async.testing import DropConnection, FakeGateway, Fixed, KlingCode, ModelProfile

from ..conftest import API_KEY, FAST_PROFILES, FAST_RETRY
from .helpers import QUICK, read_manifest


def _jobs(count: int) -> list[BatchRequest]:
    routes = [
        "dashscope.images",
        "dashscope.videos",
        "kling.images",
        "kling.omni_image",
        "kling.omni_video",
    ]
    jobs = []
    for i in range(count):
        route = routes[i % len(routes)]
        params: dict[str, object] = {"prompt": f"job {i}"}
        if route == "dashscope.images":
            params["model"] = "qwen-image-plus"
        elif route == "dashscope.videos":
            params["model"] = "wan2.5-t2v"
        jobs.append(BatchRequest(key=f"job-{i:03d}", route=route, params=params))
    return jobs


@pytest.fixture
async def session(gateway: FakeGateway):  # type: ignore[no-untyped-def]
    async with AnyIntSession(
        API_KEY, base_url=gateway.url, retry_policy=FAST_RETRY, poll_policy=QUICK
    ) as s:
        yield s


async def test_runs_every_route_to_files_and_manifest(
    session: AnyIntSession, gateway: FakeGateway, tmp_path: Path
) -> None:
    jobs = _jobs(25)
    landed = []
    async with BatchRunner(session, jobs, tmp_path, concurrency=4).results() as results:
        async for result in results:
            landed.append(result)
    assert sorted(r.key for r in landed) == [j.key for j in jobs]
    assert all(r.succeeded and r.files for r in landed)
    for result in landed:
        for path in result.files:
            assert path.exists() and path.parent == tmp_path
    manifest = read_manifest(tmp_path)
    assert list(manifest) == [j.key for j in jobs]  # batch order, one line per key
    entry = manifest["job-004"]
    assert entry["status"] == "SUCCEEDED" and entry["done"] is True
    assert entry["files"] == ["job-004.mp4"] and entry["task_id"]
    assert entry["timings"]["seconds"] is not None
    assert (
        manifest["job-000"]["files"] == ["job-000.png"] and manifest["job-000"]["task_id"] is None
    )
    # Kling jobs carry their key and the folder's token as external_task_id.
    external = manifest["job-002"]["external_task_id"]
    assert isinstance(external, str) and external.startswith("job-002.")
    assert gateway.stats.creates_by_external_id[("kling.images.create", external)] == 1
    assert manifest["job-001"]["external_task_id"] is None
    assert gateway.stats.file_auth_headers == 0


async def test_rerun_skips_done_jobs(
    session: AnyIntSession, gateway: FakeGateway, tmp_path: Path
) -> None:
    jobs = _jobs(10)
    await BatchRunner(session, jobs, tmp_path).run()
    created = gateway.stats.tasks_created
    again = await BatchRunner(session, jobs, tmp_path).run()
    assert gateway.stats.tasks_created == created
    assert all(r.resumed and r.succeeded for r in again)
    assert sorted(r.key for r in again) == [j.key for j in jobs]


async def test_changed_params_for_a_known_key_are_refused(
    session: AnyIntSession, tmp_path: Path
) -> None:
    jobs = _jobs(2)
    await BatchRunner(session, jobs, tmp_path).run()
    changed = [
        jobs[0],
        BatchRequest(jobs[1].key, jobs[1].route, {**jobs[1].params, "prompt": "other"}),
    ]
    with pytest.raises(BatchFileError, match="job-001: this key was run into this folder before"):
        await BatchRunner(session, changed, tmp_path).run()


async def test_failed_tasks_and_refused_creates_are_reported(
    session: AnyIntSession, tmp_path: Path
) -> None:
    jobs = [
        BatchRequest("bad-task", "kling.images", {"prompt": "#fail"}),
        BatchRequest(
            "bad-image", "dashscope.images", {"model": "qwen-image-plus", "prompt": "#fail"}
        ),
        BatchRequest(
            "refused", "kling.omni_video", {"prompt": "p", "extra_body": {"mode": "ultra"}}
        ),
        BatchRequest("fine", "kling.images", {"prompt": "ok"}),
    ]
    results = {r.key: r for r in await BatchRunner(session, jobs, tmp_path).run()}
    assert results["bad-task"].status is TaskStatus.FAILED and results["bad-task"].error is not None
    assert results["bad-image"].status is TaskStatus.FAILED
    assert (
        results["bad-image"].error is not None
        and results["bad-image"].error.code == "DataInspectionFailed"
    )
    assert results["refused"].status is TaskStatus.FAILED
    assert results["refused"].error is not None and results["refused"].error.code == "1201"
    assert results["fine"].succeeded
    manifest = read_manifest(tmp_path)
    assert manifest["refused"]["error"]["code"] == "1201"


async def test_ambiguous_kling_create_is_looked_up_not_repeated(
    session: AnyIntSession, gateway: FakeGateway, tmp_path: Path
) -> None:
    gateway.add_fault(DropConnection(routes=["kling.omni_video.create"], times=1))
    [result] = await BatchRunner(
        session, [BatchRequest("boat", "kling.omni_video", {"prompt": "boat"})], tmp_path
    ).run()
    assert result.succeeded and result.files
    assert gateway.stats.creates[("kling.omni_video.create", "boat")] == 1
    assert gateway.stats.requests["kling.omni_video.create"] == 1


async def test_ambiguous_dashscope_create_is_reported_not_repeated(
    session: AnyIntSession, gateway: FakeGateway, tmp_path: Path
) -> None:
    gateway.add_fault(DropConnection(routes=["dashscope.videos.create"], times=1))
    job = BatchRequest("clip", "dashscope.videos", {"model": "wan2.5-t2v", "prompt": "clip"})
    [result] = await BatchRunner(session, [job], tmp_path).run()
    assert result.status is TaskStatus.UNKNOWN and not result.succeeded
    assert result.error is not None and result.error.code == "CreateOutcomeUnknown"
    assert result.note is not None and "not sent again" in result.note
    assert gateway.stats.creates[("dashscope.videos.create", "clip")] == 1
    assert read_manifest(tmp_path)["clip"]["status"] == "UNKNOWN"
    # The user may choose to pay again, explicitly, in another folder.
    gateway.add_fault(DropConnection(routes=["dashscope.videos.create"], times=1))
    [again] = await BatchRunner(session, [job], tmp_path / "again", retry_uncertain=True).run()
    assert again.succeeded
    assert gateway.stats.creates[("dashscope.videos.create", "clip")] == 3


async def test_concurrency_limit_1303_waits_for_a_slot(tmp_path: Path) -> None:
    profiles = {**FAST_PROFILES, "kling.images": ModelProfile(run=Fixed(0.2), queue=Fixed(0.0))}
    async with FakeGateway(profiles=profiles, max_in_flight=2) as gw:
        async with AnyIntSession(
            API_KEY, base_url=gw.url, retry_policy=FAST_RETRY, poll_policy=QUICK
        ) as session:
            jobs = [BatchRequest(f"k{i}", "kling.images", {"prompt": f"p{i}"}) for i in range(8)]
            results = await BatchRunner(session, jobs, tmp_path, concurrency=6).run()
    assert all(r.succeeded for r in results)
    assert gw.stats.statuses["kling.images.create 429"] > 0, "the cap was hit"
    assert all(n == 1 for n in gw.stats.creates.values())


async def test_rate_limited_creates_retry_into_one_task(
    session: AnyIntSession, gateway: FakeGateway, tmp_path: Path
) -> None:
    gateway.add_fault(KlingCode(routes=["create"], code=1302, http_status=429, times=6))
    jobs = [BatchRequest(f"r{i}", "kling.images", {"prompt": f"p{i}"}) for i in range(3)]
    results = await BatchRunner(session, jobs, tmp_path).run()
    assert all(r.succeeded for r in results)
    assert all(n == 1 for n in gateway.stats.creates.values())


async def test_stop_keeps_created_tasks_for_the_next_run(
    gateway: FakeGateway, tmp_path: Path
) -> None:
    gateway.profiles["slow"] = ModelProfile(run=Fixed(0.6), queue=Fixed(0.0))
    jobs = [
        BatchRequest(f"s{i}", "dashscope.videos", {"model": "slow", "prompt": f"p{i}"})
        for i in range(4)
    ]
    async with AnyIntSession(API_KEY, base_url=gateway.url, poll_policy=QUICK) as session:

        def stop_once_all_are_created(progress: BatchProgress) -> None:
            if progress.states["created"] + progress.states["running"] == len(jobs):
                runner.stop()

        runner = BatchRunner(
            session, jobs, tmp_path, concurrency=4, on_progress=stop_once_all_are_created
        )
        seen = []
        async with runner.results() as results:
            async for result in results:
                seen.append(result)
        manifest = read_manifest(tmp_path)
        assert seen == []
        assert all(entry["status"] in ("PENDING", "RUNNING") for entry in manifest.values())
        created = gateway.stats.tasks_created
        assert created == len(jobs)
        results = await BatchRunner(session, jobs, tmp_path).run()
    assert all(r.succeeded for r in results)
    assert gateway.stats.tasks_created == created  # polled again, never re-created


async def test_failed_lookup_leaves_the_job_for_the_next_run(
    session: AnyIntSession, gateway: FakeGateway, tmp_path: Path
) -> None:
    from anyint_async.testing import ServerError

    job = BatchRequest("boat", "kling.omni_video", {"prompt": "boat"})
    gateway.add_fault(DropConnection(routes=["kling.omni_video.create"], times=1))
    gateway.add_fault(ServerError(routes=["kling.omni_video.get"], status=503))
    [first] = await BatchRunner(session, [job], tmp_path).run()
    assert first.status is TaskStatus.UNKNOWN
    assert first.note is not None and "re-run the batch to look it up again" in first.note
    assert read_manifest(tmp_path)["boat"]["done"] is False
    gateway.clear_faults()
    [second] = await BatchRunner(session, [job], tmp_path).run()
    assert second.succeeded and second.files
    assert gateway.stats.creates[("kling.omni_video.create", "boat")] == 1
