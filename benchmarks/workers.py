"""Scenario "four workers": one account, several processes, with and without Redis.

Two cases, each run as one process waiting for everything, and as four worker processes that
each wait for their quarter: uncoordinated, coordinated through a real ``redis-server`` on
loopback, and coordinated with Redis killed in the middle of the run.

- ``dashscope-600-at-20``: 600 DashScope videos of 9-54 s (150 per worker), the simulated
  gateway refusing past 20 task queries a second per account, the SDK at its defaults.
- ``kling-160-callbacks``: 160 Kling omni videos of 5-60 s (40 per worker), woken by callbacks
  that reach a callback URL shared by the workers: a router here (a load balancer's stand-in)
  hands each callback to a worker picked at random, whichever worker waits for its task.

    python -m benchmarks.workers [--quick] [--out DIR]

Writes ``workers.json`` and ``workers.md`` into ``--out`` (default ``benchmarks/results``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web
from attrs import frozen

from anyint_async.testing import LocalRedis

from .gateway import GatewayProcess, run_client
from .limits import limit_figures, lognormal_profiles

__all__ = ["WorkerCase", "main", "worker_cases"]

RESULTS = Path(__file__).parent / "results"
MODES = ("one process", "four workers", "four workers + Redis", "four workers + Redis killed")


@frozen
class WorkerCase:
    name: str
    description: str
    count: int
    contender: str
    kling: bool
    limits: dict[str, float]
    median: float
    sigma: float
    low: float
    high: float
    workers: int = 4
    kill_at: float = 25.0  # seconds into the run, in the "Redis killed" mode

    def profiles(self) -> dict[str, Any]:
        return lognormal_profiles(self.median, self.sigma, self.low, self.high)


def worker_cases(quick: bool) -> list[WorkerCase]:
    if quick:
        return [
            WorkerCase(
                name="dashscope-40-at-20",
                description="40 DashScope videos of 2-6 s at 20/s",
                count=40,
                contender="anyint",
                kling=False,
                limits={"dashscope": 20.0},
                median=3.0,
                sigma=0.4,
                low=2.0,
                high=6.0,
                kill_at=2.0,
            ),
            WorkerCase(
                name="kling-40-callbacks",
                description="40 Kling videos of 2-6 s, callbacks",
                count=40,
                contender="anyint-callbacks",
                kling=True,
                limits={},
                median=3.0,
                sigma=0.4,
                low=2.0,
                high=6.0,
                kill_at=2.0,
            ),
        ]
    return [
        WorkerCase(
            name="dashscope-600-at-20",
            description="600 DashScope videos of 9-54 s (150 per worker), 20 queries/s per account",
            count=600, contender="anyint", kling=False, limits={"dashscope": 20.0},
            median=22.0, sigma=0.45, low=9.0, high=54.0,
        ),
        WorkerCase(
            name="kling-160-callbacks",
            description="160 Kling omni videos of 5-60 s (40 per worker), callbacks landing on "
            "any worker",
            count=160, contender="anyint-callbacks", kling=True, limits={},
            median=17.0, sigma=0.5, low=5.0, high=60.0,
        ),
    ]  # fmt: skip


@asynccontextmanager
async def callback_router(seed: int) -> AsyncIterator[str]:
    """A shared callback URL: each POST goes to one registered worker, picked at random (as a
    load balancer or the kernel picks among workers on one port)."""
    pick = random.Random(seed)
    receivers: list[str] = []

    async def register(request: web.Request) -> web.Response:
        receivers.append((await request.json())["url"])
        return web.json_response({"ok": True})

    async def forward(request: web.Request) -> web.Response:
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower().startswith("webhook-")}
        headers["Content-Type"] = "application/json"
        # A worker whose batch is done has exited: like a load balancer, pass over a worker
        # that refuses the connection and try another.
        while receivers:
            target = pick.choice(receivers)
            try:
                async with http.post(target, data=body, headers=headers) as answer:
                    return web.Response(status=answer.status, body=await answer.read())
            except aiohttp.ClientConnectorError:
                receivers.remove(target)
        return web.json_response({"outcome": "ignored"})

    app = web.Application()
    app.router.add_post("/callback/_register", register)
    app.router.add_post("/callback", forward)
    runner = web.AppRunner(app, access_log=None)
    async with aiohttp.ClientSession() as http:
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        try:
            yield f"http://127.0.0.1:{runner.addresses[0][1]}/callback"
        finally:
            await runner.cleanup()


async def _kill_later(server: LocalRedis, after: float, killed: dict[str, float]) -> None:
    await asyncio.sleep(after)
    await server.kill()
    killed["at"] = time.time()


async def run_mode(case: WorkerCase, mode: str, seed: int) -> dict[str, Any]:
    workers = 1 if mode == "one process" else case.workers
    async with AsyncExitStack() as stack:
        gateway = await stack.enter_async_context(
            GatewayProcess(case.profiles(), time_scale=1.0, seed=seed, query_rate_limit=case.limits)
        )
        env: dict[str, str] = {}
        redis_server = None
        if "Redis" in mode:
            redis_server = await stack.enter_async_context(LocalRedis())
            env["ANYINT_COORDINATION_URL"] = redis_server.url
        shared = await stack.enter_async_context(callback_router(seed)) if case.kling else ""
        limits = ",".join(f"{k}={v}" for k, v in case.limits.items())
        share = case.count // workers
        clients = [
            run_client(
                gateway.url,
                case.contender,
                [
                    *("--count", str(share), "--prefix", f"{case.name}-w{i}"),
                    *("--limits", limits, "--kling-count", str(share if case.kling else 0)),
                    *(("--callback-via", shared) if shared else ()),
                ],
                env,
            )
            for i in range(workers)
        ]
        killed: dict[str, float] = {}
        killer = None
        if mode.endswith("killed") and redis_server is not None:
            killer = asyncio.create_task(_kill_later(redis_server, case.kill_at, killed))
        reports = await asyncio.gather(*clients)
        if killer is not None:
            await killer
        errors = [r["error"] for r in reports if "error" in r]
        if errors:
            return {"mode": mode, "error": errors[0]}
        stats = await gateway.stats()
    merged = {
        "seen": {k: v for r in reports for k, v in r["seen"].items()},
        "started": min(r["started"] for r in reports),
        "ended": max(r["ended"] for r in reports),
        "sent": {"hedges": sum(r["sent"].get("hedges", 0) for r in reports)},
    }
    figures = limit_figures(case.contender, merged, stats)
    figures["mode"] = mode
    figures["yielded"] = sum(r["sent"].get("yielded", 0) for r in reports)
    figures["coordination"] = sorted({str(r["sent"].get("coordination")) for r in reports})
    figures["link_drops"] = sum(r["sent"].get("link_drops", 0) for r in reports)
    figures["callbacks_passed_on"] = sum(r["sent"].get("callbacks_passed_on", 0) for r in reports)
    if killed:
        figures["redis_killed_after_s"] = round(killed["at"] - merged["started"], 1)
    return figures


async def run_case(case: WorkerCase, seed: int) -> dict[str, Any]:
    started = time.monotonic()
    results = await asyncio.gather(*(run_mode(case, mode, seed) for mode in MODES))
    return {
        "scenario": case.name,
        "description": case.description,
        "seconds": round(time.monotonic() - started, 1),
        "results": list(results),
    }


def render(report: dict[str, Any]) -> str:
    lines = [
        "# Four workers: one account, several processes",
        "",
        f"Run {report['date']}, {report['mode']}. Every mode in its own simulated gateway "
        "(one account), side by side.",
        "",
    ]
    for case in report["cases"]:
        lines += [
            f"## {case['scenario']}",
            "",
            case["description"],
            "",
            "| mode | tasks | yielded | queries / task | refused | mean | p50 | p95 | p99 | max "
            "| callbacks passed on | coordination at the end |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for r in case["results"]:
            if "error" in r:
                lines.append(f"| {r['mode']} | error: {r['error'][-200:]!r} |")
                continue
            lines.append(
                f"| {r['mode']} | {r['tasks']} | {r['yielded']} | {r['queries_per_task']} "
                f"| {100 * r['refused_share']:.2f}% | {r['delay_mean_s']} s | {r['delay_p50_s']} s "
                f"| {r['delay_p95_s']} s | {r['delay_p99_s']} s | {r['delay_max_s']} s "
                f"| {r['callbacks_passed_on']} | {', '.join(r['coordination'])}"
                + (f", {r['link_drops']} drops" if r["link_drops"] else "")
                + (
                    f" (Redis killed at {r['redis_killed_after_s']} s)"
                    if "redis_killed_after_s" in r
                    else ""
                )
                + " |"
            )
        lines.append("")
    return "\n".join(lines)


async def run_all(quick: bool, seed: int) -> dict[str, Any]:
    cases = []
    for case in worker_cases(quick):
        print(f"running {case.name}...", flush=True)
        cases.append(await run_case(case, seed))
    return {
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "mode": "quick" if quick else "full",
        "cases": cases,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.workers")
    parser.add_argument("--quick", action="store_true", help="a small smoke run")
    parser.add_argument("--out", default=str(RESULTS))
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    report = asyncio.run(run_all(args.quick, args.seed))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "workers.json").write_text(json.dumps(report, indent=1))
    text = render(report)
    (out / "workers.md").write_text(text + "\n")
    print(text)
    failed = [r for c in report["cases"] for r in c["results"] if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
