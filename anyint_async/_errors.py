"""The error hierarchy: every exception the SDK raises derives from :class:`AnyIntError`.

Messages are written for the person reading a log line: the HTTP status, the provider's code, its
message and the request id, and for a create request whose outcome is unknown, a warning that a
paid task may exist. No message ever contains the API key or a request header.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .models import Task

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AnyIntError",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "DownloadError",
    "FileWriteError",
    "InternalServerError",
    "InvalidParameterError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "ResultExpiredError",
    "SessionClosedError",
    "TaskFailedError",
    "TaskTimeoutError",
]

MAY_HAVE_CREATED_HINT = (
    "the task may have been created upstream; look it up (or check your provider console) "
    "before creating it again, or you may pay twice"
)


class AnyIntError(Exception):
    """Root of every error raised by anyint_async.

    Examples:
        >>> try:
        ...     raise AnyIntError("boom")
        ... except AnyIntError as exc:
        ...     str(exc)
        'boom'
    """


class ConfigurationError(AnyIntError, ValueError):
    """The session was configured wrongly: missing API key, a base URL that is not https, ..."""


class InvalidParameterError(AnyIntError, ValueError):
    """A request argument was rejected before anything was sent.

    ``field`` names the offending argument, as the user spelled it.

    Examples:
        >>> InvalidParameterError("duration", "must be an int of seconds, got '10s'").field
        'duration'
    """

    def __init__(self, field: str, problem: str) -> None:
        super().__init__(f"{field} {problem}")
        self.field = field
        self.problem = problem


class SessionClosedError(AnyIntError, RuntimeError):
    """The session was used after ``close()``, or closed while tasks were being polled.

    ``tasks`` holds the last snapshot of every task that was still being waited for, so closing
    a session never loses a task from view.
    """

    def __init__(self, message: str, tasks: Sequence[Task] = ()) -> None:
        super().__init__(message)
        self.tasks: tuple[Task, ...] = tuple(tasks)


class TaskFailedError(AnyIntError):
    """``wait`` found the task ended without a result (FAILED, CANCELED or UNKNOWN).

    ``task`` is the terminal snapshot: its ``error`` has the provider's code and message.
    """

    def __init__(self, task: Task) -> None:
        reason = ""
        if task.error is not None:
            reason = ": " + " ".join(part for part in (task.error.code, task.error.message) if part)
        super().__init__(f"task {task.id} ({task.route.value}) ended {task.status.value}{reason}")
        self.task = task

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.task,))


class TaskTimeoutError(AnyIntError, TimeoutError):
    """Waiting ran out of time. ``tasks`` are the last snapshots of every unfinished task.

    The tasks go on upstream: refresh or wait for them again later; nothing is lost.

    Examples:
        >>> try:  # doctest: +SKIP
        ...     done = await session.wait(task, timeout=600)
        ... except TaskTimeoutError as exc:
        ...     print("still running:", [t.id for t in exc.tasks])
    """

    def __init__(self, message: str, tasks: Sequence[Task]) -> None:
        super().__init__(message)
        self.tasks: tuple[Task, ...] = tuple(tasks)

    @property
    def task(self) -> Task:
        """The first unfinished task (the only one, for ``wait``)."""
        return self.tasks[0]

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.args[0], self.tasks))


class APIError(AnyIntError):
    """Something went wrong talking to the gateway.

    ``may_have_created_task`` is True when this error came from a create request whose outcome is
    unknown (the request reached the gateway, but no clear answer came back): the task may exist.
    """

    def __init__(
        self,
        message: str,
        *,
        request_id: str | None = None,
        may_have_created_task: bool = False,
    ) -> None:
        self.message = message
        self.request_id = request_id
        self.may_have_created_task = may_have_created_task
        self.outcome_hint: str | None = None
        super().__init__(self._render())

    def _headline(self) -> str:
        return self.message

    def mark_may_have_created_task(self, hint: str | None = None) -> None:
        """Flag this error as the failure of a create whose outcome is unknown; ``hint`` says
        what is true for the route (default: look the task up before creating it again)."""
        self.may_have_created_task = True
        self.outcome_hint = hint
        self.args = (self._render(),)

    def _render(self) -> str:
        text = self._headline()
        if self.request_id:
            text += f" (request_id={self.request_id})"
        if self.may_have_created_task:
            text += f"; {self.outcome_hint or MAY_HAVE_CREATED_HINT}"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        # Exceptions with keyword-only constructors do not pickle by default; multiprocessing
        # and some test runners need them to.
        return (_rebuild, (type(self), self.__dict__))


def _rebuild(cls: type[APIError], state: dict[str, Any]) -> APIError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    Exception.__init__(error, error._render())
    return error


class APIStatusError(APIError):
    """The gateway or provider answered with an error status or a non-zero provider code.

    Attributes: ``status`` (HTTP status), ``code`` (the provider's code, as a string: DashScope's
    ``Throttling.RateQuota`` or Kling's ``1303``), ``message``, ``request_id``.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        request_id: str | None = None,
        may_have_created_task: bool = False,
    ) -> None:
        self.status = status
        self.code = code
        super().__init__(
            message, request_id=request_id, may_have_created_task=may_have_created_task
        )

    def _headline(self) -> str:
        if self.code:
            return f"{self.status} {self.code}: {self.message}"
        return f"{self.status}: {self.message}"


class BadRequestError(APIStatusError):
    """400 or 422: the provider rejected the request's content (parameters, content policy)."""


class AuthenticationError(APIStatusError):
    """401: the API key is missing, wrong or expired."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not use this route or model."""


class NotFoundError(APIStatusError):
    """404: the route, model or task does not exist."""


class RateLimitError(APIStatusError):
    """429: too many requests, too many tasks in flight, or a quota or billing limit.

    ``retry_after`` is the wait the gateway asked for, in seconds, when it said.

    Examples:
        >>> error = RateLimitError("slow down", status=429, code="1302", retry_after=2.0)
        >>> str(error), error.retry_after
        ('429 1302: slow down', 2.0)
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        request_id: str | None = None,
        may_have_created_task: bool = False,
        retry_after: float | None = None,
    ) -> None:
        self.retry_after = retry_after
        super().__init__(
            message,
            status=status,
            code=code,
            request_id=request_id,
            may_have_created_task=may_have_created_task,
        )


class InternalServerError(APIStatusError):
    """5xx: the gateway or provider failed."""


class APIConnectionError(APIError):
    """The request did not get an HTTP answer: connection refused, reset or dropped."""


class APITimeoutError(APIConnectionError):
    """The request took longer than the session's timeout."""


class DownloadError(AnyIntError):
    """A result file could not be downloaded. ``url`` is shown without its signature."""

    def __init__(self, message: str, *, url: str, status: int | None = None) -> None:
        super().__init__(message)
        self.url = url
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_download, (type(self), self.args[0], self.url, self.status))


def _rebuild_download(
    cls: type[DownloadError], message: str, url: str, status: int | None
) -> DownloadError:
    return cls(message, url=url, status=status)


class ResultExpiredError(DownloadError):
    """The result URL expired (its signature is only valid for a while): query the task again
    with ``session.refresh(task)`` for fresh URLs, then download those."""


class FileWriteError(DownloadError):
    """A result file was fetched (or being fetched) but could not be written to the local disk:
    the folder cannot be created or written, a folder stands where the file goes, the disk is
    full. ``path`` is where it was going, ``reason`` the operating system's words. Nothing is
    wrong upstream: fix the disk and download again.
    """

    def __init__(self, message: str, *, url: str, path: str, reason: str) -> None:
        super().__init__(message, url=url)
        self.path = path
        self.reason = reason

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild_file_write, (self.args[0], self.url, self.path, self.reason))


def _rebuild_file_write(message: str, url: str, path: str, reason: str) -> FileWriteError:
    return FileWriteError(message, url=url, path=path, reason=reason)


class APIResponseValidationError(APIError):
    """The gateway answered, but the body is not the shape this SDK expects."""
