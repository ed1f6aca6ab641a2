"""The work behind each ``anyint`` command."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shlex
import signal
import sys
import time
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
from rich.console import Console

from .._errors import ConfigurationError, DownloadError, TaskTimeoutError
from .._session import API_KEY_ENV, AnyIntSession
from ..batch import BatchRequest, BatchResult, BatchRunner, load_requests
from ..batch.routes import route_calls
from ..billing import BilledTotals, usage_to_json
from ..models import ImageResult, Task, TaskRoute
from ..polling import DEFAULT_POLICIES, POLL_PRESETS, PollPolicy
from ._display import (
    BatchDisplay,
    TaskStatusLine,
    failures_table,
    not_saved_lines,
    summary_table,
)
from ._routes import route_params
from ._signals import StopRequested, StopSignals

__all__ = ["run_batch", "run_demo", "run_single", "run_task_get"]

EXIT_OK, EXIT_FAILED, EXIT_STOPPED = 0, 1, 130
EXIT_TIMEOUT = 124  # as timeout(1): the task was still running when --timeout ran out


def _console(args: argparse.Namespace) -> Console:
    # Machine-readable output owns stdout; people's output goes to stderr then.
    return Console(stderr=bool(getattr(args, "json", False)))


def _session(args: argparse.Namespace) -> AnyIntSession:
    if not os.environ.get(API_KEY_ENV, "").strip():
        # On the command line there is no api_key= to pass: say what to set.
        raise ConfigurationError(
            f"no API key: set the {API_KEY_ENV} environment variable "
            f"(export {API_KEY_ENV}=sk-...); anyint demo needs none"
        )
    return AnyIntSession(
        base_url=args.base_url,
        poll_policy=_poll_policy(args),
        duration_memory=args.duration_memory,
    )


def _poll_policy(args: argparse.Namespace) -> str | dict[TaskRoute, PollPolicy] | None:
    """The session's ``poll_policy`` from the polling flags: the preset (``--poll``), with each
    given flag changed on every route's policy (the rest stay the route's own)."""
    changes: dict[str, Any] = {
        field: value
        for field, value in (
            ("first_poll", args.first_poll),
            ("interval", args.poll_interval),
            ("max_interval", args.max_poll_interval),
            ("target_delay", args.target_delay),
            ("target_delay_seconds", args.target_delay_seconds),
        )
        if value is not None
    }
    preset: str | None = args.poll
    if not changes:
        return preset
    policies = {}
    for route, policy in POLL_PRESETS[preset or "default"].items():
        changed = attrs.evolve(policy, **changes)
        # A first wait longer than the cap given (or the route's) would be cut at once.
        policies[route] = attrs.evolve(
            changed, max_interval=max(changed.max_interval, changed.interval)
        )
    return policies


def task_json(task: Task) -> dict[str, Any]:
    """A task as JSON for ``--json`` output."""
    return {
        "id": task.id,
        "status": task.status.value,
        "route": task.route.value,
        "model": task.model,
        "urls": list(task.urls),
        "error": attrs.asdict(task.error) if task.error else None,
        "request_id": task.request_id,
        "usage": usage_to_json(task.usage),
        "actual_prompt": task.actual_prompt,
    }


async def run_single(args: argparse.Namespace) -> int:
    """``anyint dashscope image|video``, ``anyint kling image|omni-image|omni-video``."""
    console = _console(args)
    params = route_params(args, args.route)
    out = Path(args.out)
    async with _session(args) as session:
        with StopSignals(lambda signum: _stopping(args)) as stops:
            try:
                if args.route == "dashscope.images":
                    if args.timeout is not None:
                        params["timeout"] = args.timeout
                    with console.status("generating image..."):
                        image = await stops.protect(session.dashscope.images.generate(**params))
                    files = await session.download(image, out, name=args.name or "image")
                    return _report_image(console, args, image, files)
                create = route_calls(session.dashscope, session.kling)[args.route]
                task = await stops.protect(create(**params))
            except StopRequested as stop:
                _notice(args, f"stopped ({signal.Signals(stop.signum).name}) {_GAVE_UP}")
                return stop.exit_code
            _announce(args, task)
            return await _wait_and_save(console, args, session, task, stops)


async def run_task_get(args: argparse.Namespace) -> int:
    """``anyint task get ID --provider ...``."""
    console = _console(args)
    async with _session(args) as session:
        task = await session.refresh(args.task_id, route=args.provider)
        if args.no_wait:
            _print(console, args, task, [])
            return EXIT_OK if not task.done or task.succeeded else EXIT_FAILED
        with StopSignals() as stops:
            return await _wait_and_save(console, args, session, task, stops)


_GAVE_UP = (
    "while the request was in flight: its answer was given up, and the task or image may "
    "have been made (and billed) upstream; check your provider console before sending it again"
)


def _stopping(args: argparse.Namespace) -> None:
    _notice(args, "stopping once the request in flight has answered (again to give it up)")


def _notice(args: argparse.Namespace, text: str, **fields: Any) -> None:
    """A lasting line for people on stderr; with --json, also an event on stdout."""
    print(text, file=sys.stderr, flush=True)
    if args.json and fields:
        sys.stdout.write(json.dumps(fields) + "\n")
        sys.stdout.flush()


def _announce(args: argparse.Namespace, task: Task) -> None:
    """Say the task's id and route the moment it exists: whatever happens next, the user can
    fetch it (``anyint task get``)."""
    _notice(
        args,
        f"created task {task.id} ({task.route.value})",
        event="created",
        task=task_json(task),
    )


def resume_command(args: argparse.Namespace, task: Task) -> str:
    """The exact command that waits for ``task`` again and saves its files."""
    provider = "dashscope" if task.route is TaskRoute.DASHSCOPE_TASKS else task.route.value
    parts = ["anyint", "task", "get", task.id, "--provider", provider, "--out", args.out]
    if args.name:
        parts += ["--name", args.name]
    if args.base_url:
        parts += ["--base-url", args.base_url]
    return shlex.join(parts)


def _goes_on(args: argparse.Namespace, task: Task, why: str, reason: str) -> None:
    command = resume_command(args, task)
    state = "is done upstream" if task.done else "goes on upstream and is billed as usual"
    _notice(
        args,
        f"{why}: task {task.id} ({task.route.value}) {state}; to wait for it and save its "
        f"files, run:\n  {command}",
        event="unfinished",
        reason=reason,
        task=task_json(task),
        resume=command,
    )


async def _wait_and_save(
    console: Console,
    args: argparse.Namespace,
    session: AnyIntSession,
    task: Task,
    stops: StopSignals,
) -> int:
    line = TaskStatusLine(console, task.id, task.status.value)
    stream = session.as_completed([task], timeout=args.timeout, on_event=line.on_event)
    try:
        with line:
            done = await stops.race(anext(stream))
    except StopRequested as stop:
        snapshot = stream.pending[0] if stream.pending else task
        _goes_on(args, snapshot, f"interrupted ({signal.Signals(stop.signum).name})", "signal")
        return stop.exit_code
    except TaskTimeoutError as exc:
        snapshot = exc.tasks[0] if exc.tasks else task
        _goes_on(
            args,
            snapshot,
            f"still {snapshot.status.value} after --timeout {args.timeout:g}s",
            "timeout",
        )
        return EXIT_TIMEOUT
    finally:
        await stream.aclose()
    files: list[Path] = []
    if done.succeeded:
        try:
            files = await session.download(done, Path(args.out), name=args.name or done.id)
        except DownloadError as exc:
            # The task is done and paid for: say how to fetch its files once the cause is fixed.
            _goes_on(args, done, f"succeeded, but its files were not saved ({exc})", "not_saved")
            return EXIT_FAILED
    _print(console, args, done, files)
    return EXIT_OK if done.succeeded else EXIT_FAILED


def _print(console: Console, args: argparse.Namespace, task: Task, files: Sequence[Path]) -> None:
    if args.json:
        payload = {"task": task_json(task), "files": [str(f) for f in files]}
        sys.stdout.write(json.dumps(payload) + "\n")
        return
    console.print(f"task {task.id} ({task.route.value}) [bold]{task.status.value}[/bold]")
    if task.error is not None:
        console.print(f"  error: {task.error.code or ''} {task.error.message or ''}".rstrip())
    for path in files:
        console.print(f"  saved {path}")
    if task.usage is not None:
        console.print(f"  {BilledTotals.of([task.usage]).line()}", markup=False, highlight=False)


def _report_image(
    console: Console, args: argparse.Namespace, image: ImageResult, files: Sequence[Path]
) -> int:
    if args.json:
        payload = {
            "image": {
                "urls": list(image.urls),
                "usage": attrs.asdict(image.usage),
                "request_id": image.request_id,
            },
            "files": [str(f) for f in files],
        }
        sys.stdout.write(json.dumps(payload) + "\n")
    else:
        for path in files:
            console.print(f"saved {path}")
    return EXIT_OK


async def run_batch(args: argparse.Namespace) -> int:
    """``anyint batch jobs.jsonl --out DIR``."""
    requests = load_requests(args.jobs)
    console = _console(args)
    async with _session(args) as session:
        return await execute_batch(
            console,
            session,
            requests,
            Path(args.out),
            concurrency=args.concurrency,
            creates_per_second=args.creates_per_second,
            retry_uncertain=args.retry_uncertain,
            title=Path(args.jobs).name,
            json_output=args.json,
        )


async def execute_batch(
    console: Console,
    session: AnyIntSession,
    requests: Sequence[BatchRequest],
    out_dir: Path,
    *,
    concurrency: int,
    creates_per_second: float | None = None,
    retry_uncertain: bool = False,
    title: str = "batch",
    json_output: bool = False,
) -> int:
    """Run a batch with a progress bar, Ctrl-C handling and a summary; return the exit code.

    The first Ctrl-C (or SIGTERM) lets creates in flight finish and be journaled, then stops;
    the next run resumes. A second Ctrl-C quits at once (the journal still holds every task).
    """
    display = BatchDisplay(console, len(requests), title)
    runner = BatchRunner(
        session,
        requests,
        out_dir,
        concurrency=concurrency,
        creates_per_second=creates_per_second,
        retry_uncertain=retry_uncertain,
        on_progress=display.update,
    )
    main_task = asyncio.current_task()

    def stop_gently(signum: int) -> None:
        console.print(
            "[yellow]stopping: letting creates in flight finish; run the same command "
            "again to resume (Ctrl-C again to quit now)[/yellow]"
        )
        runner.stop()

    def quit_now() -> None:
        if main_task is not None:
            main_task.cancel()

    results: list[BatchResult] = []
    # Ctrl-C, SIGTERM and a hang-up alike: the first stops gently, the second at once.
    with StopSignals(stop_gently, on_second=quit_now) as stops, display:
        async with runner.results() as stream:
            async for result in stream:
                results.append(result)
                if json_output:
                    sys.stdout.write(json.dumps(_result_json(result, out_dir)) + "\n")
                    sys.stdout.flush()
    console.print(summary_table(results, out_dir))
    failures = failures_table(results)
    if failures is not None:
        console.print(failures)
    for line in not_saved_lines(results):
        console.print(line, soft_wrap=True, markup=False, highlight=False)
    console.print(f"manifest: {out_dir / 'manifest.jsonl'}")
    if stops.received is not None:
        unfinished = len(requests) - len(results)
        console.print(f"stopped with {unfinished} job(s) unfinished; run again to resume")
    # Last, so it is what the user reads: every job once, resumed ones included.
    console.print(runner.billed.line(), soft_wrap=True, markup=False, highlight=False)
    if json_output:
        sys.stdout.write(json.dumps({"billed": runner.billed.to_json()}) + "\n")
        sys.stdout.flush()
    if stops.received is not None:
        return EXIT_STOPPED
    return EXIT_OK if all(r.succeeded for r in results) else EXIT_FAILED


def _result_json(result: BatchResult, out_dir: Path) -> dict[str, Any]:
    return {
        "key": result.key,
        "route": result.route,
        "status": result.status.value,
        "task_id": result.task_id,
        "files": [
            str(p.relative_to(out_dir.resolve())) if p.is_absolute() else str(p)
            for p in result.files
        ],
        "error": attrs.asdict(result.error) if result.error else None,
        "resumed": result.resumed,
        "usage": usage_to_json(result.usage),
    }


# --- the demo --------------------------------------------------------------------------------

_DEMO_TIME_SCALE = 0.002  # a four-minute video takes about half a second


_DEMO_JOBS: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "dashscope.images",
        {"model": "qwen-image-plus", "prompt": "A poster of {}", "size": "1328*1328"},
    ),
    ("dashscope.videos", {"model": "happyhorse-1.0-t2v", "prompt": "{} at night", "duration": 10}),
    (
        "dashscope.videos",
        {
            "model": "wan2.5-i2v-preview",
            "prompt": "{} in the rain",
            "img_url": "https://example.com/source.png",
        },
    ),
    ("kling.images", {"prompt": "{}, studio light", "n": 2}),
    ("kling.omni_image", {"prompt": "{} as a watercolor"}),
    ("kling.omni_video", {"prompt": "{} drifting slowly", "duration": "5", "mode": "std"}),
)
_DEMO_SUBJECTS = ("a paper boat", "a neon street", "a red fox", "a lighthouse", "a jazz trio")


def demo_requests(count: int, seed: int = 1) -> list[BatchRequest]:
    """A mixed batch over every route, with the seed's models."""
    rng = random.Random(seed)
    requests = []
    for i in range(count):
        route, template = _DEMO_JOBS[i % len(_DEMO_JOBS)]
        params = dict(template)
        params["prompt"] = template["prompt"].format(rng.choice(_DEMO_SUBJECTS))
        requests.append(BatchRequest(key=f"demo-{i:04d}", route=route, params=params))
    return requests


async def run_demo(args: argparse.Namespace) -> int:
    """``anyint demo``: the batch runner against the simulated gateway, in-process."""
    from ..testing import FakeGateway

    console = _console(args)
    out = (
        Path(args.out)
        if args.out
        else Path("anyint-demo") / datetime.now().strftime("run-%Y%m%d-%H%M%S")
    )
    scale = args.time_scale
    policies = {
        route: attrs.evolve(
            policy,
            first_poll=policy.first_poll * scale,
            interval=policy.interval * scale,
            max_interval=policy.max_interval * scale,
        )
        for route, policy in DEFAULT_POLICIES.items()
    }
    console.print(
        f"[bold]anyint demo[/bold]: {args.count} jobs against the simulated gateway "
        f"(time x{scale:g}, {args.fail_rate:.0%} of tasks fail on purpose), into {out}"
    )
    started = time.monotonic()
    async with FakeGateway(time_scale=scale, seed=args.seed, fail_rate=args.fail_rate) as gateway:
        async with AnyIntSession("demo-key", base_url=gateway.url, poll_policy=policies) as session:
            code = await execute_batch(
                console,
                session,
                demo_requests(args.count, args.seed),
                out,
                concurrency=args.concurrency,
                title="demo",
                json_output=args.json,
            )
        stats = gateway.stats
        queries = sum(stats.polls.values())
        console.print(
            f"gateway: {stats.tasks_created} creates, {queries} queries "
            f"({queries / max(1, stats.tasks_created):.1f} per task), "
            f"{stats.file_requests} downloads, API key seen by the file host: "
            f"{stats.file_auth_headers} times; {time.monotonic() - started:.1f}s"
        )
    # Failed jobs are part of the demo; only a stopped or broken run is an error here.
    return code if code == EXIT_STOPPED else EXIT_OK
