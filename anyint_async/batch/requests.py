"""Batch requests: a stable key, a route and its parameters; read from JSONL with exact errors.

A jobs file holds one JSON object per line::

    {"key": "hero-01", "route": "kling.omni_video", "params": {"prompt": "...", "duration": "5"}}

Every line is checked before anything is sent: the route exists, the key is unique and makes a
safe file name, and the parameters pass the same checks the route's create call makes (run dry,
with no network). An error names the file, the line and the field.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import aiohttp
from attrs import frozen
from yarl import URL

from .._errors import AnyIntError, InvalidParameterError
from .._retry import RetryPolicy
from .._transport import ConnectionPool, Transport
from ..download import safe_target
from ..providers.dashscope import DashScope
from ..providers.kling import Kling

__all__ = [
    "BATCH_ROUTES",
    "BatchFileError",
    "BatchRequest",
    "load_requests",
    "parse_requests",
    "route_calls",
]

BATCH_ROUTES = (
    "dashscope.images",
    "dashscope.videos",
    "kling.images",
    "kling.omni_image",
    "kling.omni_video",
)


class BatchFileError(AnyIntError, ValueError):
    """A jobs file (or request list) is wrong; ``source``, ``line`` and ``field`` say where."""

    def __init__(self, source: str, line: int | None, field: str | None, problem: str) -> None:
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {field + ': ' if field else ''}{problem}")
        self.source = source
        self.line = line
        self.field = field
        self.problem = problem


@frozen
class BatchRequest:
    """One job: ``key`` names it (and its files), ``route`` picks the call, ``params`` are the
    keyword arguments of that route's create (or generate) call.

    Example:
        >>> BatchRequest("hero-01", "kling.omni_video", {"prompt": "A boat", "duration": 5}).route
        'kling.omni_video'
    """

    key: str
    route: str
    params: Mapping[str, Any]

    def params_json(self) -> str:
        """The parameters in one canonical JSON form, to tell a changed job from a resumed one."""
        return json.dumps(self.params, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class _DryRun(Exception):
    """Raised instead of sending: the request passed every local check."""


class _DryRunPool(ConnectionPool):
    def session(self) -> aiohttp.ClientSession:
        raise _DryRun


def route_calls(dashscope: DashScope, kling: Kling) -> dict[str, Callable[..., Awaitable[Any]]]:
    """Each batch route's create (or generate) call, by the route's name."""
    return {
        "dashscope.images": dashscope.images.generate,
        "dashscope.videos": dashscope.videos.create,
        "kling.images": kling.images.create,
        "kling.omni_image": kling.omni_image.create,
        "kling.omni_video": kling.omni_video.create,
    }


def _dry_run_calls() -> dict[str, Callable[..., Awaitable[Any]]]:
    transport = Transport(
        base_url=URL("https://dry-run.invalid"),
        api_key="dry-run",
        timeout=aiohttp.ClientTimeout(total=1),
        retry=RetryPolicy(max_retries=0),
        pool=_DryRunPool(max_connections=1),
    )
    return route_calls(DashScope(transport), Kling(transport))


def _check_params(request: BatchRequest, call: Callable[..., Awaitable[Any]]) -> str | None:
    """None if the route's own checks accept the params, else 'field: problem'."""
    accepted = set(inspect.signature(call).parameters)
    for name in request.params:
        if name not in accepted:
            return f"params.{name}: not a parameter of {request.route}; it takes " + ", ".join(
                sorted(accepted)
            )
    try:
        _run_dry(call, request.params)
    except InvalidParameterError as exc:
        return f"params.{exc.field}: {exc.problem}"
    except TypeError as exc:  # a required argument is missing
        return f"params: {exc}"
    return None


def _run_dry(call: Callable[..., Awaitable[Any]], params: Mapping[str, Any]) -> None:
    """Run a create call up to the point where it would send; its checks all run before."""
    coroutine = call(**params)
    assert inspect.iscoroutine(coroutine)
    try:
        coroutine.send(None)
    except _DryRun:
        return
    except StopIteration:
        return
    finally:
        coroutine.close()


def parse_requests(
    items: Iterable[str | Mapping[str, Any] | BatchRequest], *, source: str = "<requests>"
) -> list[BatchRequest]:
    """Check and build requests from JSON lines, dicts or ``BatchRequest``s.

    Blank lines and lines starting with ``#`` are skipped.
    """
    calls = _dry_run_calls()
    requests: list[BatchRequest] = []
    seen: dict[str, int] = {}
    for number, item in enumerate(items, start=1):
        if isinstance(item, str):
            if not item.strip() or item.lstrip().startswith("#"):
                continue
            try:
                item = json.loads(item)
            except json.JSONDecodeError as exc:
                raise BatchFileError(source, number, None, f"not valid JSON ({exc.msg})") from None
        if isinstance(item, BatchRequest):
            item = {"key": item.key, "route": item.route, "params": dict(item.params)}
        if not isinstance(item, Mapping):
            raise BatchFileError(source, number, None, "each line must be a JSON object")
        unknown = set(item) - {"key", "route", "params"}
        if unknown:
            raise BatchFileError(
                source, number, sorted(unknown)[0], "unknown field; a job has key, route, params"
            )
        key, route, params = item.get("key"), item.get("route"), item.get("params", {})
        if not isinstance(key, str) or not key.strip():
            raise BatchFileError(source, number, "key", "must be a non-empty string")
        try:
            safe_target(Path("/batch-output"), key)
        except InvalidParameterError:
            raise BatchFileError(
                source, number, "key", f"{key!r} cannot be a file name inside the output folder"
            ) from None
        if key in seen:
            raise BatchFileError(
                source, number, "key", f"{key!r} is used twice (first on line {seen[key]})"
            )
        if route not in BATCH_ROUTES:
            raise BatchFileError(
                source, number, "route", f"must be one of {', '.join(BATCH_ROUTES)}, got {route!r}"
            )
        if not isinstance(params, Mapping):
            raise BatchFileError(source, number, "params", "must be a JSON object")
        request = BatchRequest(key=key, route=route, params=dict(params))
        problem = _check_params(request, calls[route])
        if problem is not None:
            field, _, text = problem.partition(": ")
            raise BatchFileError(source, number, field, text)
        seen[key] = number
        requests.append(request)
    return requests


def load_requests(path: str | os.PathLike[str]) -> list[BatchRequest]:
    """Read and check a JSONL jobs file."""
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise BatchFileError(source, None, None, f"cannot be read: {exc.strerror}") from None
    return parse_requests(text.splitlines(), source=source)
