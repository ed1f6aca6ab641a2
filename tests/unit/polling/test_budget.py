"""The query budget per provider on a fake clock, against a provider that refuses queries past
N in any one second (what the simulated gateway's ``query_rate_limit`` enforces)."""

from __future__ import annotations

import heapq
import math
from collections import deque

from anyint_async.polling.budget import QueryBudget

LATENCY = 0.03  # seconds from send to answer


def _drive(
    budget: QueryBudget, limits: list[tuple[float, float]], seconds: float, in_flight: int = 32
) -> tuple[list[float], list[float]]:
    """Keep ``in_flight`` queries going as fast as the budget allows for ``seconds``.

    ``limits``: (from time, queries per second) steps of the provider's limit. Returns the
    times of accepted and refused queries.
    """
    now = 0.0
    window: deque[float] = deque()
    accepted: list[float] = []
    refused: list[float] = []
    answers: list[tuple[float, bool]] = []
    flying = 0
    for _ in range(1_000_000):  # bounded
        if now >= seconds:
            break
        limit = [rate for start, rate in limits if start <= now][-1]
        ready = budget.ready_at(now) if flying < in_flight else math.inf
        upcoming = answers[0][0] if answers else math.inf
        if ready <= upcoming:
            now = ready
            budget.spend(now)
            flying += 1
            while window and window[0] <= now - 1.0:
                window.popleft()
            ok = len(window) < limit
            if ok:
                window.append(now)
            heapq.heappush(answers, (now + LATENCY, ok))
        else:
            now, ok = heapq.heappop(answers)
            flying -= 1
            if ok:
                accepted.append(now)
                budget.answered(now)
            else:
                refused.append(now)
                budget.refused(now, 1.0)
    return accepted, refused


def _share(refused: list[float], accepted: list[float], after: float) -> float:
    late_refused = sum(1 for t in refused if t > after)
    late_accepted = sum(1 for t in accepted if t > after)
    return late_refused / max(1, late_refused + late_accepted)


def test_a_known_limit_is_used_from_the_first_query_and_never_exceeded() -> None:
    budget = QueryBudget(limit=20.0)
    accepted, refused = _drive(budget, [(0.0, 20.0)], seconds=30.0)
    assert not refused
    assert len(accepted) >= 0.9 * 20 * 30  # and the limit is used, not wasted


def test_an_unknown_limit_is_found_within_seconds_with_few_refusals_after() -> None:
    for limit in (8.0, 10.0):
        budget = QueryBudget(limit=None)
        accepted, refused = _drive(budget, [(0.0, limit)], seconds=120.0)
        assert budget.rate < 1.2 * limit
        assert _share(refused, accepted, after=5.0) <= 0.05
        assert sum(1 for t in accepted if t > 5.0) >= 0.85 * limit * 115


def test_a_limit_that_rises_is_used() -> None:
    budget = QueryBudget(limit=None)
    accepted, _ = _drive(budget, [(0.0, 10.0), (30.0, 20.0)], seconds=120.0)
    assert sum(1 for t in accepted if t > 100.0) >= 15 * 20  # well past the old 10 a second


def test_an_unknown_limit_starts_slow_instead_of_bursting() -> None:
    budget = QueryBudget(limit=None)
    accepted, refused = _drive(budget, [(0.0, 1000.0)], seconds=1.0)
    assert not refused and len(accepted) <= 6  # 5 a second at first
    accepted, refused = _drive(QueryBudget(limit=None), [(0.0, 1000.0)], seconds=8.0)
    assert len([t for t in accepted if t > 7.0]) >= 200  # doubling each second


def test_no_limit_means_no_pacing_and_a_refusal_only_pauses() -> None:
    budget = QueryBudget(limit=math.inf)
    budget.spend(0.0)
    assert budget.ready_at(0.0) == 0.0
    budget.refused(1.0, retry_after=2.0)
    assert budget.ready_at(1.0) == 3.0
    budget.answered(3.5)
    assert budget.ready_at(3.5) == 3.5 and math.isinf(budget.rate)


def test_rate_changes_are_reported() -> None:
    changes: list[tuple[str, float]] = []
    budget = QueryBudget(
        limit=None, provider="kling", on_change=lambda p, r: changes.append((p, r))
    )
    _drive(budget, [(0.0, 10.0)], seconds=20.0)
    assert changes and all(provider == "kling" for provider, _ in changes)
    rates = [rate for _, rate in changes]
    assert rates[0] == 10.0  # the slow start doubles 5 a second...
    assert min(rates) < 10.0  # ...until refused, then paces below what was accepted


def test_a_known_limit_shared_with_other_sessions_finds_its_share_and_climbs_back() -> None:
    """Other sessions on the account leave this one 6 queries a second for 30 s, then stop:
    without coordination, the session learns of either only from refusals."""
    budget = QueryBudget(limit=20.0)
    accepted, refused = _drive(budget, [(0.0, 6.0), (30.0, 20.0)], seconds=120.0)
    assert _share(refused, accepted, after=5.0) <= 0.05  # its share found within seconds
    assert sum(1 for t in accepted if 20.0 < t <= 30.0) >= 0.85 * 6 * 10
    assert sum(1 for t in accepted if t > 100.0) >= 15 * 20  # and the freed rate used again


def test_a_session_refused_at_its_first_query_still_finds_a_fair_share() -> None:
    """Joining an account whose limit other workers already use: the first queries are refused
    before any is accepted, which measures no share at all."""
    budget = QueryBudget(limit=20.0)
    accepted, _ = _drive(budget, [(0.0, 0.0), (0.2, 6.0)], seconds=40.0)
    assert sum(1 for t in accepted if 20.0 < t <= 40.0) >= 0.8 * 6 * 20
