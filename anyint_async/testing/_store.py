"""The simulated gateway's task records, and their state on its clock.

A task's whole life is drawn when it is created (time queued, time running, success or failure),
so its state at any moment is computed, not stepped by timers: ten thousand tasks cost a dict.
All times here are real ``time.monotonic()`` seconds.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from enum import Enum

from attrs import define

__all__ = ["Phase", "SimTask", "TaskStore"]


class Phase(Enum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    EXPIRED = "expired"


@define(slots=True)
class SimTask:
    id: str
    family: str
    model: str
    prompt: str
    owner: str
    external_id: str | None
    created: float
    started: float
    finishes: float
    fails: bool
    outputs: int
    media: str
    expires: float
    request: dict[str, object]

    @property
    def provider(self) -> str:
        return self.family.split(".", 1)[0]

    def phase(self, now: float) -> Phase:
        if now >= self.expires:
            return Phase.EXPIRED
        if now < self.started:
            return Phase.QUEUED
        if now < self.finishes:
            return Phase.RUNNING
        return Phase.FAILED if self.fails else Phase.SUCCEEDED


class TaskStore:
    """Tasks by id and by external id, and each account's tasks in flight."""

    def __init__(self) -> None:
        self.tasks: dict[str, SimTask] = {}
        self._by_external: dict[tuple[str, str, str], str] = {}
        self._running: defaultdict[tuple[str, str], list[float]] = defaultdict(list)

    def add(self, task: SimTask) -> None:
        self.tasks[task.id] = task
        if task.external_id is not None:
            self._by_external[(task.owner, task.family, task.external_id)] = task.id
        slots = self._running[(task.owner, task.provider)]
        for _ in range(max(1, task.outputs if task.media == "png" else 1)):
            heapq.heappush(slots, task.finishes)

    def external_taken(self, owner: str, family: str, external_id: str) -> bool:
        return (owner, family, external_id) in self._by_external

    def find(self, owner: str, family: str, ident: str) -> SimTask | None:
        """A task of ``family`` by task id, or by external id as Kling also allows."""
        task = self.tasks.get(ident)
        if task is None:
            found = self._by_external.get((owner, family, ident))
            task = self.tasks.get(found) if found else None
        if task is None or task.owner != owner or task.family != family:
            return None
        return task

    def in_flight(self, owner: str, provider: str, now: float) -> int:
        """Slots this account holds now (an image task with n images holds n, as on Kling)."""
        slots = self._running[(owner, provider)]
        while slots and slots[0] <= now:
            heapq.heappop(slots)
        return len(slots)
