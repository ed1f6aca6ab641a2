"""Helpers for unit tests that mock the wire with aioresponses."""

from __future__ import annotations

import json
from typing import Any

from aioresponses import aioresponses
from yarl import URL

from anyint_async import AnyIntSession, RetryPolicy

BASE = "https://gateway.test"
KEY = "sk-unit-secret-key-42"
NO_WAIT_RETRY = RetryPolicy(max_retries=3, initial_delay=0.0, max_delay=0.0, max_retry_after=1)


def make_session(**kwargs: Any) -> AnyIntSession:
    kwargs.setdefault("retry_policy", NO_WAIT_RETRY)
    return AnyIntSession(KEY, base_url=BASE, **kwargs)


def sent(mock: aioresponses, method: str, path: str, index: int = -1) -> tuple[Any, dict[str, str]]:
    """The JSON body and headers of a request the session sent (last one by default)."""
    calls = mock.requests[(method, URL(BASE + path))]
    kwargs = calls[index].kwargs
    data = kwargs.get("data")
    body = json.loads(data) if data is not None else None
    return body, dict(kwargs.get("headers") or {})


def count(mock: aioresponses, method: str, path: str) -> int:
    return len(mock.requests.get((method, URL(BASE + path)), []))
