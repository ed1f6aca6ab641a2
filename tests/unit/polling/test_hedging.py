"""The hedging rule on its own: when an unanswered task query is asked again, from the answer
times a provider has shown, and how many hedges the budget allows."""

from __future__ import annotations

import random

import pytest

from anyint_async import HedgePolicy, InvalidParameterError
from anyint_async.polling.hedging import Hedging

POLICY = HedgePolicy()


def _answers(hedging: Hedging, seconds: list[float], provider: str = "dashscope") -> None:
    for value in seconds:
        hedging.answered(provider, value)


def test_a_fast_provider_is_hedged_at_the_floor_and_no_sooner() -> None:
    hedging = Hedging(POLICY)
    rng = random.Random(1)
    _answers(hedging, [rng.uniform(0.005, 0.05) for _ in range(500)])
    assert hedging.delay("dashscope") == POLICY.floor


def test_a_slow_but_alive_provider_raises_its_own_delay_past_its_answers() -> None:
    hedging = Hedging(POLICY)
    rng = random.Random(2)
    _answers(hedging, [rng.uniform(0.005, 0.05) for _ in range(500)])
    # Every answer now takes about 3 s: within a few percent of the window the learned p99
    # says so, and no query is hedged for being as slow as the others.
    slow = [rng.uniform(2.5, 3.0) for _ in range(20)]
    _answers(hedging, slow)
    assert hedging.delay("dashscope") > max(slow)
    # ...but a query stuck far past that is still hedged within the margin of the p99.
    assert hedging.delay("dashscope") <= max(slow) + POLICY.margin


def test_providers_learn_apart() -> None:
    hedging = Hedging(POLICY)
    _answers(hedging, [3.0] * 100, provider="kling")
    _answers(hedging, [0.02] * 100, provider="dashscope")
    assert hedging.delay("dashscope") == POLICY.floor
    assert hedging.delay("kling") == pytest.approx(3.0 + POLICY.margin)


def test_before_enough_answers_the_initial_delay_or_what_the_slowest_calls_for() -> None:
    hedging = Hedging(POLICY)
    assert hedging.delay("kling") == POLICY.initial
    _answers(hedging, [0.01] * 5, provider="kling")
    assert hedging.delay("kling") == POLICY.initial
    _answers(hedging, [4.0], provider="kling")
    assert hedging.delay("kling") == pytest.approx(4.0 + POLICY.margin)


def test_hedges_stay_a_small_share_of_queries_whatever_happens() -> None:
    # A provider where every query would be hedged (all stuck): the budget holds hedges to
    # the burst plus max_share of the answers.
    hedging = Hedging(POLICY)
    hedges = 0
    for _ in range(1000):
        if hedging.may_hedge("dashscope"):
            hedging.hedged("dashscope")
            hedges += 1
        hedging.answered("dashscope", 0.02)
    assert hedges <= POLICY.burst + POLICY.max_share * 1000 + 1
    assert hedges >= POLICY.max_share * 1000  # and the budget does refill


@pytest.mark.parametrize(
    ("field", "value"),
    [("multiple", 0), ("floor", -1.0), ("margin", "2"), ("max_share", 1.5), ("per_query", -1)],
)
def test_a_bad_setting_names_its_field(field: str, value: object) -> None:
    with pytest.raises(InvalidParameterError, match=field):
        HedgePolicy(**{field: value})  # type: ignore[arg-type]
