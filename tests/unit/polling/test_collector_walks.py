"""What the scheduler keeps by the query rate and by the durations learned is numbers a full
garbage collection does not follow: a list or deque holding them is a reference each, every
collection, and a full collection holds the event loop for as long as it walks."""

from __future__ import annotations

import gc
import random

from anyint_async import TaskRoute
from anyint_async.polling import DurationLearner
from anyint_async.polling.budget import QueryBudget

ROUTE = TaskRoute.DASHSCOPE_TASKS


def _references_walked() -> int:
    """The references a full collection follows: those every tracked object holds."""
    return sum(len(gc.get_referents(held)) for held in gc.get_objects())


def _settled() -> int:
    for _ in range(3):
        gc.collect()
    return _references_walked()


def test_the_answers_a_budget_remembers_are_not_walked() -> None:
    budget = QueryBudget(20.0, provider="dashscope")
    budget.answered(0.0)
    before = _settled()
    # 5,000 answers within the seconds a budget remembers them (to measure a refusal by).
    for i in range(1, 5_001):
        budget.answered(i * 0.001)
    walked = (_settled() - before) / 5_000
    # Held in a deque of floats, a full collection followed 1.0 reference an answer.
    assert walked < 0.01, f"{walked:.3f} references walked per answer remembered"


def test_learned_durations_and_an_estimates_sums_are_not_walked() -> None:
    learner = DurationLearner()
    rng = random.Random(3)
    learner.observe(ROUTE, "wan", 30.0, run_seconds=28.0)
    before = _settled()
    for _ in range(4_000):
        seconds = rng.uniform(15.0, 90.0)
        learner.observe(ROUTE, "wan", seconds, run_seconds=seconds - 2.0)
    group = learner.group_for(ROUTE, "wan", None)
    assert group is not None
    estimate = learner.estimate(group, running=[rng.uniform(0.0, 60.0) for _ in range(2_000)])
    assert estimate is not None
    assert estimate.ending_rate(40.0) is not None  # what builds its running sums
    walked = (_settled() - before) / 4_000
    # In lists, the durations (on both clocks) and the estimate's sums read 3.5 here.
    assert walked < 0.05, f"{walked:.3f} references walked per duration learned"
    assert learner.samples(ROUTE, "wan", None) == 4_001
