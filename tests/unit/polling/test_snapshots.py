"""What the scheduling core keeps of a task's answers, on a fake clock: an answer that tells
anything new becomes the task's snapshot; one that only repeats the last (every answer has its
own request id) leaves the last snapshot in place, so the answer's objects die young instead of
reaching the garbage collector's oldest generation."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime
from typing import Any

import attrs
import pytest

from anyint_async import PollPolicy, Task, TaskRoute, TaskStatus
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
        assert snapshot is settled.task
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
    assert kept[1] is first and kept[2] is first
    assert kept[2].request_id == "r1"


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
    assert kept[1] is second
