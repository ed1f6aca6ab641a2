"""Poll policies, duration learning and the shared cool-down, pulled without sleeping."""

from __future__ import annotations

import random

import pytest

from anyint_async import (
    DurationLearner,
    InvalidParameterError,
    PollPolicy,
    RateLimitCooldown,
    TaskRoute,
)
from anyint_async.polling import DEFAULT_POLICIES

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


def test_learner_needs_samples_then_suggests_early_first_poll() -> None:
    learner = DurationLearner(min_samples=3, early_quantile=0.0, margin=0.9, interval_fraction=0.1)
    learner.observe(ROUTE, "m", 200.0)
    learner.observe(ROUTE, "m", 300.0)
    assert learner.timing(ROUTE, "m") is None
    learner.observe(ROUTE, "m", 250.0)
    timing = learner.timing(ROUTE, "m")
    assert timing is not None
    assert timing.first_poll == pytest.approx(180.0)  # 0.9 x the fastest
    assert timing.median == 250.0
    assert timing.wait(age=200.0) == pytest.approx(25.0)  # 0.1 x the median
    assert timing.wait(age=400.0) == pytest.approx(40.0)  # 0.1 x the age, past the median
    assert learner.timing(ROUTE, "other") is None
    assert learner.timing(TaskRoute.KLING_IMAGES, "m") is None  # per route family too


def test_learner_forgets_old_samples() -> None:
    learner = DurationLearner(min_samples=1, max_samples=3, early_quantile=0.0, margin=1.0)
    for seconds in (10.0, 100.0, 100.0, 100.0):
        learner.observe(ROUTE, "m", seconds)
    timing = learner.timing(ROUTE, "m")
    assert timing is not None and timing.first_poll == 100.0
    assert learner.samples(ROUTE, "m") == 3


def test_learner_ignores_unusable_samples() -> None:
    learner = DurationLearner(min_samples=1)
    learner.observe(ROUTE, None, 10.0)
    learner.observe(ROUTE, "m", 0.0)
    assert learner.samples(ROUTE, "m") == 0


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
    learner = DurationLearner(min_samples=3, early_quantile=0.05, margin=1.0, interval_fraction=0.1)
    for seconds in (10.0, 11.0, 12.0):  # the three fastest of a batch of 20
        learner.observe(ROUTE, "m", seconds)
    naive = learner.timing(ROUTE, "m")
    assert naive is not None and naive.median == 11.0  # "typical" = 11 s: wrong
    censored = learner.timing(ROUTE, "m", running=[12.5] * 17)  # 17 still running at 12.5 s
    assert censored is not None
    assert censored.first_poll == 10.0  # the early quantile is known
    assert censored.median is None  # the median is not
    assert censored.wait(age=12.5) == pytest.approx(0.25 * 12.5)  # so waits follow the age
    settled = learner.timing(ROUTE, "m", running=[])
    assert settled is not None and settled.median == naive.median
