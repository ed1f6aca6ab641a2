"""The fake-clock twins of the time-compressed scenarios (``benchmarks.decisions``)."""

from __future__ import annotations

import pytest

from benchmarks.decisions import cold_price, scenario_named, twin_policy, twin_tasks
from benchmarks.fake_clock import Outcome, SimTask, simulate
from benchmarks.run import busiest_second


def test_a_twin_keeps_its_scenarios_waves_and_durations_in_simulated_seconds() -> None:
    learning = scenario_named("learning-1000")  # 10 waves 3 real seconds apart, on a x0.02 clock
    tasks = twin_tasks(learning, seed=1)
    assert len(tasks) == 1000
    waves = sorted({round(t.created // 150) for t in tasks})
    assert waves == list(range(10))
    # Within a wave, created at the runs' pace: 100 tasks over 100/4000 real seconds.
    second_wave = [t.created for t in tasks[100:200]]
    assert min(second_wave) == pytest.approx(150.0)
    assert max(second_wave) == pytest.approx(150.0 + 99 / 4000 / 0.02)
    assert all(learning.low <= t.running <= learning.high for t in tasks)
    assert 220 < sorted(t.running for t in tasks)[500] < 260  # its median, 240 s


def test_a_twins_policy_is_the_default_with_the_cap_the_client_left_unscaled() -> None:
    policy = twin_policy(scenario_named("scale-10000"))  # 120 real seconds on a x0.05 clock
    assert policy.wait_cap == pytest.approx(2400.0)
    assert policy.first_poll == 10.0
    assert policy.target_delay == 0.1


def test_the_cold_price_counts_the_queries_before_the_first_finish_was_seen() -> None:
    tasks = (
        SimTask(name="a", created=0.0, queued=0.0, running=10.0),
        SimTask(name="b", created=0.0, queued=0.0, running=30.0),
    )
    outcome = Outcome(
        delays={"a": 2.0, "b": 1.0},  # a seen finished at 12, b at 31
        queries=6,
        tasks=tasks,
        asked={"a": [5.0, 9.0, 12.0], "b": [11.0, 20.0, 31.0]},
    )
    first_seen, before = cold_price(outcome)
    assert first_seen == 12.0
    assert before == 1.5  # 5, 9 and 11: three queries over two tasks


def test_fewer_scouts_ask_less_before_a_cold_batchs_first_finish() -> None:
    tasks = twin_tasks(scenario_named("learning-1000"), seed=2, count=200)
    policy = twin_policy(scenario_named("learning-1000"))
    few = cold_price(simulate(tasks, policy, seed=2, scouts=4))[1]
    many = cold_price(simulate(tasks, policy, seed=2, scouts=32))[1]
    assert few * 3 < many


def test_a_paced_sender_sends_no_faster_and_finds_tasks_later() -> None:
    scenario = scenario_named("scale-1000")
    tasks = twin_tasks(scenario, seed=3, count=300)
    policy = twin_policy(scenario)
    free = simulate(tasks, policy, seed=3)
    paced = simulate(tasks, policy, seed=3, sends_per_second=2.0)
    sent = sorted(at for times in paced.asked.values() for at in times)
    assert busiest_second(sent) <= 2
    # Any 21 sends span at least ten seconds: no more than 20 in any ten.
    assert min(b - a for a, b in zip(sent, sent[20:], strict=False)) >= 10.0 - 1e-6
    assert sum(paced.delays.values()) > 1.5 * sum(free.delays.values())


def test_held_to_the_tail_too_the_informed_client_asks_no_less_than_free() -> None:
    from benchmarks.decisions import STARTS, shape_spread

    (row,) = shape_spread(quick=True, ran=None)  # uniform 6-36 s, one draw
    for start in STARTS:
        got = row[start]
        # A plan held to a promise more can only need as many queries or more at one mean.
        assert got["held"]["mean"] >= got["mean"] - 1e-9
        # So can one held to the default's own tail; and held to a tail looser than the
        # issue's, no more than held to that. (On the distribution it plans for: replayed
        # on one draw, a plan held to a tail may fare a hair better than a free one, as
        # Pareto's and the log-normal's warm draws read, by 0.013 at most.)
        assert got["own_tail"]["mean"] >= got["mean"] - 0.02
        if got["own_p99_f"]["mean"] > 1.5:
            assert got["own_tail"]["mean"] <= got["held"]["mean"] + 0.02
        assert got["own_p99_f"]["seeds"] == got["own_tail"]["seeds"] == 1
    # A cold batch finds its first tenth late: its tail over its own run is past 1.5 f.
    assert row["cold"]["own_p99_f"]["mean"] > 1.5
    for start in STARTS:
        got = {key: row[start][key]["mean"] for key in row[start] if key.endswith("_f")}
        assert got["own_median_f"] <= got["own_p95_f"] <= got["own_p99_f"]
        assert got["later_p95_f"] <= got["later_p99_f"]
    # Past the first tenth, a cold batch keeps the knob's promise: 95% within its share.
    assert row["cold"]["later_p95_f"]["mean"] <= 1.0 < row["cold"]["own_p95_f"]["mean"]
    # Beside a warm start, the informed client planned from what that start knew; a cold
    # one knew nothing to plan from.
    assert row["cold"]["planned"]["seeds"] == 0
    for start in ("warm", "same session"):
        assert row[start]["planned"]["seeds"] == 1
        assert 0.5 < row[start]["planned"]["mean"] < 1.5


def test_planned_from_the_whole_distribution_the_informed_client_is_its_own_yardstick() -> None:
    from anyint_async import DurationLearner, TaskRoute
    from anyint_async.polling import DEFAULT_POLICIES
    from benchmarks.decisions import _drawn, _planned_for, _shapes
    from benchmarks.mean_frontier import known_sample, mean_frontier

    (_, draw), *_ = _shapes(quick=True)
    tasks = _drawn(draw, 0)
    running = [t.running for t in tasks]
    known = known_sample(draw)
    informed = mean_frontier(known, running)["optimised"]
    policy = DEFAULT_POLICIES[TaskRoute.DASHSCOPE_TASKS]
    outcome = simulate(tasks, policy, seed=0, learner=DurationLearner())
    # Knowing what the informed client knows, it plans what the informed client plans.
    assert _planned_for(known, running, informed, outcome) == pytest.approx(1.0, abs=1e-3)
    # Knowing a tenth of a draw, it plans worse for the rest than knowing them all.
    assert _planned_for(sorted(running[:30]), running, informed, outcome) < 0.97


def test_the_knob_at_the_loops_spacing_asks_fewer_queries_and_finds_later_unjittered() -> None:
    from benchmarks.decisions import jitter_at_the_loop, render_markdown

    (row,) = jitter_at_the_loop(quick=True)  # uniform 6-36 s, one draw
    on, off = row["jittered"], row["unjittered"]
    assert (on["jitter"], off["jitter"]) == (0.1, 0.0)
    # The jitter draws waits under the spacing, never over: more queries, found sooner.
    assert off["queries_over_loop"]["mean"] < on["queries_over_loop"]["mean"] < 1.0
    assert on["mean_over_loop"]["mean"] < off["mean_over_loop"]["mean"]
    # Unjittered, a cold batch asks on the loop's grid once its scouts see a finish, and
    # skips the looks before it: the loop's mean delay for fewer queries.
    assert off["mean_over_loop"]["mean"] == pytest.approx(1.0, abs=1e-3)
    report = {
        "date": "d",
        "twins": [],
        "scouts": {},
        "shapes": [],
        "seconds_along": [],
        "jitter_at_the_loop": [row],
    }
    rendered = render_markdown(report)
    assert f"| uniform | 0 | {off['queries_over_loop']['mean']:.3f} (" in rendered


def test_the_knob_in_seconds_is_read_draw_by_draw_against_the_tighter_setting() -> None:
    from benchmarks.decisions import render_markdown, seconds_along

    rows = seconds_along(quick=True)  # uniform 6-36 s, one draw, 4 s then 5 s
    assert [(r["shape"], r["seconds"]) for r in rows] == [("uniform", 4.0), ("uniform", 5.0)]
    tight, loose = rows
    assert tight["dearer_than_tighter"] is None
    # Wider spacing: fewer queries, later on average, on this draw; so counted in order.
    assert loose["queries"]["mean"] < tight["queries"]["mean"]
    assert loose["mean"]["mean"] > tight["mean"]["mean"]
    assert (loose["dearer_than_tighter"], loose["sooner_than_tighter"]) == (0, 0)
    # The knob in seconds keeps every delay under about its spacing, from the first batch.
    assert tight["p99"]["mean"] < 1.5 * 4.0 and loose["p99"]["mean"] < 1.5 * 5.0
    # Beside it, a loop on a fixed grid over the same draw: 6-36 s asked every 4 s is 2-9
    # queries a task, every 5 s 2-8; the knob's scouts spare the rest of the batch some.
    for row, seconds in ((tight, 4.0), (loose, 5.0)):
        loop = row["loop"]
        assert 6 / seconds < loop["queries"]["mean"] <= 36 / seconds + 1
        assert 0 < loop["mean"]["mean"] < seconds
        assert row["queries"]["mean"] < loop["queries"]["mean"]
    assert loose["loop"]["queries"]["mean"] < tight["loop"]["queries"]["mean"]
    assert (loose["loop"]["dearer_than_tighter"], loose["loop"]["sooner_than_tighter"]) == (0, 0)
    report = {"date": "d", "twins": [], "scouts": {}, "shapes": [], "seconds_along": rows}
    rendered = render_markdown(report)
    assert "| uniform | 5 | " in rendered
    assert "| 0, 0 of 1 | " in rendered
    loop = loose["loop"]
    assert f"| {loop['queries']['mean']:.2f}, {loop['mean']['mean']:.3f} | 0, 0 of 1 |" in rendered


def test_the_scouts_silence_is_read_widened_and_held_on_the_same_draw() -> None:
    from benchmarks.decisions import render_markdown, scouts_in_silence

    (row,) = scouts_in_silence(quick=True)  # uniform 6-36 s, one draw, at 1 s
    assert (row["shape"], row["seconds"]) == ("uniform", 1.0)
    widened, held = row["widened"], row["held"]
    assert (widened["scouts"], held["scouts"]) == (100, 32)
    # Held back until the first of 32 scouts ends, the tasks that ended at the floor before
    # it wait past the spacing; grown to 100 scouts, nearly every task is found within it,
    # sooner on average, for more queries.
    assert held["p99_over_spacing"]["mean"] > 1.5
    assert widened["p99_over_spacing"]["mean"] <= 1.0
    assert widened["mean_over_loop"]["mean"] < held["mean_over_loop"]["mean"]
    assert held["queries_over_loop"]["mean"] < widened["queries_over_loop"]["mean"] < 0.85
    report = {"date": "d", "twins": [], "scouts": {}, "shapes": [], "seconds_along": []}
    rendered = render_markdown({**report, "scouts_in_silence": [row]})
    assert "## The scouts' silence, in seconds" in rendered
    assert f"| uniform | 1 | {widened['queries_over_loop']['mean']:.3f} (" in rendered


def test_a_clips_atoms_are_the_durations_a_draw_repeats_and_redrawn_they_are_gone() -> None:
    import random

    from benchmarks.decisions import Unclipped, _shapes, atoms_of
    from benchmarks.mean_frontier import known_sample

    draws = dict(_shapes(quick=False))
    # A Pareto past 8 s clipped at 80 s piles (8/80)^1.5 of its tasks on 80 s; a uniform
    # repeats nothing.
    (atom, share), *others = atoms_of(known_sample(draws["pareto"])).items()
    assert (atom, others) == (80.0, [])
    assert share == pytest.approx(0.1**1.5, abs=0.004)
    assert atoms_of(known_sample(draws["uniform"])) == {}
    rng = random.Random(5)
    redrawn = [Unclipped(draws["pareto"], frozenset({atom})).sample(rng) for _ in range(3000)]
    assert max(redrawn) < 80.0
    assert min(redrawn) >= 8.0


def test_an_atoms_tasks_are_counted_as_asked_and_as_the_nearest_plan_would_ask_them() -> None:
    from benchmarks.decisions import _atom_queries
    from benchmarks.mean_frontier import _replay

    tasks = tuple(
        SimTask(name=name, created=0.0, queued=0.0, running=running)
        for name, running in (("a", 10.0), ("b", 80.0), ("c", 80.0))
    )
    outcome = Outcome(
        delays={"a": 1.0, "b": 0.5, "c": 0.5},  # a mean of 2/3 s
        queries=9,
        tasks=tasks,
        asked={"a": [5.0, 11.0], "b": [40.0, 70.0, 79.0, 80.5], "c": [75.0, 80.5]},
    )
    sparse = [20.0, 80.0]  # replayed: a found 10 s late, b and c at once: a mean of 10/3 s
    dense = [11.0, 60.0, 79.0, 80.5]  # 1 s, 0.5 s, 0.5 s late: a mean of 2/3 s
    running = [t.running for t in tasks]
    replayed = [(_replay(plan, running)[1], plan) for plan in (sparse, dense)]
    default, informed = _atom_queries(outcome, {80.0: 0.5}, replayed, 2 / 3)
    assert default == 3.0  # b asked 4 times, c twice
    assert informed == 4.0  # the dense plan's four times, the last one past 80 s


def test_the_clips_atoms_are_read_beside_their_redrawn_twin() -> None:
    from benchmarks.decisions import _drawn, _shapes, clip_atoms, render_markdown

    (row,) = clip_atoms(quick=True)  # Pareto clipped at 80 s, one draw
    assert (row["shape"], list(row["atoms"])) == ("pareto", ["80"])
    tasks = _drawn(dict(_shapes(quick=False))["pareto"], 0)
    piled = sum(t.running == 80.0 for t in tasks) / len(tasks)
    for start in ("cold", "warm", "same session"):
        got = row[start]
        assert got["clipped"]["seeds"] == got["unclipped"]["seeds"] == 1
        excess = (got["default"]["mean"] - got["informed"]["mean"]) * piled
        assert got["excess"]["mean"] == pytest.approx(excess, abs=0.005)
    report = {"date": "d", "twins": [], "scouts": {}, "shapes": [], "seconds_along": []}
    rendered = render_markdown({**report, "clip_atoms": [row]})
    assert "| pareto | 80 s (3.2%) | warm | " in rendered
    assert "The clips' atoms" not in render_markdown(report)
