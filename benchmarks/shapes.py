"""Shapes of durations that are not log-normal, judged by what users wait through.

    python -m benchmarks.shapes [--quick] [--out benchmarks/results]

Real generation times often have a floor (nothing renders a 5 s video in under a few
seconds) and then a spread, or two modes (a model that sometimes queues), or a heavy tail. For
each shape, 300 DashScope videos in real time; every contender at once, each in its own process
against its own simulated gateway (same seed: the same durations). Each row gives queries per
task, the mean, p50, p95, p99 and max detection delay, the batch's completion lag (its last
task's end to its yield), and the efficiency at equal mean delay: the queries an informed client
that knew the distribution needs for the contender's mean, over the contender's
(``mean_frontier``). Writes ``shapes.json``, ``shapes.md`` and ``shapes.png``.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path
from typing import Any

from .report import (
    _pyplot,
    draw_mean_and_p95,
    draw_mean_curve,
    draw_mean_frontier,
    panel_grid,
    verdict_bullets,
)
from .run import RESULTS, Scenario, run_scenario, write_results
from .shape_targets import shape_verdicts

__all__ = [
    "SHAPES",
    "main",
    "render_readme_table",
    "render_shapes_markdown",
    "render_shapes_plot",
    "run_in_turn",
    "shape_scenarios",
]

#: Gateway duration specs, in seconds.
SHAPES: dict[str, tuple[str, dict[str, Any]]] = {
    "uniform": (
        "a floor, then a spread: uniform 6-36 s",
        {"kind": "uniform", "low": 6, "high": 36},
    ),
    "floored": (
        "a log-normal above a floor at half its median: 8.5 s + log-normal (median 8.5 s, sigma 0.6)",
        {"kind": "lognormal", "median": 8.5, "sigma": 0.6, "offset": 8.5, "high": 120},
    ),
    "bimodal": (
        "two modes: two thirds 8-10 s, a third 32-40 s",
        {
            "kind": "mixture",
            "parts": [
                {"weight": 2, "kind": "uniform", "low": 8, "high": 10},
                {"weight": 1, "kind": "uniform", "low": 32, "high": 40},
            ],
        },
    ),
    "pareto": (
        "a heavy tail: Pareto (alpha 1.5) past an 8 s floor, clipped at 80 s",
        {"kind": "pareto", "low": 8, "alpha": 1.5, "high": 80},
    ),
    "lognormal": (
        "the log-normal of the other scenarios: median 17 s, sigma 0.6, 5-60 s",
        {"kind": "lognormal", "median": 17, "sigma": 0.6, "low": 5, "high": 60},
    ),
}
#: The loops users write, the official SDK, and the SDK: the default, the knob's two ends, the
#: knob in seconds at the loops' spacings and at 6 s (under the official SDK's delays: its
#: waits grow to 5 s, yet it asked each task about every 8 s, p95 7.0-7.7 s), and warm (a
#: duration memory from an earlier batch).
CONTENDERS = (
    "naive-1s",
    "naive-5s",
    "official",
    "anyint",
    "anyint@0.03",
    "anyint@0.3",
    "anyint@1s",
    "anyint@5s",
    "anyint@6s",
    "anyint-warm",
    "anyint-warm@1s",
)
COLUMNS = (
    ("contender", "contender"),
    ("queries_per_task", "queries / task"),
    ("delay_mean_s", "mean s"),
    ("delay_p50_s", "p50 s"),
    ("delay_p95_s", "p95 s"),
    ("delay_p99_s", "p99 s"),
    ("delay_max_s", "max s"),
    ("completion_lag_s", "completion lag s"),
    ("relative_delay_mean", "mean delay / own run"),
    ("efficiency_mean_optimised", "efficiency (optimised)"),
    ("efficiency_mean_equal", "efficiency (equal)"),
)


def shape_scenarios(quick: bool) -> list[Scenario]:
    """One scenario per shape; ``quick``: 40 tasks, the durations ten times shorter."""
    count, scale = (40, 0.1) if quick else (300, 1.0)
    return [
        Scenario(
            name=f"shape-{name}",
            description=f"{count} videos, {text}" + (" (x0.1)" if quick else ""),
            count=count,
            median=0.0,
            sigma=0.0,
            low=0.0,
            high=0.0,
            time_scale=scale,
            contenders=CONTENDERS,
            concurrent=True,
            policy_scale=scale,
            run=spec,
        )
        for name, (text, spec) in SHAPES.items()
    ]


def render_shapes_markdown(report: dict[str, Any], *, plot_name: str) -> str:
    lines = [
        "# Shapes of durations: what users wait through",
        "",
        f"Run {report['date']}; total {report['seconds']} s. Every contender at once, each in its "
        "own process against its own simulated gateway (the same durations). Delays in seconds "
        "from a task's end to its yield; efficiency: an informed client's queries at the "
        "contender's mean delay over the contender's (1.0: as few as a client that knew the "
        "distribution; `optimised` plans for the mean, `equal` spaces evenly from the floor).",
        "",
    ]
    for scenario in report["scenarios"]:
        lines += [f"## {scenario['scenario']}: {scenario['description']}", ""]
        lines.append("| " + " | ".join(title for _, title in COLUMNS) + " |")
        lines.append("|" + "---|" * len(COLUMNS))
        for result in scenario["results"]:
            if "error" in result:
                lines.append(f"| {result['contender']} | failed |")
                continue
            cells = ["n/a" if result.get(key) is None else str(result[key]) for key, _ in COLUMNS]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += [f"![mean and p95 delay against queries per task, per shape]({plot_name})", ""]
    verdicts = shape_verdicts(report)
    if verdicts:
        lines += [
            "## Targets",
            "",
            "Issue 30's real-time targets, each over every shape (why each miss is what it is: "
            "`docs/guide/performance.md`; the own-run tail against efficiency: `own-run.md`).",
            "",
        ]
        lines += [*verdict_bullets(verdicts), ""]
    return "\n".join(lines)


#: Each contender's marker and color: the loops squares, the official SDK a diamond, the SDK
#: circles (a fraction of the run), pluses (seconds) and triangles (warm).
_STYLES = {
    "naive-1s": ("s", "tab:red"),
    "naive-5s": ("s", "tab:orange"),
    "official": ("D", "black"),
    "anyint": ("o", "tab:blue"),
    "anyint@0.03": ("o", "tab:cyan"),
    "anyint@0.3": ("o", "navy"),
    "anyint@1s": ("P", "tab:purple"),
    "anyint@5s": ("P", "tab:pink"),
    "anyint@6s": ("P", "tab:brown"),
    "anyint-warm": ("^", "tab:green"),
    "anyint-warm@1s": ("^", "olive"),
}


def render_shapes_plot(report: dict[str, Any], path: Path) -> bool:
    """A panel per shape: mean (filled) and p95 (hollow) delay against queries per task; the
    knob as a curve, peers as marked points, the informed client's mean frontier as a line.
    Names are in the legend and the tables, not on the points, so nothing overlaps."""
    plt = _pyplot()
    scenarios = [s for s in report["scenarios"] if any("error" not in r for r in s["results"])]
    if plt is None or not scenarios:
        return False
    figure, axes, _, _ = panel_grid(plt, len(scenarios))
    for axis, scenario in zip(axes.flat, scenarios, strict=False):
        results = [r for r in scenario["results"] if "error" not in r]
        knob = [
            r
            for r in results
            if r["contender"].startswith("anyint@0") or r["contender"] == "anyint"
        ]
        if len(knob) > 1:
            draw_mean_curve(axis, knob, "-", "tab:blue", "anyint along target_delay (mean)")
        for result in results:
            name = result["contender"]
            marker, color = _STYLES.get(name, ("x", "grey"))
            draw_mean_and_p95(axis, result, marker, color, 36, label=name)
        draw_mean_frontier(axis, scenario)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xlim(1, 80)
        axis.set_title(scenario["scenario"], fontsize=10)
        axis.set_xlabel("queries per task")
        axis.set_ylabel("delay s (filled: mean, hollow: p95)")
        axis.grid(alpha=0.3, which="both")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=6, fontsize=8)
    figure.tight_layout(rect=(0, 0.08, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


async def run_in_turn(scenarios: list[Scenario], quick: bool) -> dict[str, Any]:
    """Run ``scenarios`` one after the other (seed 11, as every shape); the report."""
    import time
    from datetime import UTC, datetime

    started = time.monotonic()
    report: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "mode": "quick" if quick else "full",
        "scenarios": [],
    }
    for scenario in scenarios:
        print(f"running {scenario.name} ({scenario.description})...", flush=True)
        report["scenarios"].append(await run_scenario(scenario, seed=11, quick=quick))
    report["seconds"] = round(time.monotonic() - started, 1)
    return report


async def run_shapes(quick: bool) -> dict[str, Any]:
    return await run_in_turn(shape_scenarios(quick), quick)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.shapes")
    parser.add_argument("--quick", action="store_true", help="40 tasks per shape, x0.1 time")
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    args = parser.parse_args(argv)
    report = asyncio.run(run_shapes(args.quick))
    out = Path(args.out)
    stem = "shapes-quick" if args.quick else "shapes"
    text = render_shapes_markdown(report, plot_name=f"{stem}.png")
    write_results(out, stem, report, text, indent=2)
    render_shapes_plot(report, out / f"{stem}.png")
    print((out / f"{stem}.md").read_text())
    failed = [
        r["contender"]
        for s in report["scenarios"]
        for r in s["results"]
        if "error" in r and r["contender"].startswith("anyint")
    ]
    return 1 if failed else 0


def render_readme_table(report: dict[str, Any]) -> str:
    """One small table for the README: per shape, the default against the loops and the
    official SDK, and the knob's range (queries per task, mean / p95 delay in seconds)."""

    def cell(result: dict[str, Any] | None) -> str:
        if result is None or "error" in result:
            return "n/a"
        return (
            f"{result['queries_per_task']:.1f} q, "
            f"{result['delay_mean_s']:.2f} / {result['delay_p95_s']:.2f} s"
        )

    lines = [
        "| durations (300 videos) | SDK default | SDK `target_delay` 0.03 → 0.3 "
        "| loop every 1 s | loop every 5 s | official SDK |",
        "|---|---|---|---|---|---|",
    ]
    for scenario in report["scenarios"]:
        got = {r["contender"]: r for r in scenario["results"]}
        tight, loose = got.get("anyint@0.03"), got.get("anyint@0.3")
        knob = f"{cell(tight)} → {cell(loose)}"
        shape = scenario["scenario"].removeprefix("shape-")
        lines.append(
            f"| {shape} | {cell(got.get('anyint'))} | {knob} | {cell(got.get('naive-1s'))} "
            f"| {cell(got.get('naive-5s'))} | {cell(got.get('official'))} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
