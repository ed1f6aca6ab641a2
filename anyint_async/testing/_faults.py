"""Faults the simulated gateway can inject, each fired by a rate, a time window and a count.

A fault matches a request by route: an exact route name (``kling.omni_video.create``), a prefix
(``kling``, ``dashscope.tasks``) or a kind (``create``, ``query``, ``generate``, ``file``). With no
``routes`` it matches every API route (not the file host, which must be named as ``file``).
Windows (``after``/``until``) are real seconds since the gateway started.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import attrs
from attrs import define

__all__ = [
    "DropConnection",
    "Fault",
    "Hang",
    "KlingCode",
    "MalformedBody",
    "RateLimited",
    "ServerError",
    "Slow",
    "TruncatedBody",
    "fault_from_json",
]


@define(kw_only=True)
class Fault:
    """Base of every fault: when it fires. Subclasses say what it does.

    Examples:
        >>> fault = RateLimited(routes=["query"], retry_after=0.5, rate=0.1, times=3)
        >>> fault.matches("kling.omni_video.get", "query"), fault.matches("files.get", "file")
        (True, False)
        >>> fault_to_json(fault)["kind"]
        'rate_limited'
    """

    kind: ClassVar[str] = "fault"
    routes: tuple[str, ...] = attrs.field(default=(), converter=tuple)
    rate: float = 1.0
    after: float = 0.0
    until: float = math.inf
    times: int | None = None
    fired: int = attrs.field(default=0, init=False)
    #: Whether the gateway does the request's work (creates the task) before the fault answers.
    processed: ClassVar[bool] = False

    def matches(self, route: str, route_kind: str) -> bool:
        if not self.routes:
            return route_kind != "file"
        return any(r in (route, route_kind) or route.startswith(r + ".") for r in self.routes)

    def fires(self, route: str, route_kind: str, elapsed: float, rng: random.Random) -> bool:
        """Decide for one request; counts the firing."""
        if not self.matches(route, route_kind) or not self.after <= elapsed < self.until:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        if self.rate < 1.0 and rng.random() >= self.rate:
            return False
        self.fired += 1
        return True


@define(kw_only=True)
class ServerError(Fault):
    """Answer a 5xx in the provider's envelope, before doing any work."""

    kind: ClassVar[str] = "server_error"
    status: int = 503


@define(kw_only=True)
class RateLimited(Fault):
    """Answer 429 (DashScope ``Throttling.RateQuota``, Kling 1302) with ``Retry-After``."""

    kind: ClassVar[str] = "rate_limited"
    retry_after: float | None = 1.0


@define(kw_only=True)
class Slow(Fault):
    """Wait ``delay`` real seconds before handling the request normally."""

    kind: ClassVar[str] = "slow"
    delay: float = 1.0


@define(kw_only=True)
class Hang(Slow):
    """Hold the request ``delay`` real seconds without a byte of answer (a stuck relay, a
    half-open socket), then handle it normally. ``abandoned`` counts the requests whose client
    closed the connection while held: a client that gave up on the hung request and did not
    hand its connection back to the pool."""

    kind: ClassVar[str] = "hang"
    delay: float = 90.0
    abandoned: int = attrs.field(default=0, init=False)


@define(kw_only=True)
class DropConnection(Fault):
    """Close the connection with no answer, after the work is done (the task exists)."""

    kind: ClassVar[str] = "drop"
    processed: ClassVar[bool] = True


@define(kw_only=True)
class TruncatedBody(Fault):
    """Answer 200 with the real JSON cut in half, after the work is done."""

    kind: ClassVar[str] = "truncated"
    processed: ClassVar[bool] = True


@define(kw_only=True)
class MalformedBody(Fault):
    """Answer 200 with an HTML page instead of JSON, after the work is done."""

    kind: ClassVar[str] = "malformed"
    processed: ClassVar[bool] = True


@define(kw_only=True)
class KlingCode(Fault):
    """Answer a Kling error envelope with ``code`` (1302 rate, 1303 concurrency, ...).

    ``http_status`` is what it comes with; Kling has been seen sending codes under HTTP 200.
    Only Kling routes are affected unless ``routes`` says otherwise.
    """

    kind: ClassVar[str] = "kling_code"
    code: int = 1302
    http_status: int = 429
    routes: tuple[str, ...] = attrs.field(default=("kling",), converter=tuple)


_KINDS: Mapping[str, type[Fault]] = {
    cls.kind: cls
    for cls in (
        ServerError,
        RateLimited,
        Slow,
        Hang,
        DropConnection,
        TruncatedBody,
        MalformedBody,
        KlingCode,
    )
}


def fault_from_json(spec: Mapping[str, Any]) -> Fault:
    """Build a fault from ``{"kind": "rate_limited", "retry_after": 0.5, "rate": 0.1, ...}``."""
    kind = spec.get("kind")
    cls = _KINDS.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ValueError(f"fault kind must be one of {sorted(_KINDS)}, got {kind!r}")
    fields = {k: v for k, v in spec.items() if k != "kind"}
    if isinstance(fields.get("until"), type(None)):
        fields.pop("until", None)
    return cls(**fields)


def faults_from_json(specs: Sequence[Mapping[str, Any]]) -> list[Fault]:
    """Build every fault in a JSON list."""
    return [fault_from_json(spec) for spec in specs]


def fault_to_json(fault: Fault) -> dict[str, Any]:
    """The JSON form of a fault, with how often it fired."""
    data = attrs.asdict(fault)
    data["kind"] = fault.kind
    if data.get("until") == math.inf:
        data["until"] = None
    return data
