"""Receiving Kling callbacks in a web app: an aiohttp handler and a plain ASGI app.

Both feed each POST to ``session.receive_callback`` and answer what the sender should hear:
2xx for what was accepted or ignored (an unknown task is not the sender's fault, and a retry
would not help), 400 for a body that is not a callback, 401 for a bad signature, 405 for
anything but POST. Neither returns results: a callback only wakes the session's scheduler, whose
query answers reach whoever waits (``session.wait``, ``as_completed``, a poller).

    app = web.Application()
    app.router.add_post("/anyint/callback", aiohttp_handler(session))

    fastapi_app.mount("/anyint/callback", asgi_app(session))

Either takes the session, or a function that returns it when a callback arrives (for apps that
open their session in a lifespan hook, after their routes are set up).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import TYPE_CHECKING, Any, Union

from aiohttp import web

from ._callbacks import CallbackOutcome, verify_signature

if TYPE_CHECKING:
    from ._session import AnyIntSession

__all__ = [
    "CallbackApp",
    "CallbackOutcome",
    "SessionSource",
    "aiohttp_handler",
    "asgi_app",
    "verify_signature",
]

#: The largest callback body read; a Kling task's ``data`` is a few KiB.
MAX_BODY = 1024 * 1024

_STATUS = {
    CallbackOutcome.ACCEPTED: 200,
    CallbackOutcome.FORWARDED: 200,
    CallbackOutcome.IGNORED: 200,
    CallbackOutcome.MALFORMED: 400,
    CallbackOutcome.BAD_SIGNATURE: 401,
}

SessionSource = Union["AnyIntSession", Callable[[], "AnyIntSession"]]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]


def _session(source: SessionSource) -> AnyIntSession:
    return source() if callable(source) else source


def aiohttp_handler(session: SessionSource) -> Callable[[web.Request], Awaitable[web.Response]]:
    """An ``aiohttp.web`` handler that feeds each POSTed callback to ``session``."""

    async def handle(request: web.Request) -> web.Response:
        if request.method != "POST":
            return web.json_response({"error": "POST only"}, status=405)
        if request.content_length is not None and request.content_length > MAX_BODY:
            return web.json_response({"outcome": "malformed"}, status=400)
        body = await request.read()
        outcome = await _session(session).receive_callback(body, request.headers)
        return web.json_response({"outcome": outcome.value}, status=_STATUS[outcome])

    return handle


class CallbackApp:
    """The ASGI app :func:`asgi_app` returns (a class, so that Starlette's ``Route`` and
    ``add_route`` take it as an app rather than as a request handler)."""

    def __init__(self, session: SessionSource) -> None:
        self._session = session

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            while (await receive())["type"] != "lifespan.shutdown":
                await send({"type": "lifespan.startup.complete"})
            await send({"type": "lifespan.shutdown.complete"})
            return
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await _answer(send, 405, b'{"error": "POST only"}')
            return
        body = bytearray()
        while True:
            message = await receive()
            body += message.get("body", b"")
            if len(body) > MAX_BODY:
                await _answer(send, 400, b'{"outcome": "malformed"}')
                return
            if not message.get("more_body"):
                break
        headers = {
            name.decode("latin-1"): value.decode("latin-1") for name, value in scope["headers"]
        }
        outcome = await _session(self._session).receive_callback(bytes(body), headers)
        await _answer(send, _STATUS[outcome], b'{"outcome": "' + outcome.value.encode() + b'"}')


def asgi_app(session: SessionSource) -> CallbackApp:
    """A minimal ASGI app (no framework needed) that feeds each POSTed callback to ``session``.

    In FastAPI or Starlette: ``app.mount("/anyint/callback", asgi_app(session))`` (Starlette
    then redirects the path without a trailing slash to ``/anyint/callback/``: give Kling the
    latter), or, for the exact path, ``app.add_route("/anyint/callback", asgi_app(session),
    methods=["POST"])``.
    """
    return CallbackApp(session)


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})
