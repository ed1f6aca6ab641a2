"""Where a fixed loop's grid falls against a narrow mode of durations.

    python -m benchmarks.phase [--quick] [--out DIR]

In ``benchmarks.shapes``'s two-modes shape (two thirds of the tasks 8-10 s, a third 32-40 s)
the fast mode ends exactly where a loop asking every 5 s asks for the second time, 10 s after
each create, so that loop finds two thirds of the batch within a second or two of their end.
That is the luck of the loop's phase, which its users do not choose: tasks of 10-12 s would
wait three to five seconds for the same loop. Here the shape is shifted by 0 to 4 s (a fifth of
the loop's period each) and the 5 s loop runs beside ``target_delay_seconds=5`` at each shift;
the report gives every shift and the average over the phase, what a user who leaves that loop
for the knob can expect. Writes ``phase.json`` and ``phase.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
from pathlib import Path
from typing import Any

import attrs

from .report import _by, _line, verdict_bullets
from .run import RESULTS, Scenario, write_results
from .shape_targets import _across, _against_loop
from .shapes import run_in_turn, shape_scenarios

__all__ = ["SHIFTS", "main", "phase_average", "phase_scenarios", "phase_verdicts"]

#: Seconds added to both modes' bounds: five phases of the 5 s loop's grid.
SHIFTS = (0.0, 1.0, 2.0, 3.0, 4.0)
CONTENDERS = ("naive-5s", "anyint@5s")
#: The figures averaged over the phase.
_AVERAGED = ("queries_per_task", "delay_mean_s", "delay_p95_s")


def _shifted(spec: dict[str, Any], shift: float) -> dict[str, Any]:
    parts = [
        {**part, "low": part["low"] + shift, "high": part["high"] + shift} for part in spec["parts"]
    ]
    return {**spec, "parts": parts}


def phase_scenarios(quick: bool) -> list[Scenario]:
    """The two-modes shape once per shift (``quick``: 40 tasks, ten times shorter)."""
    (base,) = [s for s in shape_scenarios(quick) if s.name == "shape-bimodal"]
    assert base.run is not None
    return [
        attrs.evolve(
            base,
            name=f"bimodal+{shift:g}s",
            description=f"{base.count} videos, two modes shifted by {shift:g} s: two thirds "
            f"{8 + shift:g}-{10 + shift:g} s, a third {32 + shift:g}-{40 + shift:g} s"
            + (" (x0.1)" if quick else ""),
            run=_shifted(base.run, shift),  # simulated seconds, as the spec's
            contenders=CONTENDERS,
        )
        for shift in SHIFTS
    ]


def phase_average(report: dict[str, Any]) -> dict[str, Any]:
    """Each contender's figures averaged over the shifts that measured it, as a scenario (its
    results), so the targets read it as they read one shape."""
    runs: dict[str, list[dict[str, Any]]] = {}
    for scenario in report["scenarios"]:
        for name, result in _by(scenario).items():
            runs.setdefault(name, []).append(result)
    results = [
        {"contender": name, **{k: statistics.fmean(r[k] for r in found) for k in _AVERAGED}}
        for name, found in runs.items()
    ]
    scale = report["scenarios"][0]["settings"].get("policy_scale", 1.0) if runs else 1.0
    return {
        "scenario": "averaged over the phase",
        "settings": {"policy_scale": scale},
        "results": results,
    }


def phase_verdicts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """The shapes benchmark's target for ``target_delay_seconds=5`` against the 5 s loop, at
    each shift and on the average over the phase."""
    target = (
        "cold, `target_delay_seconds=5` against a loop asking every 5 s: mean <= 1.1x, "
        "p95 <= 1.1x + 0.1 s, queries <= 0.85x"
    )
    found = []
    each = _across(report, f"{target}, at every shift", _against_loop(5))
    if each is not None:
        found.append(each)
    average = phase_average(report)
    checked = _against_loop(5)(_by(average), average["settings"]["policy_scale"])
    if checked is not None:
        met, detail = checked
        found.append(_line(f"{target}, averaged over the loop's phase", met, detail))
    return found


def render_phase_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# The loop's phase against a narrow mode",
        "",
        f"Run {report['date']}; total {report['seconds']} s. At each shift the contenders ran at "
        "once, each in its own process against its own simulated gateway (the same durations). "
        "Delays in seconds from a task's end to its yield.",
        "",
        "| shift | contender | queries / task | mean s | p50 s | p95 s | p99 s | max s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for scenario in report["scenarios"]:
        for r in scenario["results"]:
            if "error" in r:
                lines.append(f"| {scenario['scenario']} | {r['contender']} | error |||||| ")
                continue
            lines.append(
                f"| {scenario['scenario']} | {r['contender']} | {r['queries_per_task']} | "
                f"{r['delay_mean_s']} | {r['delay_p50_s']} | {r['delay_p95_s']} | "
                f"{r['delay_p99_s']} | {r['delay_max_s']} |"
            )
    average = phase_average(report)
    lines += ["", "Averaged over the phase:", ""]
    lines += [
        f"- {r['contender']}: {r['queries_per_task']:.2f} queries a task, mean "
        f"{r['delay_mean_s']:.3f} s, p95 {r['delay_p95_s']:.3f} s"
        for r in average["results"]
    ]
    lines += ["", "## Targets", "", *verdict_bullets(phase_verdicts(report)), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.phase")
    parser.add_argument("--quick", action="store_true", help="40 tasks per shift, x0.1 time")
    parser.add_argument("--out", default=str(RESULTS), help="results folder")
    args = parser.parse_args(argv)
    report = asyncio.run(run_in_turn(phase_scenarios(args.quick), args.quick))
    out = Path(args.out)
    stem = "phase-quick" if args.quick else "phase"
    write_results(out, stem, report, render_phase_markdown(report), indent=2)
    print((out / f"{stem}.md").read_text())
    failed = [r["contender"] for s in report["scenarios"] for r in s["results"] if "error" in r]
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
