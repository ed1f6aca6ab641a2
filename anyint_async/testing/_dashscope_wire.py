"""DashScope's side of the wire, as the simulated gateway speaks it.

Validation answers the way DashScope does (400 ``InvalidParameter`` with a message naming the
field); bodies follow reference/dashscope.md. Written from the provider's documentation, not
from the client: this module must catch the client's mistakes, not share them.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from ._store import Phase, SimTask

__all__ = [
    "Rejected",
    "billed",
    "error_body",
    "expanded_prompt",
    "task_body",
    "validate_image",
    "validate_video",
]

ZONE = timezone(timedelta(hours=8))
_SIZE = re.compile(r"[1-9][0-9]*\*[1-9][0-9]*")
_RESOLUTIONS = ("480P", "720P", "1080P")
_SHOT_TYPES = ("single", "multi")
FAILURE = ("DataInspectionFailed", "Output data may contain inappropriate content.")


class Rejected(Exception):
    """A request refused with an HTTP status and a provider code."""

    def __init__(self, status: int, code: str | int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def error_body(code: str | int, message: str, request_id: str) -> dict[str, Any]:
    return {"request_id": request_id, "code": code, "message": message}


def _invalid(message: str) -> Rejected:
    return Rejected(400, "InvalidParameter", message)


def _model(body: dict[str, Any]) -> str:
    model = body.get("model")
    if not isinstance(model, str) or not model.strip():
        raise _invalid("Model not exist: the field 'model' is required")
    return model


def _check_types(
    section: dict[str, Any], name: str, spec: dict[str, type | tuple[type, ...]]
) -> None:
    for field, expected in spec.items():
        value = section.get(field)
        if value is None:
            continue
        if isinstance(value, bool) and expected is not bool:
            raise _invalid(f"{name}.{field} must be {_describe(expected)}")
        if not isinstance(value, expected):
            raise _invalid(f"{name}.{field} must be {_describe(expected)}")


def _describe(expected: type | tuple[type, ...]) -> str:
    kinds = expected if isinstance(expected, tuple) else (expected,)
    return " or ".join(
        {bool: "a boolean", int: "an integer", str: "a string"}.get(k, k.__name__) for k in kinds
    )


def _section(body: dict[str, Any], name: str, required: bool) -> dict[str, Any]:
    section = body.get(name)
    if section is None and not required:
        return {}
    if not isinstance(section, dict):
        raise _invalid(f"the field '{name}' must be an object")
    return section


def validate_image(body: dict[str, Any]) -> tuple[str, str]:
    """Check a multimodal-generation body; return (model, prompt)."""
    model = _model(body)
    messages = _section(body, "input", True).get("messages")
    if not isinstance(messages, list) or not messages:
        raise _invalid("input.messages must be a non-empty array")
    texts: list[str] = []
    for message in messages:
        if not isinstance(message, dict) or message.get("role") not in ("user", "system"):
            raise _invalid("input.messages[].role must be 'user'")
        content = message.get("content")
        if not isinstance(content, list) or not content:
            raise _invalid("input.messages[].content must be a non-empty array")
        for block in content:
            if not isinstance(block, dict) or not ({"text", "image"} & block.keys()):
                raise _invalid("each content block needs 'text' or 'image'")
            if "text" in block and not isinstance(block["text"], str):
                raise _invalid("content[].text must be a string")
            if "image" in block and not isinstance(block["image"], str):
                raise _invalid("content[].image must be a string")
            if isinstance(block.get("text"), str):
                texts.append(block["text"])
    prompt = " ".join(texts).strip()
    if not prompt:
        raise _invalid("a text prompt is required in input.messages[].content")
    parameters = _section(body, "parameters", False)
    _check_types(
        parameters,
        "parameters",
        {"size": str, "negative_prompt": str, "prompt_extend": bool, "watermark": bool, "n": int},
    )
    size = parameters.get("size")
    if size is not None and not _SIZE.fullmatch(size):
        raise _invalid("parameters.size must look like '1328*1328'")
    return model, prompt


def validate_video(body: dict[str, Any]) -> tuple[str, str]:
    """Check a video-synthesis body; return (model, prompt)."""
    model = _model(body)
    section = _section(body, "input", True)
    prompt = section.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise _invalid("input.prompt is required and must be a non-empty string")
    _check_types(section, "input", {"img_url": str, "audio_url": str, "negative_prompt": str})
    parameters = _section(body, "parameters", False)
    _check_types(
        parameters,
        "parameters",
        {
            "resolution": str,
            "size": str,
            "duration": int,
            "audio": bool,
            "shot_type": str,
            "prompt_extend": bool,
            "watermark": bool,
            "seed": int,
        },
    )
    if parameters.get("resolution") not in (None, *_RESOLUTIONS):
        raise _invalid(f"parameters.resolution must be one of {', '.join(_RESOLUTIONS)}")
    if parameters.get("shot_type") not in (None, *_SHOT_TYPES):
        raise _invalid("parameters.shot_type must be 'single' or 'multi'")
    size = parameters.get("size")
    if size is not None and not _SIZE.fullmatch(size):
        raise _invalid("parameters.size must look like '1280*720'")
    duration = parameters.get("duration")
    if duration is not None and not 1 <= duration <= 60:
        raise _invalid("parameters.duration must be between 1 and 60 seconds")
    return model, prompt


def expanded_prompt(prompt: str, parameters: dict[str, object]) -> str:
    """What ``prompt_extend`` (on unless set false) makes of a prompt: the provider rewrites
    it before generating and reports the result as ``output.actual_prompt``."""
    if parameters.get("prompt_extend") is False:
        return prompt
    return f"{prompt}. Cinematic lighting, smooth camera motion, rich detail."


def video_seconds(parameters: dict[str, object]) -> int:
    duration = parameters.get("duration", 5)
    return duration if isinstance(duration, int) else 5


def billed(task: SimTask) -> dict[str, float]:
    """What a video task that succeeds reports in its usage, by unit (the gateway totals it)."""
    return {"video_seconds": video_seconds(task.request), "videos": 1}


def provider_time(wall: float) -> str:
    """DashScope's timestamp: local time UTC+8, milliseconds, no zone."""
    return datetime.fromtimestamp(wall, ZONE).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def task_body(
    task: SimTask | None,
    task_id: str,
    now: float,
    wall: Callable[[float], float],
    urls: Callable[[SimTask], list[str]],
    request_id: str,
) -> dict[str, Any]:
    """The query answer for ``task`` (None or expired: UNKNOWN, HTTP 200, as DashScope does)."""
    phase = Phase.EXPIRED if task is None else task.phase(now)
    if task is None or phase is Phase.EXPIRED:
        return {"request_id": request_id, "output": {"task_id": task_id, "task_status": "UNKNOWN"}}
    output: dict[str, Any] = {
        "task_id": task.id,
        "task_status": {
            Phase.QUEUED: "PENDING",
            Phase.RUNNING: "RUNNING",
            Phase.SUCCEEDED: "SUCCEEDED",
            Phase.FAILED: "FAILED",
        }[phase],
        "submit_time": provider_time(wall(task.created)),
    }
    if phase is not Phase.QUEUED:
        output["scheduled_time"] = provider_time(wall(task.started))
    body: dict[str, Any] = {"request_id": request_id, "output": output}
    if phase is Phase.SUCCEEDED:
        output["end_time"] = provider_time(wall(task.finishes))
        output["orig_prompt"] = task.prompt
        output["actual_prompt"] = expanded_prompt(task.prompt, task.request)
        output["video_url"] = urls(task)[0]
        duration = video_seconds(task.request)
        body["usage"] = {
            "duration": duration,
            "input_video_duration": 0,
            "output_video_duration": duration,
            "video_count": 1,
            "SR": 720,
            "ratio": "16:9",
        }
    elif phase is Phase.FAILED:
        output["end_time"] = provider_time(wall(task.finishes))
        output["code"], output["message"] = FAILURE
    return body
