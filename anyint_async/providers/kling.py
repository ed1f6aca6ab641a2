"""Kling's legacy task protocol as AnyInt republishes it under ``/transtreams/kling``.

Three families (v2.1 images, V3 Omni images, V3 Omni videos), each with its own create and query
route. Facts from reference/kling.md: requests carry ``model_name`` (``model`` alone acts as the
default model, so both are sent); ``code`` may be an int or a string and a non-zero code is an
error even under HTTP 200; timestamps are milliseconds; omni-video ``duration`` is a string.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from attrs import frozen

from .._convert import (
    EpochMillis,
    UsageNumber,
    WireCode,
    merge_extra_body,
    structure_response,
    unstructure_request,
)
from .._errors import InvalidParameterError
from .._transport import ApiCall, ErrorReport, Transport, WireDialect
from .._validate import (
    check_bool,
    check_choice,
    check_extra_body,
    check_int,
    check_number,
    check_prompt,
    check_task_id,
    check_text,
    check_url,
)
from ..models import Task, TaskError, TaskRoute, TaskStatus, TaskUsage
from ._status import status_from_word
from ._workload import workload

__all__ = ["Kling", "KlingImages", "KlingOmniImage", "KlingOmniVideo"]

IMAGES_PATH = "/transtreams/kling/v1/images/generations"
OMNI_IMAGE_PATH = "/transtreams/kling/v1/images/omni-image"
OMNI_VIDEO_PATH = "/transtreams/kling/v1/videos/omni-video"

IMAGE_MODEL = "kling-v2-1"
OMNI_MODEL = "kling-v3-omni"
_MAX_PROMPT = 2500
_ASPECT_RATIOS = ("16:9", "9:16", "1:1", "4:3", "3:4", "3:2", "2:3", "21:9")

# Kling's documented code table (reference/kling.md section 2): the HTTP status each code comes
# with, used when the code arrives under HTTP 200.
_CODE_STATUS: Mapping[int, int] = {
    **dict.fromkeys(range(1000, 1005), 401),
    1100: 429,
    1101: 429,
    1102: 429,
    1103: 403,
    1200: 400,
    1201: 400,
    1202: 404,
    1203: 404,
    1300: 400,
    1301: 400,
    1302: 429,
    1303: 429,
    1304: 429,
    5000: 500,
    5001: 503,
    5002: 504,
}
_SUCCESS_CODES = frozenset({"0", "success", "succeed", "ok"})

_STATUS_WORDS: Mapping[str, TaskStatus] = {
    "submitted": TaskStatus.PENDING,
    "processing": TaskStatus.RUNNING,
    "succeed": TaskStatus.SUCCEEDED,
    "succeeded": TaskStatus.SUCCEEDED,
    "failed": TaskStatus.FAILED,
}


def _error_in_success(body: Mapping[str, Any]) -> ErrorReport | None:
    code = body.get("code")
    if code is None or isinstance(code, bool) or str(code).strip().lower() in _SUCCESS_CODES:
        return None
    text = str(code).strip()
    if not text.lstrip("-").isdigit():
        # Relays send words like "task_failed" next to a task payload: the task itself carries
        # the failure, so it is a FAILED task, not a failed request.
        data = body.get("data")
        if isinstance(data, Mapping) and "task_status" in data:
            return None
        status = 400
    else:
        number = int(text)
        status = _CODE_STATUS.get(number, 500 if number >= 5000 else 400)
    message = body.get("message")
    request_id = body.get("request_id")
    return ErrorReport(
        status=status,
        code=text,
        message=str(message) if message else "Kling reported an error",
        request_id=request_id if isinstance(request_id, str) else None,
    )


DIALECT = WireDialect(
    name="kling",
    error_in_success=_error_in_success,
    # 1100 account exception, 1101 arrears, 1102 resource pack depleted, 1304 IP whitelist:
    # they come as 429 but waiting does not heal them.
    permanent_codes=frozenset({"1100", "1101", "1102", "1304"}),
    # 1302 rate too fast, 1303 concurrency over the resource-pack limit: refused before any
    # task was made, so a create may be sent again.
    rejected_codes=frozenset({"1302", "1303"}),
)


# --- wire requests -------------------------------------------------------------------------


@frozen
class _WatermarkInfo:
    enabled: bool


@frozen(kw_only=True)
class _CreateRequest:
    """What every Kling create carries (see ``_shared_fields``)."""

    model_name: str
    model: str
    prompt: str | None = None
    watermark_info: _WatermarkInfo | None = None
    callback_url: str | None = None
    external_task_id: str | None = None


@frozen(kw_only=True)
class _ImageRequest(_CreateRequest):
    negative_prompt: str | None = None
    image: str | None = None
    image_reference: str | None = None
    image_fidelity: float | None = None
    human_fidelity: float | None = None
    element_list: tuple[dict[str, Any], ...] | None = None
    resolution: str | None = None
    n: int | None = None
    aspect_ratio: str | None = None


@frozen(kw_only=True)
class _OmniImageRequest(_CreateRequest):
    image_list: tuple[dict[str, Any], ...] | None = None
    element_list: tuple[dict[str, Any], ...] | None = None
    resolution: str | None = None
    result_type: str | None = None
    n: int | None = None
    series_amount: int | str | None = None
    aspect_ratio: str | None = None


@frozen(kw_only=True)
class _OmniVideoRequest(_CreateRequest):
    multi_shot: bool | None = None
    shot_type: str | None = None
    multi_prompt: tuple[dict[str, Any], ...] | None = None
    image_list: tuple[dict[str, Any], ...] | None = None
    element_list: tuple[dict[str, Any], ...] | None = None
    video_list: tuple[dict[str, Any], ...] | None = None
    sound: str | None = None
    mode: str | None = None
    aspect_ratio: str | None = None
    duration: str | None = None


# --- wire responses ------------------------------------------------------------------------


@frozen
class _Media:
    url: str | None = None


@frozen
class _TaskResult:
    images: tuple[_Media, ...] = ()
    series_images: tuple[_Media, ...] = ()
    videos: tuple[_Media, ...] = ()


@frozen
class _TaskInfo:
    external_task_id: str | None = None


@frozen
class _TaskData:
    task_id: str
    task_status: str
    task_status_msg: str | None = None
    task_info: _TaskInfo | None = None
    task_result: _TaskResult | None = None
    created_at: EpochMillis | None = None
    updated_at: EpochMillis | None = None
    # A string of units on the wire (reference/kling.md); what the task was billed.
    final_unit_deduction: UsageNumber | None = None


@frozen
class _Envelope:
    data: _TaskData
    code: WireCode | None = None
    message: str | None = None
    request_id: str | None = None


# --- argument shaping ----------------------------------------------------------------------


def _items(value: Any, field: str) -> Sequence[Any]:
    if value is None:
        return ()
    if isinstance(value, str | bytes | Mapping) or not isinstance(value, Sequence):
        raise InvalidParameterError(field, f"must be a list, got {value!r:.60}")
    return value


def _references(
    value: Any, field: str, key: str, *, max_items: int | None = None
) -> tuple[dict[str, Any], ...] | None:
    """``["url", ...]`` or ``[{key: "url", ...}, ...]`` -> ``[{key: "url", ...}, ...]``."""
    items = _items(value, field)
    if not items:
        return None
    if max_items is not None and len(items) > max_items:
        raise InvalidParameterError(field, f"takes at most {max_items} item(s), got {len(items)}")
    shaped = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            shaped.append({key: check_url(item, f"{field}[{i}]")})
        elif isinstance(item, Mapping) and isinstance(item.get(key), str) and item[key]:
            shaped.append(dict(item))
        else:
            raise InvalidParameterError(
                f"{field}[{i}]",
                f"must be a URL string or a dict with a {key!r} URL, got {item!r:.60}",
            )
    return tuple(shaped)


def _elements(value: Any) -> tuple[dict[str, Any], ...] | None:
    items = _items(value, "element_list")
    if not items:
        return None
    shaped = []
    for i, item in enumerate(items):
        if isinstance(item, Mapping):
            item = item.get("element_id")
        if isinstance(item, bool) or not isinstance(item, int):
            raise InvalidParameterError(
                f"element_list[{i}]",
                f"must be an int element id or {{'element_id': int}}, got {item!r:.60}",
            )
        shaped.append({"element_id": item})
    return tuple(shaped)


def _watermark(value: Any) -> _WatermarkInfo | None:
    enabled = check_bool(value, "watermark")
    return None if enabled is None else _WatermarkInfo(enabled=enabled)


def _shared_fields(
    model: str, watermark: Any, callback_url: Any, external_task_id: Any
) -> dict[str, Any]:
    """The fields every Kling create carries, checked: ``model_name`` and ``model`` (the same
    value; ``model`` alone would run Kling's default model), watermark, callback, external id."""
    return {
        "model_name": model,
        "model": model,
        "watermark_info": _watermark(watermark),
        "callback_url": check_text(callback_url, "callback_url"),
        "external_task_id": check_text(external_task_id, "external_task_id"),
    }


def _omni_duration(value: Any, field: str = "duration", low: int = 3, high: int = 15) -> str | None:
    """Omni-video duration: whole seconds, given as int or digit string, sent as a string."""
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        seconds = int(value.strip())
    elif isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    else:
        raise InvalidParameterError(
            field,
            f"must be whole seconds as an int or a digit string like '5', got {value!r:.60}",
        )
    if not low <= seconds <= high:
        raise InvalidParameterError(
            field, f"must be between {low} and {high} seconds, got {seconds}"
        )
    return str(seconds)


def _shots(value: Any) -> tuple[dict[str, Any], ...] | None:
    items = _items(value, "multi_prompt")
    if not items:
        return None
    shaped = []
    for i, item in enumerate(items):
        if not isinstance(item, Mapping):
            raise InvalidParameterError(
                f"multi_prompt[{i}]", "must be a dict with index, prompt and duration"
            )
        shot = dict(item)
        shot.setdefault("index", i + 1)
        check_prompt(shot.get("prompt"), f"multi_prompt[{i}].prompt", max_chars=_MAX_PROMPT)
        if shot.get("duration") is not None:
            shot["duration"] = _omni_duration(
                shot["duration"], f"multi_prompt[{i}].duration", low=1
            )
        shaped.append(shot)
    return tuple(shaped)


def _task_from_body(
    body: Mapping[str, Any],
    *,
    route: TaskRoute,
    model: str | None,
    what: str,
    workload: str | None = None,
    callback: bool = False,
) -> Task:
    envelope = structure_response(body, _Envelope, what=what)
    data = envelope.data
    status = status_from_word(data.task_status, _STATUS_WORDS)
    urls: tuple[str, ...] = ()
    if status is TaskStatus.SUCCEEDED and data.task_result is not None:
        result = data.task_result
        media = result.images + result.series_images + result.videos
        urls = tuple(item.url for item in media if item.url)
    error = None
    if status.done and status is not TaskStatus.SUCCEEDED:
        error = TaskError(code=None, message=data.task_status_msg or None)
    return Task(
        id=data.task_id,
        status=status,
        route=route,
        model=model,
        urls=urls,
        error=error,
        request_id=envelope.request_id,
        external_id=data.task_info.external_task_id if data.task_info else None,
        workload=workload,
        callback=callback,
        created_at=data.created_at,
        # Inferred: Kling stamps updated_at when the status changes, so while a task is
        # processing it says when it started (reference/kling.md has no start field).
        started_at=data.updated_at if status is TaskStatus.RUNNING else None,
        updated_at=data.updated_at,
        finished_at=data.updated_at if status.done else None,
        usage=(
            None
            if data.final_unit_deduction is None
            else TaskUsage(units=data.final_unit_deduction)
        ),
        raw=body,
    )


class _KlingFamily:
    """What the three families share: the query route, and sending a create."""

    _path: str
    _route: TaskRoute
    _label: str

    def __init__(self, transport: Transport, *, callback_url: str | None = None) -> None:
        self._transport = transport
        self._callback_url = callback_url

    async def get(
        self, task_id: str, *, model: str | None = None, workload: str | None = None
    ) -> Task:
        """Query one task of this family by its task id (or the ``external_task_id`` you gave).

        Queries do not say which model made the task nor its request shape; pass ``model``
        and ``workload`` (the created task's) to carry them into the snapshot (the session's
        polling does).

        Examples:
            >>> task = await session.kling.omni_video.get("867283741759111202")  # doctest: +SKIP
        """
        path = f"{self._path}/{check_task_id(task_id)}"
        response = await self._transport.request(ApiCall(method="GET", path=path, dialect=DIALECT))
        return _task_from_body(
            response.body,
            route=self._route,
            model=model,
            workload=workload,
            what=f"{self._label} query response",
        )

    async def _create(
        self,
        request: Any,
        model: str,
        extra_body: Mapping[str, Any] | None,
        workload: str,
    ) -> Task:
        body = merge_extra_body(unstructure_request(request), check_extra_body(extra_body))
        with self._transport.telemetry.create(self._route.value, model) as trace:
            response = await self._transport.request(
                ApiCall(
                    method="POST", path=self._path, dialect=DIALECT, creates_task=True, body=body
                )
            )
            task = _task_from_body(
                response.body,
                route=self._route,
                model=model,
                what=f"{self._label} create response",
                workload=workload,
                callback=request.callback_url is not None,
            )
            trace.bind(task)
        return task


class KlingImages(_KlingFamily):
    """Kling v2.1 image tasks: ``/transtreams/kling/v1/images/generations``."""

    _path = IMAGES_PATH
    _route = TaskRoute.KLING_IMAGES
    _label = "Kling image"

    async def create(
        self,
        *,
        prompt: str,
        model: str = IMAGE_MODEL,
        negative_prompt: str | None = None,
        image: str | None = None,
        image_reference: Literal["subject", "face"] | None = None,
        image_fidelity: float | None = None,
        human_fidelity: float | None = None,
        element_list: Sequence[int | Mapping[str, Any]] | None = None,
        resolution: Literal["1k", "2k"] | None = None,
        n: int | None = None,
        aspect_ratio: str | None = None,
        watermark: bool | None = None,
        callback_url: str | None = None,
        external_task_id: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Task:
        """Create a Kling v2.1 image task (``n`` images, 1 to 9) and return it, usually PENDING.

        Examples:
            >>> task = await session.kling.images.create(prompt="A red fox", n=2)  # doctest: +SKIP
        """
        model = check_prompt(model, "model")
        request = _ImageRequest(
            **_shared_fields(
                model, watermark, callback_url or self._callback_url, external_task_id
            ),
            prompt=check_prompt(prompt, max_chars=_MAX_PROMPT),
            negative_prompt=check_text(negative_prompt, "negative_prompt"),
            image=check_url(image, "image"),
            image_reference=check_choice(image_reference, "image_reference", ("subject", "face")),
            image_fidelity=check_number(image_fidelity, "image_fidelity", minimum=0, maximum=1),
            human_fidelity=check_number(human_fidelity, "human_fidelity", minimum=0, maximum=1),
            element_list=_elements(element_list),
            resolution=check_choice(resolution, "resolution", ("1k", "2k")),
            n=check_int(n, "n", minimum=1, maximum=9),
            aspect_ratio=check_choice(aspect_ratio, "aspect_ratio", _ASPECT_RATIOS),
        )
        return await self._create(
            request, model, extra_body, workload(n=request.n, resolution=request.resolution)
        )


class KlingOmniImage(_KlingFamily):
    """Kling V3 Omni image tasks: ``/transtreams/kling/v1/images/omni-image``."""

    _path = OMNI_IMAGE_PATH
    _route = TaskRoute.KLING_OMNI_IMAGE
    _label = "Kling omni-image"

    async def create(
        self,
        *,
        prompt: str,
        model: str = OMNI_MODEL,
        image_list: Sequence[str | Mapping[str, Any]] | None = None,
        element_list: Sequence[int | Mapping[str, Any]] | None = None,
        resolution: Literal["1k", "2k", "4k"] | None = None,
        result_type: Literal["single", "series"] | None = None,
        n: int | None = None,
        series_amount: int | Literal["auto"] | None = None,
        aspect_ratio: str | None = None,
        watermark: bool | None = None,
        callback_url: str | None = None,
        external_task_id: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Task:
        """Create a Kling V3 Omni image task; refer to inputs as ``<<<image_1>>>`` in the prompt.

        Examples:
            >>> task = await session.kling.omni_image.create(  # doctest: +SKIP
            ...     prompt="<<<image_1>>> as a watercolor", image_list=["https://.../a.png"])
        """
        model = check_prompt(model, "model")
        if series_amount is not None and series_amount != "auto":
            check_int(series_amount, "series_amount", minimum=2, maximum=9)
        request = _OmniImageRequest(
            **_shared_fields(
                model, watermark, callback_url or self._callback_url, external_task_id
            ),
            prompt=check_prompt(prompt, max_chars=_MAX_PROMPT),
            image_list=_references(image_list, "image_list", "image"),
            element_list=_elements(element_list),
            resolution=check_choice(resolution, "resolution", ("1k", "2k", "4k")),
            result_type=check_choice(result_type, "result_type", ("single", "series")),
            n=check_int(n, "n", minimum=1, maximum=9),
            series_amount=series_amount,
            aspect_ratio=check_choice(aspect_ratio, "aspect_ratio", (*_ASPECT_RATIOS, "auto")),
        )
        return await self._create(
            request,
            model,
            extra_body,
            workload(
                n=request.n,
                resolution=request.resolution,
                result_type=request.result_type,
                series_amount=request.series_amount,
            ),
        )


class KlingOmniVideo(_KlingFamily):
    """Kling V3 Omni video tasks: ``/transtreams/kling/v1/videos/omni-video``."""

    _path = OMNI_VIDEO_PATH
    _route = TaskRoute.KLING_OMNI_VIDEO
    _label = "Kling omni-video"

    async def create(
        self,
        *,
        prompt: str | None = None,
        model: str = OMNI_MODEL,
        multi_shot: bool | None = None,
        shot_type: Literal["customize", "intelligence"] | None = None,
        multi_prompt: Sequence[Mapping[str, Any]] | None = None,
        image_list: Sequence[str | Mapping[str, Any]] | None = None,
        element_list: Sequence[int | Mapping[str, Any]] | None = None,
        video_list: Sequence[str | Mapping[str, Any]] | None = None,
        sound: Literal["on", "off"] | None = None,
        mode: Literal["std", "pro"] | None = None,
        aspect_ratio: Literal["16:9", "9:16", "1:1"] | None = None,
        duration: int | str | None = None,
        watermark: bool | None = None,
        callback_url: str | None = None,
        external_task_id: str | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Task:
        """Create a Kling V3 Omni video task. ``duration`` is seconds (3-15), int or string.

        ``prompt`` is required unless ``multi_shot=True`` with ``shot_type="customize"`` and a
        ``multi_prompt`` list of shots.

        Examples:
            >>> task = await session.kling.omni_video.create(  # doctest: +SKIP
            ...     prompt="A paper boat on a rainy street", duration=5, mode="std")
        """
        model = check_prompt(model, "model")
        multi_shot = check_bool(multi_shot, "multi_shot")
        shots = _shots(multi_prompt)
        if prompt is None and not (multi_shot and shot_type == "customize" and shots):
            raise InvalidParameterError(
                "prompt",
                "is required (or pass multi_shot=True, shot_type='customize' and multi_prompt)",
            )
        request = _OmniVideoRequest(
            **_shared_fields(
                model, watermark, callback_url or self._callback_url, external_task_id
            ),
            prompt=None if prompt is None else check_prompt(prompt, max_chars=_MAX_PROMPT),
            multi_shot=multi_shot,
            shot_type=check_choice(shot_type, "shot_type", ("customize", "intelligence")),
            multi_prompt=shots,
            image_list=_references(image_list, "image_list", "image_url"),
            element_list=_elements(element_list),
            video_list=_references(video_list, "video_list", "video_url", max_items=1),
            sound=check_choice(sound, "sound", ("on", "off")),
            mode=check_choice(mode, "mode", ("std", "pro")),
            aspect_ratio=check_choice(aspect_ratio, "aspect_ratio", ("16:9", "9:16", "1:1")),
            duration=_omni_duration(duration),
        )
        return await self._create(
            request,
            model,
            extra_body,
            workload(duration=request.duration, mode=request.mode, multi_shot=request.multi_shot),
        )


class Kling:
    """The Kling route families: ``images`` (v2.1), ``omni_image`` and ``omni_video`` (V3 Omni)."""

    def __init__(self, transport: Transport, *, callback_url: str | None = None) -> None:
        self.images = KlingImages(transport, callback_url=callback_url)
        self.omni_image = KlingOmniImage(transport, callback_url=callback_url)
        self.omni_video = KlingOmniVideo(transport, callback_url=callback_url)
