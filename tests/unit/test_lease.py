"""The sync side of a budget shared through Redis: what the scheduler's core is told."""

from __future__ import annotations

from anyint_async.coordination import Lease, account_id
from anyint_async.coordination.lease import GRACE, MAX_BATCH
from anyint_async.polling import QueryBudget


def _lease() -> tuple[Lease, list[str]]:
    asked: list[str] = []
    lease = Lease("dashscope", shared=True, on_want=asked.append)
    lease.active = True
    return lease, asked


def test_a_lease_not_shared_or_down_leaves_the_process_to_pace_alone() -> None:
    lease, asked = _lease()
    lease.stop()
    budget = QueryBudget(20.0)
    budget.shared = lease
    assert budget.ask(0.0) == 0.0 and asked == []
    unknown = Lease("kling", shared=False)
    unknown.active = True
    assert unknown.available_at(0.0) is None


def test_granted_send_times_pace_the_budget_and_an_empty_lease_asks_for_more() -> None:
    lease, asked = _lease()
    budget = QueryBudget(1000.0)
    budget.shared = lease
    assert budget.ask(5.0) > 5.0 and asked == ["dashscope"]  # nothing granted yet
    lease.grant(5.0, count=2, first=0.1, step=0.05)
    assert budget.ready_at(5.0) == 5.1  # the account's next free send, not this process's
    budget.spend(5.1)
    assert budget.ready_at(5.1) >= 5.15 - 1e-9
    budget.spend(5.15)
    assert budget.ready_at(5.15) > 5.15


def test_the_batch_grows_while_all_are_used_and_shrinks_when_some_are_missed() -> None:
    lease, _ = _lease()
    lease.grant(0.0, count=1, first=0.0, step=0.05)
    lease.take(0.0)
    assert lease.batch == 2
    lease.grant(1.0, count=2, first=0.0, step=0.05)
    assert lease.available_at(1.0 + GRACE + 0.2) is not None  # both missed: dropped
    assert lease.batch == 1
    for _ in range(10):
        lease.grant(2.0, count=lease.batch, first=0.0, step=0.0)
        for _ in range(lease.batch):
            lease.take(2.0)
    assert lease.batch == MAX_BATCH


def test_the_account_id_is_a_keyed_hash_that_never_holds_the_key() -> None:
    key = "sk-live-abcdef0123456789"
    one = account_id(key, "https://gateway.api.anyint.ai")
    assert key not in one and len(one) == 32
    assert one == account_id(key, "https://gateway.api.anyint.ai")
    assert one != account_id(key + "x", "https://gateway.api.anyint.ai")
    assert one != account_id(key, "http://127.0.0.1:8000")


def test_a_refusal_under_a_shared_budget_is_passed_on_and_cuts_nothing_locally() -> None:
    told: list[tuple[str, float | None]] = []
    lease = Lease("dashscope", shared=True, on_refused=lambda p, r: told.append((p, r)))
    lease.active = True
    budget = QueryBudget(20.0)
    budget.shared = lease
    budget.refused(1.0, 2.0)
    budget.refused(1.5, 1.0, heard=True)  # another process's refusal: not passed on again
    assert told == [("dashscope", 2.0)]
    assert budget.ready_at(1.0) >= 3.0  # paused for its Retry-After all the same
    lease.grant(3.0, count=1, first=0.0, step=0.05)
    budget.answered(4.5)
    assert budget.rate == 20.0  # the account's rate is cut in Redis, not here


def test_an_idle_session_that_hears_of_a_refusal_pauses_without_slowing() -> None:
    """Kling's limit is found per process: a refusal told by another process slows one that
    is sending too, but one sending nothing has no share to measure (it would measure none)."""
    idle, busy = QueryBudget(None), QueryBudget(None)
    for budget in (idle, busy):
        budget.shared = Lease("kling", shared=False)
    busy.answered(9.5)
    for budget in (idle, busy):
        budget.refused(10.0, 1.0, heard=True)
        assert budget.ready_at(10.0) >= 11.0  # both pause
        budget.answered(11.5)
    assert idle.rate == 5.0  # the slow start's pace, unchanged
    assert busy.rate < 5.0
