"""Poll policies, duration learning and the shared cool-down, pulled without sleeping."""

from __future__ import annotations

import math
import random
import statistics

import attrs
import pytest

from anyint_async import (
    DurationEstimate,
    DurationLearner,
    InvalidParameterError,
    PollPolicy,
    RateLimitCooldown,
    TaskRoute,
)
from anyint_async.polling import DEFAULT_POLICIES
from anyint_async.polling.learning import creation_rank

ROUTE = TaskRoute.KLING_OMNI_VIDEO


def test_policy_waits_grow_to_the_cap_within_jitter() -> None:
    policy = PollPolicy(first_poll=10, interval=2, max_interval=10, growth=2, jitter=0.2)
    waits = policy.waits(random.Random(1))
    values = [next(waits) for _ in range(7)]
    bases = [10, 2, 4, 8, 10, 10, 10]
    for value, base in zip(values, bases, strict=True):
        assert base * 0.8 <= value <= base * 1.2
    assert len(set(values)) == len(values)  # jitter spreads equal bases apart


def test_same_seed_same_waits() -> None:
    policy = PollPolicy()
    first, second = policy.waits(random.Random(9)), policy.waits(random.Random(9))
    assert [next(first) for _ in range(10)] == [next(second) for _ in range(10)]


def test_image_families_poll_sooner_than_video_families() -> None:
    image = DEFAULT_POLICIES[TaskRoute.KLING_IMAGES]
    for video in (
        DEFAULT_POLICIES[TaskRoute.KLING_OMNI_VIDEO],
        DEFAULT_POLICIES[TaskRoute.DASHSCOPE_TASKS],
    ):
        assert image.first_poll < video.first_poll and image.max_interval < video.max_interval


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"first_poll": -1}, "first_poll"),
        ({"growth": 0.5}, "growth"),
        ({"jitter": 1.0}, "jitter"),
        ({"interval": "5"}, "interval"),
    ],
)
def test_policy_rejects_bad_values(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        PollPolicy(**kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def _estimate(
    learner: DurationLearner, model: str = "m", running: list[float] | None = None
) -> DurationEstimate | None:
    group = learner.group_for(ROUTE, model, None)
    return None if group is None else learner.estimate(group, running or [])


def test_learner_knows_nothing_until_a_task_finished() -> None:
    learner = DurationLearner(margin=0.9)
    assert _estimate(learner) is None
    for seconds in (200.0, 300.0, 250.0):
        learner.observe(ROUTE, "m", seconds)
    estimate = _estimate(learner)
    assert estimate is not None
    assert estimate.early == pytest.approx(180.0)  # 0.9 x the fastest, with few samples
    assert estimate.median == 250.0
    assert estimate.late == 300.0
    assert _estimate(learner, "other") is None
    assert learner.group_for(TaskRoute.KLING_IMAGES, "m", None) is None  # per route family too


def test_learner_forgets_old_samples() -> None:
    learner = DurationLearner(max_samples=3, margin=1.0)
    for seconds in (10.0, 100.0, 100.0, 100.0):
        learner.observe(ROUTE, "m", seconds)
    estimate = _estimate(learner)
    assert estimate is not None and estimate.early == 100.0
    assert learner.samples(ROUTE, "m") == 3


@pytest.mark.parametrize("created", ["together", "one_a_second"])
def test_a_full_learner_keeps_a_fair_sample_of_a_batch_larger_than_it_holds(created: str) -> None:
    # A batch finishes fastest first; forgetting the earliest finishes would keep only the
    # slowest, and the next batch would be asked about long after its fast tasks ended.
    learner = DurationLearner(max_samples=300)
    rng = random.Random(4)
    batch = [(rng.lognormvariate(math.log(100.0), 0.4), f"task-{i}") for i in range(1500)]
    for index, (seconds, task_id) in sorted(enumerate(batch), key=lambda item: item[1][0]):
        at = 0.0 if created == "together" else float(index)
        learner.observe(ROUTE, "m", seconds, created=at, task_id=task_id)
    estimate = _estimate(learner)
    assert estimate is not None and estimate.median is not None
    assert learner.samples(ROUTE, "m") == 300
    true_median = statistics.median(seconds for seconds, _ in batch)
    assert estimate.median == pytest.approx(true_median, rel=0.1)
    assert estimate.early < 0.8 * true_median


def test_among_tasks_created_together_a_full_learner_keeps_the_same_ones_in_any_finish_order() -> (
    None
):
    # Tasks created at one moment stand in the order of a hash of their ids, which says
    # nothing of their durations: whichever order they finish in, the same ones are kept.
    rng = random.Random(7)
    batch = {f"task-{i}": rng.uniform(10.0, 100.0) for i in range(400)}
    ranked = sorted(batch, key=creation_rank)
    kept = sorted(batch[task_id] for task_id in ranked[-50:])
    for finish_order in (sorted(batch, key=batch.__getitem__), ranked, ranked[::-1]):
        learner = DurationLearner(max_samples=50)
        for task_id in finish_order:
            learner.observe(ROUTE, "m", batch[task_id], created=0.0, task_id=task_id)
        (group,) = learner.export()["groups"]
        assert group["seconds"] == [round(seconds, 3) for seconds in kept]


def test_a_late_finish_of_a_forgotten_task_is_not_taken() -> None:
    learner = DurationLearner(max_samples=3, margin=1.0)
    for at, seconds in ((10.0, 100.0), (11.0, 100.0), (12.0, 100.0), (13.0, 100.0)):
        learner.observe(ROUTE, "m", seconds, created=at, task_id=str(at))
    # Created before the last forgotten one (10 s): the rest of its cohort is gone already.
    learner.observe(ROUTE, "m", 5.0, created=9.0, task_id="old")
    estimate = _estimate(learner)
    assert estimate is not None and estimate.early == 100.0
    assert learner.forgotten_before(ROUTE, "m", None)[0] == 10.0


def test_learner_ignores_unusable_samples() -> None:
    learner = DurationLearner()
    learner.observe(ROUTE, None, 10.0)
    learner.observe(ROUTE, "m", 0.0)
    assert learner.samples(ROUTE, "m") == 0


def test_a_request_shape_gets_its_own_durations_once_it_has_enough() -> None:
    learner = DurationLearner(min_group_samples=5)
    for _ in range(20):
        learner.observe(ROUTE, "m", 100.0, workload="duration=5")
    for seconds in (200.0, 210.0, 220.0, 230.0):
        learner.observe(ROUTE, "m", seconds, workload="duration=10")
    pooled = (ROUTE, "m", None)
    # Four 10 s samples are too few: the model's pooled samples speak for them.
    assert learner.group_for(ROUTE, "m", "duration=10") == pooled
    learner.observe(ROUTE, "m", 240.0, workload="duration=10")
    own = learner.group_for(ROUTE, "m", "duration=10")
    assert own == (ROUTE, "m", "duration=10")
    estimate = learner.estimate(own)
    assert estimate is not None and estimate.median == 220.0
    # Learning per model alone: one pool for both shapes.
    assert learner.group_for(ROUTE, "m", "duration=10", by_request=False) == pooled
    assert learner.samples(ROUTE, "m") == 25


def test_run_times_are_learned_apart_from_queue_plus_run() -> None:
    learner = DurationLearner()
    learner.observe(ROUTE, "m", 90.0, run_seconds=60.0)
    learner.observe(ROUTE, "m", 30.0)  # never seen running: no run time
    assert learner.samples(ROUTE, "m") == 2
    assert learner.samples(ROUTE, "m", clock="run") == 1
    group = learner.group_for(ROUTE, "m", None, clock="run")
    assert group is not None
    run = learner.estimate(group, clock="run")
    assert run is not None and run.median == 60.0


def test_observing_says_when_a_finish_is_sooner_than_any_learned_before() -> None:
    learner = DurationLearner()
    # The first of a model: nothing to be sooner than (its scouts' finish says it).
    assert not learner.observe(ROUTE, "m", 50.0, workload="a", run_seconds=40.0)
    assert not learner.observe(ROUTE, "m", 60.0, workload="a", run_seconds=45.0)
    assert learner.observe(ROUTE, "m", 45.0, workload="a")  # its shape's and model's soonest
    # On the run clock alone: queued long, run short.
    assert learner.observe(ROUTE, "m", 70.0, workload="a", run_seconds=20.0)
    # A shape's first, sooner than the model's others; then one not sooner than its own.
    assert learner.observe(ROUTE, "m", 30.0, workload="b")
    assert not learner.observe(ROUTE, "m", 35.0, workload="b")
    # Sooner than its own shape's, though another shape's was sooner still.
    assert learner.observe(ROUTE, "m", 40.0, workload="a")
    assert not learner.observe(ROUTE, None, 1.0)  # no model, nothing learned


def test_the_target_delay_sets_the_spacing_and_the_first_query() -> None:
    estimate = DurationEstimate(
        early=80.0, median=100.0, late=200.0, samples=50, group=(ROUTE, "m", None)
    )
    fast, default, frugal = (PollPolicy(target_delay=t) for t in (0.05, 0.1, 0.3))
    assert default.learned_wait(estimate, age=120.0) == pytest.approx(10.0)
    assert fast.learned_wait(estimate, age=120.0) == pytest.approx(5.0)
    assert frugal.learned_wait(estimate, age=120.0) == pytest.approx(30.0)
    # One spacing after the earliest likely finish.
    assert default.learned_first_age(estimate) == pytest.approx(90.0)
    # A slow task is still asked at the target's spacing: nothing learned says it will not
    # end soon. Only past twice the slowest learned finishes (likely stuck) do waits grow.
    assert default.learned_wait(estimate, age=300.0) == pytest.approx(10.0)
    assert default.learned_wait(estimate, age=400.0) == pytest.approx(10.0)
    assert default.learned_wait(estimate, age=500.0) == pytest.approx(10.0 + 0.25 * 100.0)


def test_a_target_in_seconds_spaces_queries_alike_whatever_the_duration() -> None:
    short, long = (
        DurationEstimate(
            early=0.8 * median, median=median, late=2 * median, samples=50, group=(ROUTE, "m", None)
        )
        for median in (100.0, 400.0)
    )
    policy = PollPolicy(target_delay=0.1, target_delay_seconds=7.0)
    assert policy.learned_wait(short, age=90.0) == pytest.approx(7.0)
    assert policy.learned_wait(long, age=350.0) == pytest.approx(7.0)
    assert policy.learned_first_age(long) == pytest.approx(327.0)
    # No later than 1.5 spacings past the fastest 1 in 100: those that end before the first
    # query wait no longer than that. A fraction's spacing leaves it alone.
    sooner = attrs.evolve(long, fastest=310.0)
    assert policy.learned_first_age(sooner) == pytest.approx(310.0 + 1.5 * 7.0)
    assert policy.learned_first_age(attrs.evolve(long, fastest=319.0)) == pytest.approx(327.0)
    assert PollPolicy(target_delay=0.1).learned_first_age(sooner) == pytest.approx(360.0)
    # The same bound on a run's clock (ages from its start): early 20 s, spacing 7 s.
    assert policy.first_query_age(20.0, 7.0, fastest=15.0) == pytest.approx(25.5)
    assert policy.first_query_age(20.0, 7.0, fastest=19.0) == pytest.approx(27.0)
    assert PollPolicy().first_query_age(20.0, 7.0, fastest=5.0) == pytest.approx(27.0)
    # A task twice as old as the slowest learned (late: 200 s) is likely stuck: it backs off.
    assert policy.learned_wait(short, age=300.0) == pytest.approx(7.0)
    assert policy.learned_wait(short, age=500.0) == pytest.approx(7.0 + 0.25 * 100.0)


@pytest.mark.parametrize("value", [0, -3, "5", True])
def test_target_delay_seconds_must_be_positive_seconds(value: object) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        PollPolicy(target_delay_seconds=value)  # type: ignore[arg-type]
    assert caught.value.field == "target_delay_seconds"
    assert "seconds" in str(caught.value)


def test_before_the_median_is_known_the_spacing_follows_the_age() -> None:
    # No shape is assumed: a task takes at least its age, and the median is past the longest
    # finish seen (a guess of 1.5 x the early quantile assumed a log-normal's spread).
    estimate = DurationEstimate(
        early=80.0, median=None, late=None, samples=3, group=(ROUTE, "m", None), reached=110.0
    )
    policy = PollPolicy(target_delay=0.1)
    assert policy.learned_wait(estimate, age=100.0) == pytest.approx(11.0)  # the longest seen
    assert policy.learned_wait(estimate, age=300.0) == pytest.approx(30.0)  # at least its age


@pytest.mark.parametrize("value", [0, -0.1, 2.5, "0.1", True])
def test_target_delay_must_be_a_positive_fraction(value: object) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        PollPolicy(target_delay=value)  # type: ignore[arg-type]
    assert caught.value.field == "target_delay"
    assert "expected duration" in str(caught.value)


def test_cooldown_honours_retry_after_and_grows_without_it() -> None:
    cooldown = RateLimitCooldown(first_pause=1.0, max_pause=4.0)
    assert not cooldown.active(0.0)
    assert cooldown.throttled(10.0, retry_after=5.0) == 15.0
    assert cooldown.throttled(11.0, retry_after=1.0) == 15.0  # never shortened
    assert cooldown.throttled(20.0, None) == 21.0
    assert cooldown.throttled(30.0, None) == 32.0
    assert cooldown.throttled(40.0, None) == 44.0
    assert cooldown.throttled(50.0, None) == 54.0  # capped
    cooldown.succeeded()
    assert cooldown.throttled(60.0, None) == 61.0  # starts small again


def test_running_tasks_keep_the_fast_finishers_from_passing_for_typical() -> None:
    learner = DurationLearner(early_share=0.05, margin=1.0)
    for seconds in (10.0, 11.0, 12.0):  # the three fastest of a batch of 20
        learner.observe(ROUTE, "m", seconds)
    naive = _estimate(learner)
    assert naive is not None and naive.median == 11.0  # "typical" = 11 s: wrong
    censored = _estimate(learner, running=[12.5] * 17)  # 17 still running at 12.5 s
    assert censored is not None
    assert censored.early == 10.0  # the early quantile is known
    assert censored.median is None and censored.late is None  # the median is not
    # Spaced for a task at least as long as its age (12.5 s), not for an 11 s "median".
    assert PollPolicy(target_delay=0.1).learned_wait(censored, age=12.5) == pytest.approx(1.25)
    settled = _estimate(learner, running=[])
    assert settled is not None and settled.median == naive.median


def _learned(durations: list[float]) -> DurationEstimate:
    learner = DurationLearner()
    for seconds in durations:
        learner.observe(TaskRoute.DASHSCOPE_TASKS, "wan", seconds)
    group = learner.group_for(TaskRoute.DASHSCOPE_TASKS, "wan", None)
    assert group is not None
    estimate = learner.estimate(group)
    assert estimate is not None
    return estimate


def test_the_earliest_finish_is_evidenced_only_as_far_as_many_tasks_were_seen() -> None:
    # One scout of 32 ended at 8.84 s; two were seen running past it, the other 29 were last
    # seen at 4.7 s. The earliest likely finish reads 8.6 s off the first two alone; only to
    # 4.7 s did 30 tasks show that none of them ended.
    learner = DurationLearner()
    learner.observe(ROUTE, "m", 8.84)
    thin = _estimate(learner, running=[4.7] * 29 + [9.1, 9.2])
    assert thin is not None
    assert thin.early == pytest.approx(8.84 * 0.97)
    assert thin.outlived_to == pytest.approx(4.7)
    evidenced = thin.evidenced()
    assert evidenced.early == pytest.approx(4.7)
    assert evidenced.fastest is not None and evidenced.fastest <= 4.7
    # Seen through by 30 tasks, the reading stands as it is.
    seen = _estimate(learner, running=[9.1] * 30)
    assert seen is not None and seen.evidenced() is seen
    # A memory's durations speak for the low quantiles: nothing to cap.
    remembered = DurationLearner()
    remembered.restore(learner.export())
    from_memory = _estimate(remembered, running=[4.7] * 29)
    assert from_memory is not None and from_memory.outlived_to is None


def test_the_fastest_is_what_one_in_a_hundred_beat() -> None:
    learner = DurationLearner()
    for seconds in range(1, 201):
        learner.observe(ROUTE, "m", float(seconds))
    estimate = learner.estimate(learner.group_for(ROUTE, "m", None))
    assert estimate is not None
    assert estimate.fastest == pytest.approx(2.0 * 0.97)  # the second of 200, less the margin
    assert estimate.early == pytest.approx(8.0 * 0.97)  # 4 in 100
    few = DurationLearner()
    for seconds in (100.0, 120.0, 110.0):
        few.observe(ROUTE, "m", seconds)
    estimate = few.estimate(few.group_for(ROUTE, "m", None))
    assert estimate is not None
    assert estimate.fastest == estimate.early == pytest.approx(97.0)  # the fastest seen


def test_a_gap_between_two_modes_is_quiet_and_a_thinning_tail_is_not() -> None:
    rng = random.Random(4)
    two_modes = [rng.uniform(8, 10) for _ in range(130)] + [rng.uniform(32, 40) for _ in range(70)]
    estimate = _learned(two_modes)
    quiet = estimate.quiet_stretch(11.0)
    assert quiet is not None and 20 < quiet < 21.5
    assert estimate.quiet_stretch(33.0) is None  # inside a mode
    # A heavy tail thins out: its widening gaps are where finishes grow rare, not a gap
    # between modes, and are polled at the target's spacing (no stretch is quiet).
    tail = [min(160.0, 8.0 * rng.paretovariate(1.5)) for _ in range(500)]
    tailed = _learned(tail)
    assert all(tailed.quiet_stretch(age) is None for age in range(8, 160))
    # Too few learned tasks outlived the age: an empty stretch says nothing yet.
    few = _learned(
        [rng.uniform(8, 10) for _ in range(180)] + [rng.uniform(32, 40) for _ in range(20)]
    )
    assert few.quiet_stretch(11.0) is None


def test_a_query_due_in_a_quiet_stretch_is_moved_to_where_the_mode_before_it_ends() -> None:
    rng = random.Random(6)
    fast = [rng.uniform(8, 10) for _ in range(130)]
    estimate = _learned(fast + [rng.uniform(32, 40) for _ in range(70)])
    longest, tenth_last = sorted(fast)[-1], sorted(fast)[-11]
    # Due in the gap: moved to just past the fast mode's longest finish, by as long as its
    # last ten took (a sample's longest falls short of its mode's end).
    found = estimate.cluster_end(9.5, 11.0)
    assert found is not None
    end, quiet = found
    assert end == pytest.approx(2 * longest - tenth_last)
    assert longest < end < longest + 0.5 and 20 < quiet < 22.5
    # Due inside a mode, past the gap, or for a task already past the mode: not moved.
    assert estimate.cluster_end(8.5, 9.0) is None
    assert estimate.cluster_end(9.5, 33.0) is None
    assert estimate.cluster_end(10.5, 12.0) is None
    # Durations in whole seconds: ten equal ones give no margin to read, so none is moved.
    whole = _learned([9.0] * 130 + [float(rng.randint(32, 40)) for _ in range(70)])
    assert whole.cluster_end(8.5, 11.0) is None


def test_a_cold_batch_is_quiet_past_every_finish_only_where_dozens_were_seen_running() -> None:
    rng = random.Random(5)
    learner = DurationLearner()
    for _ in range(200):
        learner.observe(TaskRoute.DASHSCOPE_TASKS, "wan", rng.uniform(8, 10))
    group = learner.group_for(TaskRoute.DASHSCOPE_TASKS, "wan", None)
    assert group is not None

    def quiet(running: list[float], age: float = 15.0) -> float | None:
        estimate = learner.estimate(group, running)
        assert estimate is not None
        return estimate.quiet_past_every_finish(age)

    # A hundred tasks last seen at 15 s, none ended past 10 s: quiet for about 5 s so far.
    found = quiet([15.0] * 100)
    assert found is not None and 4.9 < found < 7.1
    # A task younger than every learned finish is spoken for by them, quiet or not (a
    # web app's fresh task beside dozens stuck for minutes).
    assert quiet([300.0] * 40, age=9.0) is None
    # Seen only just past the last finish: their ends may not be known yet; no quiet.
    assert quiet([10.05] * 100, age=10.05) is None
    # Too few seen running past it: an empty stretch says nothing yet.
    assert quiet([15.0] * 29 + [9.0] * 71) is None


def test_the_chance_of_ending_soon_is_read_off_the_durations_past_an_age() -> None:
    rng = random.Random(8)
    # Uniform over 6-36 s: the hazard is 1 / (36 - age), rising as the end nears.
    uniform = _learned([rng.uniform(6, 36) for _ in range(400)])
    early, late = uniform.ending_rate(10.0), uniform.ending_rate(30.0)
    assert early is not None and late is not None
    assert early == pytest.approx(1 / 26, rel=0.35) and late == pytest.approx(1 / 6, rel=0.35)
    # A Pareto (alpha 1.5) past 8 s: alpha / age, falling; past the last twenty durations,
    # read from all that are left, and none past the longest.
    pareto = _learned([8 * rng.paretovariate(1.5) for _ in range(400)])
    assert pareto.ending_rate(10.0) == pytest.approx(1.5 / 10, rel=0.35)
    assert pareto.ending_rate(40.0) == pytest.approx(1.5 / 40, rel=0.5)
    assert pareto.ending_rate(pareto.complete[-5]) is not None
    assert pareto.ending_rate(pareto.complete[-1]) is None
    # A typical task's: the middle of the rates read at 30-70% of the durations, near the
    # median's on a Pareto; on two modes the fast one's, not the slow one's past the gap.
    assert pareto.typical_rate == pytest.approx(1.5 / (pareto.median or 0.0), rel=0.35)
    modes = _learned(
        [rng.uniform(8, 10) for _ in range(200)] + [rng.uniform(32, 40) for _ in range(100)]
    )
    fast, slow = modes.ending_rate(8.5), modes.ending_rate(33.0)
    assert fast is not None and slow is not None and modes.typical_rate is not None
    assert modes.typical_rate > 2 * slow and modes.typical_rate == pytest.approx(fast, rel=0.5)


def test_tasks_still_running_past_an_age_count_in_its_chance_of_ending_soon() -> None:
    # 400 tasks of 6-36 s seen at 24 s: those that ended, and the rest still running at 24 s.
    # The finishes alone (6-24 s) say a task of 10 s ends within 14 s; counted with the tasks
    # still running, at 1 / 26 a second, as the whole spread does.
    rng = random.Random(10)
    durations = [rng.uniform(6, 36) for _ in range(400)]
    learner = DurationLearner()
    for seconds in durations:
        if seconds < 24:
            learner.observe(TaskRoute.DASHSCOPE_TASKS, "wan", seconds)
    group = learner.group_for(TaskRoute.DASHSCOPE_TASKS, "wan", None)
    assert group is not None
    seen = learner.estimate(group, [24.0] * sum(1 for d in durations if d >= 24))
    finished_only = learner.estimate(group)
    assert seen is not None and finished_only is not None and seen.median is not None
    early, alone = seen.ending_rate(10.0), finished_only.ending_rate(10.0)
    assert early is not None and alone is not None
    assert early == pytest.approx(1 / 26, rel=0.35) and alone > 1.5 * early
    # Past the last window, the few finishes left over the seconds that every task at risk
    # ran past the age, the running ones' included: 1 / 13 a second at 23 s.
    assert seen.ending_rate(23.0) == pytest.approx(1 / 13, rel=0.5)
    # A typical task's, read off the same: the finishes alone say twice as soon or more.
    assert seen.typical_rate == pytest.approx(1 / 17, rel=0.35)
    assert (finished_only.typical_rate or 0.0) > 1.5 * seen.typical_rate


def test_a_learned_spacing_follows_the_chance_of_ending_within_the_promise() -> None:
    rng = random.Random(9)
    policy = PollPolicy(target_delay=0.1)
    pareto = _learned([8 * rng.paretovariate(1.5) for _ in range(400)])
    assert pareto.median is not None
    tenth = 0.1 * pareto.median
    # Near the floor, where most tasks end, queries come closer than the median's tenth, but
    # never under half of it; past the median, wider, but never wider than a tenth of the
    # task's own age (what the knob promises its own run).
    assert 0.5 * tenth <= policy.target_spacing(pareto, 8.5) < 0.9 * tenth
    assert 1.5 * tenth < policy.target_spacing(pareto, 4 * pareto.median) <= 0.4 * pareto.median
    # Uniform: a task younger than the median, where few end, is not spaced wider than the
    # median's tenth (its own run is the shorter); one near the end, where many do, closer.
    uniform = _learned([rng.uniform(6, 36) for _ in range(400)])
    assert uniform.median is not None
    assert policy.target_spacing(uniform, 8.0) == pytest.approx(0.1 * uniform.median)
    assert policy.target_spacing(uniform, 33.0) < 0.7 * 0.1 * uniform.median
    # Just before a spike of finishes (a third of tasks cut off at 20 s, a provider's limit),
    # the chance of ending soon is near certain: half the tenth, not a query a moment apart.
    spiked = _learned([rng.uniform(6, 20) for _ in range(260)] + [20.0] * 140)
    assert spiked.median is not None
    assert policy.target_spacing(spiked, 19.9) == pytest.approx(0.05 * spiked.median)
    # Past the median, where a slow mode spreads thin after a dense fast one, the root of the
    # ratio asks for more than ten times the tenth: a tenth of the task's own age bounds it.
    modes = _learned(
        [rng.uniform(9, 10) for _ in range(240)] + [rng.uniform(12, 200) for _ in range(160)]
    )
    assert modes.median is not None and modes.median < 12
    assert policy.target_spacing(modes, 12.5) == pytest.approx(1.25)
    # In seconds, the spacing is the one asked for, wherever tasks end.
    assert attrs.evolve(policy, target_delay_seconds=2.0).target_spacing(pareto, 8.5) == 2.0


def _seen_at(
    durations: list[float], age: float, last_seen: float | None = None
) -> DurationEstimate:
    """A batch created at once, seen at ``age``: its finishes so far, and the rest still
    running, each last seen at ``last_seen`` (default: ``age``)."""
    seen = age if last_seen is None else last_seen
    learner = DurationLearner()
    for seconds in durations:
        if seconds < seen:
            learner.observe(TaskRoute.DASHSCOPE_TASKS, "wan", seconds)
    group = learner.group_for(TaskRoute.DASHSCOPE_TASKS, "wan", None)
    assert group is not None
    estimate = learner.estimate(group, [seen] * sum(1 for d in durations if d >= seen))
    assert estimate is not None
    return estimate


def test_before_the_median_is_known_a_task_is_spaced_wider_where_few_of_its_age_end() -> None:
    rng = random.Random(11)
    policy = PollPolicy(target_delay=0.1)
    spread = [rng.uniform(6, 36) for _ in range(400)]
    # Seen at 15 s, three in ten ended: tasks of 15 s end at about 1 / 25 a second, not one
    # in 15, and such a task is asked every tenth of the root of 15 x 25 s, at most a quarter
    # wider than a tenth of its age: every 1.875 s, not every 1.5 s.
    seen = _seen_at(spread, 15.0)
    assert seen.median is None
    assert policy.target_spacing(seen, 15.0) == pytest.approx(1.25 * 1.5)
    # The tasks last seen at 13 s: the two seconds since are not taken as two without a
    # finish (tasks of 13 s end at about 1 / 17 a second: a tenth of the root of 15 x 17).
    stale = _seen_at(spread, 15.0, last_seen=13.0)
    assert 1.5 <= policy.target_spacing(stale, 15.0) < 1.75
    # Where tasks of its age end fast (just past a floor most clear at once), no closer than a
    # tenth of the age: the median, not known yet, is no sooner than that.
    floor = _seen_at([rng.uniform(9, 11) for _ in range(400)], 9.5)
    assert floor.median is None
    assert policy.target_spacing(floor, 9.5) == pytest.approx(0.95)
    # Where none have ended for a while (between two modes), still at most a quarter wider.
    modes = [rng.uniform(6, 8) for _ in range(150)] + [rng.uniform(30, 40) for _ in range(250)]
    quiet = _seen_at(modes, 15.0)
    assert quiet.median is None
    assert policy.target_spacing(quiet, 15.0) == pytest.approx(1.25 * 1.5)


def test_a_task_no_learned_duration_outlasts_is_asked_as_often_as_those_just_younger_end() -> None:
    rng = random.Random(12)
    policy = PollPolicy(target_delay=0.1)
    # 6-36 s seen at 30 s: no finish past 30 s yet, but those just before it ended faster
    # than a typical task (1 / 9 a second against 1 / 12): asked more often than the tenth.
    seen = _seen_at([rng.uniform(6, 36) for _ in range(400)], 30.0)
    assert seen.median is not None and seen.ending_rate(30.0) is None
    assert policy.target_spacing(seen, 30.0) < 0.9 * 0.1 * seen.median
    # Two modes seen just as the slow one begins: its few finishes and the fast mode's before
    # the gap say tasks end slowly, and that alone never spaces a task wider.
    modes = [rng.uniform(8, 10) for _ in range(240)] + [rng.uniform(32, 40) for _ in range(160)]
    starting = _seen_at(modes, 32.5)
    assert starting.median is not None
    assert policy.target_spacing(starting, 32.5) == pytest.approx(0.1 * starting.median)
