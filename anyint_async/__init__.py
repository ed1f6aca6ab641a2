"""anyint_async: an asyncio-first SDK for the AnyInt gateway's media-generation routes."""

from ._errors import (
    AnyIntError,
    APIConnectionError,
    APIError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    ConfigurationError,
    InternalServerError,
    InvalidParameterError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SessionClosedError,
)
from ._retry import RetryPolicy
from ._session import DEFAULT_BASE_URL, AnyIntSession
from ._version import __version__
from .models import ImageResult, ImageUsage, Provider, Task, TaskError, TaskRoute, TaskStatus

__all__ = [
    "DEFAULT_BASE_URL",
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AnyIntError",
    "AnyIntSession",
    "AuthenticationError",
    "BadRequestError",
    "ConfigurationError",
    "ImageResult",
    "ImageUsage",
    "InternalServerError",
    "InvalidParameterError",
    "NotFoundError",
    "PermissionDeniedError",
    "Provider",
    "RateLimitError",
    "RetryPolicy",
    "SessionClosedError",
    "Task",
    "TaskError",
    "TaskRoute",
    "TaskStatus",
    "__version__",
]
