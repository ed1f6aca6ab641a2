"""Status-change events, for progress bars and web apps that must not poll themselves."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable

from attrs import frozen

from ..models import Task

__all__ = ["EventHook", "TaskEvent", "TaskEventKind"]


class TaskEventKind(enum.StrEnum):
    """``created``: the scheduler took the task on; ``running``: the provider started it;
    ``finished``: it reached a terminal status (succeeded or not)."""

    CREATED = "created"
    RUNNING = "running"
    FINISHED = "finished"


@frozen
class TaskEvent:
    """One status change of one task, with the snapshot that showed it.

    Examples:
        >>> from anyint_async import TaskRoute, TaskStatus
        >>> task = Task(id="1", status=TaskStatus.RUNNING, route=TaskRoute.KLING_IMAGES)
        >>> TaskEvent(TaskEventKind.RUNNING, task).kind
        <TaskEventKind.RUNNING: 'running'>
    """

    kind: TaskEventKind
    task: Task


#: Called for each event, in the consumer's own task (between results), plain or async.
EventHook = Callable[[TaskEvent], Awaitable[None] | None]
