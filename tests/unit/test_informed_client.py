"""The benchmarks' informed client: read between its computed points, its frontier is the
optimum itself, so no contender's efficiency is flattered by the reading."""

from __future__ import annotations

import pytest

pytest.importorskip("numpy")  # the bench extra's; the optimum is solved with it

from benchmarks.informed import ClippedLogNormal, evaluate, frontier, optimised, queries_at


def test_the_frontier_between_its_points_is_the_optimum_planned_there() -> None:
    distribution = ClippedLogNormal(median=10.0, sigma=0.4, low=5.0, high=30.0)
    durations = distribution.grid(2000)
    points = frontier(distribution, durations)["optimised"]
    for delay in (1.3, 2.7, 4.8):  # between computed points, where reading could be off most
        queries, p95 = evaluate(optimised(distribution, delay), durations)
        assert queries_at(points, "delay_p95_s", p95) == pytest.approx(queries, rel=0.005)
