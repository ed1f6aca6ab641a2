"""What results say they cost: a task's usage as billed units, and totals over many jobs.

Every figure here is what the provider *reported* (DashScope's ``usage``, Kling's
``final_unit_deduction``), not a price: the SDK knows no tariff, and a provider may bill by
something it does not report. The units are the ones providers bill by: seconds of video,
videos, images and Kling units.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from attrs import frozen

from .models import ImageUsage, TaskUsage

__all__ = [
    "BILLED_UNITS",
    "BilledTotals",
    "billed_units",
    "image_task_usage",
    "usage_from_json",
    "usage_to_json",
]

#: The units of ``anyint.billed`` and of :class:`BilledTotals`, in the order they are shown.
BILLED_UNITS = ("video_seconds", "videos", "images", "kling_units")


def billed_units(usage: TaskUsage | None) -> dict[str, float]:
    """The billed units a usage reports, by unit name; units it says nothing of are left out.

    Examples:
        >>> billed_units(TaskUsage(duration=10.0, video_count=1))
        {'video_seconds': 10.0, 'videos': 1}
    """
    if usage is None:
        return {}
    figures: dict[str, float | None] = {
        "video_seconds": usage.duration,
        "videos": usage.video_count,
        "images": usage.image_count,
        "kling_units": usage.units,
    }
    return {unit: value for unit, value in figures.items() if value is not None}


def image_task_usage(usage: ImageUsage) -> TaskUsage | None:
    """A generated image's usage in the shape every task's has (width and height in
    ``other``); ``None`` when DashScope reported nothing.

    Examples:
        >>> image_task_usage(ImageUsage(width=1328, height=1328, image_count=1)).image_count
        1
    """
    sizes = (("width", usage.width), ("height", usage.height))
    other = {name: value for name, value in sizes if value is not None}
    if usage.image_count is None and not other:
        return None
    return TaskUsage(image_count=usage.image_count, other=other)


def usage_to_json(usage: TaskUsage | None) -> dict[str, Any] | None:
    """A usage as JSON: every named figure (``null`` where not reported) and ``other``."""
    if usage is None:
        return None
    return {
        "duration": usage.duration,
        "video_count": usage.video_count,
        "image_count": usage.image_count,
        "units": usage.units,
        "other": dict(usage.other),
    }


def usage_from_json(data: Any) -> TaskUsage | None:
    """The inverse of :func:`usage_to_json`, for what the SDK itself wrote (the journal)."""
    if not isinstance(data, Mapping):
        return None
    other = data.get("other")
    return TaskUsage(
        duration=data.get("duration"),
        video_count=data.get("video_count"),
        image_count=data.get("image_count"),
        units=data.get("units"),
        other=dict(other) if isinstance(other, Mapping) else {},
    )


@frozen
class BilledTotals:
    """What a batch's jobs reported they made, summed once per job.

    ``unreported`` counts jobs that succeeded upstream with no usage at all (the provider said
    nothing): their cost is not in the totals.

    Examples:
        >>> totals = BilledTotals.of([TaskUsage(duration=10.0, video_count=1), None])
        >>> (totals.video_seconds, totals.videos, totals.unreported)
        (10.0, 1, 1)
    """

    video_seconds: float = 0.0
    videos: int = 0
    images: int = 0
    kling_units: float = 0.0
    unreported: int = 0

    @classmethod
    def of(cls, usages: Iterable[TaskUsage | None]) -> BilledTotals:
        """Totals of the usages of succeeded jobs, one each (``None``: reported nothing)."""
        sums = dict.fromkeys(BILLED_UNITS, 0.0)
        unreported = 0
        for usage in usages:
            figures = billed_units(usage)
            if not figures:
                unreported += 1
            for unit, value in figures.items():
                sums[unit] += value
        return cls(
            video_seconds=sums["video_seconds"],
            videos=int(sums["videos"]),
            images=int(sums["images"]),
            kling_units=sums["kling_units"],
            unreported=unreported,
        )

    def to_json(self) -> dict[str, float | int]:
        """The totals as JSON (the CLI's ``--json`` ``billed`` line)."""
        return {
            "video_seconds": self.video_seconds,
            "videos": self.videos,
            "images": self.images,
            "kling_units": self.kling_units,
            "jobs_reporting_nothing": self.unreported,
        }

    def line(self) -> str:
        """One line for a summary: ``billed: 120 s of video (12 videos), 8 images, ...``."""
        parts = [
            f"{self.video_seconds:g} s of video ({self.videos} video{_s(self.videos)})",
            f"{self.images} image{_s(self.images)}",
            f"{self.kling_units:g} Kling unit{_s(self.kling_units)}",
        ]
        text = "billed (as the providers reported): " + ", ".join(parts)
        if self.unreported:
            text += f"; {self.unreported} succeeded job{_s(self.unreported)} reported nothing"
        return text


def _s(count: float) -> str:
    return "" if count == 1 else "s"
