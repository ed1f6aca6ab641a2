"""When to ask about a task again: ``PollPolicy`` and the defaults per route family.

A policy is a plain frozen value; its waits grow geometrically to a cap, with proportional jitter
from a ``random.Random`` the scheduler owns, so a seeded RNG replays a run and tests pull waits
without sleeping. A wait is computed from its step number, not drawn from a generator per task:
a batch of 10,000 tracked tasks keeps an int each, not two suspended generator frames.
"""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator

import attrs
from attrs import frozen

from .._errors import InvalidParameterError
from ..models import TaskRoute
from .learning import DurationEstimate

__all__ = ["DEFAULT_LONGEST_WAIT", "DEFAULT_POLICIES", "POLL_PRESETS", "PollPolicy"]

#: Seconds: the cap on any wait when a policy sets no ``longest_wait``.
DEFAULT_LONGEST_WAIT = 120.0
_EPSILON_WAIT = 1e-3
_MAX_EXPONENT = 1000
# A task still running at twice the age of the slowest learned finishes is likely stuck: no task
# like it took half that long. Its own chance of ending at the next query is then small, so each
# wait grows by a fraction of its overtime past that age: a stuck task is asked about some
# dozens of times an hour, not once a spacing. Until then, every task is polled at the target's
# spacing, the slow ones too: nothing learned says they will not end soon.
_STUCK_AFTER = 2.0
_TAIL_PACE = 0.25
#: A stretch with no learned finish longer than this many spacings is crossed in one wait.
_QUIET_SPACINGS = 2.0
#: With a spacing in seconds, a task's first query comes no later than this many spacings past
#: the fastest likely finish (1 in 100 end sooner): those that end before it are found that
#: late at most, the 99th percentile's bound the knob promises.
_FASTEST_SPACINGS = 1.5
#: A learned spacing is never less than this share of the median's tenth (``target_spacing``).
_DENSEST = 0.5
#: Before the median is known, a spacing is never more than this many times ``target_delay``
#: of what the task takes at least (``_unlearned_scale``): 95% of tasks are still found within
#: ``target_delay`` of their own run (fake clock, cold, 8 seeds, 0.03-0.3: 6-36 s and
#: log-normal 0.96-0.98 of it). Wider saves queries only by breaking that: at 1.6, a cold batch
#: of 6-36 s at 0.1 reads 0.854 at equal mean against 0.813, with 95% of its tasks past the
#: first tenth found within 1.09 of it (1.21 in the worst of 8 seeds) against 0.98; up to twice
#: as wide, 1.03-1.13 of it at 0.03-0.3.
_UNLEARNED_WIDEST = 1.25


def _seconds(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise InvalidParameterError(
            attribute.name, f"must be a non-negative number of seconds, got {value!r}"
        )


def _fraction(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1:
        raise InvalidParameterError(attribute.name, f"must be in [0, 1), got {value!r}")


def _target(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 2:
        raise InvalidParameterError(
            attribute.name,
            f"must be a fraction of the expected duration in (0, 2], got {value!r} "
            "(0.1: learn of a finish within a tenth of the task's run time)",
        )


def _positive_seconds(
    instance: object, attribute: attrs.Attribute[float | None], value: object
) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidParameterError(
            attribute.name,
            f"must be a positive number of seconds or None, got {value!r} "
            "(20: learn of a finish within about 20 s, however long the task runs)",
        )


def _growth(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 1:
        raise InvalidParameterError(attribute.name, f"must be a number >= 1, got {value!r}")


@frozen
class PollPolicy:
    """How often one task is queried while it runs.

    - ``first_poll``: seconds after the task was created (when the provider says when; else
      after it was handed to the scheduler) before its first query.
    - ``interval``: the wait after that first query; each later wait grows by ``growth`` up to
      ``max_interval``.
    - ``jitter``: each wait is spread by up to this fraction either way, so tasks created
      together do not query together; a wait the target sets is only ever drawn earlier, so
      jitter never lets a task wait past the spacing it was promised.
    - ``learn``: let the scheduler move polls of a model's remaining tasks to when that model's
      tasks were seen to finish (see ``DurationLearner``).
    - ``target_delay``: a promise about every task, as a fraction ``f`` of its run: a finished task
      is found on average within about ``f/2`` of its own duration after its end, and nearly all
      within ``f`` (0.1: a 200 s video within about 10 s on average, 20 s at most). Once a request
      shape's durations are learned the spacing is ``f`` of their median, closer where the learned
      durations say a task is likelier than a typical one to end soon (near a floor most tasks
      clear, or a mode's end; never under half of it), and for a task older than the median wider
      where it is less likely (far out in a heavy tail), never wider than ``f`` of its own age. So
      this holds for tasks near the median or longer; a task far shorter than its shape's median
      waits longer in proportion to its own run (fake clock, a second batch of 6-36 s videos at 0.1:
      the median task within 0.4 ``f`` of its run, 99% within 4.3 ``f``). Smaller is faster and
      costs more queries; the scheduler spends as few as it can to keep it: no query before the
      earliest likely finish of such tasks, then one every ``f`` of their expected duration. Before
      their median is learned, a task is asked every ``f`` times its age (it takes at least that
      long), spaced up to a quarter wider where tasks of its age are seen ending slowly, and no
      shape of durations is assumed. A task's queries depend only on what is known of its own
      end (its request shape's durations, its age, its start, a callback), never on how late other
      tasks were found; only a task twice as old as the slowest seen finishing (likely stuck) is
      asked ever more sparsely, past ``f`` of its age; one facing a stretch where no learned task
      ended though many outlived its start (a gap between two modes) is asked next where
      finishes resume, a spacing for a task that age past it, and a query that would land in such
      a stretch comes instead just after the finishes before it end (the same queries, the last of
      those found sooner); one older than every learned finish, with dozens of others seen well
      past them, is asked every ``f`` of its age again (nothing learned speaks for it). Fake clock,
      300 videos cold, five shapes of durations, 0.03-0.3, first queries at 2 s, on average over
      seeds (the first tenth to end aside, found before anything was learned): the median task found
      within 0.27-0.51 ``f`` of its run, 95% within 0.86-0.98 ``f``, 99% within 0.95-1.23 ``f``.
      With DashScope's first queries at 10 s, at 0.1, 95% within 0.84-1.13 ``f``; in a second batch,
      whose spacing is ``f`` of the learned median, 0.75-1.34 ``f`` (``benchmarks.decisions``).
    - ``target_delay_seconds``: the same promise in seconds, for every task alike: found on
      average within about half of it, nearly all within it; when set it takes the place of
      ``target_delay``, and the first queries of a batch come no later than that. Of a model
      nothing is known of, 32 tasks scout and the rest wait for their first finish; after
      three spacings with none, 100 scout, so that about 1 in 100 of a batch, not 1 in 33,
      ends before the first scout does and is found only with it. Where short and long tasks
      are mixed and what counts is the delay in seconds, a fraction of each task's duration
      would poll the short ones more often than that needs.
    - ``learn_by_request``: learn durations per request shape (video duration and resolution,
      Kling mode, image count and size), not only per model.
    - ``callback_fallback``: a task created with a ``callback_url`` is asked about when a
      callback wakes it, and otherwise only this long after its expected end (the duration
      learned so far, or ``first_poll``), then every this long: a lost callback costs at most
      about that much delay.
    - ``unknown_grace``: for this long after a task is handed over, an UNKNOWN or 404 answer is
      taken as the provider not having caught up yet, and the task is asked about again.
    - ``longest_wait``: no wait, learned or not, is ever longer than this (default: 120 s, or
      ``max_interval`` if that is longer). It bounds what a wrong provider clock or an odd
      learned duration can cost: at most this long between two queries of a running task.

    Examples:
        >>> policy = PollPolicy(first_poll=2, interval=1, max_interval=4, growth=2, jitter=0)
        >>> waits = policy.waits(random.Random(0))
        >>> [next(waits) for _ in range(5)]
        [2.0, 1.0, 2.0, 4.0, 4.0]
    """

    first_poll: float = attrs.field(default=5.0, validator=_seconds)
    interval: float = attrs.field(default=5.0, validator=_seconds)
    max_interval: float = attrs.field(default=30.0, validator=_seconds)
    growth: float = attrs.field(default=1.5, validator=_growth)
    jitter: float = attrs.field(default=0.1, validator=_fraction)
    learn: bool = True
    target_delay: float = attrs.field(default=0.1, validator=_target)
    learn_by_request: bool = True
    callback_fallback: float = attrs.field(default=60.0, validator=_seconds)
    unknown_grace: float = attrs.field(default=30.0, validator=_seconds)
    longest_wait: float | None = attrs.field(
        default=None, validator=attrs.validators.optional(_seconds)
    )
    target_delay_seconds: float | None = attrs.field(default=None, validator=_positive_seconds)

    @property
    def wait_cap(self) -> float:
        """The longest any wait may be (see ``longest_wait``)."""
        if self.longest_wait is not None:
            return max(self.longest_wait, _EPSILON_WAIT)
        return max(DEFAULT_LONGEST_WAIT, self.max_interval)

    def wait(self, step: int, rng: random.Random) -> float:
        """The jittered wait of ``step``: 0 is the wait before the first query, 1 the wait
        after it, and each later one ``growth`` times the last, up to ``max_interval``."""
        if step == 0:
            return self.spread(self.first_poll, rng)
        exponent = min(step - 1, _MAX_EXPONENT)  # far past any cap; keeps the power finite
        grown = min(self.interval * self.growth**exponent, self.max_interval)
        return self.spread(grown, rng)

    def first_wait(self, rng: random.Random) -> float:
        """The jittered wait before a task's first query. With ``target_delay_seconds`` and
        learning on, no later than that: a spacing in seconds is known before anything is
        learned, and a batch whose first tasks end before ``first_poll`` would find them up to
        that late."""
        if self.learn and self.target_delay_seconds is not None:
            return self.target_wait(min(self.first_poll, self.target_delay_seconds), rng)
        return self.wait(0, rng)

    def unlearned_spacing(self, age: float) -> float:
        """The spacing the target asks for of a task ``age`` seconds old whose durations are
        not learned yet: it takes at least ``age``, so a query ``target_delay`` times that
        later (or ``target_delay_seconds``) still finds its end within the target. A wait on
        the curve shorter than this buys nothing the target asked for."""
        if self.target_delay_seconds is not None:
            return self.target_delay_seconds
        return self.target_delay * max(age, 0.0)

    def waits(self, rng: random.Random) -> Iterator[float]:
        """Yield the jittered waits: before the first query, then between queries (endless)."""
        for step in itertools.count():
            yield self.wait(step, rng)

    def learned_first_age(self, estimate: DurationEstimate) -> float:
        """The age of a task's first query once its group's durations are known: one spacing
        after the earliest likely finish (``early``, which a few in a hundred beat), and with
        a spacing in seconds no later than :meth:`first_query_by` the fastest."""
        wait = self.learned_wait(estimate, estimate.early)
        return self.first_query_age(estimate.early, wait, estimate.fastest)

    def first_query_age(self, early: float, wait: float, fastest: float | None) -> float:
        """The age of a task's first query on one clock (from its creation, or from the
        start of its run): ``wait`` after the earliest likely finish ``early``, and no later
        than :meth:`first_query_by` the ``fastest``."""
        return min(early + wait, self.first_query_by(fastest))

    def first_query_by(self, fastest: float | None) -> float:
        """With ``target_delay_seconds``, the latest age of a first query that finds the
        tasks ending before it within 1.5 spacings, all but the one in a hundred that end
        sooner than ``fastest``; no bound otherwise. One spacing past the earliest likely
        finish left the fastest few waiting up to two (fake clock, a log-normal with a
        median of 17 s, warm, at 1 s: p99 2.06 s)."""
        if self.target_delay_seconds is None or fastest is None:
            return math.inf
        return fastest + _FASTEST_SPACINGS * self.target_delay_seconds

    def learned_wait(self, estimate: DurationEstimate, age: float, spread: float = 1.0) -> float:
        """The wait before the next query of a task ``age`` seconds old, its spacing times
        ``spread`` (the jitter factor, ``target_spread``; 1: before jitter).

        Every finish between two queries is detected at the second, so a spacing of
        ``target_delay`` times the expected duration (or ``target_delay_seconds``) finds each
        task within that of its end, the slowest ones too. Only a task twice as old as the
        slowest learned finishes (the ``late`` quantile) is thinned: nothing like it took
        that long, so it is likely stuck, and its waits grow with its overtime.
        """
        spacing = self.target_spacing(estimate, age)
        past = estimate.quiet_past_every_finish(age)
        if (
            self.target_delay_seconds is None
            and past is not None
            and past > _QUIET_SPACINGS * spacing
        ):
            # Dozens of tasks were seen running well past every learned finish and none has
            # ended since: the learned median speaks for tasks that ended, not for this one.
            # All that is known of its end is that it takes at least its age, as before
            # anything was learned, and a query every ``target_delay`` of that finds it
            # within the target (fake clock, a cold batch of two modes at 0.1: the slow
            # third crossed the gap with 12 queries, not 23).
            spacing = max(spacing, self.target_delay * age)
        quiet = estimate.quiet_stretch(age)
        ahead = 0.0
        if quiet is not None and quiet > _QUIET_SPACINGS * spacing:
            # No learned task ended in the stretch ahead, though many outlived this age (two
            # modes in one request shape: a gap between them). As at a batch's start, no query
            # before the earliest likely finish, then one a spacing after it: where finishes
            # resume. A task crossing a 22 s gap is asked once, not 22 times (nor 5, halving
            # the stretch left: fake clock, a second batch at 0.1, 5.8 -> 3.9 queries a task
            # at the same mean delay). One that does end in the stretch, as none of the 30 or
            # more learned tasks that outlived its start did, is found where finishes resume.
            # Only the spacing is jittered: a tenth off the whole wait landed the query in
            # the gap, one more for nothing.
            ahead = quiet
            # That query lands where finishes resume, so it is spaced as a task of that age
            # is, by its chance of ending there: past the fast mode of two, by the slow mode's
            # first seconds, where few of its tasks end yet, not by the fast mode's pace. At
            # that pace it came about 1 s past 32 s, and the slow third paid a query more for
            # it (fake clock, a second batch of two modes, 8 seeds, efficiency at equal mean
            # from a memory / as a session's second: 0.920 -> 0.948 / 0.911 -> 0.931 at 0.1,
            # 0.943 -> 0.946 / 0.948 -> 0.951 at 0.03, 0.919 -> 0.962 / 0.906 -> 0.947 at 0.3;
            # the other shapes level). A warm start read the stretch from its memory and reads
            # that chance from it too: before this batch's median is known, the remembered one
            # stands for it (spaced as a task nothing is learned of, a tenth of its 32 s, the
            # query came 3.2 s past and read 0.900 from a memory at 0.1).
            spacing = self.target_spacing(estimate.with_remembered_median(), age + quiet)
        if estimate.late is not None:
            stuck_from = _STUCK_AFTER * estimate.late
            if age > stuck_from:
                spacing += _TAIL_PACE * (age - stuck_from)
        wait = ahead + spacing * spread
        if not ahead:
            cluster = estimate.cluster_end(age, age + wait)
            if cluster is not None and cluster[1] > _QUIET_SPACINGS * spacing:
                # The query would land in a quiet stretch: it comes where the cluster of
                # finishes before the stretch ends instead. It finds every task the later
                # one would and those ending in between sooner, and costs no more: the next
                # query crosses the stretch either way (fake clock, a second batch of two
                # modes, 8 seeds: the same queries, mean 0.48 -> 0.43 s at 0.1 and
                # 1.63 -> 1.20 s at 0.3).
                wait = cluster[0] - age
        return max(wait, _EPSILON_WAIT)

    def target_spacing(self, estimate: DurationEstimate, age: float) -> float:
        """The spacing between queries the target asks of a task ``age`` seconds old:
        ``target_delay`` times its expected duration, scaled by the root of a typical task's
        chance of ending soon over its own (within the bounds below; before the median is
        learned, ``_unlearned_scale``); or ``target_delay_seconds``."""
        if self.target_delay_seconds is not None:
            return self.target_delay_seconds
        expected = estimate.expected(age)
        spacing = self.target_delay * expected
        if estimate.median is None and estimate.median_guess is not None:
            return spacing
        own = estimate.ending_rate(age)
        if estimate.median is None:
            return spacing * _unlearned_scale(expected, own or estimate.recent_rate(age))
        typical = estimate.typical_rate
        if not typical:
            return spacing
        if not own:
            # No learned duration outlasts this task (a batch created at once, at the front
            # of its finishes): where those just younger than it end more often than a
            # typical task, it is asked more often too (fake clock, cold, 6-36 s at 0.1, 6
            # seeds: the slowest sixth found 1.08 -> 0.83 s after its end for 0.8 more
            # queries, efficiency at equal mean 0.81 -> 0.86; other shapes level). Never less
            # often on that reading alone: a count of recent finishes reaching back across a
            # gap between two modes would space the first tasks of the slow mode wide as it
            # begins.
            recent = estimate.recent_rate(age)
            if recent is None or recent <= typical:
                return spacing
            own = recent
        # Queries go where this task is likely to end: for the same queries, spacing each task
        # by the root of its own chance of ending soon, against a typical task's, finds tasks
        # soonest on average (a query's worth is the tasks it finds, and those it would find
        # a spacing later wait that much more). Never more than twice as often as the median's
        # tenth (a spike of finishes would ask without end); a task younger than the median
        # is never spaced wider than that (its own run is shorter: it is the one the knob
        # serves worst), and an older one no wider than ``target_delay`` of its own age, the
        # promise about its own run. Fake clock, a second batch from a memory, 8 seeds, at
        # 0.1: efficiency at equal mean Pareto 0.88 -> 0.92, two modes 0.89 -> 0.94, uniform
        # 0.89 -> 0.96, log-normal 0.98 -> 1.00, floored 1.00 -> 0.99; at 0.03 and 0.3 alike.
        scale = max(_DENSEST, math.sqrt(typical / own))
        if scale <= 1:
            return spacing * scale
        if age < estimate.median:
            return spacing
        return min(spacing * scale, self.target_delay * age)

    def spread(self, wait: float, rng: random.Random) -> float:
        """``wait`` spread by the jitter, never under a millisecond."""
        wait = max(wait, _EPSILON_WAIT)
        if not self.jitter:
            return float(wait)
        return wait * rng.uniform(1 - self.jitter, 1 + self.jitter)

    def target_wait(self, spacing: float, rng: random.Random) -> float:
        """``spacing`` jittered as the target allows (``target_spread``), never under a
        millisecond."""
        return max(spacing, _EPSILON_WAIT) * self.target_spread(rng)

    def target_spread(self, rng: random.Random) -> float:
        """The jitter factor of a wait the target sets: drawn like ``spread``'s, but never
        over 1. A wait of the spacing times 1.1 left a task ending just after a query up to a
        tenth past the spacing the target promises it (at 5 s, a p95 of 4.96 s against 4.76 s
        for a loop asking every 5 s); cut there, no task waits past it, for about 2.5% more
        queries. Half the draws still land below it, so tasks created together keep apart."""
        if not self.jitter:
            return 1.0
        return min(1.0, rng.uniform(1 - self.jitter, 1 + self.jitter))


def _unlearned_scale(expected: float, rate: float | None) -> float:
    """How much wider than ``target_delay`` times ``expected`` a task is spaced before its
    group's median is known, ``rate`` the chance per second of ending seen at its age (None:
    not seen yet).

    ``expected`` is what the task takes at least (its age, or the longest finish seen), and
    a spacing of ``target_delay`` times that finds it within the target whatever the shape.
    The learned spacing's rule (``target_spacing``) applies with the median taken at that
    least and a typical task ending at about one in that many seconds (at the median of a
    uniform, log-normal or Pareto spread, 1.3-1.6 in the median's length): where tasks of its
    age are seen ending more slowly, its queries spread by the root of the ratio, never more
    than ``_UNLEARNED_WIDEST`` times. Never closer, as that guess at a typical task's rate
    is no firmer than the age it stands on: drawn closer too, a floor then a log-normal
    spread was asked more for little sooner (fake clock, cold, at 0.03: 19.6 -> 21.9 queries
    a task for a mean of 0.244 -> 0.220 s, efficiency at equal mean 0.90 -> 0.88). Fake
    clock, 300 videos created within 0.5 s, cold, 6 seeds, efficiency at equal mean at 0.1:
    uniform 6-36 s 0.78 -> 0.81, log-normal 0.82 -> 0.86, others level."""
    if not rate or expected <= 0:
        return 1.0
    return min(_UNLEARNED_WIDEST, max(1.0, math.sqrt(1.0 / (expected * rate))))


# Images take seconds to tens of seconds, videos minutes (reference/kling.md; the seed's video
# example ran 5.5 minutes): first queries land near the fastest plausible finish.
DEFAULT_POLICIES: dict[TaskRoute, PollPolicy] = {
    TaskRoute.DASHSCOPE_TASKS: PollPolicy(first_poll=10.0, interval=5.0, max_interval=20.0),
    TaskRoute.KLING_IMAGES: PollPolicy(first_poll=3.0, interval=2.0, max_interval=8.0),
    TaskRoute.KLING_OMNI_IMAGE: PollPolicy(first_poll=3.0, interval=2.0, max_interval=8.0),
    TaskRoute.KLING_OMNI_VIDEO: PollPolicy(first_poll=10.0, interval=5.0, max_interval=20.0),
}


def _fast(policy: PollPolicy) -> PollPolicy:
    # Fast also asks sooner before anything is learned: a target of a twentieth of the run
    # is lost if the first query comes after the fastest tasks ended.
    return attrs.evolve(
        policy,
        target_delay=0.05,
        first_poll=policy.first_poll * 0.3,
        interval=policy.interval * 0.3,
        max_interval=policy.max_interval * 0.3,
    )


#: Settings along the knob, per route family: ``AnyIntSession(poll_policy="fast")``. ``fast``
#: finds a task within 5% of its run (about 2.5% on average) and asks sooner before durations
#: are learned; ``default`` within 10%; ``frugal`` within 30%, for about a third fewer queries
#: than the default (benchmarks/results/ has the measured curves).
POLL_PRESETS: dict[str, dict[TaskRoute, PollPolicy]] = {
    "fast": {route: _fast(policy) for route, policy in DEFAULT_POLICIES.items()},
    "default": dict(DEFAULT_POLICIES),
    "frugal": {
        route: attrs.evolve(policy, target_delay=0.3) for route, policy in DEFAULT_POLICIES.items()
    },
}
