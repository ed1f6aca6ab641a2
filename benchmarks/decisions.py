"""The schedule's decisions alone: the time-compressed scenarios replayed on the fake clock.

    python -m benchmarks.decisions [--quick] [--out benchmarks/results]

A time-compressed run (``scale-1000``, ``scale-10000``, ``learning-1000``) reads two things at
once: what the schedule decides, and how fast one process on a shared machine sends it; so does
``realtime-200``, whose 14 clients share two cores. Here each of those scenarios (its
durations, count, waves and the policy its client ran, in simulated seconds) is polled on the
fake clock (``benchmarks.fake_clock``): every query leaves when the schedule says, and nothing
else moves. Seven readings:

- **Twins.** The default's efficiency at equal mean delay against the optimised informed
  client (``mean_frontier``), cold and, but for ``learning-1000``, warm (a second batch starting
  from the first one's duration memory), per seed; beside it, the run's own reading from
  ``latest.json`` where one is there. The warm batch once more, sent no faster than the run's
  warm client sent in its busiest second (``sends_per_second``: the schedule paces to it as to
  a known query limit), against the informed client on time and sent at that pace too.
- **The cold start's price.** The queries a cold batch asked before its first finish was seen
  (its scouts', on the target's pace for their age, and the rest's at the wait cap), per task,
  and the efficiency the same run reads without them: how much of a cold miss is the finding of
  the first finish, and how much what follows.
- **The scouts' trade.** The same cold batch of ``learning-1000`` with fewer scouts, and 300
  tasks of each shape of ``benchmarks.shapes``: efficiency, and how late the tasks ending after
  the first tenth are found (the median and p99 of each one's delay over its own run, in
  ``target_delay``s; issue 30 asks at most 0.6 and 1.5 for them). Fewer scouts ask less before
  the first finish, and the batch's first finishes wait for a later one.
- **The shapes' draw.** The default on each shape of ``benchmarks.shapes``, cold, warm (a
  duration memory) and as a session's second batch, over eight draws of 300 durations: how
  far the draw alone moves an efficiency the shapes run reads once. Beside it, the same
  against the informed client held to the issue's tail target too (``own_run``), and the
  default's own tail: which misses are the price of that target. And the informed client
  planned from what a warm start knew (its memory's durations, or its first batch's) instead
  of the whole distribution: what those durations allow a client that uses them exactly.
- **The knob in seconds.** ``target_delay_seconds`` at 4-7 s, cold, on each shape over eight
  draws: whether a looser setting asks fewer queries and finds tasks later, draw by draw, where
  one real-time run reads a single draw; beside it, a loop asking every that many seconds on
  the same draws, and its own order.
- **The jitter at the loop's spacing.** ``target_delay_seconds=5`` against the 5 s loop on the
  same draws, with the policy's jitter and without: what drawing waits under the spacing
  costs in queries and buys in delay.
- **The clips' atoms.** On each shape whose draw piles tasks on a clip's bounds, the same
  three starts and draws with that share drawn again instead: how much of a shortfall is a
  pile the informed client knows to the instant, and what each task on it costs.

Writes ``decisions.json`` and ``decisions.md`` (about twelve minutes on one core).
"""

from __future__ import annotations

import argparse
import bisect
import functools
import json
import math
import random
import statistics
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

import attrs

from anyint_async import DurationLearner, PollPolicy, TaskRoute
from anyint_async.polling import DEFAULT_POLICIES
from anyint_async.polling.policy import DEFAULT_LONGEST_WAIT
from anyint_async.polling.schedule import SCOUTS, WIDE_SCOUTS
from anyint_async.testing import duration_from_json, request_factor

from .fake_clock import Outcome, SimTask, simulate
from .informed import queries_at
from .mean_frontier import (
    _optimised_plans,
    _replay,
    known_sample,
    mean_efficiency,
    mean_frontier,
    own_run_frontier,
    undominated,
)
from .own_run import CAP
from .report import _by
from .run import RESULTS, Scenario, scenarios, write_results
from .shapes import SHAPES

__all__ = [
    "cold_price",
    "main",
    "render_markdown",
    "scenario_named",
    "twin_policy",
    "twin_tasks",
]

TWINS = ("realtime-200", "scale-1000", "scale-10000", "learning-1000")
#: Creates a second the runs' clients made (10,000 videos in about 2.4 s): a wave's tasks are
#: created over that long, not at one instant.
CREATES_PER_SECOND = 4000.0
SCOUT_COUNTS = (4, 8, 16, SCOUTS)
SHAPE_TASKS = 300
SHAPE_SEEDS = 8


def twin_policy(scenario: Scenario) -> PollPolicy:
    """The policy the scenario's default client ran, in simulated seconds: the DashScope
    default (its client scaled it with the clock), and the wait cap, which the client did not
    scale, as long as it was on the compressed clock."""
    default = DEFAULT_POLICIES[TaskRoute.DASHSCOPE_TASKS]
    return attrs.evolve(default, longest_wait=DEFAULT_LONGEST_WAIT / scenario.time_scale)


def twin_tasks(scenario: Scenario, seed: int, count: int | None = None) -> list[SimTask]:
    """The scenario's tasks (``count`` of them if given), their durations drawn as its gateway
    draws them, created in its waves at ``CREATES_PER_SECOND``, in simulated seconds. With
    request shapes (``mixed-1000``), task ``i`` asks for the ``i``-th in turn, as its client
    does: its duration is the draw times that shape's run factor, its workload the shape."""
    draw = duration_from_json(
        {
            "kind": "lognormal",
            "median": scenario.median,
            "sigma": scenario.sigma,
            "low": scenario.low,
            "high": scenario.high,
        }
    )
    rng = random.Random(seed)
    count = scenario.count if count is None else count
    per_wave = -(-count // scenario.waves)
    shapes = request_shapes(scenario)
    made = []
    for i in range(count):
        wave, place = divmod(i, per_wave)
        created = (wave * scenario.wave_gap + place / CREATES_PER_SECOND) / scenario.time_scale
        running = draw.sample(rng)
        workload = None
        if shapes:
            workload, factor = shapes[i % len(shapes)]
            running *= factor
        made.append(
            SimTask(
                name=f"s{seed}-{i}",
                created=created,
                queued=0.0,
                running=running,
                workload=workload,
            )
        )
    return made


def request_shapes(scenario: Scenario) -> list[tuple[str, float]]:
    """The scenario's request shapes in the order its client asks for them, each with the run
    factor the gateway scales its durations by (empty: one shape, the reference request)."""
    shapes = []
    for shape in filter(None, scenario.shapes.split(",")):
        seconds, resolution = shape.split(":")
        factor = request_factor({"duration": int(seconds), "resolution": resolution})
        shapes.append((shape, factor))
    return shapes


def cold_price(outcome: Outcome) -> tuple[float, float]:
    """(the time the batch's first finish was seen, the queries asked before it per task)."""
    first_seen = min(t.ends + outcome.delays[t.name] for t in outcome.tasks)
    before = sum(at < first_seen for times in outcome.asked.values() for at in times)
    return first_seen, before / len(outcome.tasks)


def _reading(
    outcome: Outcome,
    known: list[float],
    *,
    cold: bool,
    scale: float = 1.0,
    pace: float | None = None,
    tail_held: list[dict[str, float]] | None = None,
    frontier: dict[str, list[dict[str, float]]] | None = None,
) -> dict[str, Any]:
    """Queries per task, mean delay (in real seconds: ``scale`` the clock's), efficiency; cold,
    what came before the first finish; ``pace`` (sends a simulated second), the efficiency
    against the informed client sent at that pace too (``replay_at_rate``); ``tail_held``
    (``own_run_frontier``'s points), the efficiency against the informed client held to the
    tail target too; ``frontier``: ``mean_frontier``'s reading of these tasks, where one is
    at hand (without ``pace``)."""
    tasks = outcome.tasks
    mean = statistics.fmean(outcome.delays.values())
    at_rate = None if pace is None else ([t.created for t in tasks], pace)
    if frontier is None or pace is not None:
        frontier = mean_frontier(known, [t.running for t in tasks], at_rate)
    points = frontier["optimised"]
    found: dict[str, Any] = {
        "queries_per_task": round(outcome.per_task, 3),
        "delay_mean_s": round(mean * scale, 4),
        "efficiency": mean_efficiency(points, outcome.per_task, mean),
    }
    if tail_held is not None:
        found["efficiency_tail_held"] = mean_efficiency(tail_held, outcome.per_task, mean)
    if pace is not None:
        held = frontier["optimised_at_rate"]
        found["efficiency_held"] = mean_efficiency(held, outcome.per_task, mean)
        # What the pace costs the informed client itself: its queries on time over its queries
        # sent at the pace, at this mean (above 1 where a late query finds more tasks ended
        # than the plans sent on time do).
        at_pace = queries_at(undominated(held), "delay_mean_s", mean)
        found["informed_at_pace"] = (
            None if at_pace is None else mean_efficiency(points, at_pace, mean)
        )
    if cold:
        first_seen, before = cold_price(outcome)
        found["first_seen_s"] = round(first_seen * scale, 3)
        found["before_first_seen_per_task"] = round(before, 3)
        found["efficiency_without_them"] = mean_efficiency(points, outcome.per_task - before, mean)
    return found


def _run_figure(
    latest: dict[str, Any] | None, scenario: str, contender: str, figure: str
) -> float | None:
    """``figure`` of ``contender`` in ``scenario`` as the benchmark's last run read it."""
    for ran in (latest or {}).get("scenarios", []):
        if ran["scenario"] == scenario:
            found = _by(ran).get(contender, {}).get(figure)
            return None if found is None else float(found)
    return None


def scenario_named(name: str) -> Scenario:
    """The full run's scenario ``name`` (``benchmarks.run.scenarios``)."""
    return next(s for s in scenarios(quick=False) if s.name == name)


def _remembered(learner: DurationLearner) -> DurationLearner:
    """A fresh learner holding ``learner``'s durations as a memory (what a duration-memory file
    carries to a new session)."""
    memory = DurationLearner()
    memory.restore(learner.export())
    return memory


def _what_it_knew(learner: DurationLearner) -> list[float]:
    """The durations ``learner`` holds of a shape's one request shape, from each task's
    creation, sorted: all a client planning exactly for what a warm start knows can plan
    from."""
    groups = [g for g in learner.export(per_group=1_000_000)["groups"] if g["clock"] == "total"]
    return sorted(max(groups, key=lambda g: len(g["seconds"]))["seconds"]) if groups else []


def _shapes(quick: bool) -> list[tuple[str, Any]]:
    """Each shape of ``benchmarks.shapes`` and its draw of durations (smoke runs: uniform)."""
    return [
        (shape, duration_from_json(spec))
        for shape, (_, spec) in SHAPES.items()
        if not quick or shape == "uniform"
    ]


def _twin_seeds(count: int) -> tuple[int, ...]:
    """Seeds for a twin of ``count`` tasks: more where a draw is small and quick to run."""
    if count > 5000:
        return (1, 2)
    return (1, 2, 3) if count > 300 else tuple(range(1, 9))


def twins(quick: bool, latest: dict[str, Any] | None) -> list[dict[str, Any]]:
    rows = []
    for name in TWINS:
        scenario = scenario_named(name)
        count = 300 if quick else None
        seeds = (1,) if quick else _twin_seeds(scenario.count)
        policy = twin_policy(scenario)
        known = _known(scenario)
        warm = name != "learning-1000"  # its run has no warm client
        for seed in seeds:
            started = time.perf_counter()
            learner = DurationLearner()
            cold = simulate(twin_tasks(scenario, seed, count), policy, learner=learner, seed=seed)
            row: dict[str, Any] = {
                "scenario": name,
                "seed": seed,
                "cold": _reading(cold, known, cold=True, scale=scenario.time_scale),
            }
            if warm:
                later = twin_tasks(scenario, seed + 100, count)
                second = simulate(later, policy, learner=_remembered(learner), seed=seed)
                row["warm"] = _reading(second, known, cold=False, scale=scenario.time_scale)
                # Sent no faster than the run's warm client sent in its busiest second (as
                # many a second throughout: the most that process showed it could send). Only
                # on a compressed clock: in real time the busiest second is what the schedule
                # asked for, far below what the process can send.
                peak = _run_figure(latest, name, "anyint-warm", "peak_queries_per_second")
                if peak and scenario.time_scale < 1:
                    pace = peak * len(later) / scenario.count * scenario.time_scale
                    paced = simulate(
                        later,
                        policy,
                        learner=_remembered(learner),
                        seed=seed,
                        sends_per_second=pace,
                    )
                    row["warm_paced"] = {
                        "queries_a_second": round(pace / scenario.time_scale),
                        **_reading(paced, known, cold=False, scale=scenario.time_scale, pace=pace),
                    }
            row["seconds"] = round(time.perf_counter() - started, 1)
            rows.append(row)
    for row in rows:
        ran = row["scenario"]
        row["run_cold"] = _run_figure(latest, ran, "anyint", "efficiency_mean_optimised")
        if "warm" in row:
            row["run_warm"] = _run_figure(latest, ran, "anyint-warm", "efficiency_mean_optimised")
    return rows


def _known(scenario: Scenario) -> list[float]:
    """The distribution the informed client knows, in simulated seconds."""
    return [seconds / scenario.time_scale for seconds in scenario.known()]


def scouts(quick: bool) -> dict[str, list[dict[str, Any]]]:
    """The cold batch of ``learning-1000`` and of each shape at each scout count."""
    learning = scenario_named("learning-1000")
    counts = (4, SCOUTS) if quick else SCOUT_COUNTS
    seeds = (1,) if quick else (1, 2, 3)
    found: dict[str, list[dict[str, Any]]] = {}
    # Each batch: its name, how its tasks are drawn for a seed, its policy, what the informed
    # client knows.
    runs: list[tuple[str, Callable[[int], list[SimTask]], PollPolicy, list[float]]] = [
        (
            "learning-1000",
            lambda seed: twin_tasks(learning, seed, 300 if quick else None),
            twin_policy(learning),
            _known(learning),
        )
    ]
    default = DEFAULT_POLICIES[TaskRoute.DASHSCOPE_TASKS]
    for shape, draw in _shapes(quick):
        runs.append((shape, functools.partial(_drawn, draw), default, known_sample(draw)))
    for name, drawn, policy, known in runs:
        rows = []
        for count in counts:
            readings = []
            for seed in seeds:
                outcome = simulate(drawn(seed), policy, seed=seed, scouts=count)
                ratios = outcome.own_ratios(after_first=0.1)
                reading = _reading(outcome, known, cold=True)
                reading["own_median_f"] = _share_of(ratios, 0.5) / policy.target_delay
                reading["own_p99_f"] = _share_of(ratios, 0.99) / policy.target_delay
                readings.append(reading)
            rows.append({"scouts": count, **_averaged(readings)})
        found[name] = rows
    return found


#: How a batch starts, in ``shape_spread``, and the shapes run's contender for it (None: none).
STARTS = {"cold": "anyint", "warm": "anyint-warm", "same session": None}


def shape_spread(quick: bool, ran: dict[str, Any] | None) -> list[dict[str, Any]]:
    """The default's efficiency on each shape, seed by seed: how far the draw of 300 durations
    alone moves it, beside the shapes run's reading. Cold; warm, from a duration memory of
    another batch (as the shapes run's warm client starts); and the same batch as the second
    of a session that ran that other batch first (its durations its own, not a memory's).

    Beside each, what the issue's tail target costs: the efficiency against the informed
    client held to it too (``own_run``: 99% of tasks found within 1.5 ``target_delay`` of
    their own run), and the p99 of each task's delay over its own run that the default
    reached itself, every task counted, in ``target_delay``s; with its median and p95, and
    the p95 and p99 past the first tenth of tasks to end: the knob's promise as each start
    keeps it."""
    policy = DEFAULT_POLICIES[TaskRoute.DASHSCOPE_TASKS]
    seeds = range(1) if quick else range(SHAPE_SEEDS)
    rows = []
    for shape, draw in _shapes(quick):
        known = known_sample(draw)
        found: dict[str, dict[str, list[float]]] = {
            start: {
                "free": [],
                "held": [],
                "own_tail": [],
                "planned": [],
                **{key: [] for key in _OWN_RUN},
            }
            for start in STARTS
        }
        for seed in seeds:
            session = DurationLearner()
            simulate(_drawn(draw, seed + 100), policy, seed=seed, learner=session)
            tasks = _drawn(draw, seed)
            running = [t.running for t in tasks]
            held = own_run_frontier(known, running, CAP * policy.target_delay)
            informed = mean_frontier(known, running)
            learners = {
                "cold": DurationLearner(),
                "warm": _remembered(session),
                "same session": session,
            }
            for start, learner in learners.items():
                knew = _what_it_knew(learner)  # (before this batch teaches it more)
                outcome = simulate(tasks, policy, seed=seed, learner=learner)
                got = found[start]
                reading = _reading(outcome, known, cold=False, tail_held=held, frontier=informed)
                for figure, key in (("free", "efficiency"), ("held", "efficiency_tail_held")):
                    if reading[key] is not None:
                        got[figure].append(reading[key])
                if knew:
                    planned = _planned_for(knew, running, informed["optimised"], outcome)
                    if planned is not None:
                        got["planned"].append(planned)
                ratios = {after: outcome.own_ratios(after_first=after) for after in (0.0, 0.1)}
                for key, after, share in _OWN_RUN_READINGS:
                    got[key].append(_share_of(ratios[after], share) / policy.target_delay)
                own_p99 = _share_of(ratios[0.0], 0.99)
                own_tail = _held_to_its_own_tail(known, running, outcome, own_p99)
                if own_tail is not None:
                    got["own_tail"].append(own_tail)
        row: dict[str, Any] = {"shape": shape}
        for start, contender in STARTS.items():
            got = found[start]
            values = got["free"] or [math.nan]  # no draw on the frontier computed
            row[start] = {
                "mean": round(statistics.fmean(values), 3),
                "least": min(values),
                "most": max(values),
                "seeds": len(got["free"]),
                "held": _spread_of(got["held"]),
                "own_tail": _spread_of(got["own_tail"]),
                "planned": _spread_of(got["planned"]),
                **{key: _spread_of(got[key], 2) for key in _OWN_RUN},
                "run": None
                if contender is None
                else _run_figure(ran, f"shape-{shape}", contender, "efficiency_mean_optimised"),
            }
        rows.append(row)
    return rows


def _held_to_its_own_tail(
    known: list[float], running: list[float], outcome: Outcome, own_p99: float
) -> float | None:
    """The default's efficiency at equal mean against the informed client that also finds 99%
    of tasks within ``own_p99`` of their own run, the tail the default kept itself on these
    tasks: at one mean and one tail, which asks fewer queries. Where the free informed client
    saves its queries by letting tasks wait longer over their own run than the default lets
    them (two modes: the fast mode asked twice, its first tasks found up to 13% of their run
    late, past the knob's promise), this says so. ``running``: the run times of
    ``outcome``'s tasks."""
    points = own_run_frontier(known, running, own_p99)
    return mean_efficiency(points, outcome.per_task, statistics.fmean(outcome.delays.values()))


def _planned_for(
    knew: list[float],
    running: list[float],
    informed: list[dict[str, float]],
    outcome: Outcome,
) -> float | None:
    """The efficiency, at ``outcome``'s mean delay, of the informed client planned from
    ``knew`` (a warm start's durations) instead of the whole distribution, replayed on the
    same tasks (``running``); ``informed``: the optimised client's points on them. None off
    either frontier."""
    mean = statistics.fmean(outcome.delays.values())
    planned = queries_at(
        undominated(mean_frontier(knew, running)["optimised"]), "delay_mean_s", mean
    )
    return None if planned is None else mean_efficiency(informed, planned, mean)


#: ``target_delay_seconds`` settings ``seconds_along`` reads, around the 5 s loop's spacing and
#: the official SDK's (its waits grow to 5 s, yet it asked each task about every 8 s). 4.5 s
#: puts a scout's second look inside the 8-10 s finishes of two modes and Pareto's floor, where
#: 4 s looks just before them and 5 s at their end; smoke runs: 4 and 5 s.
SECONDS_ALONG: Final = (4.0, 4.5, 5.0, 5.5, 6.0, 7.0)
_SECONDS_QUICK: Final = (4.0, 5.0)


def seconds_along(quick: bool) -> list[dict[str, Any]]:
    """The knob in seconds, cold, on each shape, seed by seed: queries per task, mean, p95 and
    p99 delay at each of ``SECONDS_ALONG``, and in how many draws a setting asked more queries
    than some tighter one, or found tasks sooner on average than some tighter one: the knob's
    order, draw by draw, which one real-time run reads on a single draw. Beside it, the same
    of a loop asking every that many seconds from each task's creation, on the same draws:
    whether an order the knob misses is one a client asking on a fixed grid can keep."""
    base = DEFAULT_POLICIES[TaskRoute.DASHSCOPE_TASKS]
    seeds = range(1) if quick else range(SHAPE_SEEDS)
    settings = _SECONDS_QUICK if quick else SECONDS_ALONG
    rows: list[dict[str, Any]] = []
    for shape, draw in _shapes(quick):
        knob, loop = _Order(len(seeds)), _Order(len(seeds))
        for seconds in settings:
            knob.begin_setting()
            loop.begin_setting()
            policy = attrs.evolve(base, target_delay_seconds=seconds)
            got: dict[str, list[float]] = {key: [] for key in ("queries", "mean", "p95", "p99")}
            looped: dict[str, list[float]] = {"queries": [], "mean": []}
            for place, seed in enumerate(seeds):
                tasks = _drawn(draw, seed)
                outcome = simulate(tasks, policy, seed=seed, learner=DurationLearner())
                delays = sorted(outcome.delays.values())
                mean = statistics.fmean(delays)
                knob.read(place, outcome.per_task, mean)
                got["queries"].append(outcome.per_task)
                got["mean"].append(mean)
                got["p95"].append(_share_of(delays, 0.95))
                got["p99"].append(_share_of(delays, 0.99))
                loop_queries, loop_mean = _loop_every(tasks, seconds)
                loop.read(place, loop_queries, loop_mean)
                looped["queries"].append(loop_queries)
                looped["mean"].append(loop_mean)
            first = seconds == settings[0]
            rows.append(
                {
                    "shape": shape,
                    "seconds": seconds,
                    **{key: _spread_of(values) for key, values in got.items()},
                    "dearer_than_tighter": None if first else knob.dearer,
                    "sooner_than_tighter": None if first else knob.sooner,
                    "loop": {
                        **{key: _spread_of(values) for key, values in looped.items()},
                        "dearer_than_tighter": None if first else loop.dearer,
                        "sooner_than_tighter": None if first else loop.sooner,
                    },
                }
            )
    return rows


@attrs.frozen
class _OverTheLoop:
    """Per draw: queries and mean delay over a loop's asking every spacing
    (``_loop_every``), and the p99 delay in spacings."""

    queries: list[float]
    means: list[float]
    tails: list[float]


def _over_the_loop(
    draw: Any, policy: PollPolicy, seeds: range, *, wide_scouts: int = WIDE_SCOUTS
) -> _OverTheLoop:
    """``policy`` (a spacing in seconds) cold on each seed's draw of ``draw``, against a loop
    asking every that many seconds on the same tasks."""
    seconds = policy.target_delay_seconds
    assert seconds is not None  # the knob in seconds is what a loop is read against
    read = _OverTheLoop([], [], [])
    for seed in seeds:
        tasks = _drawn(draw, seed)
        outcome = simulate(
            tasks, policy, seed=seed, learner=DurationLearner(), wide_scouts=wide_scouts
        )
        delays = sorted(outcome.delays.values())
        loop_queries, loop_mean = _loop_every(tasks, seconds)
        read.queries.append(outcome.per_task / loop_queries)
        read.means.append(statistics.fmean(delays) / loop_mean)
        read.tails.append(_share_of(delays, 0.99) / seconds)
    return read


#: The spacings at which ``scouts_in_silence`` reads the knob in seconds: short against the
#: shapes' first finishes, where the scouts' silence lasts many spacings, and the loop's 5 s.
SILENCE_SECONDS: Final = (1.0, 2.0, 5.0)


def scouts_in_silence(quick: bool) -> list[dict[str, Any]]:
    """``target_delay_seconds`` cold on each shape, its scouts grown to ``WIDE_SCOUTS`` after
    a few spacings with no finish seen (the default) and never grown (``SCOUTS`` throughout),
    on the same draws: queries and mean delay over a loop asking every that many seconds'
    (``_loop_every``), the p99 delay in spacings (and its worst draw). A task held back until
    a scout's first finish is seen is found only then, however long before it ended."""
    base = DEFAULT_POLICIES[TaskRoute.DASHSCOPE_TASKS]
    seeds = range(1) if quick else range(SHAPE_SEEDS)
    settings = SILENCE_SECONDS[:1] if quick else SILENCE_SECONDS
    rows: list[dict[str, Any]] = []
    for shape, draw in _shapes(quick):
        for seconds in settings:
            policy = attrs.evolve(base, target_delay_seconds=seconds)
            row: dict[str, Any] = {"shape": shape, "seconds": seconds}
            for key, wide in (("widened", WIDE_SCOUTS), ("held", SCOUTS)):
                read = _over_the_loop(draw, policy, seeds, wide_scouts=wide)
                row[key] = {
                    "scouts": wide,
                    "queries_over_loop": _spread_of(read.queries),
                    "mean_over_loop": _spread_of(read.means),
                    "p99_over_spacing": _spread_of(read.tails, 2),
                }
            rows.append(row)
    return rows


#: The loop's spacing at which ``jitter_at_the_loop`` reads the knob in seconds (issue 30
#: bounds the knob's queries there at 0.85 of that loop's).
JITTER_SECONDS: Final = 5.0


def jitter_at_the_loop(quick: bool) -> list[dict[str, Any]]:
    """``target_delay_seconds`` at the 5 s loop's spacing, cold, on each shape over the
    same draws, with the policy's jitter and without: its queries and mean delay over the
    loop's, draw by draw. Half of a task's waits are drawn up to ``jitter`` under its spacing
    (never over: the spacing is a promise), so tasks created together part; this reads what
    that costs against a loop, whose queries issue 30 bounds at 0.85 of the loop's."""
    base = DEFAULT_POLICIES[TaskRoute.DASHSCOPE_TASKS]
    seeds = range(1) if quick else range(SHAPE_SEEDS)
    rows: list[dict[str, Any]] = []
    for shape, draw in _shapes(quick):
        row: dict[str, Any] = {"shape": shape}
        for key, jitter in (("jittered", base.jitter), ("unjittered", 0.0)):
            policy = attrs.evolve(base, target_delay_seconds=JITTER_SECONDS, jitter=jitter)
            read = _over_the_loop(draw, policy, seeds)
            row[key] = {
                "jitter": jitter,
                "queries_over_loop": _spread_of(read.queries),
                "mean_over_loop": _spread_of(read.means),
            }
        rows.append(row)
    return rows


def atoms_of(known: list[float]) -> dict[float, float]:
    """The durations that ``known`` (a large draw) holds more than once, each with its share
    of the draw: where a shape is clipped, its bounds. A continuous draw repeats no value, so
    a repeated one is a duration many tasks share to the last digit, which the informed client
    knows and can ask exactly at."""
    counts = Counter(known)
    return {seconds: n / len(known) for seconds, n in sorted(counts.items()) if n > 1}


@attrs.frozen
class Unclipped:
    """``draw`` with its ``atoms`` drawn again: the same shape, its clipped share spread over
    the rest in proportion, as a shape cut off at its bounds rather than piled up on them."""

    draw: Any
    atoms: frozenset[float]

    def sample(self, rng: random.Random) -> float:
        for _ in range(10_000):  # bounded: an atom holds a few percent of the draw
            seconds: float = self.draw.sample(rng)
            if seconds not in self.atoms:
                return seconds
        raise RuntimeError("the draw is all atoms")


def clip_atoms(quick: bool) -> list[dict[str, Any]]:
    """The default on each clipped shape against the informed client, as ``shape_spread``
    reads it (cold, warm, a session's second batch; the same draws), and on the same shape
    with the clip's atoms drawn again (``Unclipped``): how much of a shortfall is the atoms.
    A clip piles a few percent of tasks on one duration: the informed client asks them once
    there, while the default reads their pile as a chance of ending that rises toward it and
    asks ever more often on the way. Beside it, the queries each atom's task cost the default
    and the informed client's plan nearest its mean delay, and that excess per task of the
    batch beside the whole of what the default asked past the informed client."""
    policy = DEFAULT_POLICIES[TaskRoute.DASHSCOPE_TASKS]
    seeds = range(1) if quick else range(SHAPE_SEEDS)
    rows: list[dict[str, Any]] = []
    for shape, draw in _shapes(quick=False):
        known = known_sample(draw)
        atoms = atoms_of(known)
        if not atoms or (quick and shape != "pareto"):
            continue
        twin = Unclipped(draw, frozenset(atoms))
        twin_known = known_sample(twin)
        plans = _optimised_plans(known)
        found: dict[str, dict[str, list[float]]] = {
            start: {
                "clipped": [],
                "unclipped": [],
                "default": [],
                "informed": [],
                "excess": [],
                "gap": [],
            }
            for start in STARTS
        }
        for seed in seeds:
            for kind, drawn, knew in (("clipped", draw, known), ("unclipped", twin, twin_known)):
                session = DurationLearner()
                simulate(_drawn(drawn, seed + 100), policy, seed=seed, learner=session)
                tasks = _drawn(drawn, seed)
                running = [t.running for t in tasks]
                informed = mean_frontier(knew, running)["optimised"]
                piled = sum(seconds in atoms for seconds in running) / len(tasks)
                # Each plan's mean delay on these tasks, for the plan nearest each start's.
                replayed = [(_replay(plan, running)[1], plan) for plan in plans]
                learners = {
                    "cold": DurationLearner(),
                    "warm": _remembered(session),
                    "same session": session,
                }
                for start, learner in learners.items():
                    outcome = simulate(tasks, policy, seed=seed, learner=learner)
                    mean = statistics.fmean(outcome.delays.values())
                    efficiency = mean_efficiency(informed, outcome.per_task, mean)
                    got = found[start]
                    if efficiency is None:
                        continue
                    got[kind].append(efficiency)
                    if kind == "clipped" and piled:  # (a draw may leave an atom empty)
                        default, near = _atom_queries(outcome, atoms, replayed, mean)
                        got["default"].append(default)
                        got["informed"].append(near)
                        got["excess"].append((default - near) * piled)
                        got["gap"].append(outcome.per_task * (1 - efficiency))
        rows.append(
            {
                "shape": shape,
                "atoms": {f"{seconds:g}": round(share, 4) for seconds, share in atoms.items()},
                **{
                    start: {key: _spread_of(values) for key, values in got.items()}
                    for start, got in found.items()
                },
            }
        )
    return rows


def _atom_queries(
    outcome: Outcome,
    atoms: dict[float, float],
    replayed: list[tuple[float, list[float]]],
    mean: float,
) -> tuple[float, float]:
    """The queries each task on an atom cost ``outcome``'s client, on average, and the
    informed client's plan whose mean delay is nearest ``mean``; ``replayed``: each plan with
    its mean delay replayed on the same tasks."""
    piled = [t for t in outcome.tasks if t.running in atoms]
    default = statistics.fmean(len(outcome.asked[t.name]) for t in piled)
    _, plan = min(replayed, key=lambda found: abs(found[0] - mean))
    # (Past the plan's last time, a task is asked once more, at its own end: ``_replay``.)
    near = statistics.fmean(bisect.bisect_left(plan, t.running) + 1 for t in piled)
    return default, near


class _Order:
    """A client's order along the knob, draw by draw. Per draw it keeps the fewest queries and
    the latest mean delay of the tighter settings read so far; for the setting being read it
    counts the draws in which that setting asked more queries than those fewest (``dearer``)
    or found tasks sooner than that latest mean (``sooner``)."""

    def __init__(self, draws: int) -> None:
        self._fewest = [math.inf] * draws
        self._latest = [-math.inf] * draws
        self.dearer = self.sooner = 0

    def read(self, draw: int, queries: float, mean: float) -> None:
        self.dearer += queries > self._fewest[draw]
        self.sooner += mean < self._latest[draw]
        self._fewest[draw] = min(self._fewest[draw], queries)
        self._latest[draw] = max(self._latest[draw], mean)

    def begin_setting(self) -> None:
        self.dearer = self.sooner = 0


def _loop_every(tasks: list[SimTask], seconds: float) -> tuple[float, float]:
    """Queries per task and mean delay of a loop asking each task every ``seconds`` from its
    creation until it has ended: the grid a user's loop keeps, whatever the durations, replayed
    as the informed client's plans are."""
    durations = [task.ends - task.created for task in tasks]
    plan = [seconds * step for step in range(1, math.ceil(max(durations) / seconds) + 1)]
    return _replay(plan, durations)


def _share_of(ordered: list[float], share: float) -> float:
    """The ``share`` quantile of sorted ``ordered``, read as the fake-clock targets read it."""
    return ordered[int(share * (len(ordered) - 1))]


#: Each task's delay over its own run, in ``target_delay``s, as ``shape_spread`` reads it per
#: start: (key, the share of tasks to end first that it leaves out, quantile).
_OWN_RUN_READINGS: Final = (
    ("own_p99_f", 0.0, 0.99),
    ("own_median_f", 0.0, 0.5),
    ("own_p95_f", 0.0, 0.95),
    ("later_p95_f", 0.1, 0.95),
    ("later_p99_f", 0.1, 0.99),
)
_OWN_RUN: Final = tuple(key for key, _, _ in _OWN_RUN_READINGS)


def _spread_of(values: list[float], digits: int = 3) -> dict[str, Any]:
    """The mean, least and most of ``values`` over seeds, and how many there were."""
    if not values:
        return {"mean": None, "least": None, "most": None, "seeds": 0}
    return {
        "mean": round(statistics.fmean(values), digits),
        "least": round(min(values), digits),
        "most": round(max(values), digits),
        "seeds": len(values),
    }


def _drawn(draw: Any, seed: int) -> list[SimTask]:
    rng = random.Random(seed)
    return [
        SimTask(name=f"s{seed}-{i}", created=0.0, queued=0.0, running=draw.sample(rng))
        for i in range(SHAPE_TASKS)
    ]


def _averaged(readings: list[dict[str, Any]]) -> dict[str, Any]:
    """Each figure's mean over seeds (an efficiency off the frontier computed is left out)."""
    keys = ("queries_per_task", "delay_mean_s", "efficiency", "before_first_seen_per_task")
    averaged: dict[str, Any] = {}
    for key in keys:
        values = [r[key] for r in readings if r[key] is not None]
        averaged[key] = round(statistics.fmean(values), 3) if values else None
    for key in ("own_median_f", "own_p99_f"):
        values = [r[key] for r in readings]
        averaged[key] = round(statistics.fmean(values), 2)
        averaged[f"{key}_max"] = round(max(values), 2)
    return averaged


def _cell(value: float | None, digits: int = 3) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _spread_cell(spread: dict[str, Any], digits: int = 3) -> str:
    """``_spread_of``'s mean (least-most), or - where no seed read one."""
    if spread["mean"] is None:
        return "-"
    least, most = _cell(spread["least"], digits), _cell(spread["most"], digits)
    return f"{_cell(spread['mean'], digits)} ({least}-{most})"


def render_markdown(report: dict[str, Any]) -> str:
    lines = [
        "# The schedule's decisions alone (fake clock)",
        "",
        f"{report['date']}; `python -m benchmarks.decisions`. Every query leaves when the "
        "schedule says: no machine, no network. Efficiency is at equal mean delay against the "
        "optimised informed client, on the same tasks.",
        "",
        "## Twins of the runs",
        "",
        "Mean delays in the runs' real seconds. *Before the first finish*: the queries a task "
        "asked, on average, before the batch's first finish was seen; *without them*: the "
        "efficiency of the same run had those cost nothing. *As run*: the default's reading "
        "in `latest.json`. *Warm, at most N a second*: the warm batch sent no faster than the "
        "run's warm client sent in its busiest second (scaled to the twin's count); *held*: "
        "against the informed client sent at that pace too; *the informed client at that "
        "pace*: its own efficiency so sent, against itself on time, at the same mean.",
        "",
        "| scenario | seed | start | queries per task | mean (s) | efficiency | before the "
        "first finish | without them | as run |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["twins"]:
        cold = row["cold"]
        lines.append(
            f"| {row['scenario']} | {row['seed']} | cold | {cold['queries_per_task']:.2f} | "
            f"{cold['delay_mean_s']:.3f} | {_cell(cold['efficiency'])} | "
            f"{cold['before_first_seen_per_task']:.2f} | "
            f"{_cell(cold['efficiency_without_them'])} | {_cell(row['run_cold'])} |"
        )
        if "warm" in row:
            warm = row["warm"]
            lines.append(
                f"| {row['scenario']} | {row['seed']} | warm | {warm['queries_per_task']:.2f} "
                f"| {warm['delay_mean_s']:.3f} | {_cell(warm['efficiency'])} | | | "
                f"{_cell(row.get('run_warm'))} |"
            )
        if "warm_paced" in row:
            paced = row["warm_paced"]
            lines.append(
                f"| {row['scenario']} | {row['seed']} | warm, at most "
                f"{paced['queries_a_second']:,} a second | {paced['queries_per_task']:.2f} | "
                f"{paced['delay_mean_s']:.3f} | {_cell(paced['efficiency'])} (held: "
                f"{_cell(paced['efficiency_held'])}; the informed client at that pace: "
                f"{_cell(paced['informed_at_pace'])}) | | | |"
            )
    lines += [
        "",
        "## The scouts' trade, cold",
        "",
        f"At the default (0.1); `learning-1000`'s twin, and {SHAPE_TASKS} tasks created at "
        "once of each shape of `benchmarks.shapes` (the DashScope default policy), averaged "
        "over seeds. The last two columns: each task's delay over its own run, in "
        "`target_delay`s, over the tasks ending after the first tenth (average over seeds, "
        "the worst seed's in brackets).",
        "",
        "| durations | scouts | queries per task | before the first finish | mean delay (s) "
        "| efficiency | median | p99 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, rows in report["scouts"].items():
        for row in rows:
            lines.append(
                f"| {name} | {row['scouts']} | {row['queries_per_task']:.2f} | "
                f"{row['before_first_seen_per_task']:.2f} | {row['delay_mean_s']:.2f} | "
                f"{_cell(row['efficiency'])} | {row['own_median_f']:.2f} "
                f"({row['own_median_f_max']:.2f}) | {row['own_p99_f']:.2f} "
                f"({row['own_p99_f_max']:.2f}) |"
            )
    lines += [
        "",
        "## The shapes' draw, cold and warm",
        "",
        f"The default (0.1) on {SHAPE_TASKS} tasks created at once, each seed its own draw "
        "of durations; warm: from a duration memory of another batch of the shape, as the "
        "shapes run's warm client; same session: the second batch of a session that ran that "
        "other batch first. The efficiency at equal mean on average over seeds, the least and "
        "the most, and the shapes run's reading (`shapes.json`), which is one draw. *Held "
        f"to the tail*: against the informed client that also finds 99% of tasks within {CAP} "
        "`target_delay` of their own run (the issue's tail target; `own_run`), on average "
        "(least-most); *own-run p99*: the default's own p99 of that, every task counted, "
        "in `target_delay`s; *median, p95*: the same at those shares; *past the first tenth*: "
        "p95 and p99 over the tasks ending after the first tenth (on average over seeds): the "
        "knob's promise (about half of `target_delay` on average, 95% within it) as each "
        "start keeps it. *Held to its own tail*: against the informed client that finds 99% of "
        "tasks within the default's own-run p99 on that draw (the same mean and the same tail: "
        "which asks fewer queries).",
        "",
        "*Planned from what it knew*: the informed client planned from the durations the "
        "start held instead of the whole distribution (a warm start's memory, a session's "
        "first batch), at the default's mean, on average over seeds (least-most); replayed "
        "as the informed client is, a task past its plan found at its own end.",
        "",
        "| shape | start | seeds | efficiency | least | most | as run | held to the tail "
        "| held to its own tail | planned from what it knew | own-run p99 | median, p95 "
        "| past the first tenth: p95, p99 |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in report["shapes"]:
        for start in STARTS:
            got = row[start]
            held, tail = got["held"], got["own_p99_f"]
            lines.append(
                f"| {row['shape']} | {start} | {got['seeds']} | {got['mean']:.3f} | "
                f"{got['least']:.3f} | {got['most']:.3f} | {_cell(got['run'])} | "
                f"{_spread_cell(held)} | {_spread_cell(got.get('own_tail', _spread_of([])))} | "
                f"{_spread_cell(got['planned'])} | "
                f"{_spread_cell(tail, 2)} | "
                f"{_means(got, 'own_median_f', 'own_p95_f')} | "
                f"{_means(got, 'later_p95_f', 'later_p99_f')} |"
            )
    lines += _render_seconds_along(report["seconds_along"])
    lines += _render_silence(report.get("scouts_in_silence", []))
    lines += _render_jitter(report.get("jitter_at_the_loop", []))
    lines += _render_clip_atoms(report.get("clip_atoms", []))
    return "\n".join(lines) + "\n"


def _render_silence(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    lines = [
        "",
        "## The scouts' silence, in seconds",
        "",
        f"`target_delay_seconds` cold on {SHAPE_TASKS} tasks created at once of each shape, "
        "each seed its own draw. The tasks that are not scouts are asked only once a scout's "
        "first finish is seen, so those that ended before it are found only then. "
        f"*Widened* (the default): after three spacings with no finish seen, {WIDE_SCOUTS} "
        f"tasks scout; *held*: {SCOUTS} throughout. Queries and mean delay over a loop's asking "
        "every that many seconds on the same draws, and the p99 delay in spacings: on average "
        "over seeds (least-most).",
        "",
        "| shape | seconds | widened: queries / loop | mean / loop | p99 / spacing "
        "| held: queries / loop | mean / loop | p99 / spacing |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        cells = [
            _spread_cell(row[key][reading], digits)
            for key in ("widened", "held")
            for reading, digits in (
                ("queries_over_loop", 3),
                ("mean_over_loop", 3),
                ("p99_over_spacing", 2),
            )
        ]
        lines.append(f"| {row['shape']} | {row['seconds']:g} | " + " | ".join(cells) + " |")
    return lines


def _render_jitter(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    lines = [
        "",
        f"## The knob at the loop's {JITTER_SECONDS:g} s, with its jitter and without",
        "",
        f"`target_delay_seconds={JITTER_SECONDS:g}`, cold, on {SHAPE_TASKS} tasks created at "
        "once of each shape, each seed its own draw, against a loop asking every "
        f"{JITTER_SECONDS:g} s from each task's creation on the same draw: queries and mean "
        "delay over the loop's, on average over seeds (least-most). *Jittered*: the policy's "
        "default, half of a task's waits drawn up to a tenth under the spacing so that tasks "
        "created together part; *unjittered*: `jitter=0`. Issue 30 bounds the queries at "
        "0.85 of the loop's and the mean at 1.1.",
        "",
        "| shape | jitter | queries over the loop's | mean delay over the loop's |",
        "|---|---|---|---|",
    ]
    for row in rows:
        for key in ("jittered", "unjittered"):
            got = row[key]
            lines.append(
                f"| {row['shape']} | {got['jitter']:g} | "
                f"{_spread_cell(got['queries_over_loop'])} | "
                f"{_spread_cell(got['mean_over_loop'])} |"
            )
    return lines


def _render_clip_atoms(rows: list[dict[str, Any]]) -> list[str]:
    if not rows:
        return []
    lines = [
        "",
        "## The clips' atoms",
        "",
        "The shapes whose draw repeats a duration: a clip's bound, on which the clipped "
        "share of tasks piles up (*atoms*: each and its share of tasks). The default on "
        f"{SHAPE_TASKS} tasks created at once, each seed its own draw, started as in the "
        "shapes' draw, against the informed client: *clipped*, the shape as the benchmarks "
        "draw it; *redrawn*, the same shape with the clipped share drawn again, spread over "
        "the rest (efficiency at equal mean, on average over seeds, least-most). On the "
        "clipped draws: the queries each task on an atom cost the default and the informed "
        "client's plan nearest its mean; *their excess*: the difference, per task of the "
        "batch; *the whole gap*: the queries per task the default asked past the informed "
        "client at its mean.",
        "",
        "| shape | atoms | start | efficiency, clipped | redrawn | queries per atom task: "
        "default | informed | their excess per task | the whole gap per task |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        atoms = ", ".join(f"{seconds} s ({share:.1%})" for seconds, share in row["atoms"].items())
        for start in STARTS:
            got = row[start]
            lines.append(
                f"| {row['shape']} | {atoms} | {start} | {_spread_cell(got['clipped'])} | "
                f"{_spread_cell(got['unclipped'])} | {_cell(got['default']['mean'], 1)} | "
                f"{_cell(got['informed']['mean'], 1)} | {_cell(got['excess']['mean'], 2)} | "
                f"{_cell(got['gap']['mean'], 2)} |"
            )
    return lines


def _render_seconds_along(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "",
        "## The knob in seconds, cold",
        "",
        f"`target_delay_seconds` on {SHAPE_TASKS} tasks created at once of each shape, each "
        "seed its own draw (the DashScope default policy otherwise): on average over seeds "
        "(the least and the most queries in brackets). *Out of order*: in how many draws this "
        "setting asked more queries than some tighter one above it, and in how many it found "
        "tasks sooner on average than some tighter one; a real-time run reads one draw. "
        "*Loop*: a loop asking each task every that many seconds from its creation, on the "
        "same draws, and its own order.",
        "",
        "| shape | seconds | queries per task | mean (s) | p95 (s) | p99 (s) | out of order: "
        "queries, mean | loop: queries, mean (s) | loop out of order |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        queries, loop = row["queries"], row["loop"]
        lines.append(
            f"| {row['shape']} | {row['seconds']:g} | {queries['mean']:.2f} "
            f"({queries['least']:.2f}-{queries['most']:.2f}) | {row['mean']['mean']:.3f} | "
            f"{row['p95']['mean']:.2f} | {row['p99']['mean']:.2f} | "
            f"{_out_of_order(row, queries['seeds'])} | "
            f"{loop['queries']['mean']:.2f}, {loop['mean']['mean']:.3f} | "
            f"{_out_of_order(loop, queries['seeds'])} |"
        )
    return lines


def _out_of_order(read: dict[str, Any], seeds: int) -> str:
    if read["dearer_than_tighter"] is None:
        return "-"
    return f"{read['dearer_than_tighter']}, {read['sooner_than_tighter']} of {seeds}"


def _means(got: dict[str, Any], *keys: str) -> str:
    """The averages over seeds of ``keys`` in one cell."""
    return ", ".join(_cell(got[key]["mean"], 2) for key in keys)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.decisions")
    parser.add_argument("--quick", action="store_true", help="smoke sizes: 300 tasks, 1 seed")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    latest_path = RESULTS / "latest.json"
    latest = json.loads(latest_path.read_text()) if latest_path.exists() else None
    shapes_path = RESULTS / "shapes.json"
    shapes = json.loads(shapes_path.read_text()) if shapes_path.exists() else None
    started = time.perf_counter()
    report: dict[str, Any] = {
        "date": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()),
        "mode": "quick" if args.quick else "full",
        "twins": twins(args.quick, latest),
        "scouts": scouts(args.quick),
        "shapes": shape_spread(args.quick, shapes),
        "seconds_along": seconds_along(args.quick),
        "scouts_in_silence": scouts_in_silence(args.quick),
        "jitter_at_the_loop": jitter_at_the_loop(args.quick),
        "clip_atoms": clip_atoms(args.quick),
    }
    report["seconds"] = round(time.perf_counter() - started, 1)
    write_results(args.out, "decisions", report, render_markdown(report))
    print(render_markdown(report))


if __name__ == "__main__":
    main()
