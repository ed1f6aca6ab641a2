"""The benchmarks' informed client planned for the mean delay: it never needs more queries than
equal spacing for the same mean, it finds the two modes' gap, and its reading is an envelope."""

from __future__ import annotations

import random

import pytest

pytest.importorskip("numpy")  # the bench extra's; the optimum is solved with it

from anyint_async.testing import LogNormal, Mixture, Uniform, duration_from_json
from benchmarks.informed import queries_at
from benchmarks.mean_frontier import (
    known_sample,
    mean_efficiency,
    mean_frontier,
    own_run_frontier,
    replay_at_rate,
    undominated,
)


def _run(draw: object, count: int = 2000, seed: int = 3) -> list[float]:
    rng = random.Random(seed)
    return [draw.sample(rng) for _ in range(count)]  # type: ignore[attr-defined]


@pytest.mark.parametrize("mean", [0.3, 1.0, 3.0])
def test_planning_for_the_mean_beats_equal_spacing_at_the_same_mean(mean: float) -> None:
    draw = Uniform(6.0, 36.0)
    found = mean_frontier(known_sample(draw), _run(draw))
    equal = queries_at(undominated(found["equal"]), "delay_mean_s", mean)
    best = queries_at(undominated(found["optimised"]), "delay_mean_s", mean)
    assert equal is not None and best is not None
    # Uniform from a floor: the hazard rises as tasks run, so the optimum spaces queries
    # wider early and closer late, saving a tenth or more.
    assert best <= 0.92 * equal


def test_two_modes_are_asked_about_where_tasks_end_not_between() -> None:
    draw = Mixture(((2.0, Uniform(8.0, 10.0)), (1.0, Uniform(32.0, 40.0))))
    found = mean_frontier(known_sample(draw), _run(draw))
    equal = queries_at(undominated(found["equal"]), "delay_mean_s", 0.5)
    best = queries_at(undominated(found["optimised"]), "delay_mean_s", 0.5)
    assert equal is not None and best is not None
    assert best <= 0.4 * equal  # no queries in the 22 s where no task ends


def test_a_long_tail_does_not_hold_the_informed_client_back() -> None:
    # A log-normal's slowest thousandth spans tens of seconds: a grid of quantiles alone let no
    # plan ask often there, and the optimum came out a fifth dearer than it is. Replayed on the
    # distribution itself, at the default's mean for it (0.1 x 17 s / 2), the frontier must be
    # within 3% of what a quantile grid eight times as fine found (9.65 queries a task, on
    # another draw); quantiles alone gave 11.2 here.
    known = known_sample(LogNormal(median=17.0, sigma=0.6))
    found = mean_frontier(known, known)
    best = queries_at(undominated(found["optimised"]), "delay_mean_s", 0.85)
    assert best is not None and best <= 1.03 * 9.65


def test_holding_the_own_run_tail_asks_nothing_in_a_gap_where_no_task_ends() -> None:
    # Two modes: no task ends between 10 and 32 s, so a client that knows it keeps every task
    # within its share without a query there, and holding the tail costs it nothing. A next
    # query bounded by the last query's time (not by the soonest end after it) asked all
    # through the gap: 1.9x the queries.
    draw = Mixture(((2.0, Uniform(8.0, 10.0)), (1.0, Uniform(32.0, 40.0))))
    known, run = known_sample(draw, count=5000), _run(draw)
    free = queries_at(undominated(own_run_frontier(known, run, None)), "delay_mean_s", 0.47)
    held = queries_at(undominated(own_run_frontier(known, run, 0.15)), "delay_mean_s", 0.47)
    assert free is not None and held is not None
    assert held <= 1.05 * free


def test_efficiency_is_the_informed_queries_over_the_contenders() -> None:
    points = [
        {"queries_per_task": 10.0, "delay_mean_s": 1.0},
        {"queries_per_task": 12.0, "delay_mean_s": 1.1},  # dominated: more queries, later
        {"queries_per_task": 5.0, "delay_mean_s": 2.0},
    ]
    assert undominated(points) == [points[0], points[2]]
    assert mean_efficiency(points, 20.0, 1.0) == 0.5
    assert mean_efficiency(points, 5.0, 2.0) == 1.0
    assert mean_efficiency(points, 5.0, 9.0) is None  # outside the frontier computed


def test_the_gateway_reads_every_shape_of_durations_from_json() -> None:
    rng = random.Random(1)
    floored = duration_from_json({"kind": "lognormal", "median": 8.5, "sigma": 0.6, "offset": 8.5})
    assert min(floored.sample(rng) for _ in range(2000)) >= 8.5
    pareto = duration_from_json({"kind": "pareto", "low": 8, "alpha": 1.5, "high": 80})
    drawn = [pareto.sample(rng) for _ in range(2000)]
    assert min(drawn) >= 8 and max(drawn) <= 80 and sorted(drawn)[1000] < 14
    both = duration_from_json(
        {
            "kind": "mixture",
            "parts": [
                {"weight": 2, "kind": "uniform", "low": 8, "high": 10},
                {"weight": 1, "kind": "uniform", "low": 32, "high": 40},
            ],
        }
    )
    drawn = [both.sample(rng) for _ in range(3000)]
    assert all(8 <= d <= 10 or 32 <= d <= 40 for d in drawn)
    assert 0.6 < sum(d <= 10 for d in drawn) / len(drawn) < 0.73
    with pytest.raises(ValueError, match="mixture"):
        duration_from_json({"kind": "gamma"})


def test_holding_the_own_run_tail_costs_queries_even_when_the_durations_are_known() -> None:
    # 6-36 s at the default's mean (0.1 x 21 s / 2): planned for the mean alone, the short
    # tasks wait a spacing sized for the rest; held to 1.5 f of their own run, 99% of tasks
    # are, and the same mean needs more queries.
    draw, cap, mean = Uniform(6.0, 36.0), 0.15, 1.05
    known, run = known_sample(draw, count=5000), _run(draw)
    free = own_run_frontier(known, run, None)
    capped = own_run_frontier(known, run, cap)
    assert all(point["own_p99"] <= cap * 1.02 for point in capped)
    nearest = min(free, key=lambda point: abs(point["delay_mean_s"] - mean))
    assert nearest["own_p99"] > 2 * cap
    free_queries = queries_at(undominated(free), "delay_mean_s", mean)
    capped_queries = queries_at(undominated(capped), "delay_mean_s", mean)
    assert free_queries is not None and capped_queries is not None
    assert free_queries / capped_queries < 0.9


def test_a_plan_sent_at_a_rate_the_batch_outruns_is_late_by_the_queue() -> None:
    # 100 tasks created together, each ending at 10 s and asked at 10 s: sent on time, every
    # one is found at once; one sender of 10 queries a second takes 9.9 s for the last.
    durations, created = [10.0] * 100, [0.0] * 100
    on_time = replay_at_rate([10.0, 11.0], durations, created, 1e9)
    assert on_time == pytest.approx((1.0, 0.0), abs=1e-6)
    queries, mean = replay_at_rate([10.0, 11.0], durations, created, 10.0)
    assert queries == pytest.approx(1.0)
    assert mean == pytest.approx(sum(range(100)) / 10 / 100)


def test_a_late_query_can_find_its_task_and_the_plan_stops_there() -> None:
    # Asked at 1 s and 3 s, tasks end at 2 s: on time, two queries each and 1 s late. Sent
    # one every 0.5 s, the second task's first query leaves at 1.5 s, the third's at 2 s (it
    # finds its task), the fourth's at 2.5 s.
    durations, created = [2.0] * 4, [0.0] * 4
    assert replay_at_rate([1.0, 3.0], durations, created, 1e9) == pytest.approx(
        (2.0, 1.0), abs=1e-6
    )
    queries, mean = replay_at_rate([1.0, 3.0], durations, created, 2.0)
    assert queries == pytest.approx(6 / 4)
    # Found: tasks 3 and 4 at 2.0 and 2.5 s; tasks 1 and 2 at their second queries, sent at
    # 3.0 and 3.5 s.
    assert mean == pytest.approx((0.0 + 0.5 + 1.0 + 1.5) / 4)


def test_held_to_a_rate_the_informed_client_cannot_reach_the_means_it_plans() -> None:
    draw = LogNormal(median=10.0, sigma=0.4)
    durations = _run(draw, count=3000)
    created = [3.0 * i / 3000 for i in range(3000)]
    found = mean_frontier(known_sample(draw), durations, (created, 500.0))
    free = undominated(found["optimised"])
    held = undominated(found["optimised_at_rate"])
    # 3,000 tasks reaching their floor within 3 s ask far more than 500 a second there.
    assert min(p["delay_mean_s"] for p in held) > 2 * min(p["delay_mean_s"] for p in free)
    # Where it does reach, it needs more queries for the same mean than plans sent on time.
    held_at_3s = queries_at(held, "delay_mean_s", 3.0)
    free_at_3s = queries_at(free, "delay_mean_s", 3.0)
    assert held_at_3s is not None and free_at_3s is not None
    assert held_at_3s > free_at_3s


def test_planned_queries_that_fell_due_while_one_waited_are_not_sent() -> None:
    # Two tasks created together, ending at 10 s, asked at 1, 1.1, 1.2 and 10 s by a sender of
    # one query a second: the second task's first query leaves at 2 s, past its 1.1 and 1.2 s
    # queries, so its next is the one at 10 s. On time each task would be asked four times.
    times, durations, created = [1.0, 1.1, 1.2, 10.0], [10.0, 10.0], [0.0, 0.0]
    assert replay_at_rate(times, durations, created, 1e9)[0] == pytest.approx(4.0)
    queries, mean = replay_at_rate(times, durations, created, 1.0)
    # In planned order: task 0 at 1 s; task 1 at 2 s (planned for 1 s), so its next is at 10
    # s; task 0's 1.1 s query at 3 s, so its next is at 10 s too. At 10 s both are asked, one
    # then and one at 11 s: three queries and two, delays 0 and 1 s.
    assert queries == pytest.approx((3 + 2) / 2)
    assert mean == pytest.approx((0.0 + 1.0) / 2)
