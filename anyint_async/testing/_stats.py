"""What the simulated gateway saw, for test assertions and benchmark figures."""

from __future__ import annotations

from collections import Counter
from typing import Any

import attrs
from attrs import define, frozen

__all__ = ["GatewayStats", "RequestRecord"]


@frozen
class RequestRecord:
    """One request: when it arrived (seconds since start), route, answer status, task id."""

    at: float
    route: str
    status: int
    task_id: str | None = None


@define
class GatewayStats:
    """Counters the gateway keeps; read them from ``gw.stats`` or ``GET /_sim/stats``.

    - ``requests``: requests per route name (``kling.omni_video.get``, ``files.get``, ...).
    - ``creates``: tasks created per (route, prompt); ``creates_by_external_id`` likewise.
    - ``polls``: queries per task id (answered ones).
    - ``queries_refused``: task queries refused per provider for the gateway's
      ``query_rate_limit``.
    - ``created_at`` / ``finished_at``: the wall-clock Unix time each task was created and
      finishes (or finished).
    - ``run_factors``: how many times the reference request's run time each task's request
      asked for (``request_factor``; 1.0 when the profile does not scale with the request).
    - ``peak_concurrent``: most requests in progress at once (API and file host together).
    - ``file_requests`` / ``file_auth_headers``: requests on the file host, and how many of
      them carried an ``Authorization`` header (must stay 0 for a well-behaved client).
    - ``retry_after_windows``: (start, end, provider) of each 429 with Retry-After: seconds
      since start, and whose queries it paused (``dashscope``, ``kling`` or ``files``).
    - ``billed``: what the tasks that succeed report in their usage, totalled by unit
      (``video_seconds``, ``videos``, ``images``, ``kling_units``); counted when a task is
      made, so a test compares it with what a client totalled once every task finished.
    - ``log``: every request, in arrival order (bounded by the gateway's ``max_log``).

    Examples:
        >>> async with FakeGateway() as gw:  # doctest: +SKIP
        ...     ...  # run your app against gw.url
        ...     assert gw.stats.duplicate_creates() == {}
        ...     assert gw.stats.file_auth_headers == 0
    """

    requests: Counter[str] = attrs.field(factory=Counter)
    statuses: Counter[str] = attrs.field(factory=Counter)
    creates: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    creates_by_external_id: Counter[tuple[str, str]] = attrs.field(factory=Counter)
    polls: Counter[str] = attrs.field(factory=Counter)
    queries_refused: Counter[str] = attrs.field(factory=Counter)
    created_at: dict[str, float] = attrs.field(factory=dict)
    finished_at: dict[str, float] = attrs.field(factory=dict)
    run_factors: dict[str, float] = attrs.field(factory=dict)
    in_flight: int = 0
    peak_concurrent: int = 0
    file_requests: int = 0
    file_auth_headers: int = 0
    async_header_missing: int = 0
    retry_after_windows: list[tuple[float, float, str]] = attrs.field(factory=list)
    billed: Counter[str] = attrs.field(factory=Counter)
    log: list[RequestRecord] = attrs.field(factory=list)

    @property
    def tasks_created(self) -> int:
        """How many tasks were created, every route together."""
        return sum(self.creates.values())

    def duplicate_creates(self) -> dict[tuple[str, str], int]:
        """(route, prompt) pairs created more than once, with their counts."""
        return {key: n for key, n in self.creates.items() if n > 1}

    def queries_inside_retry_after(self, grace: float = 0.0) -> list[RequestRecord]:
        """Queries that arrived inside a Retry-After window of their own provider, ``grace``
        seconds after it opened (a 429 from Kling says nothing of DashScope's limit).

        ``grace`` forgives requests already on the wire when the 429 went out.
        """
        found = []
        for record in self.log:
            if not record.route.endswith(".get") or record.route == "files.get":
                continue
            provider = record.route.split(".", 1)[0]
            for start, end, paused in self.retry_after_windows:
                if paused == provider and start + grace < record.at < end:
                    found.append(record)
                    break
        return found

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict of every counter."""
        return {
            "requests": dict(self.requests),
            "statuses": dict(self.statuses),
            "creates": [
                {"route": route, "prompt": prompt, "count": n}
                for (route, prompt), n in self.creates.items()
            ],
            "creates_by_external_id": [
                {"route": route, "external_task_id": ext, "count": n}
                for (route, ext), n in self.creates_by_external_id.items()
            ],
            "polls": dict(self.polls),
            "queries_refused": dict(self.queries_refused),
            "created_at": self.created_at,
            "finished_at": self.finished_at,
            "run_factors": self.run_factors,
            "in_flight": self.in_flight,
            "peak_concurrent": self.peak_concurrent,
            "file_requests": self.file_requests,
            "file_auth_headers": self.file_auth_headers,
            "async_header_missing": self.async_header_missing,
            "retry_after_windows": self.retry_after_windows,
            "tasks_created": self.tasks_created,
            "billed": dict(self.billed),
            "log": [attrs.astuple(record) for record in self.log],
        }
