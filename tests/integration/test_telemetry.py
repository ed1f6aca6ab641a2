"""OpenTelemetry: the spans and metrics of a small batch, read from the SDK's in-memory
exporters; and, without OpenTelemetry installed, nothing changes and nothing is imported."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from anyint_async import AnyIntSession, PollPolicy
from anyint_async.batch import BatchRequest, BatchRunner
from anyint_async.testing import FakeGateway

from ..conftest import API_KEY, FAST_RETRY

QUICK = PollPolicy(first_poll=0.05, interval=0.03, max_interval=0.1)
_SPANS = InMemorySpanExporter()
_METRICS = InMemoryMetricReader()


@pytest.fixture(scope="module", autouse=True)
def _providers() -> None:
    # Global providers can be set once per process; this module is the only one that does.
    tracer_provider = TracerProvider()
    tracer_provider.add_span_processor(SimpleSpanProcessor(_SPANS))
    trace.set_tracer_provider(tracer_provider)
    metrics.set_meter_provider(MeterProvider(metric_readers=[_METRICS]))


async def test_a_batch_records_a_span_per_task_with_its_creates_and_downloads(
    gateway: FakeGateway, tmp_path: Path
) -> None:
    _SPANS.clear()
    jobs = [
        BatchRequest("fox", "kling.images", {"prompt": "fox", "n": 2}),
        BatchRequest("boat", "kling.omni_video", {"prompt": "boat"}),
        BatchRequest("clip", "dashscope.videos", {"model": "wan2.5-t2v", "prompt": "clip"}),
        BatchRequest("bad", "kling.omni_image", {"prompt": "#fail"}),
        BatchRequest("poster", "dashscope.images", {"model": "qwen-image-plus", "prompt": "p"}),
    ]
    async with AnyIntSession(
        API_KEY, base_url=gateway.url, retry_policy=FAST_RETRY, poll_policy=QUICK
    ) as session:
        results = await BatchRunner(session, jobs, tmp_path).run()
        leftover = await session.kling.images.create(prompt="never waited for")
    assert len(results) == 5
    spans = _SPANS.get_finished_spans()
    tasks = {s.attributes["anyint.task.id"]: s for s in spans if s.name == "anyint.task"}
    finished = {
        task_id: span
        for task_id, span in tasks.items()
        if span.attributes["anyint.task.status"] != "unobserved"
    }
    assert len(finished) == 4
    statuses = sorted(str(s.attributes["anyint.task.status"]) for s in finished.values())
    assert statuses == ["FAILED", "SUCCEEDED", "SUCCEEDED", "SUCCEEDED"]
    for span in finished.values():
        assert span.attributes["anyint.route"] in (
            "kling.images",
            "kling.omni_video",
            "kling.omni_image",
            "dashscope.tasks",
        )
        assert span.attributes["anyint.model"]
        assert int(span.attributes["anyint.queries"]) >= 1
        assert float(span.attributes["anyint.detection_delay_s"]) >= 0
    # The task never waited for is closed with the session, and says so.
    assert tasks[leftover.id].attributes["anyint.task.status"] == "unobserved"
    # Creates and downloads are children of their task's span.
    ids = {span.context.span_id: span for span in tasks.values()}
    creates = [s for s in spans if s.name == "anyint.create"]
    assert len(creates) == 5 and all(s.parent.span_id in ids for s in creates)
    downloads = [s for s in spans if s.name == "anyint.download"]
    task_downloads = [s for s in downloads if s.parent is not None and s.parent.span_id in ids]
    assert len(task_downloads) == 3
    assert [s.name for s in spans].count("anyint.generate") == 1

    data = _METRICS.get_metrics_data()
    points = {
        metric.name: metric.data.data_points
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert sum(point.value for point in points["anyint.queries"]) >= 4
    # What was made, by unit: the succeeded tasks and the image, each counted once.
    billed: dict[str, float] = {}
    for point in points["anyint.billed"]:  # one point per unit and route
        unit = str(point.attributes["unit"])
        billed[unit] = billed.get(unit, 0) + point.value
    assert billed == {
        "kling_units": 3.0,  # fox (n=2) and boat
        "video_seconds": 5.0,  # clip, DashScope's default duration on the gateway
        "videos": 1,
        "images": 1,  # the poster
    }
    # The gateway bills the task never waited for too; the session saw it make nothing.
    assert gateway.stats.billed == {**billed, "kling_units": 4}
    clip = next(s for s in finished.values() if s.attributes["anyint.route"] == "dashscope.tasks")
    assert clip.attributes["anyint.usage.duration"] == 5.0
    assert clip.attributes["anyint.usage.video_count"] == 1
    assert "anyint.tasks.tracked" in points and "anyint.queries.in_flight" in points


_SESSION_SCRIPT = (
    "from anyint_async import AnyIntSession, PollPolicy\n"
    "from anyint_async.testing import FakeGateway\n"
    "async def main():\n"
    "    async with FakeGateway(time_scale=0.001) as gw:\n"
    "        async with AnyIntSession('k', base_url=gw.url) as s:\n"
)


def _run(script: str) -> str:
    """Run ``script`` in a fresh interpreter (a process with no tracer provider set); its
    output."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_without_opentelemetry_nothing_changes_and_nothing_is_imported() -> None:
    script = (
        "import sys, asyncio\n"
        "class Blocker:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'opentelemetry' or name.startswith('opentelemetry.'):\n"
        "            raise ImportError(name)\n"
        "sys.meta_path.insert(0, Blocker())\n"
        + _SESSION_SCRIPT
        + "            task = await s.kling.images.create(prompt='fox')\n"
        "            done = await s.wait(task, policy=PollPolicy(first_poll=0.05, interval=0.05))\n"
        "            assert done.succeeded\n"
        "asyncio.run(main())\n"
        "assert not [m for m in sys.modules if m.startswith('opentelemetry')]\n"
        "print('ok')\n"
    )
    assert _run(script).strip() == "ok"


def test_with_the_api_but_no_tracer_provider_no_span_is_kept_per_task() -> None:
    # opentelemetry-api installed (a dependency of something else) with nothing configured:
    # its spans are no-ops, and a batch of long tasks must not hold one each.
    script = (
        "import asyncio\n" + _SESSION_SCRIPT + "            for i in range(5):\n"
        "                await s.dashscope.videos.create(model='wan2.6-t2v', prompt=f'p{i}')\n"
        "            print(s._telemetry.enabled, len(s._telemetry._open))\n"
        "asyncio.run(main())\n"
    )
    assert _run(script).split() == ["True", "0"]
