"""``BatchResult``: what became of one job, as the runner yields it."""

from __future__ import annotations

from pathlib import Path

from attrs import frozen

from ..models import TaskError, TaskStatus, TaskUsage

__all__ = ["BatchResult"]


@frozen
class BatchResult:
    """What became of one job. ``files`` are absolute paths; ``resumed`` marks a job that was
    already done before this run; ``usage`` is what the provider reported the job made
    (``None`` where it said nothing).

    A job can succeed upstream and still fail here: ``status`` is then SUCCEEDED, ``saved`` is
    False and ``error``/``note`` say why the files are not on disk (a re-run saves them).

    Examples:
        >>> BatchResult("hero-01", "kling.omni_video", TaskStatus.SUCCEEDED).succeeded
        True
    """

    key: str
    route: str
    status: TaskStatus
    task_id: str | None = None
    files: tuple[Path, ...] = ()
    error: TaskError | None = None
    note: str | None = None
    resumed: bool = False
    usage: TaskUsage | None = None

    @property
    def succeeded(self) -> bool:
        """Succeeded upstream and saved here."""
        return self.status is TaskStatus.SUCCEEDED and self.error is None

    @property
    def saved(self) -> bool:
        """False for a job that succeeded upstream but whose files are not on disk."""
        return not (self.status is TaskStatus.SUCCEEDED and self.error is not None)
