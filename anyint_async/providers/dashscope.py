"""DashScope's routes as AnyInt republishes them under ``/dashscope/v1``.

Image generation answers at once; video synthesis makes a task, queried at ``/tasks/{id}``.
Shapes: the seed (anyint-media-apis.txt) and reference/dashscope.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from attrs import frozen

from .._convert import (
    LenientText,
    ProviderLocalTime,
    WireCode,
    merge_extra_body,
    structure_response,
    unstructure_request,
)
from .._errors import InvalidParameterError
from .._transport import ApiCall, Transport, WireDialect, read_timeout
from .._validate import (
    check_bool,
    check_extra_body,
    check_int,
    check_prompt,
    check_seconds,
    check_size,
    check_task_id,
    check_text,
    check_url,
)
from ..billing import image_task_usage
from ..models import (
    ImageResult,
    ImageUsage,
    Task,
    TaskError,
    TaskRoute,
    TaskStatus,
    TaskUsage,
)
from ._status import status_from_word
from ._workload import workload

__all__ = ["DashScope", "DashScopeImages", "DashScopeTasks", "DashScopeVideos"]

IMAGE_PATH = "/dashscope/v1/services/aigc/multimodal-generation/generation"
VIDEO_PATH = "/dashscope/v1/services/aigc/video-generation/video-synthesis"
TASK_PATH = "/dashscope/v1/tasks/"

DIALECT = WireDialect(
    name="dashscope",
    # Quota and billing answers arrive as 429/400 but never heal by waiting.
    permanent_codes=frozenset({"Throttling.FreeTierOnly", "Arrearage"}),
    # Throttling is decided before a request is processed: a throttled create made nothing.
    rejected_codes=frozenset({"Throttling", "Throttling.RateQuota", "Throttling.AllocationQuota"}),
)

# Upstream DashScope only creates a task when asked for async; the official SDK always sends this
# header on task routes. The seed's curl examples omit it; sending it is harmless.
_ASYNC_HEADER = {"X-DashScope-Async": "enable"}

_STATUS_WORDS: Mapping[str, TaskStatus] = {
    "pending": TaskStatus.PENDING,
    "running": TaskStatus.RUNNING,
    "succeeded": TaskStatus.SUCCEEDED,
    "failed": TaskStatus.FAILED,
    "canceled": TaskStatus.CANCELED,
    "cancelled": TaskStatus.CANCELED,
    "unknown": TaskStatus.UNKNOWN,
}


# --- wire requests -------------------------------------------------------------------------


@frozen
class _ContentBlock:
    text: str | None = None
    image: str | None = None


@frozen
class _Message:
    role: str
    content: tuple[_ContentBlock, ...]


@frozen
class _ImageInput:
    messages: tuple[_Message, ...]


@frozen
class _ImageParameters:
    size: str | None = None
    negative_prompt: str | None = None
    prompt_extend: bool | None = None
    watermark: bool | None = None


@frozen
class _ImageRequest:
    model: str
    input: _ImageInput
    parameters: _ImageParameters


@frozen
class _VideoInput:
    prompt: str
    img_url: str | None = None
    audio_url: str | None = None
    negative_prompt: str | None = None


@frozen
class _VideoParameters:
    resolution: str | None = None
    size: str | None = None
    duration: int | None = None
    audio: bool | None = None
    shot_type: str | None = None
    prompt_extend: bool | None = None
    watermark: bool | None = None
    seed: int | None = None


@frozen
class _VideoRequest:
    model: str
    input: _VideoInput
    parameters: _VideoParameters


# --- wire responses ------------------------------------------------------------------------


@frozen
class _ImageContent:
    image: str | None = None


@frozen
class _ImageMessage:
    content: tuple[_ImageContent, ...] = ()


@frozen
class _ImageChoice:
    message: _ImageMessage


@frozen
class _ImageOutput:
    choices: tuple[_ImageChoice, ...]


@frozen
class _ImageEnvelope:
    output: _ImageOutput
    usage: ImageUsage | None = None
    request_id: str | None = None


@frozen
class _TaskResultItem:
    url: str | None = None


@frozen
class _TaskOutput:
    task_id: str
    task_status: str
    submit_time: ProviderLocalTime | None = None
    scheduled_time: ProviderLocalTime | None = None
    end_time: ProviderLocalTime | None = None
    video_url: str | None = None
    results: tuple[_TaskResultItem, ...] = ()
    code: WireCode | None = None
    message: str | None = None
    actual_prompt: LenientText | None = None


@frozen
class _TaskEnvelope:
    output: _TaskOutput
    usage: TaskUsage | None = None
    request_id: str | None = None


def _task_from_body(
    body: Mapping[str, Any], *, what: str, model: str | None, workload: str | None = None
) -> Task:
    envelope = structure_response(body, _TaskEnvelope, what=what)
    out = envelope.output
    status = status_from_word(out.task_status, _STATUS_WORDS)
    urls: tuple[str, ...] = ()
    if status is TaskStatus.SUCCEEDED:
        found = [out.video_url] + [item.url for item in out.results]
        urls = tuple(url for url in found if url)
    error = None
    if out.code or out.message or status is TaskStatus.FAILED:
        error = TaskError(code=out.code, message=out.message)
    return Task(
        id=out.task_id,
        status=status,
        route=TaskRoute.DASHSCOPE_TASKS,
        model=model,
        urls=urls,
        error=error,
        request_id=envelope.request_id,
        workload=workload,
        created_at=out.submit_time,
        started_at=out.scheduled_time,
        finished_at=out.end_time,
        usage=envelope.usage,
        actual_prompt=out.actual_prompt,
        raw=body,
    )


# Image generation answers only when the image is made: tens of seconds usually, minutes under
# load. The official dashscope SDK waits 300 s by default (DEFAULT_REQUEST_TIMEOUT_SECONDS); a
# shorter wait throws away an image that was made and billed, with no task id to fetch it by.
DEFAULT_GENERATION_TIMEOUT = 300.0


def _generation_hint(seconds: float) -> str:
    return (
        "the image may have been made and billed (DashScope bills each generated image), and "
        "this route returns it only in its answer, so it cannot be fetched again. It was not "
        f"sent again. To wait longer than {seconds:g} s, pass timeout= to generate(), set "
        "AnyIntSession(generation_timeout=...), or use --timeout with anyint dashscope image"
    )


class DashScopeImages:
    """``POST /dashscope/v1/services/aigc/multimodal-generation/generation``: images at once.

    The answer comes when the image is made, so this route waits ``generation_timeout``
    seconds (default 300) for it rather than the session's ``timeout``.
    """

    def __init__(
        self, transport: Transport, *, generation_timeout: float = DEFAULT_GENERATION_TIMEOUT
    ) -> None:
        self._transport = transport
        self.generation_timeout = generation_timeout

    async def generate(
        self,
        *,
        model: str,
        prompt: str,
        images: Sequence[str] | None = None,
        size: str | None = None,
        negative_prompt: str | None = None,
        prompt_extend: bool | None = None,
        watermark: bool | None = None,
        extra_body: Mapping[str, Any] | None = None,
        timeout: float | None = None,  # noqa: ASYNC109 - a per-request HTTP budget, not a scope
    ) -> ImageResult:
        """Generate images from a prompt (and optional reference images) and return their URLs.

        The answer comes only when the image is made: this call waits up to ``timeout`` seconds
        for it (default: the session's ``generation_timeout``, 300 s); a host that cannot be
        reached still fails within 10 s. The URLs are signed and expire (about 24 h upstream):
        download them promptly. Like a task create, a generation whose answer was lost is not
        sent again (it is billed); the error then says so with ``may_have_created_task``, and
        that an image made then cannot be fetched again.

        Examples:
            >>> result = await session.dashscope.images.generate(  # doctest: +SKIP
            ...     model="qwen-image-plus", prompt="A neon poster", size="1328*1328")
            >>> result.urls  # doctest: +SKIP
            ('https://...png',)
        """
        blocks = [_ContentBlock(text=check_prompt(prompt))]
        blocks += [
            _ContentBlock(image=check_url(url, f"images[{i}]"))
            for i, url in enumerate(_sequence(images, "images"))
        ]
        request = _ImageRequest(
            model=check_prompt(model, "model"),
            input=_ImageInput(messages=(_Message(role="user", content=tuple(blocks)),)),
            parameters=_ImageParameters(
                size=check_size(size),
                negative_prompt=check_text(negative_prompt, "negative_prompt"),
                prompt_extend=check_bool(prompt_extend, "prompt_extend"),
                watermark=check_bool(watermark, "watermark"),
            ),
        )
        body = merge_extra_body(unstructure_request(request), check_extra_body(extra_body))
        seconds = self.generation_timeout if timeout is None else check_seconds(timeout, "timeout")
        with self._transport.telemetry.generate(request.model):
            response = await self._transport.request(
                # Each generation is billed: an answer lost in transit is not sent again.
                ApiCall(
                    method="POST",
                    path=IMAGE_PATH,
                    dialect=DIALECT,
                    creates_task=True,
                    body=body,
                    timeout=read_timeout(seconds),
                    ambiguity_hint=_generation_hint(seconds),
                )
            )
        envelope = structure_response(
            response.body, _ImageEnvelope, what="DashScope image generation response"
        )
        urls = tuple(
            block.image
            for choice in envelope.output.choices
            for block in choice.message.content
            if block.image
        )
        usage = envelope.usage or ImageUsage()
        self._transport.telemetry.billed(image_task_usage(usage), "dashscope.images")
        return ImageResult(
            urls=urls,
            model=request.model,
            usage=usage,
            request_id=envelope.request_id or response.request_id,
            raw=response.body,
        )


class DashScopeVideos:
    """``POST /dashscope/v1/services/aigc/video-generation/video-synthesis``: makes a task."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def create(
        self,
        *,
        model: str,
        prompt: str,
        img_url: str | None = None,
        audio_url: str | None = None,
        negative_prompt: str | None = None,
        resolution: str | None = None,
        size: str | None = None,
        duration: int | None = None,
        audio: bool | None = None,
        shot_type: str | None = None,
        prompt_extend: bool | None = None,
        watermark: bool | None = None,
        seed: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ) -> Task:
        """Create a video task (HappyHorse, Wan, ...) and return it, usually PENDING.

        Never retried unless the failure proves nothing was created; see ``APIError``'s
        ``may_have_created_task``.

        Examples:
            >>> task = await session.dashscope.videos.create(  # doctest: +SKIP
            ...     model="happyhorse-1.0-t2v", prompt="A rapper under a bridge", duration=10)
            >>> task.status  # doctest: +SKIP
            <TaskStatus.PENDING: 'PENDING'>
        """
        request = _VideoRequest(
            model=check_prompt(model, "model"),
            input=_VideoInput(
                prompt=check_prompt(prompt),
                img_url=check_url(img_url, "img_url"),
                audio_url=check_url(audio_url, "audio_url"),
                negative_prompt=check_text(negative_prompt, "negative_prompt"),
            ),
            parameters=_VideoParameters(
                resolution=check_text(resolution, "resolution"),
                size=check_size(size),
                duration=check_int(duration, "duration", unit="of seconds", minimum=1),
                audio=check_bool(audio, "audio"),
                shot_type=check_text(shot_type, "shot_type"),
                prompt_extend=check_bool(prompt_extend, "prompt_extend"),
                watermark=check_bool(watermark, "watermark"),
                seed=check_int(seed, "seed", minimum=0),
            ),
        )
        body = merge_extra_body(unstructure_request(request), check_extra_body(extra_body))
        route = TaskRoute.DASHSCOPE_TASKS.value
        with self._transport.telemetry.create(route, request.model) as trace:
            response = await self._transport.request(
                ApiCall(
                    method="POST",
                    path=VIDEO_PATH,
                    dialect=DIALECT,
                    creates_task=True,
                    body=body,
                    headers=_ASYNC_HEADER,
                )
            )
            params = request.parameters
            task = _task_from_body(
                response.body,
                what="DashScope video-synthesis response",
                model=request.model,
                workload=workload(
                    duration=params.duration, resolution=params.resolution, size=params.size
                ),
            )
            trace.bind(task)
        return task


class DashScopeTasks:
    """``GET /dashscope/v1/tasks/{task_id}``: one query route for every DashScope task."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport

    async def get(
        self, task_id: str, *, model: str | None = None, workload: str | None = None
    ) -> Task:
        """Query a task by id. An id the provider does not know comes back as UNKNOWN.

        Queries do not say which model made the task nor its request shape; pass ``model``
        and ``workload`` (the created task's) to carry them into the snapshot (the session's
        polling does).

        Examples:
            >>> task = await session.dashscope.tasks.get("c25723f0-...")  # doctest: +SKIP
        """
        path = TASK_PATH + check_task_id(task_id)
        response = await self._transport.request(ApiCall(method="GET", path=path, dialect=DIALECT))
        return _task_from_body(
            response.body, what="DashScope task query response", model=model, workload=workload
        )


class DashScope:
    """The DashScope route families: ``images``, ``videos`` and ``tasks``."""

    def __init__(
        self, transport: Transport, *, generation_timeout: float = DEFAULT_GENERATION_TIMEOUT
    ) -> None:
        self.images = DashScopeImages(transport, generation_timeout=generation_timeout)
        self.videos = DashScopeVideos(transport)
        self.tasks = DashScopeTasks(transport)


def _sequence(value: Sequence[str] | None, field: str) -> Sequence[str]:
    if value is None:
        return ()
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise InvalidParameterError(field, f"must be a list of URLs, got {value!r:.60}")
    return value
