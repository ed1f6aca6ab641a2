"""The public result types: one :class:`Task` for every task route, and image results.

These are frozen attrs classes with no behaviour beyond derived properties; the provider modules
build them from the wire JSON through the one converter in ``_convert``.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import attrs
from attrs import frozen

__all__ = [
    "ImageResult",
    "ImageUsage",
    "Provider",
    "Task",
    "TaskError",
    "TaskRoute",
    "TaskStatus",
    "TaskUsage",
]


class TaskStatus(enum.StrEnum):
    """A task's state, the same words for every provider.

    Kling's ``submitted``/``processing``/``succeed``/``failed`` map onto these; the provider's own
    word stays in ``Task.raw``.

    Examples:
        >>> TaskStatus("SUCCEEDED").done
        True
    """

    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELED = "CANCELED"
    UNKNOWN = "UNKNOWN"

    @property
    def done(self) -> bool:
        """True for a terminal status: nothing will change by polling again.

        ``UNKNOWN`` is terminal: DashScope answers it for ids that never existed, expired (task
        records live about 24 h) or belong to another key, so waiting on it would never end.
        """
        return self not in _ACTIVE


_ACTIVE = frozenset({TaskStatus.PENDING, TaskStatus.RUNNING})


class Provider(enum.StrEnum):
    """The upstream provider whose route made a task."""

    DASHSCOPE = "dashscope"
    KLING = "kling"


class TaskRoute(enum.StrEnum):
    """The route family that can answer for a task: where ``session.refresh`` asks.

    DashScope has one query route for every task it makes; Kling has one per family.

    Examples:
        >>> TaskRoute("kling.omni_video") is TaskRoute.KLING_OMNI_VIDEO
        True
    """

    DASHSCOPE_TASKS = "dashscope.tasks"
    KLING_IMAGES = "kling.images"
    KLING_OMNI_IMAGE = "kling.omni_image"
    KLING_OMNI_VIDEO = "kling.omni_video"

    @property
    def provider(self) -> Provider:
        """The provider behind this route family."""
        return Provider(self.value.split(".", 1)[0])


@frozen
class TaskError:
    """Why a task failed: the provider's code (as a string) and message.

    Examples:
        >>> TaskError(code="DataInspectionFailed", message="Output data may contain ...").code
        'DataInspectionFailed'
    """

    code: str | None
    message: str | None


@frozen
class TaskUsage:
    """What the provider reported a finished task made, which is what it bills by.

    ``duration``: seconds of video generated (DashScope ``usage.duration``); ``video_count`` and
    ``image_count``: outputs made (DashScope ``usage.video_count`` / ``image_count``); ``units``:
    the units Kling deducted (its ``final_unit_deduction``, a string on the wire). ``other``
    keeps the provider's other usage fields as they came (DashScope's ``SR``, ``ratio``, ...).
    A field is ``None`` where the provider said nothing, or sent something that is not a
    number (logged at DEBUG): usage never fails a paid result. These are the provider's own
    figures, not a price.

    Examples:
        >>> TaskUsage(duration=10.0, video_count=1).duration
        10.0
    """

    duration: float | None = None
    video_count: int | None = None
    image_count: int | None = None
    units: float | None = None
    other: Mapping[str, Any] = attrs.field(factory=dict, eq=False, hash=False)


@frozen
class Task:
    """A snapshot of one provider task, as of its last query.

    One type for every task route. ``urls`` stays empty until the task succeeds; ``raw`` is the
    last JSON body as the gateway sent it (unknown fields live there). While a task runs
    unchanged, the scheduler keeps the first answer that showed it so: a later one that repeats
    it, but for the ``request_id`` each answer has, leaves it in place. Timestamps are
    timezone-aware when the provider said enough to make them so. ``workload`` sums up what the
    create asked for that changes how long the task runs (``"duration=10 resolution=1080P"``);
    the scheduler learns durations per model and workload. ``callback`` is True when the task
    was created with a ``callback_url``: Kling POSTs its status changes there, and the scheduler
    polls it sparsely, waiting to be woken (see ``AnyIntSession.accept_callback``).
    ``usage`` is what the provider reported the task made (``None`` until it says, usually
    at its end); ``actual_prompt`` is DashScope's prompt after its own expansion.

    Examples:
        >>> t = Task(id="abc", status=TaskStatus.RUNNING, route=TaskRoute.DASHSCOPE_TASKS)
        >>> (t.provider, t.done, t.succeeded)
        (<Provider.DASHSCOPE: 'dashscope'>, False, False)
    """

    id: str
    status: TaskStatus
    route: TaskRoute
    model: str | None = None
    urls: tuple[str, ...] = ()
    error: TaskError | None = None
    request_id: str | None = None
    external_id: str | None = None
    workload: str | None = None
    callback: bool = False
    created_at: datetime | None = None
    started_at: datetime | None = None
    updated_at: datetime | None = None
    finished_at: datetime | None = None
    usage: TaskUsage | None = None
    actual_prompt: str | None = attrs.field(default=None, repr=False)
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)

    @property
    def provider(self) -> Provider:
        """``dashscope`` or ``kling``."""
        return self.route.provider

    @property
    def done(self) -> bool:
        """True when the status is terminal (succeeded, failed, canceled or unknown)."""
        return self.status.done

    @property
    def succeeded(self) -> bool:
        """True when the task finished with a result."""
        return self.status is TaskStatus.SUCCEEDED


@frozen
class ImageUsage:
    """Usage figures DashScope returns with a generated image, when it returns them; a figure
    that is not a number is ``None`` (logged at DEBUG), never an error on a paid image."""

    width: int | None = None
    height: int | None = None
    image_count: int | None = None


@frozen
class ImageResult:
    """The answer of DashScope's synchronous image generation.

    Examples:
        >>> ImageResult(urls=("https://example.com/a.png",)).urls[0]
        'https://example.com/a.png'
    """

    urls: tuple[str, ...]
    model: str | None = None
    usage: ImageUsage = attrs.field(factory=ImageUsage)
    request_id: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, hash=False, repr=False)
