"""Durations remembered between sessions: what the learner exports and takes back, and the file
a session reads and writes."""

from __future__ import annotations

import json
import logging
import random
from pathlib import Path

import pytest

from anyint_async import (
    DurationLearner,
    InvalidParameterError,
    PollPolicy,
    Task,
    TaskRoute,
    TaskStatus,
)
from anyint_async.polling.learning import REMEMBERED_PER_GROUP
from anyint_async.polling.memory import load_memory, save_memory
from anyint_async.polling.schedule import PollSchedule

ROUTE = TaskRoute.DASHSCOPE_TASKS
SHAPE = "duration=5 resolution=720P"


def _learned(count: int = 1000, seed: int = 1, scale: float = 1.0) -> DurationLearner:
    rng = random.Random(seed)
    learner = DurationLearner()
    for _ in range(count):
        seconds = rng.lognormvariate(4.0, 0.4) * scale
        learner.observe(ROUTE, "wan", seconds, workload=SHAPE, run_seconds=seconds * 0.8)
    return learner


def _quantiles(learner: DurationLearner) -> tuple[float, float | None, float | None]:
    group = learner.group_for(ROUTE, "wan", SHAPE)
    assert group is not None
    estimate = learner.estimate(group)
    assert estimate is not None
    return estimate.early, estimate.median, estimate.late


def test_a_restored_learner_estimates_what_the_exported_one_did() -> None:
    original = _learned()
    memory = original.export()
    assert all(len(g["seconds"]) <= REMEMBERED_PER_GROUP for g in memory["groups"])
    restored = DurationLearner()
    assert restored.restore(json.loads(json.dumps(memory))) == 2  # both clocks of one shape
    for was, now in zip(_quantiles(original), _quantiles(restored), strict=True):
        assert was is not None and now is not None
        assert now == pytest.approx(was, rel=0.05)
    assert restored.samples(ROUTE, "wan", SHAPE, clock="run") == REMEMBERED_PER_GROUP


def test_once_this_sessions_durations_tell_they_speak_alone() -> None:
    restored = DurationLearner()
    restored.restore(_learned().export())
    slower = _learned(count=REMEMBERED_PER_GROUP, seed=2, scale=2.0)  # the provider got slower
    rng = random.Random(2)
    for _ in range(REMEMBERED_PER_GROUP):
        restored.observe(ROUTE, "wan", rng.lognormvariate(4.0, 0.4) * 2.0, workload=SHAPE)
    assert _quantiles(restored) == _quantiles(slower)


def test_a_task_running_past_what_was_remembered_moves_the_estimate_at_once() -> None:
    restored = DurationLearner()
    restored.restore(_learned().export())  # median about 55 s, 99.5% about 150 s
    group = restored.group_for(ROUTE, "wan", SHAPE)
    assert group is not None
    remembered = restored.estimate(group)
    assert remembered is not None and remembered.median is not None
    # Nothing of this session has finished, and its tasks are 200 s old: slower than ever.
    now = restored.estimate(group, running=[200.0] * 50)
    assert now is not None and now.median is not None and now.late is not None
    assert remembered.median < 100 and now.median >= 200 and now.late >= 200
    assert now.early == remembered.early  # the earliest finish is not contradicted


def test_this_sessions_first_finishes_pull_the_early_quantile_down() -> None:
    restored = DurationLearner()
    restored.restore(_learned().export())
    group = restored.group_for(ROUTE, "wan", SHAPE)
    assert group is not None
    before = restored.estimate(group)
    restored.observe(ROUTE, "wan", 5.0, workload=SHAPE)  # faster than anything remembered
    after = restored.estimate(group, running=[5.0] * 99)
    assert before is not None and after is not None
    assert after.early == pytest.approx(5.0 * 0.97)
    assert after.early < before.early


@pytest.mark.parametrize("seed", range(10))
def test_before_half_a_batch_ends_its_median_comes_from_the_remembered_shape(seed: int) -> None:
    # Remembered: a provider that took about 55 s. Now it is 1.3x slower, and only the fastest
    # eighth of a new batch of 200 has finished.
    remembered = _learned(seed=seed)
    learner = DurationLearner()
    learner.restore(remembered.export())
    rng = random.Random(100 + seed)
    batch = sorted(rng.lognormvariate(4.0, 0.4) * 1.3 for _ in range(200))
    for seconds in batch[:25]:
        learner.observe(ROUTE, "wan", seconds, workload=SHAPE)
    estimate = learner.estimate((ROUTE, "wan", SHAPE), running=[batch[25]] * 175)
    assert estimate is not None and estimate.median is None  # the data cannot tell it yet
    # Read off the remembered shape, scaled by the fresh fastest tenth: within 12% of the
    # batch's median, where two fresh quantiles alone put it up to 40% off.
    assert estimate.median_guess == pytest.approx(batch[100], rel=0.12)


@pytest.mark.parametrize(
    "memory",
    [
        {},
        {"version": 99, "groups": []},
        {"version": 1, "groups": "no"},
        {"version": 1, "groups": 5},
        {"version": 1, "groups": [{"clock": "total", "route": "nowhere", "model": "m",
                                   "workload": "", "seconds": [1.0]}]},
        {"version": 1, "groups": [{"clock": "total", "route": "dashscope.tasks", "model": "m",
                                   "workload": "", "seconds": [1.0, -2.0]}]},
        {"version": 1, "groups": [{"clock": "wall", "route": "dashscope.tasks", "model": "m",
                                   "workload": "", "seconds": [1.0]}]},
        {"version": 1, "groups": [{"clock": "total", "route": "dashscope.tasks", "model": 3,
                                   "workload": "", "seconds": [1.0]}]},
        {"version": 1, "groups": [{"clock": "total", "route": "dashscope.tasks", "model": "m",
                                   "workload": "", "seconds": [True, "1"]}]},
    ],
)  # fmt: skip
def test_what_the_learner_cannot_read_is_left_out(memory: dict[str, object]) -> None:
    learner = DurationLearner()
    assert learner.restore(memory) == 0
    assert learner.samples(ROUTE, "m") == 0


def test_an_export_thinner_than_both_ends_is_refused() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        _learned(count=10).export(per_group=1)
    assert caught.value.field == "per_group"


def test_a_group_already_learned_keeps_its_own_durations() -> None:
    learner = DurationLearner()
    learner.observe(ROUTE, "wan", 500.0, workload=SHAPE)
    assert learner.restore(_learned().export()) == 1  # only the run clock was new
    assert learner.samples(ROUTE, "wan", SHAPE) == 1


def test_the_memory_file_round_trips_and_holds_only_durations(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "durations.json"
    save_memory(path, _learned())
    text = path.read_text()
    assert set(json.loads(text)) == {"version", "groups"}
    assert [p.name for p in path.parent.iterdir()] == ["durations.json"]  # no temporary left
    restored, direct = DurationLearner(), DurationLearner()
    assert load_memory(path, restored) == 2
    direct.restore(_learned().export())
    assert _quantiles(restored) == _quantiles(direct)


def test_a_missing_or_broken_file_is_a_fresh_start(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    learner = DurationLearner()
    assert load_memory(tmp_path / "absent.json", learner) == 0
    broken = tmp_path / "broken.json"
    broken.write_bytes(b"\xff{not json")
    with caplog.at_level(logging.WARNING, logger="anyint_async.polling"):
        assert load_memory(broken, learner) == 0
    assert "not JSON" in caplog.text
    assert learner.samples(ROUTE, "wan") == 0


def test_a_file_that_cannot_be_written_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    with caplog.at_level(logging.WARNING, logger="anyint_async.polling"):
        save_memory(blocker / "durations.json", _learned(count=10))
    assert "not written" in caplog.text


def test_the_durations_seen_in_this_session_are_counted_apart_from_remembered_ones() -> None:
    learner = DurationLearner()
    learner.restore(_learned().export())
    assert learner.samples(ROUTE, "wan") == REMEMBERED_PER_GROUP
    assert learner.samples(ROUTE, "wan", remembered=False) == 0
    learner.observe(ROUTE, "wan", 50.0, workload=SHAPE)
    assert learner.samples(ROUTE, "wan", remembered=False) == 1
    assert learner.samples(ROUTE, "wan", SHAPE, remembered=False) == 1


def _fastest(learner: DurationLearner) -> float:
    group = learner.group_for(ROUTE, "wan", SHAPE)
    assert group is not None
    estimate = learner.estimate(group)
    assert estimate is not None
    assert estimate.fastest is not None
    return estimate.fastest


def test_the_fastest_few_are_remembered_until_a_hundred_of_this_sessions_tell() -> None:
    # A delay in seconds asks a learned task first by its shape's fastest 1 in 100 finishes:
    # a warm session must know them before its own fastest have shown.
    original = _learned()
    restored = DurationLearner()
    restored.restore(original.export())
    remembered = _fastest(restored)
    assert remembered == pytest.approx(_fastest(original), rel=0.1)
    rng = random.Random(3)
    for _ in range(50):  # a few slower ones of this session do not lift it
        restored.observe(ROUTE, "wan", rng.lognormvariate(4.0, 0.4) * 2.0, workload=SHAPE)
    assert _fastest(restored) == pytest.approx(remembered)
    for _ in range(150):  # past a hundred, this session's speak alone
        restored.observe(ROUTE, "wan", rng.lognormvariate(4.0, 0.4) * 2.0, workload=SHAPE)
    assert _fastest(restored) > 1.5 * remembered


def test_durations_taken_mid_session_speak_for_the_next_task_at_once() -> None:
    """What another process learned arrives while tasks are tracked (coordination restores it
    into a running session): the next task of that kind is asked where such tasks end, not on
    the unlearned curve, even though nothing has finished here since."""
    learner = DurationLearner()
    schedule = PollSchedule(
        policy_for=lambda route: PollPolicy(jitter=0.0),
        rng=random.Random(1),
        max_in_flight=4,
        learner=learner,
    )
    schedule.track(Task(id="before", status=TaskStatus.PENDING, route=ROUTE, model="wan"), 0.0)
    unlearned = schedule.next_wake(0.0)
    assert unlearned is not None and unlearned < 20.0  # the curve's first query
    assert learner.restore(_learned().export()) == 2
    schedule.forget("dashscope.tasks before")
    schedule.track(Task(id="after", status=TaskStatus.PENDING, route=ROUTE, model="wan"), 0.0)
    learned = schedule.next_wake(0.0)
    assert learned is not None and learned > 25.0  # where 55 s tasks begin to end (~30 s)
