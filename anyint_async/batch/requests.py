"""Batch requests: a stable key, a route and its parameters; read from JSONL with exact errors.

A jobs file holds one JSON object per line::

    {"key": "hero-01", "route": "kling.omni_video", "params": {"prompt": "...", "duration": "5"}}

Every line is checked before anything is sent: the route exists, the key follows the key
grammar (``batch.keys``) and is unique ignoring case, and the parameters pass the same checks the
route's create call makes (run dry, with no network). An error names the file, the line, the
field and the rule.
"""

from __future__ import annotations

import inspect
import json
import os
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import aiohttp
from attrs import frozen
from yarl import URL

from .._errors import AnyIntError, InvalidParameterError
from .._retry import RetryPolicy
from .._transport import ConnectionPool, Transport
from .._validate import check_task_id
from ..providers.dashscope import DashScope
from ..providers.kling import Kling
from .keys import folded, key_problem
from .routes import BATCH_ROUTES, ROUTES, route_calls

__all__ = [
    "BATCH_ROUTES",
    "BatchFileError",
    "BatchRequest",
    "load_requests",
    "parse_requests",
    "route_calls",
]


class BatchFileError(AnyIntError, ValueError):
    """A jobs file (or request list) is wrong; ``source``, ``line`` and ``field`` say where."""

    def __init__(self, source: str, line: int | None, field: str | None, problem: str) -> None:
        super().__init__(_where(source, line, field, problem))
        self.source = source
        self.line = line
        self.field = field
        self.problem = problem
        #: The other bad lines of the same file (up to 20), each a ``BatchFileError`` too.
        self.others: tuple[BatchFileError, ...] = ()

    def add_others(self, others: Sequence[BatchFileError], *, hidden: int = 0) -> None:
        """Report further bad lines with this one: one line each in the message."""
        self.others = tuple(others)
        text = _where(self.source, self.line, self.field, self.problem)
        if self.others:
            count = len(self.others) + hidden
            text += f" (and {count} more bad line{'s' if count > 1 else ''})"
            text += "".join(f"\n{other}" for other in self.others)
        if hidden:
            text += f"\n... and {hidden} more"
        self.args = (text,)


def _where(source: str, line: int | None, field: str | None, problem: str) -> str:
    place = source if line is None else f"{source}:{line}"
    return f"{place}: {field + ': ' if field else ''}{problem}"


@frozen
class BatchRequest:
    """One job: ``key`` names it (and its files), ``route`` picks the call, ``params`` are the
    keyword arguments of that route's create (or generate) call.

    Examples:
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


_MAX_REPORTED = 20


def parse_requests(
    items: Iterable[str | Mapping[str, Any] | BatchRequest], *, source: str = "<requests>"
) -> list[BatchRequest]:
    """Check and build requests from JSON lines, dicts or ``BatchRequest``s.

    Blank lines and lines starting with ``#`` are skipped. Every line is checked: the error
    raised names the first bad line and lists the others (up to 20) in one go.

    Examples:
        >>> [r.key for r in parse_requests(['{"key": "fox-1", "route": "kling.images", '
        ...                                 '"params": {"prompt": "A fox"}}'])]
        ['fox-1']
        >>> parse_requests([{"key": "a b", "route": "kling.images", "params": {}}])
        Traceback (most recent call last):
        ...
        anyint_async.batch.requests.BatchFileError: <requests>:1: key: 'a b' is not a valid key: ...
    """
    checker = _LineChecker(source)
    requests: list[BatchRequest] = []
    problems: list[BatchFileError] = []
    for number, item in enumerate(items, start=1):
        try:
            request = checker.check(number, item)
        except BatchFileError as problem:
            problems.append(problem)
            continue
        if request is not None:
            requests.append(request)
    if problems:
        first = problems[0]
        first.add_others(problems[1:_MAX_REPORTED], hidden=max(0, len(problems) - _MAX_REPORTED))
        raise first
    return requests


class _LineChecker:
    """Checks one line at a time, remembering keys and external ids already taken."""

    def __init__(self, source: str) -> None:
        self._source = source
        self._calls = _dry_run_calls()
        self._seen: dict[str, tuple[int, str]] = {}
        self._externals: dict[str, int] = {}

    def _error(self, number: int, field: str | None, problem: str) -> BatchFileError:
        return BatchFileError(self._source, number, field, problem)

    def check(self, number: int, item: object) -> BatchRequest | None:
        if isinstance(item, str):
            if not item.strip() or item.lstrip().startswith("#"):
                return None
            try:
                item = json.loads(item)
            except json.JSONDecodeError as exc:
                raise self._error(number, None, f"not valid JSON ({exc.msg})") from None
        if isinstance(item, BatchRequest):
            item = {"key": item.key, "route": item.route, "params": dict(item.params)}
        if not isinstance(item, Mapping):
            raise self._error(number, None, "each line must be a JSON object")
        unknown = set(item) - {"key", "route", "params"}
        if unknown:
            raise self._error(
                number, sorted(unknown)[0], "unknown field; a job has key, route, params"
            )
        key, route, params = item.get("key"), item.get("route"), item.get("params", {})
        problem = key_problem(key)
        if problem is not None:
            raise self._error(number, "key", problem)
        assert isinstance(key, str)
        first = self._seen.get(folded(key))
        if first is not None:
            raise self._error(
                number,
                "key",
                f"{key!r} is used twice, ignoring case (first on line {first[0]} as {first[1]!r}): "
                "keys name files, and case-blind disks (macOS, Windows) would make them one",
            )
        if route not in BATCH_ROUTES:
            raise self._error(
                number, "route", f"must be one of {', '.join(BATCH_ROUTES)}, got {route!r}"
            )
        if not isinstance(params, Mapping):
            raise self._error(number, "params", "must be a JSON object")
        request = BatchRequest(key=key, route=route, params=dict(params))
        problem = _check_params(request, self._calls[route])
        if problem is not None:
            field, _, text = problem.partition(": ")
            raise self._error(number, field, text)
        self._check_external_id(number, route, params.get("external_task_id"))
        self._seen[folded(key)] = (number, key)
        return request

    def _check_external_id(self, number: int, route: str, external: object) -> None:
        if external is None or not ROUTES[route].takes_external_id:
            return
        try:
            check_task_id(external, "params.external_task_id")
        except InvalidParameterError as exc:
            # A lost create is found again by this id: it must be one a lookup can carry.
            raise self._error(number, exc.field, exc.problem) from None
        assert isinstance(external, str)
        if external in self._externals:
            raise self._error(
                number,
                "params.external_task_id",
                f"{external!r} is used twice (first on line {self._externals[external]}); Kling "
                "keeps external ids unique per account",
            )
        self._externals[external] = number


def load_requests(path: str | os.PathLike[str]) -> list[BatchRequest]:
    """Read and check a JSONL jobs file (see ``parse_requests`` for the checks).

    Examples:
        >>> requests = load_requests("jobs.jsonl")  # doctest: +SKIP
        >>> [r.key for r in requests]  # doctest: +SKIP
        ['poster-01', 'boat-01']
    """
    source = os.fspath(path)
    try:
        text = Path(source).read_text(encoding="utf-8")
    except OSError as exc:
        raise BatchFileError(source, None, None, f"cannot be read: {exc.strerror}") from None
    return parse_requests(text.splitlines(), source=source)
