"""Helpers for tests against the simulated gateway."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from anyint_async import AnyIntSession, PollPolicy, Task

#: Polls fast enough for tasks of tens of milliseconds.
QUICK = PollPolicy(first_poll=0.05, interval=0.03, max_interval=0.1)


def read_manifest(out: Path) -> dict[str, dict[str, object]]:
    """A batch folder's manifest, by key."""
    lines = (out / "manifest.jsonl").read_text().splitlines()
    return {entry["key"]: entry for entry in map(json.loads, lines)}


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
