"""Scenarios "at the limit" and "under faults": query limits per account, transient failures.

The simulated gateway enforces each case's limits (``query_rate_limit``: refusals beyond N task
queries in any one second, as DashScope and Kling answer them) or injects transient query
failures. Contenders: the SDK with its defaults (``anyint``: DashScope's documented 20/s, Kling
found from refusals), the SDK told the exact limits (``anyint-exact``), and, on DashScope, the
official SDK and the naive loops, none of which pace.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from attrs import frozen

from .gateway import GatewayProcess, run_client

__all__ = [
    "LimitScenario",
    "limit_figures",
    "limit_scenarios",
    "lognormal_profiles",
    "run_limit_scenario",
]

DASHSCOPE_PEERS = ("official", "naive-1s", "naive-5s")
# 2% of task queries held 90 s before any answer (a stuck relay), for every contender alike.
HUNG = [{"kind": "hang", "routes": ["query"], "rate": 0.02, "delay": 90.0}]
# Every task query answered a quarter second late: a gateway across an ocean.
FAR = [{"kind": "slow", "routes": ["query"], "delay": 0.25}]
# 3% 5xx and 1% HTML error pages on task queries.
TRANSIENT = [
    {"kind": "server_error", "routes": ["query"], "rate": 0.03, "status": 503},
    {"kind": "malformed", "routes": ["query"], "rate": 0.0103},
]


@frozen
class LimitScenario:
    name: str
    description: str
    count: int
    contenders: tuple[str, ...]
    kling_count: int = 0
    limits: dict[str, float] | None = None
    faults: tuple[dict[str, Any], ...] = ()
    median: float = 22.0
    sigma: float = 0.45
    low: float = 9.0
    high: float = 54.0
    waves: int = 1
    wave_gap: float = 0.0
    gateway_args: tuple[str, ...] = ()
    # The SDK keeps its default limits even where the gateway enforces none (a comparison
    # with a throttled twin must change one thing only: the gateway).
    sdk_defaults: bool = False

    def profiles(self) -> dict[str, Any]:
        return lognormal_profiles(self.median, self.sigma, self.low, self.high)


def lognormal_profiles(median: float, sigma: float, low: float, high: float) -> dict[str, Any]:
    """The gateway's profiles for the benchmark's DashScope and Kling videos: a clipped
    log-normal run, no queue."""
    run = {"kind": "lognormal", "median": median, "sigma": sigma, "low": low, "high": high}
    fixed = {"kind": "fixed", "seconds": 0.0}
    return {name: {"run": run, "queue": fixed} for name in ("bench-video", "kling.omni_video")}


def limit_scenarios(quick: bool) -> list[LimitScenario]:
    if quick:
        return [
            LimitScenario(
                name="kling-limit",
                description="40 Kling videos of 2-6 s, Kling refusing past 5 queries a second",
                count=40, kling_count=40, limits={"kling": 5.0},
                contenders=("anyint", "anyint-exact"), median=3.0, low=2.0, high=6.0,
            ),
        ]  # fmt: skip
    return [
        LimitScenario(
            name="dashscope-20",
            description="600 DashScope videos of 9-54 s at once, DashScope's documented 20/s",
            count=600, limits={"dashscope": 20.0},
            contenders=("anyint", "anyint-exact", *DASHSCOPE_PEERS),
        ),
        LimitScenario(
            name="relay-8",
            description="300 DashScope videos at once through a relay refusing past 8/s",
            count=300, limits={"dashscope": 8.0},
            contenders=("anyint", "anyint-exact", *DASHSCOPE_PEERS),
        ),
        LimitScenario(
            name="kling-10",
            description="300 Kling omni videos at once, Kling refusing past 10/s",
            count=300, kling_count=300, limits={"kling": 10.0},
            contenders=("anyint", "anyint-exact"),
        ),
        LimitScenario(
            name="mixed-throttled",
            description="300 Kling videos (Kling at 10/s) beside 200 DashScope videos",
            count=500, kling_count=300, limits={"kling": 10.0}, contenders=("anyint",),
        ),
        LimitScenario(
            name="mixed-free",
            description="the same mix, Kling unthrottled (the SDK's settings unchanged)",
            count=500, kling_count=300, contenders=("anyint",), sdk_defaults=True,
        ),
        LimitScenario(
            name="realtime-300-at-20",
            description="the 300-video real-time workload (5-60 s, median 17 s) with DashScope's "
            "20/s enforced for every contender",
            count=300, limits={"dashscope": 20.0}, median=17.0, sigma=0.5, low=5.0, high=60.0,
            contenders=("anyint", *DASHSCOPE_PEERS),
        ),
        LimitScenario(
            name="callbacks",
            description="200 Kling videos of 5-60 s (median 17 s) in real time: woken by "
            "callbacks, beside pulling only",
            count=200, kling_count=200, median=17.0, sigma=0.5, low=5.0, high=60.0,
            contenders=("anyint-callbacks", "anyint-fast", "anyint", "anyint-frugal"),
        ),
        LimitScenario(
            name="callbacks-lossy",
            description="the same with 20% of callbacks lost and 10% sent twice",
            count=200, kling_count=200, median=17.0, sigma=0.5, low=5.0, high=60.0,
            contenders=("anyint-callbacks",),
            gateway_args=("--callback-lose", "0.2", "--callback-duplicate", "0.1"),
        ),
        LimitScenario(
            name="hung-clean",
            description="300 DashScope videos of 6-36 s at once, no query limit, no fault",
            count=300, median=15.0, sigma=0.5, low=6.0, high=36.0,
            contenders=("anyint", *DASHSCOPE_PEERS),
        ),
        LimitScenario(
            name="hung-queries",
            description="the same with 2% of task queries hanging 90 s before any answer",
            count=300, median=15.0, sigma=0.5, low=6.0, high=36.0, faults=tuple(HUNG),
            # anyint-inflight16: fewer queries in flight hold a web app's loop less at 20,000
            # tasks (lag-20000); here it shows what they cost when some queries hang.
            contenders=("anyint", "anyint-inflight16", *DASHSCOPE_PEERS),
        ),
        LimitScenario(
            name="far-1000",
            description="1,000 DashScope videos of 15-90 s at once, no query limit, every task "
            "query answered 0.25 s late (a gateway far away)",
            count=1000, median=35.0, sigma=0.45, low=15.0, high=90.0, faults=tuple(FAR),
            # What fewer queries in flight cost where each query takes a far network's round
            # trip: the rate they allow is the cap over the round trip.
            contenders=("anyint", "anyint-inflight16"),
        ),
        LimitScenario(
            name="hung-clean-at-20",
            description="300 DashScope videos of 6-36 s at DashScope's 20/s, no fault",
            count=300, median=15.0, sigma=0.5, low=6.0, high=36.0, limits={"dashscope": 20.0},
            contenders=("anyint",),
        ),
        LimitScenario(
            name="hung-queries-at-20",
            description="the same at 20/s with 2% of task queries hanging 90 s",
            count=300, median=15.0, sigma=0.5, low=6.0, high=36.0, limits={"dashscope": 20.0},
            faults=tuple(HUNG), contenders=("anyint",),
        ),
        LimitScenario(
            name="steady",
            description="a steady flow: 10 mixed tasks created a second for 100 s",
            count=1000, kling_count=500, waves=100, wave_gap=1.0, contenders=("anyint",),
        ),
        LimitScenario(
            name="steady-faults",
            description="the same flow with 4% of task queries failing (3% 5xx, 1% HTML pages)",
            count=1000, kling_count=500, waves=100, wave_gap=1.0, faults=tuple(TRANSIENT),
            contenders=("anyint",),
        ),
    ]  # fmt: skip


async def _run_one(scenario: LimitScenario, contender: str, seed: int) -> dict[str, Any]:
    async with GatewayProcess(
        scenario.profiles(),
        time_scale=1.0,
        seed=seed,
        query_rate_limit=scenario.limits,
        faults=list(scenario.faults),
        extra_args=scenario.gateway_args,
    ) as gateway:
        limits = ",".join(f"{k}={v}" for k, v in (scenario.limits or {}).items())
        options = [
            *("--count", str(scenario.count), "--prefix", scenario.name),
            *("--waves", str(scenario.waves), "--wave-gap", str(scenario.wave_gap)),
            *("--limits", limits, "--kling-count", str(scenario.kling_count)),
            *(("--sdk-defaults",) if scenario.sdk_defaults else ()),
        ]
        client = await run_client(gateway.url, contender, options)
        if "error" in client:
            return {"contender": contender, "error": client["error"]}
        stats = await gateway.stats()
    return limit_figures(contender, client, stats)


def _quantile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 3)


def _p95(values: list[float]) -> float | None:
    return _quantile(values, 0.95)


def limit_figures(contender: str, client: dict[str, Any], stats: dict[str, Any]) -> dict[str, Any]:
    seen: dict[str, float] = client["seen"]
    finished: dict[str, float] = stats["finished_at"]
    delays = {t: seen[t] - finished[t] for t in seen if t in finished}
    # Kling task ids are digits, DashScope's are UUIDs.
    by_provider = {
        "dashscope": [d for t, d in delays.items() if not t.isdigit()],
        "kling": [d for t, d in delays.items() if t.isdigit()],
    }
    answered = sum(stats["polls"].values())
    refused = sum(stats.get("queries_refused", {}).values())
    last = max(finished, key=finished.__getitem__)
    return {
        "contender": contender,
        "tasks": len(finished),
        "seen": len(seen),
        "queries_per_task": round((answered + refused) / max(1, len(finished)), 2),
        "refused_share": round(refused / max(1, answered + refused), 4),
        "delay_mean_s": round(sum(delays.values()) / len(delays), 3) if delays else None,
        "delay_p50_s": _quantile(list(delays.values()), 0.5),
        "delay_p95_s": _p95(list(delays.values())),
        "delay_p99_s": _quantile(list(delays.values()), 0.99),
        "dashscope_p95_s": _p95(by_provider["dashscope"]),
        "kling_p95_s": _p95(by_provider["kling"]),
        "last_end_to_yield_s": round(seen[last] - finished[last], 3) if last in seen else None,
        "delay_max_s": round(max(delays.values()), 3) if delays else None,
        "callbacks": stats.get("callbacks", {}),
        "hedges": client.get("sent", {}).get("hedges"),
        "wall_s": round(client["ended"] - client["started"], 1),
    }


async def run_limit_scenario(scenario: LimitScenario, seed: int) -> dict[str, Any]:
    started = time.monotonic()
    results = await asyncio.gather(*(_run_one(scenario, c, seed) for c in scenario.contenders))
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "limits": scenario.limits or {},
        "faults": bool(scenario.faults),
        "seconds": round(time.monotonic() - started, 1),
        "results": list(results),
    }
