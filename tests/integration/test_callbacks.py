"""Kling callbacks as wake-ups, end to end: the simulated gateway POSTs to a real aiohttp app
on loopback, the app feeds ``session.accept_callback`` through ``webhooks.aiohttp_handler``, and
the scheduler asks the API. Faults: lost, duplicated, forged, early, badly signed, none at all."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from aiohttp import web

from anyint_async import AnyIntSession, CallbackOutcome, PollPolicy, Task
from anyint_async.testing import CallbackFaults, FakeGateway, Fixed, LogNormal, ModelProfile
from anyint_async.webhooks import SessionSource, aiohttp_handler

from ..conftest import API_KEY, FAST_RETRY, NO_LIMITS

PROFILES = {
    "kling.omni_video": ModelProfile(run=LogNormal(0.6, 0.3, low=0.3, high=1.5), queue=Fixed(0.1))
}
# Without callbacks these tasks would be asked about once, 20 s after their expected end: a
# test that finishes in seconds shows the callbacks did the waking.
WAITING = PollPolicy(first_poll=0.2, interval=0.2, max_interval=0.5, callback_fallback=20.0)
SECRET = "whsec_" + base64.b64encode(b"a test secret of 32 bytes, ok!!").decode()


@asynccontextmanager
async def _receiver(session: SessionSource) -> AsyncIterator[str]:
    """A web app on loopback whose one route feeds callbacks to ``session`` (or to the session
    a function returns, for one opened after the app)."""
    app = web.Application()
    app.router.add_post("/anyint/callback", aiohttp_handler(session))
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        yield f"http://127.0.0.1:{port}/anyint/callback"
    finally:
        await runner.cleanup()


async def _run(
    gateway: FakeGateway, count: int, **session_args: object
) -> tuple[list[Task], list[Task]]:
    """Create ``count`` Kling videos with the session's own ``callback_url``; wait for all."""
    sessions: list[AnyIntSession] = []
    async with _receiver(lambda: sessions[0]) as url:
        async with AnyIntSession(
            API_KEY,
            base_url=gateway.url,
            retry_policy=FAST_RETRY,
            poll_policy=WAITING,
            query_rate_limits=NO_LIMITS,
            callback_url=url,
            **session_args,  # type: ignore[arg-type]
        ) as session:
            sessions.append(session)
            made = [await session.kling.omni_video.create(prompt=f"cb-{i}") for i in range(count)]
            assert all(t.callback for t in made)
            done = [t async for t in session.as_completed(made, timeout=15)]
    return made, done


async def test_every_task_exactly_once_under_lost_and_duplicated_callbacks() -> None:
    faults = CallbackFaults(lose=0.2, duplicate=0.1, delay=0.2)
    policy_fallback = PollPolicy(
        first_poll=0.2, interval=0.2, max_interval=0.5, callback_fallback=1.0
    )
    async with FakeGateway(profiles=PROFILES, seed=4, callback_faults=faults) as gateway:
        async with (
            AnyIntSession(
                API_KEY,
                base_url=gateway.url,
                poll_policy=policy_fallback,
                query_rate_limits=NO_LIMITS,
            ) as session,
            _receiver(session) as url,
        ):
            made = [
                await session.kling.omni_video.create(prompt=f"lossy-{i}", callback_url=url)
                for i in range(60)
            ]
            done = [t async for t in session.as_completed(made, timeout=30)]
    assert Counter(t.id for t in done) == Counter(t.id for t in made), "each exactly once"
    assert all(t.succeeded and t.urls for t in done)
    counts = gateway.callbacks.counts
    assert counts["lost"] > 0 and counts["answered"] > 0  # both paths were exercised
    queries = sum(gateway.stats.polls[t.id] for t in made)
    assert queries <= 3 * len(made)  # woken, not polled: about one query per callback


async def test_a_forged_callback_never_yields_what_the_api_did_not_say() -> None:
    async with FakeGateway(profiles=PROFILES, seed=5) as gateway:
        async with (
            AnyIntSession(
                API_KEY, base_url=gateway.url, poll_policy=WAITING, query_rate_limits=NO_LIMITS
            ) as session,
            _receiver(session) as url,
        ):
            task = await session.kling.omni_video.create(prompt="real", callback_url=url)
            waiter = asyncio.create_task(session.wait(task, timeout=15))
            await asyncio.sleep(0.05)  # handed over: the scheduler waits for it
            asked = gateway.stats.polls[task.id]
            running = {"task_id": task.id, "task_status": "processing"}
            assert await session.receive_callback(running) is CallbackOutcome.ACCEPTED
            await asyncio.sleep(0.05)
            assert gateway.stats.polls[task.id] == asked  # "still running" spends no query
            forged = {
                "task_id": task.id,
                "task_status": "succeed",
                "task_result": {"videos": [{"id": "x", "url": "https://evil.example/x.mp4"}]},
            }
            assert await session.receive_callback(json.dumps(forged)) is CallbackOutcome.ACCEPTED
            unknown = {"task_id": "123", "task_status": "succeed"}
            assert not await session.accept_callback(unknown)
            assert await session.receive_callback(b"not json") is CallbackOutcome.MALFORMED
            done = await waiter
    assert done.succeeded
    assert done.urls and all(url.startswith(gateway.files_url) for url in done.urls)
    assert not any("evil" in url for url in done.urls)


async def test_a_callback_before_its_create_answer_is_applied_on_hand_over() -> None:
    async with FakeGateway(profiles=PROFILES, seed=6) as gateway:
        async with AnyIntSession(
            API_KEY, base_url=gateway.url, poll_policy=WAITING, query_rate_limits=NO_LIMITS
        ) as session:
            task = await session.kling.omni_video.create(
                prompt="early", callback_url="http://127.0.0.1:9/x"
            )
            await asyncio.sleep(1.6)  # the task has ended; nobody is waiting for it yet
            # Its callback arrives before the create's answer reached the scheduler.
            assert await session.receive_callback({"task_id": task.id}) is CallbackOutcome.IGNORED
            # Its fallback query would come 20 s after its expected end, past this timeout.
            done = await session.wait(task, timeout=15)
    assert done.succeeded
    assert gateway.stats.polls[task.id] == 1  # asked once, at hand-over


async def test_a_bad_signature_is_refused_and_a_good_one_accepted() -> None:
    async with FakeGateway(profiles=PROFILES, seed=7, callback_secret=SECRET) as gateway:
        made, done = await _run(gateway, 5, callback_secret=SECRET)
        assert Counter(t.id for t in done) == Counter(t.id for t in made)
        assert gateway.callbacks.counts["answered"] >= 5  # signed by the gateway, verified
        async with (
            AnyIntSession(API_KEY, base_url=gateway.url, callback_secret=SECRET) as session,
            _receiver(session) as url,
        ):
            import aiohttp

            body = json.dumps({"task_id": made[0].id}).encode()
            stamp = str(int(time.time()))
            mac = hmac.new(b"the wrong secret", f"msg_1.{stamp}.".encode() + body, hashlib.sha256)
            headers = {
                "webhook-id": "msg_1",
                "webhook-timestamp": stamp,
                "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode(),
            }
            async with aiohttp.ClientSession() as http:
                async with http.post(url, data=body, headers=headers) as forged:
                    assert forged.status == 401
                async with http.post(url, data=body) as unsigned:
                    assert unsigned.status == 401
            old = {**headers, "webhook-timestamp": str(int(time.time()) - 3600)}
            assert await session.receive_callback(body, old) is CallbackOutcome.BAD_SIGNATURE


async def test_a_relay_that_sends_no_callback_still_finishes_every_task() -> None:
    silent = CallbackFaults(relay_drops=True)
    async with FakeGateway(profiles=PROFILES, seed=8, callback_faults=silent) as gateway:
        async with AnyIntSession(
            API_KEY,
            base_url=gateway.url,
            poll_policy=PollPolicy(first_poll=0.2, interval=0.2, callback_fallback=0.5),
            query_rate_limits=NO_LIMITS,
        ) as session:
            made = [
                await session.kling.omni_video.create(
                    prompt=f"s{i}", callback_url="http://localhost:9/"
                )
                for i in range(20)
            ]
            done = [t async for t in session.as_completed(made, timeout=30)]
    assert Counter(t.id for t in done) == Counter(t.id for t in made)
    assert gateway.callbacks.counts["dropped_by_relay"] == 40


async def test_the_gateway_refuses_a_callback_url_off_loopback() -> None:
    from anyint_async import BadRequestError

    async with FakeGateway(profiles=PROFILES) as gateway:
        async with AnyIntSession(API_KEY, base_url=gateway.url) as session:
            with pytest.raises(BadRequestError, match="loopback"):
                await session.kling.omni_video.create(
                    prompt="x", callback_url="http://10.0.0.1/callback"
                )
    assert gateway.stats.creates == Counter()


async def test_the_asgi_app_mounted_in_fastapi_answers_by_outcome() -> None:
    import httpx
    from fastapi import FastAPI

    from anyint_async.webhooks import asgi_app

    async with FakeGateway(profiles=PROFILES, seed=9) as gateway:
        async with AnyIntSession(API_KEY, base_url=gateway.url, callback_secret=SECRET) as session:
            app = FastAPI()
            app.mount("/anyint/callback", asgi_app(session))
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://app") as client:
                body = json.dumps({"task_id": "42"}).encode()
                unsigned = await client.post("/anyint/callback/", content=body)
                assert unsigned.status_code == 401
                stamp = str(int(time.time()))
                key = base64.b64decode(SECRET.removeprefix("whsec_"))
                mac = hmac.new(key, f"msg_9.{stamp}.".encode() + body, hashlib.sha256)
                headers = {
                    "webhook-id": "msg_9",
                    "webhook-timestamp": stamp,
                    "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode(),
                }
                signed = await client.post("/anyint/callback/", content=body, headers=headers)
                assert signed.status_code == 200 and signed.json() == {"outcome": "ignored"}
                got = await client.get("/anyint/callback/")
                assert got.status_code == 405
