"""Session configuration, lifecycle, refresh routing and secrecy of the API key."""

from __future__ import annotations

import logging
import traceback

import aiohttp
import pytest
from aioresponses import aioresponses

from anyint_async import (
    DEFAULT_BASE_URL,
    AnyIntSession,
    AuthenticationError,
    ConfigurationError,
    InvalidParameterError,
    SessionClosedError,
    Task,
    TaskRoute,
    TaskStatus,
)

from .helpers import BASE, KEY, make_session, sent


def test_missing_key_names_the_environment_variable() -> None:
    with pytest.raises(ConfigurationError, match="ANYINT_API_KEY"):
        AnyIntSession()
    with pytest.raises(ConfigurationError, match="ANYINT_API_KEY"):
        AnyIntSession("   ")


def test_key_and_base_url_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ANYINT_API_KEY", "env-key")
    assert AnyIntSession().base_url == DEFAULT_BASE_URL
    monkeypatch.setenv("ANYINT_BASE_URL", "https://proxy.example/anyint/")
    assert AnyIntSession().base_url == "https://proxy.example/anyint"


@pytest.mark.parametrize(
    "url",
    [
        "http://gateway.api.anyint.ai",
        "http://10.0.0.5:8080",
        "ftp://x",
        "gateway.api.anyint.ai",
        "https://h/?q=1",
    ],
)
def test_base_url_must_be_https_unless_loopback(url: str) -> None:
    with pytest.raises(ConfigurationError, match="base_url"):
        AnyIntSession("k", base_url=url)


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080",
        "http://127.4.5.6",
        "http://localhost:1",
        "http://[::1]:9",
        "https://x.example",
    ],
)
def test_loopback_http_and_any_https_are_accepted(url: str) -> None:
    assert AnyIntSession("k", base_url=url).base_url == url


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": "5"}, "timeout"),
        ({"max_connections": 0}, "max_connections"),
        ({"http_session": object()}, "http_session"),
        ({"poll_policy": "turbo"}, "poll_policy"),
        ({"poll_policy": 5}, "poll_policy"),
        ({"duration_memory": 5}, "duration_memory"),
        ({"duration_memory": ""}, "duration_memory"),
        ({"duration_memory": "."}, "duration_memory"),  # a folder, not a file
        ({"coordination_url": "http://127.0.0.1:6379"}, "coordination_url"),
        ({"coordination_url": 6379}, "coordination_url"),
        ({"coordination": object()}, "coordination"),
        ({"coordination": object(), "coordination_url": "redis://127.0.0.1"}, "coordination"),
    ],
)
def test_bad_session_arguments_name_the_field(kwargs: dict[str, object], field: str) -> None:
    with pytest.raises(InvalidParameterError) as caught:
        AnyIntSession("k", **kwargs)  # type: ignore[arg-type]
    assert caught.value.field == field


def test_a_bad_coordination_url_never_echoes_its_password() -> None:
    with pytest.raises(InvalidParameterError) as caught:
        AnyIntSession("k", coordination_url="https://user:hunter2@cache.internal:6379")
    assert "hunter2" not in str(caught.value) and "redis://" in str(caught.value)


async def test_repr_and_errors_never_show_the_key(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    session = make_session()
    assert KEY not in repr(session) and "hidden" in repr(session)
    with aioresponses() as mock:
        mock.get(f"{BASE}/dashscope/v1/tasks/t", status=503, payload={"code": "ServiceUnavailable"})
        mock.get(
            f"{BASE}/dashscope/v1/tasks/t",
            status=401,
            payload={"code": "InvalidApiKey", "message": "Invalid API-key provided."},
        )
        with pytest.raises(AuthenticationError) as caught:
            await session.dashscope.tasks.get("t")
    await session.close()
    rendered = "".join(traceback.format_exception(caught.value))
    assert KEY not in rendered and KEY not in repr(caught.value)
    assert KEY not in caplog.text
    assert "retrying GET /dashscope/v1/tasks/t" in caplog.text  # the retry was logged, keylessly
    assert KEY not in repr(vars(session))


async def test_closed_session_raises_clearly() -> None:
    session = make_session()
    await session.close()
    await session.close()  # idempotent
    assert session.closed and "closed" in repr(session)
    with pytest.raises(SessionClosedError, match="closed"):
        await session.dashscope.tasks.get("t")
    with pytest.raises(SessionClosedError):
        async with session:
            pass


async def test_borrowed_http_session_is_used_and_left_open() -> None:
    async with aiohttp.ClientSession() as http:
        with aioresponses() as mock:
            mock.get(
                f"{BASE}/dashscope/v1/tasks/t",
                payload={"output": {"task_id": "t", "task_status": "PENDING"}},
            )
            async with AnyIntSession(KEY, base_url=BASE, http_session=http) as session:
                task = await session.dashscope.tasks.get("t")
            _, headers = sent(mock, "GET", "/dashscope/v1/tasks/t")
        assert task.status is TaskStatus.PENDING
        assert headers["Authorization"] == f"Bearer {KEY}"
        assert not http.closed  # borrowed: never closed by the SDK


async def test_closed_borrowed_session_is_reported() -> None:
    http = aiohttp.ClientSession()
    await http.close()
    session = AnyIntSession(KEY, base_url=BASE, http_session=http)
    with pytest.raises(SessionClosedError, match="http_session"):
        await session.dashscope.tasks.get("t")


async def test_refresh_routes_by_task_and_keeps_what_the_query_does_not_say() -> None:
    # The query says neither the model, the request shape nor whether the task calls back:
    # dropped, a refreshed task handed to wait() would be learned as another shape's and
    # polled as though no callback were coming.
    kling_body = {"code": 0, "data": {"task_id": "77", "task_status": "processing"}}
    with aioresponses() as mock:
        mock.get(
            f"{BASE}/transtreams/kling/v1/videos/omni-video/77", payload=kling_body, repeat=True
        )
        mock.get(
            f"{BASE}/dashscope/v1/tasks/d-1",
            payload={"output": {"task_id": "d-1", "task_status": "RUNNING"}},
        )
        async with make_session() as session:
            before = Task(
                id="77",
                status=TaskStatus.PENDING,
                route=TaskRoute.KLING_OMNI_VIDEO,
                model="kling-v3-omni",
                workload="5s/std",
                callback=True,
            )
            after = await session.refresh(before)
            by_id = await session.refresh("77", route="kling.omni_video")
            dashscope = await session.refresh("d-1", route="dashscope")
    assert after.status is TaskStatus.RUNNING
    assert (after.model, after.workload, after.callback) == ("kling-v3-omni", "5s/std", True)
    assert by_id.route is TaskRoute.KLING_OMNI_VIDEO and by_id.model is None
    assert dashscope.route is TaskRoute.DASHSCOPE_TASKS


@pytest.mark.parametrize(
    ("args", "kwargs", "field"),
    [
        (("77",), {}, "route"),
        (("77",), {"route": "openai"}, "route"),
        (("77",), {"route": "kling"}, "route"),
        ((42,), {"route": "dashscope"}, "task"),
        (("../x",), {"route": "dashscope"}, "task"),
    ],
)
async def test_refresh_rejects_unknown_routes_before_sending(
    args: tuple[object, ...], kwargs: dict[str, object], field: str
) -> None:
    with aioresponses() as mock:
        async with make_session() as session:
            with pytest.raises(InvalidParameterError) as caught:
                await session.refresh(*args, **kwargs)  # type: ignore[arg-type]
        assert not mock.requests
    assert caught.value.field == field
