"""Learning how long tasks take, to ask about the rest of a batch when they may have finished.

None of the peer SDKs does this: they poll every task on a fixed curve from its creation. In a
batch the first tasks to finish say when the others will, so their first query can wait until
then and later queries can come at a pace set by how long such tasks typically take.

What is learned is conditioned on what the request said: a 10 s 1080P video takes several times
as long as a 5 s 720P one of the same model, and one distribution for both would poll the short
ones late and the long ones early. Each (route, model, workload) group has its own samples; a
group with few of them borrows its model's pooled samples. Two clocks are learned: the *total*
time from creation to finish, and the *run* time from the provider's start (DashScope's
``scheduled_time``, Kling's switch to ``processing``) to finish, which leaves out a queue that
lengthens when the account is busy and so varies less.
"""

from __future__ import annotations

import bisect
import functools
import heapq
import itertools
import math
import zlib
from array import array
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import attrs
from attrs import frozen

from .._errors import InvalidParameterError
from ..models import TaskRoute

__all__ = [
    "REMEMBERED_PER_GROUP",
    "DurationEstimate",
    "DurationLearner",
    "GroupKey",
    "Order",
    "creation_rank",
]

#: Learned tasks that must have outlived an age before the stretch after it with no finish is
#: taken as a quiet one: where none of 30 ended in it, about a tenth of such tasks at most do
#: (the rule of three), and those are still found where finishes resume. A memory
#: keeps 200 durations per group, so a mode of a sixth of them is enough.
QUIET_AT_RISK = 30
_QUIET_NEXT = 10
#: How many learned finishes past an age its chance of ending soon is read from: a quarter of
#: those left, and no fewer than 20. Fewer and the rate is noisy enough to cost queries (fake
#: clock, a second batch at 0.1, 8 seeds: the next 10 left a Pareto's efficiency where constant
#: spacing had it); a fixed 20 was noisier on log-normals (sigma 0.5: 0.95 against 0.96).
_RATE_NEXT = 20
_RATE_SHARE = 4
#: Where a typical task's rate is read: the middle of the rates at these shares of the learned
#: durations. Read at the median alone, a window of a quarter crossed the gap between two modes
#: where only a few of the fast one were left past it, and the whole fast mode was asked twice
#: as often (a test's seed in three).
_TYPICAL_SHARES = (0.3, 0.4, 0.5, 0.6, 0.7)
#: (route, model, workload); a workload of None is the model's pooled group.
GroupKey = tuple[TaskRoute, str, str | None]
Clock = Literal["total", "run"]
#: Durations kept per group in an exported memory: enough for the 4% and 99.5% quantiles to be
#: near where the full sample had them, few enough that fresh finishes soon outweigh them.
REMEMBERED_PER_GROUP = 200
_MEMORY_VERSION = 1
_CLOCKS: tuple[Clock, ...] = ("total", "run")


@frozen
class DurationEstimate:
    """What is known of one group's durations, in seconds.

    - ``early``: few tasks (``early_share``) finish sooner; with few samples, a little under the
      fastest seen.
    - ``median``: the typical duration; None until the data can tell (half the group finished).
    - ``late``: few tasks (``late_share``) take longer; None until the data can tell.
    - ``samples``: finished durations behind the estimate; ``group``: whose they are.
    - ``reached``: the longest duration seen finished (what the data can speak for so far).
    - ``fastest``: one task in a hundred finishes sooner (with fewer than a hundred samples,
      a little under the fastest seen); None where not computed.
    """

    early: float
    median: float | None
    late: float | None
    samples: int
    group: GroupKey
    median_guess: float | None = None
    reached: float = 0.0
    #: Every learned duration, sorted (this session's and remembered ones), when enough are
    #: known to speak of the stretches where none fell (``quiet_stretch``); else empty.
    finishes: tuple[float, ...] = attrs.field(default=(), repr=False, eq=False)
    #: The oldest age at which ``QUIET_AT_RISK`` tasks (weighted as ``estimate``'s
    #: ``running``) were each last seen still running; 0 when fewer are running.
    seen_running_to: float = 0.0
    fastest: float | None = None
    #: The durations ``ending_rate`` reads, sorted: remembered ones where any (a finished
    #: batch's, none still running), else this session's; empty when too few are known.
    complete: tuple[float, ...] = attrs.field(default=(), repr=False, eq=False)
    #: When ``complete`` holds this session's finishes: the ages at which the group's tasks
    #: still running were last seen, sorted, each standing for ``running_weight`` tasks.
    #: Empty for a memory's durations (a finished batch's, none still running).
    running: tuple[float, ...] = attrs.field(default=(), repr=False, eq=False)
    running_weight: float = 1.0
    #: The oldest age that ``QUIET_AT_RISK`` tasks (or all, where fewer are known) are known
    #: to have reached (finished at it or later, or last seen running at it or later); None
    #: where remembered durations speak for the low quantiles (``evidenced``).
    outlived_to: float | None = None

    # Both worked out when first read: the run clock's estimate, recomputed as often, never is.
    @functools.cached_property
    def typical_rate(self) -> float | None:
        """How soon a typical task is likely to end: the middle of ``ending_rate`` at 30-70%
        of the durations ``complete`` holds (with ``running``, at those shares of the
        distribution both say); None when none are held."""
        if not self.complete:
            return None
        at_risk = self._at_risk
        if at_risk is None:
            ages = [_quantile(self.complete, share) for share in _TYPICAL_SHARES]
        else:
            found = (at_risk.quantile(self.complete, share) for share in _TYPICAL_SHARES)
            ages = [age for age in found if age is not None]
        rates = sorted(rate for age in ages if (rate := self.ending_rate(age)) is not None)
        return rates[len(rates) // 2] if rates else None

    @functools.cached_property
    def _at_risk(self) -> _AtRisk | None:
        return _AtRisk(self.complete, self.running, self.running_weight) if self.running else None

    def ending_rate(self, age: float) -> float | None:
        """The chance per second that a task still running at ``age`` ends soon (its hazard),
        read off the learned durations past ``age``: from the next quarter of them (at least
        ``_RATE_NEXT``), or where fewer are left, from all of them (how many there are over the
        seconds they ran past ``age``). None where none is left.

        Remembered durations are read where there are any (``complete``): a batch still
        running has finished only its shorter tasks, and mixed with them a memory's durations
        would look as if more ended soon after the median than did. Where this session's own
        are read, the tasks still running past ``age`` (``running``) are at risk of ending
        too, as in the median's Kaplan-Meier estimate: left out, a batch created over some
        seconds, or a stream of tasks, looked as if its young tasks were about to end, and
        they were asked too often (fake clock, 0.1, a first batch created over 10 s, 6 seeds:
        Pareto 12.3 queries a task for a mean of 0.56 s, 9.2 for 0.70 s with them counted,
        efficiency at equal mean 0.82 -> 0.90; uniform 0.82 -> 0.84)."""
        return _ending_rate(self.complete, age, self._at_risk)

    def recent_rate(self, age: float) -> float | None:
        """The chance per second of ending seen among tasks just younger than ``age``: over
        the last ``_RATE_NEXT`` learned finishes before it, the tasks still running at risk
        as in ``ending_rate``. For a task no learned duration outlasts (every task of a batch
        created at once), whose own rate ``ending_rate`` cannot read. The seconds after the
        oldest age at which ``QUIET_AT_RISK`` tasks were seen still running do not count:
        fewer were asked since, and the finishes among them are not known yet. Counted as
        seconds without any, they make tasks look slower to end the sparser the queries, and
        space them wider still; under the policy's bound on that (``_UNLEARNED_WIDEST``) the
        benchmark cannot tell (fake clock, cold, at 0.3, 6 seeds: efficiency at equal mean
        0.87 against 0.86 on a log-normal, 0.79 against 0.81 on 6-36 s), at twice the bound
        it cost a log-normal 0.87 -> 0.78. None without tasks still running (a memory's
        durations) or with too few finishes."""
        at_risk = self._at_risk
        if at_risk is None:
            return None
        horizon = min(age, self.seen_running_to)
        start = bisect.bisect_right(self.complete, horizon)
        first = start - _RATE_NEXT
        if first < 1:
            return None
        span = horizon - self.complete[first - 1]
        fall = at_risk.logs[start] - at_risk.logs[first]
        return fall / span if span > 0 and math.isfinite(fall) else None

    def quiet_stretch(self, age: float) -> float | None:
        """Seconds from ``age`` to the next age at which a learned task finished, when that
        stretch is a gap between modes, not the thinning of a tail: at least
        ``QUIET_AT_RISK`` learned tasks outlived ``age`` (an empty stretch is evidence, not a
        small sample), and the stretch is longer than the next ``_QUIET_NEXT`` of them took to
        finish once finishes resumed. None otherwise."""
        start = bisect.bisect_right(self.finishes, age)
        if len(self.finishes) - start < QUIET_AT_RISK:
            return None
        resumes = self.finishes[start]
        stretch = resumes - age
        if stretch <= self.finishes[start + _QUIET_NEXT] - resumes:
            return None
        return stretch

    def cluster_end(self, age: float, due: float) -> tuple[float, float] | None:
        """For a task ``age`` seconds old whose next query is due at age ``due``, inside a
        quiet stretch (``quiet_stretch``) that begins after ``age``: where the cluster of
        learned finishes before the stretch ends, and the stretch's length. None when ``due``
        is not in such a stretch.

        The end lies past the cluster's longest learned finish by as long as its last
        ``_QUIET_NEXT`` finishes took: a sample's longest falls short of its mode's true end
        by about a gap between finishes, and a task ending past the end would wait out the
        whole stretch (fake clock, a second batch of two modes, 8 seeds at 0.03: with no
        margin, one task in a few hundred did, and the p99 of delays over their own run went
        from 1.04 to 10.2 ``target_delay``)."""
        last = bisect.bisect_right(self.finishes, due) - 1
        if last < _QUIET_NEXT or self.finishes[last] <= age:
            return None
        longest = self.finishes[last]
        quiet = self.quiet_stretch(longest)
        if quiet is None or longest + quiet <= due:
            return None
        end = 2 * longest - self.finishes[last - _QUIET_NEXT]
        # Ten equal durations (whole seconds, say) say nothing of how far past them the
        # mode reaches: no margin can be read, so no query is moved.
        return (end, quiet) if longest < end < due else None

    def quiet_past_every_finish(self, age: float) -> float | None:
        """For a task ``age`` seconds old that outlived every learned duration: seconds past
        the longest one in which no learned task ended though ``QUIET_AT_RISK`` were seen
        still running at its end (so far a quiet stretch, as between two modes of a cold
        batch), when that is longer than the last ``_QUIET_NEXT`` learned tasks took to
        finish; None otherwise. Only what was seen counts: tasks that ended since their last
        query say nothing yet, and a lull among finishes coming thick and fast is no quiet.
        A task younger than the longest learned duration is spoken for by what was learned,
        however many others are still running past it (a few dozen stuck ones, say)."""
        if len(self.finishes) <= _QUIET_NEXT or age <= self.finishes[-1]:
            return None
        longest = self.finishes[-1]
        stretch = self.seen_running_to - longest
        if stretch <= longest - self.finishes[-1 - _QUIET_NEXT]:
            return None
        return stretch

    def evidenced(self) -> DurationEstimate:
        """This estimate with ``early`` and ``fastest`` no later than ``outlived_to``.

        That few tasks end before ``early`` is read off a stretch with no finish in it, which
        is evidence only as far as many tasks were seen through it. A batch's first finish
        is seen when most of its scouts were last asked a spacing earlier: one of 32 ended at
        8.8 s, two or three were seen past it, and the rest had ended or not since 5 s. Read
        off those two or three, ``early`` says 8.6 s."""
        reach = self.outlived_to
        if reach is None or self.early <= reach:
            return self
        fastest = None if self.fastest is None else min(self.fastest, reach)
        return attrs.evolve(self, early=reach, fastest=fastest)

    def with_remembered_median(self) -> DurationEstimate:
        """This estimate with the remembered median (``median_guess``) standing for the
        median this session has not learned yet; itself where it has, or remembers none."""
        if self.median is not None or self.median_guess is None:
            return self
        return attrs.evolve(self, median=self.median_guess, median_guess=None)

    def expected(self, age: float) -> float:
        """The duration to size polls by: the median once known. Before that, no shape is
        assumed: a task still running at ``age`` takes at least that long, and the median is
        past the longest duration seen finished (``reached``), or a remembered median scaled
        to this session (``median_guess``) where an earlier session's durations are known."""
        if self.median is not None:
            return self.median
        return max(age, self.median_guess or self.reached, self.early)


def _ending_rate(
    durations: Sequence[float], age: float, at_risk: _AtRisk | None = None
) -> float | None:
    """``DurationEstimate.ending_rate``; ``at_risk``: the tasks still running beside
    ``durations``, when there are any."""
    start = bisect.bisect_right(durations, age)
    left = len(durations) - start
    ahead = max(_RATE_NEXT, left // _RATE_SHARE)
    if left > ahead:
        span = durations[start + ahead - 1] - age
        if at_risk is None:
            # Of ``left`` tasks alive at ``age``, ``ahead`` ended within ``span``.
            return -math.log1p(-ahead / left) / span
        # The fall of the log survival over the window, the running tasks at risk in it.
        return (at_risk.logs[start + ahead] - at_risk.logs[start]) / span
    if not left:
        return None
    # Past the last window: the finishes over the seconds every task at risk ran past ``age``.
    exposure = math.fsum(seconds - age for seconds in durations[start:])
    if at_risk is not None:
        exposure += at_risk.weight * at_risk.seconds_past(age)
    return left / exposure


class _AtRisk:
    """Durations finished with tasks still running beside them (censored at the ages they
    were last seen): the log of the Kaplan-Meier survival at each finish and running sums of
    the running ages, so that each task's rate (``_ending_rate``) costs two bisects, not a walk."""

    __slots__ = ("logs", "running", "sums", "weight")

    def __init__(self, durations: Sequence[float], running: Sequence[float], weight: float):
        self.running = running
        self.weight = weight
        # Arrays of numbers, which no garbage collection walks (a list is a reference a
        # duration, up to 4,096 an estimate, at every full collection).
        self.sums = array("d", [0.0])
        self.sums.extend(itertools.accumulate(running))
        # One pass over both sorted sequences, the running ages counted off as the finishes
        # pass them. Names are bound locally: this runs once a second per group while the
        # event loop waits (a quarter less time than with lookups).
        log1p, inf = math.log1p, math.inf
        logs = array("d", [0.0])
        append = logs.append
        last = 0.0
        passed = 0
        still = len(running)
        finished = len(durations)
        for index, duration in enumerate(durations):
            while passed < still and running[passed] < duration:
                passed += 1
            at_risk = finished - index + weight * (still - passed)
            # (The last finish with none running past it ends the curve: its log is
            # infinite, and no window reaches it.)
            last = last - log1p(-1.0 / at_risk) if at_risk > 1 else inf
            append(last)
        self.logs = logs

    def quantile(self, durations: Sequence[float], share: float) -> float | None:
        """The finish by which ``share`` of the tasks ended (Kaplan-Meier); None past the
        data."""
        index = bisect.bisect_left(self.logs, -math.log1p(-share) - 1e-9, 1)
        return durations[index - 1] if index <= len(durations) else None

    def seconds_past(self, age: float) -> float:
        """The seconds the running tasks older than ``age`` ran past it, one each."""
        first = bisect.bisect_right(self.running, age)
        return self.sums[-1] - self.sums[first] - (len(self.running) - first) * age


#: Where a finished task stands in creation order: when it was created, then a rank drawn
#: from its id that says nothing of its duration (tasks created at the same moment).
Order = tuple[float, float]
_NEVER: Order = (-math.inf, 0.0)


def creation_rank(task_id: str) -> float:
    """A task's place among tasks created at the same moment: a hash of its id, the same in
    every process (``Order``)."""
    return float(zlib.crc32(task_id.encode()))


class _Samples:
    """One group's durations: those of the ``limit`` most recently *created* tasks, sorted
    (``ordered``), and apart from them the ones remembered from an earlier session (``prior``,
    sorted).

    Recency is by creation, not by finish: a batch's tasks finish fastest first, so keeping
    the last finishes of a batch larger than ``limit`` would keep only its slowest, and the
    next batch would be asked about long after its fast tasks ended. Among tasks created at
    the same moment the rank decides, which has nothing to do with how long they take: what
    is kept is a fair sample of what was created.
    """

    __slots__ = ("created", "cutoff", "limit", "ordered", "prior", "ranks", "recent")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        # Parallel, in creation order: each kept task's creation time, rank and duration.
        self.created = array("d")
        self.ranks = array("d")
        self.recent = array("d")
        # Numbers in arrays, not lists of float objects: a full garbage collection follows
        # every reference a list holds (up to 4,096 a group and clock, per collection).
        self.ordered = array("d")
        self.prior = array("d")
        # Tasks ordered before this were forgotten, so a late finish of one is not taken.
        self.cutoff = _NEVER

    def __len__(self) -> int:
        return len(self.ordered) + len(self.prior)

    def add(self, seconds: float, order: Order | None) -> None:
        position = len(self.recent)
        if order is None:
            # No creation time: recent means last to finish.
            order = (self.created[-1], self.ranks[-1]) if self.created else _NEVER
        elif order < self.cutoff:
            return
        else:
            # After every kept task created sooner, and among those created at the same
            # moment (a run of equal times) after every rank up to its own: creation order,
            # read off the two arrays with no key function called per step.
            first = bisect.bisect_left(self.created, order[0])
            last = bisect.bisect_right(self.created, order[0], first)
            position = bisect.bisect_right(self.ranks, order[1], first, last)
        created, rank = order
        self.created.insert(position, created)
        self.ranks.insert(position, rank)
        self.recent.insert(position, seconds)
        bisect.insort(self.ordered, seconds)
        if len(self.recent) > self.limit:
            self.cutoff = (self.created.pop(0), self.ranks.pop(0))
            self.ordered.pop(bisect.bisect_left(self.ordered, self.recent.pop(0)))


class DurationLearner:
    """Keeps recent durations per (route, model, workload) and estimates their distribution.

    Quantiles come from a Kaplan-Meier estimate: tasks still running are censored durations
    (each takes *at least* its age), so the first tasks of a batch to finish, the fast ones, do
    not pass for typical.

    Examples:
        >>> learner = DurationLearner()
        >>> for seconds in (100.0, 120.0, 110.0):
        ...     sooner = learner.observe(TaskRoute.KLING_OMNI_VIDEO, "kling-v3-omni", seconds)
        >>> sooner  # 110 s: not sooner than the 100 s learned before
        False
        >>> group = learner.group_for(TaskRoute.KLING_OMNI_VIDEO, "kling-v3-omni", None)
        >>> estimate = learner.estimate(group)
        >>> estimate.early, estimate.median, estimate.late  # early: 0.97 x the fastest, so far
        (97.0, 110.0, 120.0)
    """

    def __init__(
        self,
        *,
        max_samples: int = 4096,
        min_group_samples: int = 5,
        early_share: float = 0.04,
        late_share: float = 0.005,
        margin: float = 0.97,
    ) -> None:
        self._max_samples = max_samples
        self._min_group_samples = min_group_samples
        self._early_share = early_share
        self._late_share = late_share
        self._margin = margin
        # Samples are kept once, per workload; a model's pooled group is their union.
        self._samples: dict[tuple[Clock, GroupKey], _Samples] = {}
        self._shapes: dict[tuple[Clock, TaskRoute, str], list[_Samples]] = {}
        self._revision = 0

    @property
    def revision(self) -> int:
        """Counts the changes to what is learned: whatever was read of it (which group speaks
        for a task, how many samples it holds) stands while this stays the same."""
        return self._revision

    def observe(
        self,
        route: TaskRoute,
        model: str | None,
        seconds: float,
        *,
        workload: str | None = None,
        run_seconds: float | None = None,
        created: float | None = None,
        task_id: str = "",
    ) -> bool:
        """Record a finished task of ``model``: ``seconds`` from creation to finish, and
        ``run_seconds`` from the provider's start to finish when known. True if, on either
        clock, it is shorter than every duration this session learned before of its request
        shape or of its model (what is known of how soon such tasks can end moved earlier).

        ``created``: when the task was created, on any clock the caller keeps to (the
        scheduler's), and ``task_id`` its id. A full group forgets the earliest created
        first; without them, the earliest finished, which in a batch larger than
        ``max_samples`` are its fastest."""
        if model is None:
            return False
        order = None if created is None else (created, creation_rank(task_id))
        clocks: tuple[tuple[Clock, float | None], ...] = (("total", seconds), ("run", run_seconds))
        shorter = False
        for clock, value in clocks:
            if value is None or value <= 0:
                continue
            key = (clock, (route, model, workload or ""))
            own = self._samples.get(key)
            if own is not None and own.ordered:
                shorter = shorter or value < own.ordered[0]
            else:
                shapes = self._shapes.get((clock, route, model), ())
                shortest = min((found.ordered[0] for found in shapes if found.ordered), default=0.0)
                shorter = shorter or value < shortest
            if key not in self._samples:
                self._samples[key] = _Samples(self._max_samples)
                self._shapes.setdefault((clock, route, model), []).append(self._samples[key])
            self._samples[key].add(value, order)
            self._revision += 1
        return shorter

    def forgotten_before(
        self, route: TaskRoute, model: str, workload: str | None, clock: Clock = "total"
    ) -> Order:
        """Tasks of this request shape that stand before this in creation order (``Order``,
        on the clock ``observe`` was given) are forgotten: their finishes are no longer among
        its samples, so those still running must not count as its survivors either
        (``estimate``'s ``running``)."""
        found = self._samples.get((clock, (route, model, workload or "")))
        return _NEVER if found is None else found.cutoff

    def export(self, per_group: int = REMEMBERED_PER_GROUP) -> dict[str, Any]:
        """What was learned, for a later session (``restore``): each group's durations thinned
        to at most ``per_group`` evenly spaced quantiles. JSON-ready; no task ids, prompts or
        keys, only routes, models, request shapes and seconds."""
        if isinstance(per_group, bool) or not isinstance(per_group, int) or per_group < 2:
            raise InvalidParameterError(
                "per_group", f"must be an int >= 2 (both ends are kept), got {per_group!r}"
            )
        groups = []
        for (clock, (route, model, workload)), found in sorted(
            self._samples.items(), key=lambda item: (item[0][0], *map(str, item[0][1]))
        ):
            # This session's durations first; remembered ones fill what they leave of the
            # quota, so knowledge carries over while fresh finishes take its place.
            kept = _thinned(found.ordered, per_group)
            if found.prior and len(kept) < per_group:
                kept = sorted([*kept, *_thinned(found.prior, per_group - len(kept))])
            if not kept:
                continue
            groups.append(
                {
                    "clock": clock,
                    "route": route.value,
                    "model": model,
                    "workload": workload,
                    "seconds": [round(x, 3) for x in kept],
                }
            )
        return {"version": _MEMORY_VERSION, "groups": groups}

    def restore(self, memory: Mapping[str, Any]) -> int:
        """Take what an earlier session learned (``export``) as a starting point: the first
        tasks of a known kind are polled like the rest of a batch, not by scouts. Fresh
        durations replace the remembered ones one by one. Groups this learner already knows,
        and entries it cannot read, are skipped; returns how many groups were taken."""
        if not isinstance(memory, Mapping) or memory.get("version") != _MEMORY_VERSION:
            return 0
        groups = memory.get("groups")
        taken = 0
        for group in groups if isinstance(groups, list) else ():
            found = _remembered(group)
            if found is None:
                continue
            clock, key, seconds = found
            if (clock, key) in self._samples:
                continue
            samples = self._samples[(clock, key)] = _Samples(self._max_samples)
            self._shapes.setdefault((clock, key[0], key[1]), []).append(samples)
            samples.prior = array("d", _thinned(sorted(seconds), self._max_samples))
            taken += 1
            self._revision += 1
        return taken

    def samples(
        self,
        route: TaskRoute,
        model: str | None,
        workload: str | None = None,
        clock: Clock = "total",
        *,
        remembered: bool = True,
    ) -> int:
        """How many durations are known for this group (the model's pooled group by default);
        with ``remembered=False``, only those seen finishing in this session."""

        def count(found: _Samples) -> int:
            return len(found) if remembered else len(found.ordered)

        if workload is None:
            shapes = self._shapes.get((clock, route, model or ""), ())
            return sum(count(found) for found in shapes)
        found = self._samples.get((clock, (route, model or "", workload)))
        return count(found) if found else 0

    def group_for(
        self,
        route: TaskRoute,
        model: str | None,
        workload: str | None,
        *,
        by_request: bool = True,
        clock: Clock = "total",
    ) -> GroupKey | None:
        """Whose samples speak for a task: its workload's once they are enough, else its
        model's pooled ones; None when nothing is known of the model."""
        if model is None:
            return None
        if by_request and workload is not None:
            own = (route, model, workload)
            if self.samples(*own, clock=clock) >= self._min_group_samples:
                return own
        pooled = (route, model, None)
        return pooled if self.samples(*pooled, clock=clock) else None

    def _ordered(self, group: GroupKey, clock: Clock, *, prior: bool = False) -> Sequence[float]:
        """The group's durations (or remembered ones), sorted; a pooled group merges its
        model's workloads."""
        route, model, workload = group
        if workload is None:
            shapes = self._shapes.get((clock, route, model), ())
            return _merged([found.prior if prior else found.ordered for found in shapes] or [()])
        found = self._samples.get((clock, group))
        if not found:
            return ()
        return found.prior if prior else found.ordered

    def estimate(
        self,
        group: GroupKey,
        running: Sequence[float] = (),
        clock: Clock = "total",
        *,
        running_weight: float = 1.0,
    ) -> DurationEstimate | None:
        """The group's distribution given ``running``, the ages at which tasks of the group
        were last seen unfinished (in any order), each standing for ``running_weight`` tasks
        (a sample of many). None if the group has no samples.

        Remembered durations (``restore``) speak only where this session's own cannot yet:
        the early quantile until it has a few dozen finishes, the median and the late quantile
        until its own data reach them, and never below the age of a task still running (a
        provider that got slower than remembered shows at once)."""
        ordered = self._ordered(group, clock)
        prior = self._ordered(group, clock, prior=True)
        if not ordered and not prior:
            return None
        running = sorted(running)
        fastest: float | None = None
        early: float | None = None
        tenth = median = late = guess = None
        if ordered:
            fastest, early, tenth, median, late = _kaplan_meier_quantiles(
                ordered,
                running,
                (_FASTEST_SHARE, self._early_share, _GUESS_QUANTILE, 0.5, 1.0 - self._late_share),
                running_weight,
            )
        if median is None and tenth and prior and len(ordered) >= _GUESS_SAMPLES:
            # The remembered durations give the shape, this session's fastest tenth the scale:
            # far steadier than a shape read off a few dozen fresh finishes, and a provider
            # that got uniformly faster or slower still shows.
            guess = _quantile(prior, 0.5) * tenth / _quantile(prior, _GUESS_QUANTILE)
        early = _low_quantile(early, self._early_share, ordered, prior)
        fastest = _low_quantile(fastest, _FASTEST_SHARE, ordered, prior)
        if prior:
            horizon = running[-1] if running else 0.0
            if median is None and guess is None:
                median = max(_quantile(prior, 0.5), horizon)
            if late is None:
                late = max(_quantile(prior, 1.0 - self._late_share), horizon)
        known = len(ordered) + len(prior)
        finishes: tuple[float, ...] = ()
        if known >= QUIET_AT_RISK:
            finishes = tuple(heapq.merge(ordered, prior)) if prior else tuple(ordered)
        complete = tuple(prior) if prior and finishes else finishes
        at_risk = math.ceil(QUIET_AT_RISK / running_weight)
        seen_running_to = running[-at_risk] if len(running) >= at_risk else 0.0
        return DurationEstimate(
            early=round(early * self._margin, 6),
            median=median,
            late=late,
            samples=known,
            group=group,
            median_guess=guess,
            reached=ordered[-1] if ordered else 0.0,
            finishes=finishes,
            seen_running_to=seen_running_to,
            fastest=round(min(fastest, early) * self._margin, 6),
            complete=complete,
            running=tuple(running) if complete and not prior else (),
            running_weight=running_weight,
            outlived_to=None if prior else _outlived_to(ordered, running, running_weight),
        )


def _thinned(ordered: Sequence[float], count: int) -> list[float]:
    """At most ``count`` of ``ordered`` at evenly spaced quantiles, both ends kept."""
    if len(ordered) <= count:
        return list(ordered)
    if count < 2:
        return [ordered[len(ordered) // 2]] if count == 1 else []
    last = len(ordered) - 1
    return [ordered[round(i * last / (count - 1))] for i in range(count)]


def _quantile(ordered: Sequence[float], share: float) -> float:
    """The ``share`` quantile of a complete sample (no one still running), ends included as
    ``_thinned`` keeps them: a plain index."""
    return ordered[round(share * (len(ordered) - 1))]


def _remembered(group: Any) -> tuple[Clock, GroupKey, list[float]] | None:
    """One exported group, checked: None when any part of it is not what ``export`` writes."""
    if not isinstance(group, Mapping):
        return None
    clock, model, workload = group.get("clock"), group.get("model"), group.get("workload")
    seconds = group.get("seconds")
    try:
        route = TaskRoute(str(group.get("route")))
    except ValueError:
        return None
    if clock not in _CLOCKS or not isinstance(model, str) or not isinstance(workload, str):
        return None
    if not isinstance(seconds, list) or not seconds:
        return None
    if not all(
        isinstance(x, int | float) and not isinstance(x, bool) and 0 < x < math.inf for x in seconds
    ):
        return None
    checked: Clock = "total" if clock == "total" else "run"
    return checked, (route, model, workload), [float(x) for x in seconds]


def _outlived_to(ordered: Sequence[float], running: Sequence[float], weight: float) -> float:
    """The oldest age that ``QUIET_AT_RISK`` tasks are known to have reached (or all known
    tasks, where fewer are): finished at it or later (``ordered``), or seen running at it or
    later (``running``, each age standing for ``weight`` tasks); both sorted."""
    finished, seen = len(ordered) - 1, len(running) - 1
    wanted = min(float(QUIET_AT_RISK), len(ordered) + weight * len(running)) - 1e-9
    reached, age = 0.0, 0.0
    while reached < wanted and (finished >= 0 or seen >= 0):
        if seen < 0 or (finished >= 0 and ordered[finished] >= running[seen]):
            age, reached = ordered[finished], reached + 1.0
            finished -= 1
        else:
            age, reached = running[seen], reached + weight
            seen -= 1
    return age


def _low_quantile(
    found: float | None, share: float, ordered: Sequence[float], prior: Sequence[float]
) -> float:
    """A low quantile (``share``): this session's estimate ``found``, or its fastest duration
    where the estimate cannot tell yet, and the remembered durations' where this session has
    too few to speak for that share; the lower of the two."""
    if found is None and ordered:
        found = ordered[0]
    if prior and (found is None or len(ordered) * share < 1):
        remembered = _quantile(prior, share)
        found = remembered if found is None else min(found, remembered)
    assert found is not None  # the learner estimates only groups with some durations
    return found


_GUESS_QUANTILE = 0.10
#: The share of a group's tasks that finish sooner than its ``fastest``: a promise about the
#: 99th percentile of delays is a promise about them too.
_FASTEST_SHARE = 0.01
_GUESS_SAMPLES = 10


def _merged(lists: Sequence[Sequence[float]]) -> Sequence[float]:
    return lists[0] if len(lists) == 1 else list(heapq.merge(*lists))


def _kaplan_meier_quantiles(
    finished: Sequence[float],
    running: Sequence[float],
    quantiles: Sequence[float],
    running_weight: float = 1.0,
) -> list[float | None]:
    """Quantiles of the duration distribution from finished durations and running ages, each
    running age standing for ``running_weight`` tasks.

    Both sequences sorted ascending, ``quantiles`` too. A quantile beyond what the data shows
    is None. One pass over both (the running ages are counted off as the finished durations
    pass them): with 20,000 tasks running this is what an estimate costs, and it runs while
    the event loop waits.
    """
    found: list[float | None] = [None] * len(quantiles)
    if not quantiles:
        return found
    survival = 1.0
    total = len(finished)
    still_running = len(running)
    passed = 0  # running ages below the current duration: no longer at risk
    slot = 0
    wanted = quantiles[0] - 1e-9
    for index, duration in enumerate(finished):
        while passed < still_running and running[passed] < duration:
            passed += 1
        survival *= 1.0 - 1.0 / ((total - index) + running_weight * (still_running - passed))
        while 1.0 - survival >= wanted:
            found[slot] = duration
            slot += 1
            if slot == len(quantiles):
                return found
            wanted = quantiles[slot] - 1e-9
    return found
