"""The part of a create request that changes how long the task runs, as one short label."""

from __future__ import annotations

__all__ = ["workload"]


def workload(**fields: object) -> str:
    """A stable label from the run-time fields given (``"default"`` when none was).

    The scheduler learns durations per model and label: requests that differ here are expected
    to take different times (a 10 s video against a 5 s one, 1080P against 720P).

    Examples:
        >>> workload(resolution="1080P", duration=10, size=None)
        'duration=10 resolution=1080P'
        >>> workload(n=None)
        'default'
    """
    given = [f"{name}={value}" for name, value in sorted(fields.items()) if value is not None]
    return " ".join(given) or "default"
