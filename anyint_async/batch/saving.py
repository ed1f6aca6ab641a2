"""Saving a finished job's files into the batch folder, and saying so in the journal.

A job whose files cannot be saved (the disk is full, a folder stands where a file goes, the
download keeps failing) fails alone: its task id and URLs stay in the journal, the manifest says
why, and the next run saves it without creating anything.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

from .._errors import AnyIntError, DownloadError, FileWriteError, ResultExpiredError
from .._session import AnyIntSession
from ..models import ImageResult, Task, TaskError, TaskStatus
from .journal import Journal
from .requests import BatchRequest
from .result import BatchResult

__all__ = ["NOT_SAVED_CODES", "ResultSaver"]

logger = logging.getLogger("anyint_async.batch")

_WRITE_FAILED = "FileWriteFailed"
_DOWNLOAD_FAILED = "DownloadFailed"
NOT_SAVED_CODES = frozenset({_WRITE_FAILED, _DOWNLOAD_FAILED})


class ResultSaver:
    """Downloads results into ``out_dir`` under their job's key and journals the outcome."""

    def __init__(self, session: AnyIntSession, journal: Journal, out_dir: Path) -> None:
        self._session = session
        self._journal = journal
        self._out_dir = out_dir

    async def save_task(self, request: BatchRequest, task: Task) -> BatchResult:
        """Journal a terminal task and, if it succeeded, save its files."""
        if not task.succeeded:
            self._journal.done(request.key, status=task.status, error=task.error, usage=task.usage)
            return BatchResult(
                key=request.key,
                route=request.route,
                status=task.status,
                task_id=task.id,
                error=task.error,
            )
        self._journal.finished(request.key, task.status, task.urls, task.usage)
        try:
            try:
                paths = await self._session.download(task, self._out_dir, name=request.key)
            except ResultExpiredError:
                fresh = await self._session.refresh(task)
                paths = await self._session.download(fresh, self._out_dir, name=request.key)
        except AnyIntError as exc:
            return self._not_saved(request, task.id, exc, retry="polled again for fresh URLs")
        return self._done(request, task.id, paths)

    async def save_image(self, request: BatchRequest, urls: Sequence[str]) -> BatchResult:
        """Save a generated image whose URLs are journaled (the job is FINISHED)."""
        try:
            paths = await self._session.download(
                ImageResult(urls=tuple(urls)), self._out_dir, name=request.key
            )
        except ResultExpiredError as exc:
            # Nothing to query for fresh URLs: the generation's answer was the only copy.
            error = TaskError(code=_DOWNLOAD_FAILED, message=str(exc))
            note = (
                "the image URL expired before it was saved; an image has no task to ask for a "
                "fresh URL, so generate it again under a new key"
            )
            self._journal.done(request.key, status=TaskStatus.SUCCEEDED, error=error, note=note)
            return self._result(request, None, error, note)
        except AnyIntError as exc:
            return self._not_saved(request, None, exc, retry="downloaded again while its URL lives")
        return self._done(request, None, paths)

    def _not_saved(
        self, request: BatchRequest, task_id: str | None, exc: AnyIntError, *, retry: str
    ) -> BatchResult:
        if isinstance(exc, FileWriteError):
            code = _WRITE_FAILED
            note = (
                f"succeeded upstream, not saved here: {exc.reason} ({exc.path}); fix that and "
                f"run again: the files are {retry}, nothing is created again"
            )
        else:
            code = _DOWNLOAD_FAILED if isinstance(exc, DownloadError) else type(exc).__name__
            note = (
                "succeeded upstream, but its files could not be downloaded; run again: they are "
                f"{retry}, nothing is created again"
            )
        logger.warning("%s: %s", request.key, exc)
        error = TaskError(code=code, message=str(exc))
        self._journal.not_saved(request.key, error, note)
        return self._result(request, task_id, error, note)

    def _done(
        self, request: BatchRequest, task_id: str | None, paths: Sequence[Path]
    ) -> BatchResult:
        root = self._out_dir.resolve()
        relative = [str(path.resolve().relative_to(root)) for path in paths]
        self._journal.done(request.key, status=TaskStatus.SUCCEEDED, files=relative)
        return BatchResult(
            key=request.key,
            route=request.route,
            status=TaskStatus.SUCCEEDED,
            task_id=task_id,
            files=tuple(paths),
        )

    @staticmethod
    def _result(
        request: BatchRequest, task_id: str | None, error: TaskError, note: str
    ) -> BatchResult:
        return BatchResult(
            key=request.key,
            route=request.route,
            status=TaskStatus.SUCCEEDED,
            task_id=task_id,
            error=error,
            note=note,
        )
