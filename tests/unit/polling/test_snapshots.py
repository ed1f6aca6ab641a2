"""What the scheduling core keeps of a task's answers, on a fake clock: an answer that tells
anything new becomes the task's snapshot; one that only repeats the last (every answer has its
own request id) leaves the last snapshot in place, so the answer's objects die young instead of
reaching the garbage collector's oldest generation. And how a snapshot is held meanwhile: as
plain values the collector stops walking, from which an equal ``Task`` is made again."""

from __future__ import annotations

import gc
import math
import random
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from anyint_async import PollPolicy, Task, TaskError, TaskRoute, TaskStatus, TaskUsage
from anyint_async.polling import snapshots
from anyint_async.polling.schedule import PollSchedule, task_key

POLICY = PollPolicy(first_poll=5.0, interval=5.0, max_interval=5.0, jitter=0.0, learn=False)
ROUTE = TaskRoute.DASHSCOPE_TASKS


def _core() -> PollSchedule:
    return PollSchedule(
        policy_for=lambda route: POLICY,
        rng=random.Random(0),
        max_in_flight=8,
        rate_limits={"dashscope": math.inf, "kling": math.inf},
    )


def _answer(request_id: str, **output: Any) -> Task:
    body = {
        "request_id": request_id,
        "output": {"task_id": "t1", "task_status": "RUNNING", **output},
    }
    return Task(id="t1", status=TaskStatus.RUNNING, route=ROUTE, request_id=request_id, raw=body)


def _answered(core: PollSchedule, answers: list[Task]) -> list[Task]:
    """Each answer settled in turn, as the shell does; the snapshot after each."""
    core.track(Task(id="t1", status=TaskStatus.PENDING, route=ROUTE), 0.0)
    now, kept = 0.0, []
    for answer in answers:
        now = core.next_wake(now) or now
        assert core.pop_due(now) is not None
        settled = core.settle(answer, now)
        assert settled is not None
        snapshot = core.snapshot(task_key(answer))
        assert snapshot is not None
        kept.append(snapshot)
    return kept


def test_an_answer_that_repeats_the_last_keeps_its_snapshot() -> None:
    first = _answer("r1", submit_time="2026-12-05 10:00:00.000")
    kept = _answered(
        _core(),
        [
            first,
            _answer("r2", submit_time="2026-12-05 10:00:00.000"),
            _answer("r3", submit_time="2026-12-05 10:00:00.000"),
        ],
    )
    assert kept[1] == first and kept[2] == first
    assert kept[2].raw == first.raw
    assert kept[2].request_id == "r1" and kept[2].raw["request_id"] == "r1"


@pytest.mark.parametrize(
    "changed",
    [
        pytest.param(lambda t: _answer("r2", task_metrics={"SUCCEEDED": 1}), id="body"),
        pytest.param(lambda t: _answer("r2", submit_time="x", end_time="x"), id="a key more"),
        pytest.param(
            lambda t: attrs.evolve(t, request_id="r2", raw={"request_id": "r2"}), id="a key less"
        ),
        pytest.param(lambda t: _answer("r2", submit_time="y"), id="a value"),
        pytest.param(
            lambda t: attrs.evolve(
                t, request_id="r2", started_at=datetime(2026, 12, 5, tzinfo=UTC)
            ),
            id="a field, the body the same",
        ),
        pytest.param(lambda t: attrs.evolve(t, status=TaskStatus.PENDING), id="the status"),
    ],
)
def test_an_answer_that_tells_anything_new_becomes_the_snapshot(changed: Any) -> None:
    first = _answer("r1", submit_time="x")
    second = changed(first)
    kept = _answered(_core(), [first, second])
    assert kept[1] == second and kept[1].raw == second.raw


def _full() -> Task:
    """A task with every field set to something other than its default."""
    when = datetime(2026, 12, 5, 10, 0, tzinfo=UTC)
    return Task(
        id="t1",
        status=TaskStatus.SUCCEEDED,
        route=TaskRoute.KLING_OMNI_VIDEO,
        model="kling-v3-omni",
        urls=("https://cdn.example/a.mp4",),
        error=TaskError(code="c", message="m"),
        request_id="r1",
        external_id="mine-1",
        workload="duration=10",
        callback=True,
        created_at=when,
        started_at=when,
        updated_at=when,
        finished_at=when,
        usage=TaskUsage(duration=10.0, video_count=1),
        actual_prompt="一只猫",
        # Keys out of alphabetical order, a nested list, a float, text JSON would escape.
        raw={"data": {"task_id": "t1", "videos": [{"url": "u", "s": 1.5}]}, "code": 0, "p": "猫"},
    )


def test_the_packed_fields_are_every_field_of_a_task() -> None:
    assert set(snapshots.FIELDS) == {field.name for field in attrs.fields(Task)}
    positions = {
        "request_id": snapshots._COMPARED,
        "created_at": snapshots._CREATED_AT,
        "started_at": snapshots._STARTED_AT,
        "raw": snapshots._RAW,
        "status": snapshots._STATUS,
        "route": snapshots._ROUTE,
        "model": snapshots._MODEL,
        "workload": snapshots._WORKLOAD,
        "callback": snapshots._CALLBACK,
    }
    assert {name: snapshots.FIELDS[at] for name, at in positions.items()} == {
        name: name for name in positions
    }


def test_a_task_unpacked_is_the_task_packed_field_by_field_and_body_key_by_key() -> None:
    task = _full()
    again = snapshots.unpack(snapshots.pack(task))
    assert again == task
    assert snapshots.scheduled_fields(snapshots.pack(task)) == (
        task.status.value,
        task.route.value,
        task.model,
        task.workload,
        task.callback,
    )
    for name in snapshots.FIELDS:
        assert getattr(again, name) == getattr(task, name), name
    assert list(again.raw) == list(task.raw)  # the body's order, as the gateway sent it
    assert snapshots.unpack(snapshots.pack(task), with_raw=False).raw == {}


def test_a_running_tasks_packed_snapshot_is_left_for_the_collector_to_skip() -> None:
    running = _answer("r1", submit_time="2026-12-05 10:00:00.000")
    packed = snapshots.pack(attrs.evolve(running, created_at=datetime(2026, 12, 5, tzinfo=UTC)))
    gc.collect()
    assert gc.is_tracked(running.raw)  # what the Task held would be walked at every collection
    assert not gc.is_tracked(packed)


@pytest.mark.parametrize(
    "raw",
    [
        pytest.param({1: "a key that is not text"}, id="int key"),
        pytest.param({"t": ("a", "tuple")}, id="tuple"),
        pytest.param({"s": {"a", "set"}}, id="set"),
    ],
)
def test_a_body_json_cannot_carry_is_kept_as_given(raw: Any) -> None:
    task = Task(id="t1", status=TaskStatus.RUNNING, route=ROUTE, raw=raw)
    packed = snapshots.pack(task)
    assert snapshots.unpack(packed).raw is raw
    assert snapshots.repeats(packed, attrs.evolve(task, request_id="r9"))
    assert not snapshots.repeats(packed, attrs.evolve(task, raw={**raw, "more": 1}))


def test_a_body_with_nan_is_kept_as_given() -> None:
    # JSON reads NaN back, but as a float unequal to itself: the round trip cannot show it
    # came back the same.
    raw = {"n": math.nan}
    packed = snapshots.pack(Task(id="t1", status=TaskStatus.RUNNING, route=ROUTE, raw=raw))
    assert snapshots.unpack(packed).raw is raw


def test_a_body_that_gains_or_loses_its_request_id_is_news() -> None:
    with_receipt = _answer("r1", submit_time="x")
    without = attrs.evolve(with_receipt, raw={"output": with_receipt.raw["output"]})
    assert not snapshots.repeats(snapshots.pack(with_receipt), without)
    assert not snapshots.repeats(snapshots.pack(without), with_receipt)
    assert snapshots.repeats(snapshots.pack(without), attrs.evolve(without, request_id="r2"))
