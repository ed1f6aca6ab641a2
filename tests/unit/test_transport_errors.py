"""Error envelopes map to the error hierarchy with readable messages."""

from __future__ import annotations

import pytest
from aioresponses import aioresponses

from anyint_async import (
    AnyIntError,
    APIError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
)

from .helpers import count, make_session

TASK = "/dashscope/v1/tasks/t-1"
KLING_TASK = "/transtreams/kling/v1/images/generations/1"


@pytest.mark.parametrize(
    ("path", "status", "body", "cls", "code", "message"),
    [
        (
            TASK,
            400,
            {"code": "InvalidParameter", "message": "bad"},
            BadRequestError,
            "InvalidParameter",
            "bad",
        ),
        (
            TASK,
            401,
            {"code": "InvalidApiKey", "message": "Invalid API-key provided."},
            AuthenticationError,
            "InvalidApiKey",
            "Invalid API-key provided.",
        ),
        (
            TASK,
            403,
            {"code": "AccessDenied.Unpurchased", "message": "no"},
            PermissionDeniedError,
            "AccessDenied.Unpurchased",
            "no",
        ),
        (
            TASK,
            404,
            {"code": "ModelNotFound", "message": "gone"},
            NotFoundError,
            "ModelNotFound",
            "gone",
        ),
        (
            TASK,
            422,
            {"code": "InvalidParameter", "message": "x"},
            BadRequestError,
            "InvalidParameter",
            "x",
        ),
        (
            TASK,
            429,
            {"code": "Throttling.FreeTierOnly", "message": "free tier"},
            RateLimitError,
            "Throttling.FreeTierOnly",
            "free tier",
        ),
        (
            KLING_TASK,
            401,
            {"code": 1002, "message": "Authorization is invalid"},
            AuthenticationError,
            "1002",
            "Authorization is invalid",
        ),
        (
            KLING_TASK,
            403,
            {"code": 1103, "message": "no permission"},
            PermissionDeniedError,
            "1103",
            "no permission",
        ),
        (
            KLING_TASK,
            429,
            {"code": 1102, "message": "Account balance not enough"},
            RateLimitError,
            "1102",
            "Account balance not enough",
        ),
        (
            KLING_TASK,
            400,
            {"code": 1301, "message": "content safety"},
            BadRequestError,
            "1301",
            "content safety",
        ),
        (
            KLING_TASK,
            404,
            {"code": 1203, "message": "task not found"},
            NotFoundError,
            "1203",
            "task not found",
        ),
    ],
)
async def test_error_envelopes_map_to_classes(
    path: str,
    status: int,
    body: dict[str, object],
    cls: type[APIStatusError],
    code: str,
    message: str,
) -> None:
    with aioresponses() as mock:
        mock.get(
            f"https://gateway.test{path}", status=status, payload={**body, "request_id": "rid-1"}
        )
        async with make_session() as session:
            with pytest.raises(cls) as caught:
                if path == TASK:
                    await session.dashscope.tasks.get("t-1")
                else:
                    await session.kling.images.get("1")
        assert count(mock, "GET", path) == 1  # none of these heal by retrying
    error = caught.value
    assert isinstance(error, APIStatusError) and isinstance(error, AnyIntError)
    assert (error.status, error.code, error.message, error.request_id) == (
        status,
        code,
        message,
        "rid-1",
    )
    assert str(error) == f"{status} {code}: {message} (request_id=rid-1)"


async def test_rate_limit_message_reads_well() -> None:
    body = {
        "code": "Throttling.RateQuota",
        "message": "Requests rate limit exceeded",
        "request_id": "abc",
    }
    with aioresponses() as mock:
        mock.get(
            f"https://gateway.test{TASK}",
            status=429,
            payload=body,
            headers={"Retry-After": "30"},
            repeat=True,
        )
        async with make_session() as session:
            with pytest.raises(RateLimitError) as caught:
                await session.dashscope.tasks.get("t-1")
    line = f"{type(caught.value).__name__}: {caught.value}"
    assert (
        line
        == "RateLimitError: 429 Throttling.RateQuota: Requests rate limit exceeded (request_id=abc)"
    )
    assert caught.value.retry_after == 30.0


async def test_non_json_error_body_still_maps() -> None:
    with aioresponses() as mock:
        mock.get(
            f"https://gateway.test{TASK}",
            status=502,
            body="<html>Bad Gateway</html>",
            content_type="text/html",
            repeat=True,
        )
        async with make_session() as session:
            with pytest.raises(InternalServerError) as caught:
                await session.dashscope.tasks.get("t-1")
    assert caught.value.status == 502 and caught.value.code is None
    assert "non-JSON body" in str(caught.value) and "Bad Gateway" in str(caught.value)


async def test_unlisted_status_is_a_plain_status_error() -> None:
    with aioresponses() as mock:
        mock.get(f"https://gateway.test{TASK}", status=418, payload={"message": "teapot"})
        async with make_session() as session:
            with pytest.raises(APIStatusError) as caught:
                await session.dashscope.tasks.get("t-1")
    assert type(caught.value) is APIStatusError and caught.value.status == 418


def test_errors_pickle_round_trip() -> None:
    import pickle

    error = RateLimitError("slow down", status=429, code="1302", request_id="r", retry_after=2.0)
    error.mark_may_have_created_task()
    again = pickle.loads(pickle.dumps(error))
    assert type(again) is RateLimitError
    assert (again.code, again.retry_after, again.may_have_created_task) == ("1302", 2.0, True)
    assert str(again) == str(error)
    assert isinstance(again, APIError)
