"""Hedged task queries against the simulated gateway: a query that hangs is asked again on
another connection, the stuck one is dropped (not handed back to the pool), and nothing is
yielded twice or lost."""

from __future__ import annotations

import asyncio
from collections import Counter

from anyint_async import AnyIntSession, HedgePolicy, Task, TaskStatus
from anyint_async.testing import FakeGateway, Fixed, Hang, ModelProfile, Slow

from ..conftest import API_KEY, FAST_PROFILES, FAST_RETRY, NO_LIMITS
from .helpers import QUICK

# Answers here take milliseconds: hedge a tenth of a second after the usual, not half a second.
QUICK_HEDGE = HedgePolicy(floor=0.1, initial=0.2, margin=0.5)


def _session(gateway: FakeGateway, hedging: HedgePolicy | bool) -> AnyIntSession:
    return AnyIntSession(
        API_KEY,
        base_url=gateway.url,
        retry_policy=FAST_RETRY,
        query_rate_limits=NO_LIMITS,
        poll_policy=QUICK,
        timeout=20.0,
        query_hedging=hedging,
    )


async def _wait_all(session: AnyIntSession, count: int) -> list[Task]:
    created = [
        await session.dashscope.videos.create(model="wan2.6-t2v", prompt=f"boat {i}")
        for i in range(count)
    ]
    seen = []
    async with asyncio.timeout(15):  # far under the hang: only hedging can get there
        async for task in session.as_completed(created):
            seen.append(task)
    return seen


async def test_hung_queries_are_hedged_and_their_connections_dropped() -> None:
    async with FakeGateway(seed=4, profiles=FAST_PROFILES) as gateway:
        # The first six task queries hang a minute each, as behind a stuck relay.
        hang = gateway.add_fault(Hang(routes=["query"], delay=60.0, times=6))
        async with _session(gateway, QUICK_HEDGE) as session:
            seen = await _wait_all(session, 12)
            assert Counter(task.id for task in seen).most_common(1)[0][1] == 1
            assert len(seen) == 12
            assert all(task.status is TaskStatus.SUCCEEDED for task in seen)
            assert hang.fired == 6
            assert session.poll_stats().hedges >= 6
            # Every hung request was cancelled and its connection closed while the session
            # is still open (closing it would close them all anyway): the gateway, which looks
            # every 50 ms, has seen each one hang up, where a connection parked in the pool
            # would have been held the minute through.
            await asyncio.sleep(0.5)
            assert hang.abandoned == 6


async def test_without_hedging_a_hung_query_holds_its_task() -> None:
    async with FakeGateway(seed=4, profiles=FAST_PROFILES) as gateway:
        hang = gateway.add_fault(Hang(routes=["query"], delay=1.5, times=1))
        async with _session(gateway, False) as session:
            task = await session.dashscope.videos.create(model="wan2.6-t2v", prompt="boat")
            started = asyncio.get_running_loop().time()
            done = await session.wait(task, timeout=10)
            waited = asyncio.get_running_loop().time() - started
            assert done.status is TaskStatus.SUCCEEDED
            assert session.poll_stats().hedges == 0
        assert hang.fired == 1 and hang.abandoned == 0
        # The one query was held the whole hang: the task could not be found before it.
        assert waited >= 1.5


async def test_a_clean_run_sends_no_hedge() -> None:
    async with FakeGateway(seed=5, profiles=FAST_PROFILES) as gateway:
        async with _session(gateway, True) as session:
            assert len(await _wait_all(session, 30)) == 30
            assert session.poll_stats().hedges == 0


async def test_a_slow_but_alive_provider_is_not_hedged_once_its_pace_is_known() -> None:
    # Every query takes 0.4 s to answer: slow, not stuck. The first queries, sent before any
    # answer came, are hedged at the initial delay; once answers come, the learned answer
    # time rises and no later query is hedged for being as slow as the rest. (The budget is
    # opened wide here: only the delay may hold hedges back.)
    policy = HedgePolicy(floor=0.05, initial=0.1, margin=0.2, max_share=1.0, burst=1000.0)
    async with FakeGateway(seed=6, profiles=FAST_PROFILES) as gateway:
        gateway.add_fault(Slow(routes=["query"], delay=0.4))
        async with _session(gateway, policy) as session:
            assert len(await _wait_all(session, 10)) == 10
            first = session.poll_stats().hedges
            assert first >= 1  # the initial delay was too short for this provider
            assert len(await _wait_all(session, 20)) == 20
            stats = session.poll_stats()
            assert stats.hedges == first
            assert stats.polls >= 20


async def test_a_query_hung_after_others_were_answered_is_hedged_too() -> None:
    # One hedge timer serves all of a provider's unanswered queries: it must wait for each
    # query that comes after the others were answered or hedged, not only for the first few.
    async with FakeGateway(seed=7, profiles=FAST_PROFILES) as gateway:
        async with _session(gateway, QUICK_HEDGE) as session:
            for round_ in range(3):
                hang = gateway.add_fault(Hang(routes=["query"], delay=60.0, times=1))
                task = await session.dashscope.videos.create(
                    model="wan2.6-t2v", prompt=f"boat {round_}"
                )
                async with asyncio.timeout(15):  # far under the hang
                    done = await session.wait(task, timeout=None)
                assert done.status is TaskStatus.SUCCEEDED
                assert hang.fired == 1
                # Answers between rounds leave the timer nothing to wait for, as between
                # batches of an app's queries.
                await asyncio.sleep(0.5)
            assert session.poll_stats().hedges >= 3


async def test_a_hung_query_the_budget_refused_is_hedged_once_answers_refill_it() -> None:
    # The budget holds one hedge and earns it back in two answers. Of two queries hung at
    # once, the second finds it spent: it must be hedged once other answers refill it, not
    # left to hang until its timeout (the 15 s wait below ends far sooner than the hang).
    policy = HedgePolicy(floor=0.1, initial=0.2, margin=0.5, max_share=0.5, burst=1.0)
    # Tasks of 1.5 s: the others are still asked, and answer, after the budget is spent.
    running = {"dashscope.videos": ModelProfile(run=Fixed(1.5), queue=Fixed(0.02))}
    async with FakeGateway(seed=8, profiles=running) as gateway:
        hang = gateway.add_fault(Hang(routes=["query"], delay=60.0, times=2))
        async with _session(gateway, policy) as session:
            seen = await _wait_all(session, 8)
            assert len(seen) == 8 and len({task.id for task in seen}) == 8
            assert hang.fired == 2
            assert session.poll_stats().hedges >= 2
