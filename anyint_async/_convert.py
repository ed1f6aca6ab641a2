"""The one cattrs converter that maps wire JSON to Python objects and back.

Every wire quirk is a hook registered here, side by side, so provider modules can declare plain
attrs classes with these marker types and never dig through dicts:

- ``EpochMillis``: Kling timestamps, Unix milliseconds; some relays rewrite them to seconds
  (reference/kling.md, [O]), so a value below 1e12 is read as seconds.
- ``ProviderLocalTime``: DashScope's ``"YYYY-MM-DD HH:MM:SS.mmm"``, with no zone, in the
  provider's zone UTC+8 (reference/dashscope.md).
- ``WireCode``: a provider code that may be an int (Kling ``1303``) or a string (DashScope
  ``Throttling``, relays' ``"success"``); always a string once structured.
- ``UsageNumber`` / ``LenientText`` and the ``TaskUsage`` / ``ImageUsage`` hooks: what a
  provider reports it made and billed. Kling sends its units as a string (``"1"``); relays
  are known to retype numbers. A figure that is not a number (or a text that is not a string)
  becomes ``None`` with a DEBUG line: a paid result is never lost over its usage.

Unstructuring omits ``None`` so a request carries only what the caller set.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, NewType, TypeVar

import attrs
import cattrs
from cattrs.gen import make_dict_unstructure_fn

from ._errors import APIResponseValidationError
from .models import ImageUsage, TaskUsage

__all__ = [
    "EpochMillis",
    "LenientText",
    "ProviderLocalTime",
    "UsageNumber",
    "WireCode",
    "merge_extra_body",
    "structure_response",
    "unstructure_request",
]

T = TypeVar("T")

EpochMillis = NewType("EpochMillis", datetime)
ProviderLocalTime = NewType("ProviderLocalTime", datetime)
WireCode = NewType("WireCode", str)
UsageNumber = NewType("UsageNumber", float)
LenientText = NewType("LenientText", str)

logger = logging.getLogger("anyint_async")

DASHSCOPE_ZONE = timezone(timedelta(hours=8), "UTC+08:00")
_SECONDS_CUTOFF = 1e12  # 1e12 ms is 2001-09-09; 1e12 s is 33 millennia away


def _structure_epoch(value: Any, _: type) -> datetime:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise TypeError(f"expected a Unix timestamp, got {value!r}")
    number = float(value)
    seconds = number if abs(number) < _SECONDS_CUTOFF else number / 1000.0
    return datetime.fromtimestamp(seconds, tz=UTC)


def _structure_provider_time(value: Any, _: type) -> datetime:
    if not isinstance(value, str):
        raise TypeError(f"expected 'YYYY-MM-DD HH:MM:SS.mmm', got {value!r}")
    parsed = datetime.fromisoformat(value.strip().replace(" ", "T", 1))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=DASHSCOPE_ZONE)


def _structure_code(value: Any, _: type) -> str:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"expected a provider code (int or string), got {value!r}")
    return str(value)


def _usage_number(value: Any, field: str) -> float | None:
    """A reported figure as a float: a number or a numeric string; anything else is None."""
    if value is None:
        return None
    number: float | None = None
    if isinstance(value, int | float) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            number = None
    if number is None or not math.isfinite(number) or number < 0:
        logger.debug("usage %s is not a number the provider could bill by: %r", field, value)
        return None
    return number


def _usage_count(value: Any, field: str) -> int | None:
    number = _usage_number(value, field)
    if number is None:
        return None
    if not number.is_integer():
        logger.debug("usage %s is not a whole count: %r", field, value)
        return None
    return int(number)


def _structure_usage_number(value: Any, _: type) -> float | None:
    return _usage_number(value, "figure")


def _structure_lenient_text(value: Any, _: type) -> str | None:
    if isinstance(value, str):
        return value
    logger.debug("expected a text, got %r; left out", value)
    return None


def _structure_task_usage(value: Any, _: type) -> TaskUsage | None:
    # DashScope's ``usage`` object; Kling's units are a field of its own, set by its module.
    if not isinstance(value, Mapping):
        logger.debug("usage is not an object: %r; left out", value)
        return None
    other = {
        key: item
        for key, item in value.items()
        if key not in ("duration", "video_count", "image_count")
    }
    return TaskUsage(
        duration=_usage_number(value.get("duration"), "duration"),
        video_count=_usage_count(value.get("video_count"), "video_count"),
        image_count=_usage_count(value.get("image_count"), "image_count"),
        other=other,
    )


def _structure_image_usage(value: Any, _: type) -> ImageUsage | None:
    if not isinstance(value, Mapping):
        logger.debug("usage is not an object: %r; left out", value)
        return None
    return ImageUsage(
        width=_usage_count(value.get("width"), "width"),
        height=_usage_count(value.get("height"), "height"),
        image_count=_usage_count(value.get("image_count"), "image_count"),
    )


def _make_converter() -> cattrs.Converter:
    converter = cattrs.Converter(forbid_extra_keys=False)
    converter.register_structure_hook(EpochMillis, _structure_epoch)
    converter.register_structure_hook(ProviderLocalTime, _structure_provider_time)
    converter.register_structure_hook(WireCode, _structure_code)
    converter.register_structure_hook(UsageNumber, _structure_usage_number)
    converter.register_structure_hook(LenientText, _structure_lenient_text)
    converter.register_structure_hook(TaskUsage, _structure_task_usage)
    converter.register_structure_hook(ImageUsage, _structure_image_usage)
    converter.register_unstructure_hook_factory(
        attrs.has,
        lambda cls: make_dict_unstructure_fn(cls, converter, _cattrs_omit_if_default=True),
    )
    return converter


_converter = _make_converter()


def structure_response(data: Any, cls: type[T], *, what: str) -> T:
    """Build ``cls`` from a decoded JSON body, or raise ``APIResponseValidationError``.

    ``what`` names the response in the error, e.g. ``"Kling task query response"``.
    """
    try:
        return _converter.structure(data, cls)
    except (cattrs.BaseValidationError, ValueError, TypeError, KeyError) as exc:
        if isinstance(exc, cattrs.BaseValidationError):
            details = "; ".join(cattrs.transform_error(exc, path="body"))
        else:
            details = str(exc)
        request_id = data.get("request_id") if isinstance(data, dict) else None
        raise APIResponseValidationError(
            f"{what} has an unexpected shape: {details}",
            request_id=request_id if isinstance(request_id, str) else None,
        ) from exc


def unstructure_request(request: Any) -> dict[str, Any]:
    """Turn a request attrs instance into wire JSON, leaving out every field that is None."""
    body = _converter.unstructure(request)
    assert isinstance(body, dict)
    return body


def merge_extra_body(body: dict[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """Merge ``extra_body`` into a request body; nested dicts merge key by key.

    So ``extra_body={"parameters": {"seed": 7}}`` adds a seed beside the typed parameters
    instead of replacing them.

    Examples:
        >>> merge_extra_body({"a": {"x": 1}}, {"a": {"y": 2}, "b": 3})
        {'a': {'x': 1, 'y': 2}, 'b': 3}
    """
    if not extra:
        return body
    merged = dict(body)
    for key, value in extra.items():
        current = merged.get(key)
        if isinstance(current, dict) and isinstance(value, Mapping):
            merged[key] = merge_extra_body(current, value)
        else:
            merged[key] = value
    return merged
