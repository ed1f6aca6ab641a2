"""Helpers for tests against the simulated gateway."""

from __future__ import annotations

import asyncio

from anyint_async import AnyIntSession, Task


async def settle(
    session: AnyIntSession, task: Task, *, interval: float = 0.02, limit: float = 5.0
) -> Task:
    """Refresh ``task`` until it is terminal (the polling scheduler is not used here on purpose:
    these tests exercise the routes and the gateway, not the scheduler)."""
    async with asyncio.timeout(limit):
        while not task.done:
            await asyncio.sleep(interval)
            task = await session.refresh(task)
    return task
