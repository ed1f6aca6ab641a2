"""What finding every task within its own share costs, even for a client that knew the
distribution.

    python -m benchmarks.own_run [--quick] [--out benchmarks/results]

Two promises pull apart. Planned for the mean delay (the yardstick of efficiency), an informed
client asks where most tasks end and leaves the shortest ones to wait a spacing sized for the
rest: on 6-36 s, at the default's mean, the p99 of each task's delay over its own duration is
several times ``target_delay``. Held to find 99% of tasks within 1.5 ``target_delay`` of their
own run (issue 30's "no tail left behind"), the same client needs more queries for the same
mean. For each shape (``benchmarks.shapes``) and setting f, at the mean the knob promises a
median task (f x median / 2): the informed queries planned for the mean alone and that plan's
own-run p99, the informed queries when every task but the shortest 1% must be found within
1.5 f of its own run (the plain way to hold that p99), and their ratio: the most efficiency at
equal mean a client held to that can reach. Planned on 20,000 draws, replayed on 3,000
others. Writes ``own-run.json`` and ``own-run.md``.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from anyint_async.testing import duration_from_json

from .informed import queries_at
from .mean_frontier import known_sample, own_run_frontier, undominated
from .run import RESULTS, write_results
from .shapes import SHAPES

__all__ = ["bound", "main", "render_markdown"]

SETTINGS = (0.03, 0.1, 0.3)
#: The p99 of each task's delay over its own run that issue 30 asks for, in ``target_delay``s.
CAP = 1.5


def bound(spec: dict[str, Any], target: float) -> dict[str, Any]:
    """One shape at one setting: the informed client with and without the own-run cap."""
    draw = duration_from_json(spec)
    known = known_sample(draw)
    durations = known_sample(draw, count=3000, seed=54321)
    median = known[len(known) // 2]
    mean = target * median / 2
    free = own_run_frontier(known, durations, None)
    capped = own_run_frontier(known, durations, CAP * target)
    nearest = min(free, key=lambda point: abs(point["delay_mean_s"] - mean))
    free_queries = queries_at(undominated(free), "delay_mean_s", mean)
    capped_queries = queries_at(undominated(capped), "delay_mean_s", mean)
    best = None
    if free_queries is not None and capped_queries is not None:
        best = round(free_queries / capped_queries, 3)
    return {
        "target_delay": target,
        "mean_s": round(mean, 3),
        "free_queries": None if free_queries is None else round(free_queries, 2),
        "free_own_p99": round(nearest["own_p99"] / target, 2),
        "capped_queries": None if capped_queries is None else round(capped_queries, 2),
        "best_efficiency": best,
    }


def render_markdown(results: dict[str, list[dict[str, Any]]]) -> str:
    lines = [
        "# The own-run tail's price, for a client that knew the distribution",
        "",
        "At each shape's mean delay f x median / 2: the informed queries planned for the mean "
        "alone, that plan's p99 of each task's delay over its own duration (in f), the informed "
        f"queries when every task but the shortest 1% must be found within {CAP} f of its own "
        "run, and their ratio: the most efficiency at equal mean a client held to that can "
        "reach (`python -m benchmarks.own_run`).",
        "",
        "| shape | f | mean delay | planned for the mean: queries / own-run p99 "
        f"| 99% within {CAP} f: queries | most efficiency under it |",
        "|---|---|---|---|---|---|",
    ]
    for shape, rows in results.items():
        for row in rows:
            free = "-" if row["free_queries"] is None else f"{row['free_queries']:.2f}"
            capped = "-" if row["capped_queries"] is None else f"{row['capped_queries']:.2f}"
            best = "-" if row["best_efficiency"] is None else f"{row['best_efficiency']:.3f}"
            lines.append(
                f"| {shape} | {row['target_delay']} | {row['mean_s']:.2f} s "
                f"| {free} / {row['free_own_p99']:.2f} f | {capped} | {best} |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one shape at one setting")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    shapes = list(SHAPES.items())[:1] if args.quick else list(SHAPES.items())
    settings = (0.1,) if args.quick else SETTINGS
    results = {name: [bound(spec, target) for target in settings] for name, (_, spec) in shapes}
    text = render_markdown(results)
    if not args.quick:
        write_results(args.out, "own-run", results, text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
