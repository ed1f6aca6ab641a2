"""Checks on user arguments, run before any network call.

Each check names the argument as the caller spelled it and says what would be accepted, so the
error reads as its own fix: ``duration must be an int of seconds, got '10s'``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._errors import InvalidParameterError

__all__ = [
    "check_bool",
    "check_choice",
    "check_int",
    "check_number",
    "check_prompt",
    "check_seconds",
    "check_size",
    "check_task_id",
    "check_text",
    "check_url",
]

# Task ids are opaque (DashScope: UUIDs, Kling: 18-19 digit strings), but they are pasted into the
# URL path, so anything that could change that path (/, ?, #, %, whitespace, "..") is refused.
_TASK_ID = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,255}")
_SIZE = re.compile(r"[1-9][0-9]{1,4}\*[1-9][0-9]{1,4}")


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_task_id(value: Any, field: str = "task_id") -> str:
    """Return ``value`` if it can safely stand in a URL path as a task id."""
    if not isinstance(value, str) or not value:
        raise InvalidParameterError(field, f"must be a non-empty string, got {_shown(value)}")
    if not _TASK_ID.fullmatch(value) or ".." in value:
        raise InvalidParameterError(
            field,
            "may hold only letters, digits and . _ : - (not '..', and not first . or -), "
            f"got {_shown(value)}",
        )
    return value


def check_seconds(value: Any, field: str) -> float:
    """Return a positive number of seconds as a float, or raise naming ``field``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        raise InvalidParameterError(
            field, f"must be a positive number of seconds, got {_shown(value)}"
        )
    return float(value)


def check_prompt(value: Any, field: str = "prompt", *, max_chars: int | None = None) -> str:
    """Return a non-blank prompt, or raise naming ``field``."""
    if not isinstance(value, str):
        raise InvalidParameterError(field, f"must be a string, got {_shown(value)}")
    if not value.strip():
        raise InvalidParameterError(field, "must not be empty: describe what to generate")
    if max_chars is not None and len(value) > max_chars:
        raise InvalidParameterError(
            field, f"must be at most {max_chars} characters, got {len(value)}"
        )
    return value


def check_text(value: Any, field: str) -> str | None:
    """Return an optional string argument (None passes)."""
    if value is None or isinstance(value, str):
        return value
    raise InvalidParameterError(field, f"must be a string, got {_shown(value)}")


def check_url(value: Any, field: str) -> str | None:
    """Return an optional media reference: an http(s) URL or a provider-accepted payload."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameterError(
            field, f"must be a non-empty string (a public HTTPS URL), got {_shown(value)}"
        )
    return value


def check_size(value: Any, field: str = "size") -> str | None:
    """Return a DashScope size ``"W*H"`` such as ``"1328*1328"`` (None passes)."""
    if value is None:
        return None
    if not isinstance(value, str) or not _SIZE.fullmatch(value):
        raise InvalidParameterError(
            field, f"must be 'W*H' in pixels, such as '1328*1328', got {_shown(value)}"
        )
    return value


def check_bool(value: Any, field: str) -> bool | None:
    """Return an optional bool; ints and strings like 'true' are refused to avoid surprises."""
    if value is None or isinstance(value, bool):
        return value
    raise InvalidParameterError(field, f"must be True or False, got {_shown(value)}")


def check_int(
    value: Any,
    field: str,
    *,
    unit: str = "",
    minimum: int | None = None,
    maximum: int | None = None,
) -> int | None:
    """Return an optional int within bounds; ``unit`` words the message ("of seconds")."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        described = f"an int {unit}".rstrip()
        raise InvalidParameterError(field, f"must be {described}, got {_shown(value)}")
    if minimum is not None and value < minimum:
        raise InvalidParameterError(field, f"must be at least {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise InvalidParameterError(field, f"must be at most {maximum}, got {value}")
    return value


def check_number(
    value: Any, field: str, *, minimum: float | None = None, maximum: float | None = None
) -> float | None:
    """Return an optional int or float within bounds."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidParameterError(field, f"must be a number, got {_shown(value)}")
    if (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        raise InvalidParameterError(field, f"must be between {minimum} and {maximum}, got {value}")
    return float(value)


def check_choice(value: Any, field: str, choices: tuple[str, ...]) -> str | None:
    """Return an optional string that must be one of ``choices``."""
    if value is None:
        return None
    if isinstance(value, str) and value in choices:
        return value
    listed = ", ".join(repr(c) for c in choices)
    raise InvalidParameterError(field, f"must be one of {listed}, got {_shown(value)}")


def check_extra_body(value: Any) -> Mapping[str, Any] | None:
    """Return ``extra_body`` if it is a mapping with string keys."""
    if value is None:
        return None
    if not isinstance(value, Mapping) or not all(isinstance(k, str) for k in value):
        raise InvalidParameterError(
            "extra_body", f"must be a dict of wire field names to values, got {_shown(value)}"
        )
    return value
