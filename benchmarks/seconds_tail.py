"""The knob in seconds' tail where waves of several request shapes come: what holding 99% of
tasks within 1.5 spacings costs, the SDK and a client that knew each shape's durations.

    python -m benchmarks.seconds_tail [--quick] [--out benchmarks/results]

Issue 30 asks, at ``target_delay_seconds=S``, for a p99 delay of at most 1.5 S. The SDK asks a
learned shape's task first at most 1.5 S past its shape's fastest likely finish, the one in a
hundred that end sooner left out: so about 1% of a batch's tasks may be found later than that,
and the 99th percentile sits on the edge of the promise by design. The real-time
``mixed-1000`` (four request shapes, x1 to x3.6, eight waves) read a p99 of 1.58 S at 15 s,
on one draw. Here its twin (``benchmarks.decisions.twin_tasks``: the same draws, shapes and
waves, in simulated seconds, on the fake clock) runs over eight draws at the scenario's three
settings, 15, 35 and 60 s. Beside the SDK, a client that knew each shape's distribution
exactly asks every task first 1.5 S past its shape's ``p`` quantile and every S after: at
``p`` = 1% it leaves out the share the SDK does; at 0.5% and 0.2% it keeps a margin, and the
queries that margin costs are the price of the target held on every draw. For the SDK, the
tasks past 1.5 S are split into those that ended within their shape's fastest 1% (of its
distribution) and the rest. Writes ``seconds-tail.json`` and ``seconds-tail.md``.
"""

from __future__ import annotations

import argparse
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import attrs

from .decisions import request_shapes, scenario_named, twin_policy, twin_tasks
from .fake_clock import Outcome, SimTask, simulate
from .informed import ClippedLogNormal
from .run import RESULTS, Scenario, _quantile, write_results

__all__ = ["informed_grid", "main", "read_setting", "render_markdown"]

SCENARIO = "mixed-1000"
#: The scenario's settings in seconds (its ``anyint@15s``, ``@35s`` and ``@60s``), simulated.
SETTINGS = (15.0, 35.0, 60.0)
SEEDS = tuple(range(1, 9))
#: The shares an informed client leaves out below its first query: the SDK's, then margins.
LEFT_OUT = (0.01, 0.005, 0.002)
#: The p99 delay issue 30 asks for, in spacings.
CAP = 1.5
#: The share of a shape's tasks the SDK's first query may leave past that (``_FASTEST_SHARE``).
FASTEST = 0.01
#: The share the informed client leaves out in the per-wave reading: the SDK's halved.
MARGIN = 0.005


def informed_grid(
    tasks: Sequence[SimTask], firsts: dict[str | None, float], spacing: float
) -> tuple[float, list[float]]:
    """A client that asks each task first at ``firsts`` of its workload (an age) and every
    ``spacing`` after, until it is found: (queries per task, each task's delay)."""
    queries, delays = 0, []
    for task in tasks:
        first = firsts[task.workload]
        age = task.ends - task.created
        later = max(0, math.ceil((age - first) / spacing - 1e-9))
        queries += 1 + later
        delays.append(first + later * spacing - age)
    return queries / len(tasks), delays


def _distributions(scenario: Scenario) -> dict[str | None, ClippedLogNormal]:
    base = ClippedLogNormal(scenario.median, scenario.sigma, scenario.low, scenario.high)
    shapes = request_shapes(scenario)
    if not shapes:
        return {None: base}
    return {shape: base.scaled(factor) for shape, factor in shapes}


def read_setting(
    scenario: Scenario, spacing: float, seeds: Sequence[int], count: int | None = None
) -> dict[str, Any]:
    """The SDK and the informed client at ``target_delay_seconds=spacing``, over ``seeds``."""
    policy = attrs.evolve(twin_policy(scenario), target_delay_seconds=spacing)
    shapes = _distributions(scenario)
    fastest = {shape: dist.quantile(FASTEST) for shape, dist in shapes.items()}
    # Where the informed client first asks each shape's tasks, for each share it leaves out.
    firsts = {
        share: {shape: dist.quantile(share) + CAP * spacing for shape, dist in shapes.items()}
        for share in LEFT_OUT
    }
    sdk: list[dict[str, float]] = []
    informed: dict[float, list[dict[str, float]]] = {share: [] for share in LEFT_OUT}
    by_wave: list[dict[str, list[float]]] = []
    for seed in seeds:
        tasks = twin_tasks(scenario, seed, count)
        outcome = simulate(tasks, policy, seed=seed)
        by_wave.append(_waves(scenario, tasks, outcome, firsts[MARGIN], spacing))
        late = [t for t in tasks if outcome.delays[t.name] > CAP * spacing]
        sdk.append(
            {
                "queries": outcome.per_task,
                "mean": statistics.fmean(outcome.delays.values()) / spacing,
                "p99": _quantile(list(outcome.delays.values()), 0.99) / spacing,
                "late": len(late),
                "late_fastest": sum(t.ends - t.created < fastest[t.workload] for t in late),
            }
        )
        for share in LEFT_OUT:
            queries, delays = informed_grid(tasks, firsts[share], spacing)
            informed[share].append(
                {
                    "queries": queries,
                    "mean": statistics.fmean(delays) / spacing,
                    "p99": _quantile(delays, 0.99) / spacing,
                    "late": sum(d > CAP * spacing for d in delays),
                    "late_fastest": 0,
                }
            )
    rows = [_summary("SDK", sdk)]
    rows += [_summary(f"informed, {share:.1%} left out", informed[share]) for share in LEFT_OUT]
    count_of_waves = len(by_wave[0]["sdk_queries"])
    waves = {
        key: [
            round(statistics.fmean(draw[key][wave] for draw in by_wave), 3)
            for wave in range(count_of_waves)
        ]
        for key in ("sdk_queries", "sdk_mean", "informed_queries")
    }
    return {"spacing_s": spacing, "draws": len(seeds), "rows": rows, "waves": waves}


def _waves(
    scenario: Scenario,
    tasks: Sequence[SimTask],
    outcome: Outcome,
    firsts: dict[str | None, float],
    spacing: float,
) -> dict[str, list[float]]:
    """Per wave of ``tasks``: the SDK's queries a task and mean delay (in spacings), and the
    informed client's queries a task asking first at ``firsts`` (``MARGIN`` left out, the
    first share that held the target on every draw): where the SDK pays for what it learns."""
    per_wave = -(-len(tasks) // scenario.waves)
    found: dict[str, list[float]] = {"sdk_queries": [], "sdk_mean": [], "informed_queries": []}
    for start in range(0, len(tasks), per_wave):
        wave = tasks[start : start + per_wave]
        found["sdk_queries"].append(statistics.fmean(len(outcome.asked[t.name]) for t in wave))
        delays = (outcome.delays[t.name] / spacing for t in wave)
        found["sdk_mean"].append(statistics.fmean(delays))
        found["informed_queries"].append(informed_grid(wave, firsts, spacing)[0])
    return found


def _summary(client: str, draws: list[dict[str, float]]) -> dict[str, Any]:
    p99s = [d["p99"] for d in draws]
    return {
        "client": client,
        "queries_per_task": round(statistics.fmean(d["queries"] for d in draws), 3),
        "mean_spacings": round(statistics.fmean(d["mean"] for d in draws), 3),
        "p99_spacings_least": round(min(p99s), 2),
        "p99_spacings_most": round(max(p99s), 2),
        "past_cap": round(statistics.fmean(d["late"] for d in draws), 1),
        "past_cap_in_fastest": round(statistics.fmean(d["late_fastest"] for d in draws), 1),
        "draws_met": sum(p <= CAP for p in p99s),
    }


def render_markdown(results: list[dict[str, Any]], count: int) -> str:
    lines = [
        "# The knob in seconds: the 99th percentile where waves of request shapes come",
        "",
        f"`{SCENARIO}`'s twin on the fake clock ({count} tasks, four request shapes x1 to x3.6, "
        "eight waves), at `target_delay_seconds` S, each draw its own durations "
        "(`python -m benchmarks.seconds_tail`). Delays in spacings (S). *Past 1.5 S*: tasks "
        "found later than that, on average over the draws (*of them in their shape's fastest "
        "1%*: that ended sooner than the 1% quantile of their shape's distribution, the share "
        "the SDK's first query leaves out). *Draws met*: p99 <= 1.5 S. The informed client "
        "knew each shape's distribution: first query 1.5 S past its quantile at the share "
        "left out, then every S.",
        "",
        "| S | client | queries / task | mean | p99 (least-most) | past 1.5 S "
        "| of them in their shape's fastest 1% | draws met |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for setting in results:
        for row in setting["rows"]:
            fastest = row["past_cap_in_fastest"] if row["client"] == "SDK" else "-"
            lines.append(
                f"| {setting['spacing_s']:g} s | {row['client']} | {row['queries_per_task']:.2f} "
                f"| {row['mean_spacings']:.3f} S | {row['p99_spacings_least']:.2f}-"
                f"{row['p99_spacings_most']:.2f} S | {row['past_cap']:.1f} | {fastest} "
                f"| {row['draws_met']} of {setting['draws']} |"
            )
    lines += [
        "",
        "Per wave (125 tasks each, in creation order): the SDK's queries a task and mean delay, "
        f"and the informed client's queries with {MARGIN:.1%} left out (the first share that "
        "held the target on every draw), on average over the draws: the SDK pays for what it "
        "learns in the first waves.",
        "",
        "| S | wave | SDK: queries / task | SDK: mean | informed, "
        f"{MARGIN:.1%} left out: queries / task |",
        "|---|---|---|---|---|",
    ]
    for setting in results:
        waves = setting["waves"]
        for wave, queries in enumerate(waves["sdk_queries"]):
            lines.append(
                f"| {setting['spacing_s']:g} s | {wave + 1} | {queries:.2f} "
                f"| {waves['sdk_mean'][wave]:.3f} S | {waves['informed_queries'][wave]:.2f} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="200 tasks, two draws, 15 s")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    scenario = scenario_named(SCENARIO)
    count = 200 if args.quick else scenario.count
    settings = SETTINGS[:1] if args.quick else SETTINGS
    seeds = SEEDS[:2] if args.quick else SEEDS
    results = [read_setting(scenario, spacing, seeds, count) for spacing in settings]
    text = render_markdown(results, count)
    if not args.quick:
        write_results(args.out, "seconds-tail", results, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
