"""Run every scenario, compute the figures, write ``results/latest.{json,md}`` and the plot."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Sequence
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, TypedDict, TypeVar

import attrs
from attrs import frozen

from anyint_async.testing import duration_from_json

from .contenders import anyint_setting, starts_warm
from .gateway import GatewayProcess, run_client
from .informed import COARSE, ClippedLogNormal, efficiency, frontier, shape_frontier
from .limits import LimitScenario, limit_scenarios, run_limit_scenario
from .mean_frontier import known_sample, mean_efficiency, mean_frontier
from .report import render_limits_plot, render_markdown, render_plot

RESULTS = Path(__file__).parent / "results"


def write_results(out: Path, stem: str, data: Any, text: str, *, indent: int = 1) -> None:
    """``data`` as ``<stem>.json`` and ``text`` as ``<stem>.md`` in ``out`` (made if missing)."""
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{stem}.json").write_text(json.dumps(data, indent=indent) + "\n")
    (out / f"{stem}.md").write_text(text)


@frozen
class Scenario:
    """One workload: tasks, their durations (simulated seconds), time scale, contenders."""

    name: str
    description: str
    count: int
    median: float
    sigma: float
    low: float
    high: float
    time_scale: float
    contenders: tuple[str, ...]
    concurrent: bool  # contenders side by side (idle, real-time) or one after another (CPU-bound)
    waves: int = 1
    wave_gap: float = 0.0  # real seconds
    policy_scale: float = 1.0
    naive_scale: float | None = None  # the naive loops' sleeps; None: as policy_scale
    shapes: str = ""  # video shapes in turn ("5:720P,10:1080P"); run time scales with each
    #: A gateway duration spec that replaces the log-normal (``median`` ... ``high`` unused):
    #: the shapes of durations that are not log-normal (``benchmarks.shapes``).
    run: dict[str, Any] | None = None

    def known(self) -> list[float]:
        """The sorted sample of durations (real seconds) an informed client plans from."""
        if self.run is not None:
            draw = duration_from_json(self.run)
            return [seconds * self.time_scale for seconds in known_sample(draw)]
        return self.distribution().grid()

    def distribution(self) -> ClippedLogNormal:
        """The durations the gateway draws, in real seconds (what an informed client knows);
        with request shapes, the reference request's (each task's is scaled by its shape's run
        factor, which the gateway reports)."""
        scale = self.time_scale
        return ClippedLogNormal(
            self.median * scale, self.sigma, self.low * scale, self.high * scale
        )

    def profiles(self) -> dict[str, Any]:
        if self.run is not None:
            return {"bench-video": {"run": self.run, "queue": {"kind": "fixed", "seconds": 0.0}}}
        return {
            "bench-video": {
                "run": {
                    "kind": "lognormal",
                    "median": self.median,
                    "sigma": self.sigma,
                    "low": self.low,
                    "high": self.high,
                },
                "queue": {"kind": "fixed", "seconds": 0.0},
            }
        }


MIXED_SHAPES = "5:720P,10:720P,5:1080P,10:1080P"
#: The SDK along its knob in realtime-200: the presets fast, default and frugal, points
#: between (0.17 to 0.2 closely, where the official SDK's "its queries at half its p95" lies),
#: and one past frugal, where its "its p95 with 0.7x its queries" lies (frugal's p95 is a third
#: shorter than that, and spends queries on it).
KNOB_NAMES = (
    "anyint-fast",
    "anyint-fast@0.055",
    "anyint",
    "anyint@0.17",
    "anyint@0.185",
    "anyint@0.2",
    "anyint-frugal",
    "anyint@0.35",
)


class _Durations(TypedDict):
    """A scenario's duration profile, in simulated seconds (spread into ``Scenario``)."""

    median: float
    sigma: float
    low: float
    high: float


def scenarios(quick: bool) -> list[Scenario]:
    realtime = (*KNOB_NAMES, "anyint-warm", "anyint-nolearn", "official", "naive-1s", "naive-5s")
    knob = ("anyint-fast", "anyint", "anyint-frugal")
    video: _Durations = {"median": 200.0, "sigma": 0.4, "low": 100.0, "high": 600.0}
    waves: _Durations = {"median": 240.0, "sigma": 0.2, "low": 60.0, "high": 900.0}
    mixed: _Durations = {"median": 100.0, "sigma": 0.25, "low": 30.0, "high": 900.0}
    by_model = tuple(name.replace("anyint", "anyint-model", 1) for name in knob)
    # The knob in seconds, for users who count the delay in seconds across shapes (scaled with
    # the policy: 35 s is 0.7 s of this scenario's compressed clock).
    in_seconds = ("anyint@15s", "anyint@35s", "anyint@60s")
    if quick:
        return [
            Scenario(
                name="realtime",
                description="real time, 20 videos of 1-6 s, polling x0.3",
                count=20, median=2.5, sigma=0.5, low=1.0, high=6.0, time_scale=1.0,
                contenders=realtime, concurrent=True, policy_scale=0.3,
            ),
            Scenario(
                name="scale-300",
                description="time-compressed x0.005, 300 videos",
                count=300, **video, time_scale=0.005,
                # heap-5s-keep: lag-20000's floor client, smoke-run here (it runs heap-5s's code).
                contenders=("anyint", "naive-5s", "anyint-warm@naive-5s", "typed-5s", "heap-5s-keep"),
                concurrent=False, policy_scale=0.01,
            ),
            Scenario(
                name="mixed",
                description="200 videos of four shapes in 4 waves",
                count=200, **mixed, time_scale=0.01,
                contenders=("anyint", "anyint-model", "anyint@35s"),
                concurrent=False, waves=4, wave_gap=1.5, policy_scale=0.01, shapes=MIXED_SHAPES,
            ),
        ]  # fmt: skip
    return [
        Scenario(
            name="realtime-200",
            description="real time, 200 videos, log-normal 5-60 s",
            count=200, median=17.0, sigma=0.5, low=5.0, high=60.0, time_scale=1.0,
            contenders=(*realtime, "naive-1s-spread", "typed-1s-spread"), concurrent=True,
        ),
        # The client's clock is compressed with the gateway's (as in the scenarios below): an
        # unscaled policy would meet 100-600 s videos with a first query at 10 s simulated x20,
        # at their median. The naive loop keeps its 5 real seconds (100 simulated): scaled, it
        # would ask 10,000 tasks every quarter second.
        Scenario(
            name="scale-1000",
            description="time-compressed x0.05 (policies too), 1,000 videos of 100-600 s; "
            "naive-5s sleeps 5 real seconds",
            count=1000, **video, time_scale=0.05,
            contenders=(
                *knob, "anyint@0.45", "anyint-warm", "anyint-warm@0.45", "naive-5s",
                "anyint-warm@naive-5s",
            ),
            concurrent=False, policy_scale=0.05, naive_scale=1.0,
        ),
        Scenario(
            name="scale-10000",
            description="time-compressed x0.05 (policies too), 10,000 videos of 100-600 s; "
            "naive-5s sleeps 5 real seconds",
            count=10000, **video, time_scale=0.05,
            contenders=(
                "anyint", "anyint-warm", "anyint-warm@0.45", "anyint-warm@0.48", "naive-5s",
                "anyint-warm@naive-5s", "typed-5s",
                # The fastest-asking scenario: what 16 queries in flight cost where queries
                # leave most often (lag-20000 holds the loop less with them).
                "anyint-inflight16", "anyint-warm-inflight16",
            ),
            concurrent=False, policy_scale=0.05, naive_scale=1.0,
        ),
        # A web app's one session with 20,000 videos tracked: how long the scheduler ever
        # holds the event loop (a 10 ms sleep's overshoot, sampled throughout).
        Scenario(
            name="lag-20000",
            description="real time, 20,000 DashScope videos of 15-90 s (uniform), one session",
            count=20000, median=0.0, sigma=0.0, low=0.0, high=0.0, time_scale=1.0,
            contenders=(
                "anyint", "anyint-gcfreeze", "anyint-inflight16", "heap-5s", "heap-5s-keep",
                "naive-5s",
            ),
            concurrent=False,
            run={"kind": "uniform", "low": 15, "high": 90},
        ),
        Scenario(
            name="learning-1000",
            description="one model, 1,000 videos in 10 waves, log-normal sigma 0.2",
            count=1000, **waves, time_scale=0.02, contenders=(*knob, "anyint-nolearn"),
            concurrent=False, waves=10, wave_gap=3.0, policy_scale=0.02,
        ),
        Scenario(
            name="mixed-1000",
            description="1,000 videos of 5 s and 10 s at 720P and 1080P (run time x1 to x3.6), "
            "in 8 waves; learning per request shape against per model alone",
            count=1000, **mixed, time_scale=0.02, contenders=(*knob, *by_model, *in_seconds),
            concurrent=False, waves=8, wave_gap=3.0, policy_scale=0.02, shapes=MIXED_SHAPES,
        ),
    ]  # fmt: skip


async def run_contender(
    scenario: Scenario, contender: str, seed: int, memory: Path | None = None
) -> dict[str, Any]:
    async with GatewayProcess(
        scenario.profiles(), time_scale=scenario.time_scale, seed=seed
    ) as gateway:
        options = [
            *("--count", str(scenario.count), "--prefix", scenario.name),
            *("--waves", str(scenario.waves), "--wave-gap", str(scenario.wave_gap)),
            *("--policy-scale", str(scenario.policy_scale), "--shapes", scenario.shapes),
        ]
        if scenario.naive_scale is not None:
            options += ["--naive-scale", str(scenario.naive_scale)]
        if memory is not None:
            options += ["--duration-memory", str(memory)]
        if scenario.name.startswith(("scale", "lag")):
            # Where many tasks are tracked; the sampler's own wake-ups would weigh on CPU per
            # query in the real-time scenarios, which ask far less often.
            options += ["--sample-lag"]
        client = await run_client(gateway.url, contender, options)
        if "error" in client:
            return {"contender": contender, "error": client["error"]}
        stats = await gateway.stats()
    return figures(contender, client, stats, scenario)


def busiest_second(times: list[float]) -> int:
    """The most of ``times`` (sorted, in seconds) that fall within any one second."""
    most, first = 0, 0
    for last, at in enumerate(times):
        while at - times[first] >= 1.0:
            first += 1
        most = max(most, last - first + 1)
    return most


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _shape_delays(
    scenario: Scenario,
    seen: dict[str, float],
    finished: dict[str, float],
    factors: dict[str, float],
) -> dict[str, float]:
    """With request shapes: the p95 of each task's delay over its shape's median duration, the
    measure the knob (``target_delay``) is set in."""
    if not scenario.shapes:
        return {}
    median = scenario.distribution().median
    shares = [(seen[t] - finished[t]) / (median * factors.get(t, 1.0)) for t in seen]
    return {"delay_p95_of_shape_median": round(_quantile(shares, 0.95), 4)}


def figures(
    contender: str, client: dict[str, Any], stats: dict[str, Any], scenario: Scenario
) -> dict[str, Any]:
    seen: dict[str, float] = client["seen"]
    finished: dict[str, float] = stats["finished_at"]
    created: dict[str, float] = stats["created_at"]
    delays = [seen[t] - finished[t] for t in seen]
    durations = {t: finished[t] - created[t] for t in finished}
    first_created = min(created.values())
    relative = [(seen[t] - finished[t]) / durations[t] for t in seen]
    # The batch's completion lag: from its last task's end to that task's yield.
    last = max(finished, key=lambda t: finished[t])
    queries = sum(stats["polls"].values())
    count = len(finished)
    ideal = max(finished.values()) - client["started"]
    wall = client["ended"] - client["started"]
    grown_kib = max(0, client["rss_peak_kib"] - client["rss_base_kib"])
    median_duration = statistics.median(durations.values())
    return {
        "_durations": list(durations.values()),
        "_factors": [stats["run_factors"].get(task, 1.0) for task in durations],
        "_created": [created[task] - first_created for task in durations],
        "contender": contender,
        "tasks": count,
        "seen": len(seen),
        "wall_s": round(wall, 2),
        "ideal_wall_s": round(ideal, 2),
        "wall_over_ideal": round(wall / ideal, 3),
        "queries": queries,
        "queries_per_task": round(queries / count, 2),
        "peak_queries_per_second": busiest_second(stats["query_times"]),
        "delay_mean_s": round(statistics.fmean(delays), 3),
        "delay_p50_s": round(_quantile(delays, 0.5), 3),
        "delay_p95_s": round(_quantile(delays, 0.95), 3),
        "delay_p99_s": round(_quantile(delays, 0.99), 3),
        "delay_max_s": round(max(delays), 3),
        "completion_lag_s": round(seen[last] - finished[last], 3) if last in seen else None,
        "delay_p95_over_median_duration": round(_quantile(delays, 0.95) / median_duration, 3),
        "relative_delay_mean": round(statistics.fmean(relative), 4),
        "relative_delay_p50": round(_quantile(relative, 0.5), 3),
        "relative_delay_p95": round(_quantile(relative, 0.95), 3),
        "relative_delay_p99": round(_quantile(relative, 0.99), 3),
        **_shape_delays(scenario, seen, finished, stats["run_factors"]),
        "median_duration_s": round(median_duration, 2),
        "cpu_s": round(client["cpu_seconds"], 3),
        "loop_lag_max_ms": client.get("loop_lag_max_ms"),
        "loop_lag_p99_ms": client.get("loop_lag_p99_ms"),
        **{
            name: client[name]
            for name in (
                "loop_holds_over_10ms",
                "loop_lag_max_without_full_gc_ms",
                "gc_full_count",
                "gc_full_max_ms",
                "gc_young_max_ms",
                "gc_full_max_cpu_ms",
                "loop_lag_max_own_work_ms",
                "gc_imports_ms",
                "gc_after_ms",
            )
            if name in client
        },
        # Creates cost every contender the same; CPU per query counts what came after them.
        "cpu_per_query_ms": round(client["cpu_after_creates_seconds"] / max(1, queries) * 1000, 4),
        "rss_peak_mib": round(client["rss_peak_kib"] / 1024, 1),
        "rss_per_task_kib": round(grown_kib / count, 3),
        "creates": stats["tasks_created"],
        # The SDK's own counts of what it asked: hedges and retries are among the queries
        # above, and say how many of them no schedule asked for.
        **{
            f"sdk_{name}": client["sent"][name]
            for name in ("hedges", "retries")
            if name in client.get("sent", {})
        },
    }


async def run_scenario(scenario: Scenario, seed: int, *, quick: bool = False) -> dict[str, Any]:
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="anyint-bench-") as folder:
        memory = await _rehearse(scenario, seed, Path(folder) / "durations.json")

        def contend(name: str) -> Awaitable[dict[str, Any]]:
            if memory is None or not starts_warm(name):
                return run_contender(scenario, name, seed)
            # Each warm contender starts from its own copy: a session writes what it learned
            # back on close, and the next one must not start from this run's own durations.
            own = Path(folder) / f"durations-{name}.json"
            shutil.copyfile(memory, own)
            return run_contender(scenario, name, seed, own)

        if scenario.concurrent:
            results = list(await asyncio.gather(*(contend(c) for c in scenario.contenders)))
        else:
            results = []
            for name in scenario.contenders:
                matched = _matching(name, results, scenario)
                results.append(await contend(matched or name))
    informed: dict[str, list[dict[str, float]]] = {}
    by_shape: dict[str, list[dict[str, float]]] = {}
    by_mean: dict[str, list[dict[str, float]]] = {}
    peak = 0
    drawn = next((r for r in results if "_durations" in r), None)
    if drawn is not None and not scenario.shapes:
        # The yardstick users feel: the informed client planned for the mean delay. Where the
        # clock is compressed, also held to the most queries a second any client here got
        # answered: a plan that asks faster than that cannot be kept on this machine.
        if scenario.time_scale < 1.0:
            peak = max(r.get("peak_queries_per_second", 0) for r in results)
        at_rate = (drawn["_created"], float(peak)) if peak else None
        by_mean = mean_frontier(scenario.known(), drawn["_durations"], at_rate)
    if drawn is not None and scenario.run is None:
        # Every contender met the same durations (same seed): the informed client replays them.
        factors = drawn["_factors"] if scenario.shapes else None
        # (A smoke run reads no efficiency closely: the coarse frontier saves half a minute.)
        fractions = {"fractions": COARSE} if quick else {}
        informed = frontier(scenario.distribution(), drawn["_durations"], factors, **fractions)
        if factors is not None:
            by_shape = shape_frontier(
                scenario.distribution(), drawn["_durations"], factors, **fractions
            )
    for result in results:
        result.pop("_durations", None)
        result.pop("_factors", None)
        result.pop("_created", None)
        if "error" in result:
            continue
        for variant, points in by_mean.items():
            result[f"efficiency_mean_{variant}"] = mean_efficiency(
                points, result["queries_per_task"], result["delay_mean_s"]
            )
        if not informed:
            continue
        for variant, points in informed.items():
            result[f"efficiency_{variant}"] = efficiency(
                points, result["queries_per_task"], result["delay_p95_s"]
            )
        for variant, points in by_shape.items():
            result[f"efficiency_{variant}_by_shape"] = efficiency(
                points,
                result["queries_per_task"],
                result["delay_p95_of_shape_median"],
                key="delay_p95_of_median",
            )
    return {
        "scenario": scenario.name,
        "description": scenario.description,
        "settings": _settings(scenario),
        "seconds": round(time.monotonic() - started, 1),
        "results": list(results),
        "informed": informed,
        "informed_by_shape": by_shape,
        "informed_by_mean": by_mean,
        # The rate ``informed_by_mean``'s ``optimised_at_rate`` was held to (0: not held).
        "informed_rate_per_second": peak,
    }


#: A setting that matches a peer (``anyint-warm@naive-5s``) aims this far under the p95 the
#: peer measured: what a user moving off that loop would ask for to be sure of its delay.
MATCH_MARGIN = 0.98


def _matching(name: str, before: list[dict[str, Any]], scenario: Scenario) -> str | None:
    """``anyint...@PEER``: the same contender set in seconds to the p95 ``PEER`` measured
    earlier in this scenario (``MATCH_MARGIN`` under it, in the policy's scaled seconds); None
    for any other name."""
    setting = anyint_setting(name)
    peer = None if setting is None else setting.matches
    if peer is None:
        return None
    found = next((r for r in before if r["contender"] == peer), None)
    if found is None or "error" in found:
        raise RuntimeError(f"{scenario.name}: {name} needs {peer} to have run before it")
    seconds = found["delay_p95_s"] * MATCH_MARGIN / scenario.policy_scale
    return f"{name.partition('@')[0]}@{seconds:.1f}s"


async def _rehearse(scenario: Scenario, seed: int, memory: Path) -> Path | None:
    """For ``-warm`` contenders: the same scenario run once before by the default SDK against
    other durations (another seed), which leaves its session's duration memory in ``memory``.
    None when no contender is warm."""
    if not any(starts_warm(name) for name in scenario.contenders):
        return None
    rehearsal = await run_contender(scenario, "anyint", seed + 1000, memory)
    if "error" in rehearsal or not await asyncio.to_thread(memory.exists):
        raise RuntimeError(f"{scenario.name}: the rehearsal left no duration memory")
    return memory


def _settings(scenario: Scenario) -> dict[str, Any]:
    return {k: v for k, v in attrs.asdict(scenario).items() if k != "contenders"}


async def run_scheduler_only(count: int) -> dict[str, Any]:
    return await run_client("", "scheduler-only", ["--count", str(count)])


def _versions() -> dict[str, str]:
    found = {}
    for name in ("anyint_async", "aiohttp", "dashscope", "attrs", "cattrs", "backoff"):
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "not installed"
    return found


_Run = TypeVar("_Run", Scenario, LimitScenario)


def with_contenders(chosen: Sequence[_Run], names: tuple[str, ...]) -> list[_Run]:
    """The ``chosen`` scenarios, each running only those of its contenders in ``names`` (every
    one when ``names`` is empty); a scenario left with none is dropped."""
    if not names:
        return list(chosen)
    kept = (
        attrs.evolve(scenario, contenders=tuple(c for c in scenario.contenders if c in names))
        for scenario in chosen
    )
    return [scenario for scenario in kept if scenario.contenders]


def unknown_contenders(
    quick: bool, only: tuple[str, ...], names: tuple[str, ...]
) -> tuple[list[str], list[str]]:
    """Of ``names``, those no scenario chosen by ``only`` runs, and the names they do run: a
    typo would otherwise run nothing and write an empty report."""
    chosen: list[Scenario | LimitScenario] = [
        *(s for s in scenarios(quick) if _chosen(s.name, only)),
        *(s for s in limit_scenarios(quick) if _chosen(s.name, only)),
    ]
    offered = {contender for scenario in chosen for contender in scenario.contenders}
    if _chosen("scheduler-only", only):
        offered.add("scheduler-only")
    return [name for name in names if name not in offered], sorted(offered)


def _chosen(name: str, only: tuple[str, ...]) -> bool:
    return not only or name.startswith(only)


async def run_all(
    quick: bool, only: tuple[str, ...] = (), contenders: tuple[str, ...] = ()
) -> dict[str, Any]:
    started = time.monotonic()
    mode = ("quick" if quick else "full") + (f", only {', '.join(only)}" if only else "")
    if contenders:
        mode += f", contenders {', '.join(contenders)}"
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": mode,
        "machine": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "versions": _versions(),
        "scenarios": [],
    }

    def chosen(name: str) -> bool:
        return _chosen(name, only)

    picked = [s for s in scenarios(quick) if chosen(s.name)]
    for scenario in with_contenders(picked, contenders):
        print(f"running {scenario.name} ({scenario.description})...", flush=True)
        report["scenarios"].append(await run_scenario(scenario, seed=11, quick=quick))
    report["limits"] = []
    limited_picked = [s for s in limit_scenarios(quick) if chosen(s.name)]
    for limited in with_contenders(limited_picked, contenders):
        print(f"running {limited.name} ({limited.description})...", flush=True)
        report["limits"].append(await run_limit_scenario(limited, seed=11))
    count = 10_000 if quick else 100_000
    if chosen("scheduler-only") and (not contenders or "scheduler-only" in contenders):
        print(f"running scheduler-only ({count:,} tasks)...", flush=True)
        report["scheduler_only"] = await run_scheduler_only(count)
    report["seconds"] = round(time.monotonic() - started, 1)
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--quick", action="store_true", help="a small smoke run (under a minute)")
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    parser.add_argument(
        "--only",
        default="",
        help="run only the scenarios whose names start with one of these (comma-separated, "
        "e.g. hung); written as results/<first>.{json,md}, not over the full run's",
    )
    parser.add_argument(
        "--contenders",
        default="",
        help="run only these contenders of the chosen scenarios (comma-separated, e.g. "
        "anyint,naive-5s,typed-5s; scheduler-only names the scheduler's run alone)",
    )
    args = parser.parse_args(argv)
    only = tuple(filter(None, args.only.split(",")))
    contenders = tuple(filter(None, args.contenders.split(",")))
    unknown, offered = unknown_contenders(args.quick, only, contenders)
    if unknown:
        parser.error(
            f"--contenders: {', '.join(unknown)} is not run by the chosen scenarios; name some "
            f"of {', '.join(offered)}, or choose other scenarios with --only"
        )
    report = asyncio.run(run_all(args.quick, only, contenders))
    out = Path(args.out)
    stem = only[0] if only else "quick" if args.quick else "latest"
    text = render_markdown(report, plot_name=f"{stem}.png")
    write_results(out, stem, report, text, indent=2)
    render_plot(report, out / f"{stem}.png")
    render_limits_plot(report, out / f"{stem}-limits.png")
    print((out / f"{stem}.md").read_text())
    # The official SDK and the naive loops may fail against a limit they do not pace for;
    # that is a finding, not a failed run. Our own contenders must not.
    errors = [r for s in report["scenarios"] for r in s["results"] if "error" in r]
    errors += [
        r
        for s in report["limits"]
        for r in s["results"]
        if "error" in r and anyint_setting(r["contender"]) is not None
    ]
    return 1 if errors else 0
