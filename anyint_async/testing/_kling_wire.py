"""Kling's side of the wire, as the simulated gateway speaks it.

Requests are checked as reference/kling.md section 3 describes (400 with code 1201 naming the
field); the envelope is ``{"code", "message", "request_id", "data"}`` with millisecond timestamps
and lower-case status words.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._dashscope_wire import Rejected
from ._store import Phase, SimTask

__all__ = ["DEFAULT_MODELS", "billed", "error_body", "task_body", "validate_create"]

DEFAULT_MODELS = {
    "kling.images": "kling-v2-1",
    "kling.omni_image": "kling-v3-omni",
    "kling.omni_video": "kling-v3-omni",
}
_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9")
FAILURE_MESSAGE = "Failure to pass the risk control system"


def error_body(code: int, message: str, request_id: str) -> dict[str, Any]:
    return {"code": code, "message": message, "request_id": request_id}


def _invalid(message: str) -> Rejected:
    return Rejected(400, 1201, message)


def _string(body: dict[str, Any], field: str, choices: tuple[str, ...] | None = None) -> None:
    value = body.get(field)
    if value is None:
        return
    if not isinstance(value, str):
        raise _invalid(f"{field} must be a string")
    if choices is not None and value not in choices:
        raise _invalid(f"{field} must be one of {', '.join(choices)}")


def _integer(body: dict[str, Any], field: str, low: int, high: int) -> None:
    value = body.get(field)
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _invalid(f"{field} must be an integer from {low} to {high}")


def _objects(body: dict[str, Any], field: str, key: str, kind: type) -> None:
    value = body.get(field)
    if value is None:
        return
    if not isinstance(value, list):
        raise _invalid(f"{field} must be an array")
    for item in value:
        if (
            not isinstance(item, dict)
            or not isinstance(item.get(key), kind)
            or isinstance(item.get(key), bool)
        ):
            raise _invalid(f"each {field} item needs '{key}'")


def validate_create(family: str, body: dict[str, Any]) -> tuple[str, str, int]:
    """Check a create body; return (effective model, prompt, number of outputs)."""
    model = body.get("model_name")
    if model is not None and (not isinstance(model, str) or not model):
        raise _invalid("model_name must be a string")
    # A body with only the old `model` field runs Kling's default model (reference/kling.md 0).
    effective = model or DEFAULT_MODELS[family]
    prompt = body.get("prompt")
    customize = body.get("multi_shot") is True and body.get("shot_type") == "customize"
    if prompt is None and not (family == "kling.omni_video" and customize):
        raise _invalid("prompt is required")
    if prompt is not None and (not isinstance(prompt, str) or not prompt.strip()):
        raise _invalid("prompt must be a non-empty string")
    if isinstance(prompt, str) and len(prompt) > 2500:
        raise _invalid("prompt must be at most 2500 characters")
    _string(body, "callback_url")
    _string(body, "external_task_id")
    watermark = body.get("watermark_info")
    if watermark is not None and not (
        isinstance(watermark, dict) and isinstance(watermark.get("enabled"), bool)
    ):
        raise _invalid('watermark_info must be {"enabled": boolean}')
    _objects(body, "element_list", "element_id", int)
    outputs = 1
    if family == "kling.images":
        _string(body, "negative_prompt")
        _string(body, "image")
        _string(body, "image_reference", ("subject", "face"))
        _string(body, "resolution", ("1k", "2k"))
        _string(body, "aspect_ratio", _RATIOS)
        _integer(body, "n", 1, 9)
        outputs = body.get("n") or 1
    elif family == "kling.omni_image":
        _objects(body, "image_list", "image", str)
        _string(body, "resolution", ("1k", "2k", "4k"))
        _string(body, "result_type", ("single", "series"))
        _string(body, "aspect_ratio", (*_RATIOS, "auto"))
        _integer(body, "n", 1, 9)
        if body.get("result_type") == "series":
            amount = body.get("series_amount", 4)
            if amount != "auto":
                _integer(body, "series_amount", 2, 9)
            outputs = 4 if amount == "auto" else amount
        else:
            outputs = body.get("n") or 1
    else:
        _objects(body, "image_list", "image_url", str)
        _objects(body, "video_list", "video_url", str)
        _string(body, "sound", ("on", "off"))
        _string(body, "mode", ("std", "pro"))
        _string(body, "aspect_ratio", ("16:9", "9:16", "1:1"))
        _string(body, "shot_type", ("customize", "intelligence"))
        duration = body.get("duration")
        if duration is not None and (
            not isinstance(duration, str) or not duration.isdigit() or not 3 <= int(duration) <= 15
        ):
            raise _invalid('duration must be a string of seconds from "3" to "15"')
    return effective, prompt or "", int(outputs)


def billed(task: SimTask) -> dict[str, float]:
    """What a task that succeeds deducts (``final_unit_deduction``), by unit: one unit per
    output here; the gateway totals it."""
    return {"kling_units": task.outputs}


def task_body(
    task: SimTask,
    now: float,
    wall: Callable[[float], float],
    urls: Callable[[SimTask], list[str]],
    request_id: str,
) -> dict[str, Any]:
    """The create or query answer for ``task`` (not expired: the gateway answers 404 then)."""
    phase = task.phase(now)
    word = {
        Phase.QUEUED: "submitted",
        Phase.RUNNING: "processing",
        Phase.SUCCEEDED: "succeed",
        Phase.FAILED: "failed",
    }[phase]
    changed = {
        Phase.QUEUED: task.created,
        Phase.RUNNING: task.started,
    }.get(phase, task.finishes)
    data: dict[str, Any] = {
        "task_id": task.id,
        "task_status": word,
        "task_status_msg": FAILURE_MESSAGE if phase is Phase.FAILED else "",
        "task_info": {"external_task_id": task.external_id} if task.external_id else {},
        "created_at": int(wall(task.created) * 1000),
        "updated_at": int(wall(changed) * 1000),
    }
    if phase is Phase.SUCCEEDED:
        data["task_result"] = _result(task, urls(task))
        data["watermark_info"] = {"enabled": False}
        data["final_unit_deduction"] = str(billed(task)["kling_units"])
    return {"code": 0, "message": "SUCCEED", "request_id": request_id, "data": data}


def _result(task: SimTask, urls: list[str]) -> dict[str, Any]:
    if task.media == "mp4":
        seconds = str(task.request.get("duration", "5"))
        return {
            "videos": [
                {
                    "id": f"{task.id}-0",
                    "url": urls[0],
                    "watermark_url": urls[0],
                    "duration": seconds,
                }
            ]
        }
    images = [{"index": i, "url": url, "watermark_url": url} for i, url in enumerate(urls)]
    if task.request.get("result_type") == "series":
        return {"result_type": "series", "series_images": images}
    result: dict[str, Any] = {"images": images}
    if task.family == "kling.omni_image":
        result["result_type"] = "single"
    return result
