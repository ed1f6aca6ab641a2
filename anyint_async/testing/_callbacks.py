"""Kling callbacks from the simulated gateway: POSTs of a task's ``data`` when it starts running
and when it ends, to loopback addresses only, with the faults real deliveries have."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import ipaddress
import json
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import aiohttp
from attrs import frozen
from yarl import URL

__all__ = ["CallbackFaults", "CallbackSender", "loopback_problem"]

_ATTEMPTS = 3  # a failed delivery is tried at most this often
_FIRST_BACKOFF = 0.2


@frozen
class CallbackFaults:
    """What goes wrong with callbacks: ``lose`` and ``duplicate`` are shares of callbacks,
    ``delay`` seconds added to each (up to), ``reorder`` the share of tasks whose start
    callback arrives after their end callback, ``relay_drops``: none is sent at all (a relay
    that does not pass callbacks on).

    Examples:
        >>> CallbackFaults(lose=0.2, duplicate=0.1)
        CallbackFaults(lose=0.2, duplicate=0.1, delay=0.0, reorder=0.0, relay_drops=False)
    """

    lose: float = 0.0
    duplicate: float = 0.0
    delay: float = 0.0
    reorder: float = 0.0
    relay_drops: bool = False


def loopback_problem(url: object) -> str | None:
    """Why the simulated gateway refuses ``url`` as a callback URL, or None if it accepts it:
    it is a loopback test server and POSTs only to 127.0.0.0/8, ::1 and localhost."""
    if not isinstance(url, str):
        return "callback_url must be a string"
    parsed = URL(url)
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return f"callback_url must be an absolute http(s) URL, got {url!r}"
    host = parsed.host.strip("[]").lower()
    if host in ("localhost", "localhost."):
        return None
    try:
        if ipaddress.ip_address(host).is_loopback:
            return None
    except ValueError:
        pass
    return (
        "the simulated gateway sends callbacks only to loopback addresses "
        f"(127.0.0.0/8, ::1, localhost), got host {parsed.host!r}"
    )


class CallbackSender:
    """Sends the callbacks of tasks created with a ``callback_url``; counts what happened."""

    def __init__(
        self,
        faults: CallbackFaults,
        *,
        rng: random.Random,
        secret: str | None = None,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.faults = faults
        self._rng = rng
        self._secret = secret
        self._wall_clock = wall_clock
        self._http: aiohttp.ClientSession | None = None
        self._pending: set[asyncio.Task[None]] = set()
        self._sent = 0
        self.counts: Counter[str] = Counter()

    async def start(self) -> None:
        self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5.0))

    async def stop(self) -> None:
        for pending in list(self._pending):
            pending.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        if self._http is not None:
            await self._http.close()

    def schedule(self, url: str, events: list[tuple[float, Callable[[], dict[str, Any]]]]) -> None:
        """Send one callback per (delay from now, body maker), with the configured faults."""
        if self.faults.relay_drops:
            self.counts["dropped_by_relay"] += len(events)
            return
        swap = len(events) == 2 and self._rng.random() < self.faults.reorder
        for index, (after, body) in enumerate(events):
            if swap and index == 0:
                after = events[1][0] + 0.05  # the start arrives after the end
            if self._rng.random() < self.faults.lose:
                self.counts["lost"] += 1
                continue
            copies = 2 if self._rng.random() < self.faults.duplicate else 1
            for _ in range(copies):
                late = after + self._rng.uniform(0.0, self.faults.delay)
                task = asyncio.get_running_loop().create_task(self._deliver(url, late, body))
                self._pending.add(task)
                task.add_done_callback(self._pending.discard)

    async def _deliver(self, url: str, after: float, body: Callable[[], dict[str, Any]]) -> None:
        await asyncio.sleep(max(0.0, after))
        raw = json.dumps(body(), separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", **self._signature(raw)}
        assert self._http is not None
        wait = _FIRST_BACKOFF
        for attempt in range(_ATTEMPTS):
            self.counts["sent"] += 1
            try:
                async with self._http.post(url, data=raw, headers=headers) as response:
                    await response.read()
                    if 200 <= response.status < 300:
                        self.counts["answered"] += 1
                        return
                    self.counts[f"status {response.status}"] += 1
                    if 400 <= response.status < 500:
                        return  # refused on purpose: a retry would be refused too
            except (aiohttp.ClientError, TimeoutError):
                self.counts["unreachable"] += 1
            if attempt < _ATTEMPTS - 1:
                await asyncio.sleep(wait)
                wait *= 2
        self.counts["given_up"] += 1

    def _signature(self, raw: bytes) -> dict[str, str]:
        """Standard Webhooks headers when the gateway has a secret. Written apart from the
        SDK's verification on purpose: the gateway imports no client code, so it checks it."""
        if self._secret is None:
            return {}
        self._sent += 1
        ident, stamp = f"msg_{self._sent}", str(int(self._wall_clock()))
        key = self._secret.encode()
        if self._secret.startswith("whsec_"):
            key = base64.b64decode(self._secret.removeprefix("whsec_"))
        mac = hmac.new(key, f"{ident}.{stamp}.".encode() + raw, hashlib.sha256)
        return {
            "webhook-id": ident,
            "webhook-timestamp": stamp,
            "webhook-signature": "v1," + base64.b64encode(mac.digest()).decode(),
        }
