"""A fake-clock world for the scheduling core: tasks with known creation, queue and run times,
polled by a ``PollSchedule`` until every one is seen finished. No sleeping, no network.

The polling tests drive it to pin the schedule's decisions; ``benchmarks.decisions`` drives it
to read those decisions apart from the machine a real-time run shares.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime

import attrs
from attrs import frozen

from anyint_async import DurationLearner, PollPolicy, Task, TaskRoute, TaskStatus
from anyint_async.polling.schedule import SCOUTS, WIDE_SCOUTS, PollSchedule

WALL0 = 1_800_000_000.0
NO_LIMITS = {"dashscope": math.inf, "kling": math.inf}
ROUTE = TaskRoute.DASHSCOPE_TASKS


@frozen
class SimTask:
    name: str
    created: float
    queued: float
    running: float
    workload: str | None = None

    @property
    def started(self) -> float:
        return self.created + self.queued

    @property
    def ends(self) -> float:
        return self.started + self.running


@frozen
class Outcome:
    delays: dict[str, float]  # seconds from a task's end to its detection
    queries: int
    tasks: Sequence[SimTask]
    asked: dict[str, list[float]]  # when each task was queried

    @property
    def per_task(self) -> float:
        return self.queries / len(self.tasks)

    def relative_p95(self, names: set[str] | None = None) -> float:
        """The 95th percentile detection delay over ``names`` (default: every task), as a
        fraction of their median duration: what ``PollPolicy.target_delay`` asks for."""
        chosen = [t for t in self.tasks if names is None or t.name in names]
        delays = sorted(self.delays[t.name] for t in chosen)
        durations = sorted(t.ends - t.created for t in chosen)
        return _quantile(delays, 0.95) / _quantile(durations, 0.5)

    def own_ratios(self, after_first: float = 0.0) -> list[float]:
        """Each task's delay over its own duration, sorted, leaving out the first
        ``after_first`` share of tasks to end (a cold start's, found before anything is
        learned)."""
        ending = sorted(self.tasks, key=lambda t: t.ends)
        kept = ending[int(after_first * len(ending)) :]
        return sorted(self.delays[t.name] / (t.ends - t.created) for t in kept)

    def ending_after_first_seen(self) -> list[SimTask]:
        """The tasks that ended once some finish had been seen (before it, nothing was
        learned and no task but a scout was asked)."""
        first_seen = min(t.ends + self.delays[t.name] for t in self.tasks)
        return [t for t in self.tasks if t.ends >= first_seen]

    def delay_figures(self) -> dict[str, float]:
        """What users wait through: mean, p50, p95, p99 and max detection delay (seconds)."""
        delays = sorted(self.delays.values())
        return {
            "mean": sum(delays) / len(delays),
            "p50": _quantile(delays, 0.5),
            "p95": _quantile(delays, 0.95),
            "p99": _quantile(delays, 0.99),
            "max": delays[-1],
        }

    def own_relative_p95(self) -> float:
        """The 95th percentile of each task's delay as a fraction of its own duration: the
        fair measure when tasks of very different lengths are mixed."""
        ratios = sorted(self.delays[t.name] / (t.ends - t.created) for t in self.tasks)
        return _quantile(ratios, 0.95)


def _quantile(ordered: Sequence[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _stamp(seconds: float) -> datetime:
    return datetime.fromtimestamp(WALL0 + seconds, tz=UTC)


def lognormal_tasks(
    count: int,
    *,
    median: float,
    sigma: float,
    seed: int,
    waves: int = 1,
    wave_gap: float = 0.0,
    workloads: Sequence[tuple[str, float]] = (("default", 1.0),),
    queue: float = 0.0,
) -> list[SimTask]:
    """``count`` tasks in ``waves``; run time log-normal times the workload's factor; queue
    time uniform in [0, ``queue``]."""
    rng = random.Random(seed)
    per_wave = -(-count // waves)
    made = []
    for i in range(count):
        label, factor = workloads[i % len(workloads)]
        made.append(
            SimTask(
                name=f"t{i}",
                created=(i // per_wave) * wave_gap,
                queued=rng.uniform(0.0, queue),
                running=rng.lognormvariate(math.log(median), sigma) * factor,
                workload=label,
            )
        )
    return made


#: Shapes of durations that are not a plain log-normal, as real generations show them (issue
#: 30): each a function of (rng, scale) giving one run time; ``scale`` is the floor or median.
SHAPES: dict[str, Callable[[random.Random, float], float]] = {
    # A floor, then a spread: uniform over [a, 6a].
    "uniform": lambda rng, a: rng.uniform(a, 6 * a),
    # A log-normal above a floor at half its median.
    "floored": lambda rng, m: 0.5 * m + rng.lognormvariate(math.log(0.5 * m), 0.6),
    # Two modes in one request shape: most near a floor, a third several times longer.
    "bimodal": lambda rng, a: (
        rng.uniform(4 * a, 5 * a) if rng.random() < 1 / 3 else rng.uniform(a, 1.25 * a)
    ),
    # A heavy tail: Pareto (alpha 1.5) past a floor, clipped at 20 times it.
    "pareto": lambda rng, a: min(20 * a, a * rng.paretovariate(1.5)),
    # The log-normal every benchmark used before.
    "lognormal": lambda rng, m: rng.lognormvariate(math.log(m), 0.6),
}


def shaped_tasks(shape: str, count: int, *, scale: float, seed: int) -> list[SimTask]:
    """``count`` tasks created together whose run times follow ``SHAPES[shape]``."""
    rng = random.Random(seed)
    draw = SHAPES[shape]
    return [
        SimTask(name=f"t{i}", created=0.0, queued=0.0, running=draw(rng, scale))
        for i in range(count)
    ]


def simulate(
    tasks: Sequence[SimTask],
    policy: PollPolicy,
    *,
    says_when_started: bool = True,
    seed: int = 3,
    learner: DurationLearner | None = None,
    reported_late: Mapping[str, float] | None = None,
    scouts: int = SCOUTS,
    wide_scouts: int = WIDE_SCOUTS,
    sends_per_second: float = math.inf,
) -> Outcome:
    """Poll every task to its end; the provider reports RUNNING (and, if
    ``says_when_started``, when it started) while a task runs. A task in ``reported_late``
    is still said to be running for that many seconds past its end (a provider slow to update
    its status), then finished at its true end time: it is found late, through no fault of
    the schedule. ``scouts``: how many tasks of a model nothing is known of are polled before
    its first finish (the schedule's own count unless told), ``wide_scouts`` how many with a
    spacing in seconds once that finish is long in coming. ``sends_per_second``: a sender
    that sends no faster (the schedule paces to it as to a known query limit, the longest
    overdue first): a process that spends so much CPU on each query."""
    now = 0.0
    schedule = PollSchedule(
        policy_for=lambda route: policy,
        rng=random.Random(seed),
        max_in_flight=10_000,
        learner=learner if learner is not None else DurationLearner(),
        wall_clock=lambda: WALL0 + now,
        # This world refuses nothing; a sender's pace is a limit the schedule knows.
        rate_limits={**NO_LIMITS, "dashscope": sends_per_second},
        scouts=scouts,
        wide_scouts=wide_scouts,
    )
    by_name = {t.name: t for t in tasks}
    waiting = sorted(tasks, key=lambda t: t.created)
    delays: dict[str, float] = {}
    asked: dict[str, list[float]] = {t.name: [] for t in tasks}
    queries = 0
    for _ in range(2_000_000):  # bounded: a stalled schedule fails below, it does not spin
        if not waiting and not len(schedule):
            break
        wake = schedule.next_wake(now)
        candidates = [w for w in (wake,) if w is not None] + [t.created for t in waiting[:1]]
        now = max(now, min(candidates))
        while waiting and waiting[0].created <= now:
            made = waiting.pop(0)
            schedule.track(
                Task(
                    id=made.name,
                    status=TaskStatus.PENDING,
                    route=ROUTE,
                    model="m",
                    workload=made.workload,
                    created_at=_stamp(made.created),
                ),
                now,
            )
        while (task := schedule.pop_due(now)) is not None:
            queries += 1
            # One answer per instant says all there is: a second query then is one for nothing.
            assert not asked[task.id] or asked[task.id][-1] < now, f"{task.id} asked twice"
            asked[task.id].append(now)
            made = by_name[task.id]
            lag = (reported_late or {}).get(made.name, 0.0)
            if now >= made.ends + lag:
                status, finished = TaskStatus.SUCCEEDED, _stamp(made.ends)
            else:
                status = TaskStatus.RUNNING if now >= made.started else TaskStatus.PENDING
                finished = None
            started = says_when_started and now >= made.started
            fresh = attrs.evolve(
                task,
                status=status,
                workload=None,  # queries do not repeat the request
                started_at=_stamp(made.started) if started else None,
                finished_at=finished,
            )
            settled = schedule.settle(fresh, now)
            assert settled is not None
            if settled.finished:
                delays[made.name] = now - made.ends
    if waiting or len(schedule) or len(delays) != len(tasks):
        raise RuntimeError("the schedule stalled: a task was left unfound")
    return Outcome(delays=delays, queries=queries, tasks=tuple(tasks), asked=asked)
