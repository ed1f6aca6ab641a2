"""Starting a simulated gateway process with given duration profiles, and reading its stats."""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import aiohttp

__all__ = ["GatewayProcess", "run_client"]


class GatewayProcess:
    """``python -m anyint_async.testing`` with a profiles file; use as ``async with``."""

    def __init__(
        self,
        profiles: dict[str, Any],
        *,
        time_scale: float,
        seed: int,
        query_rate_limit: dict[str, float] | None = None,
        faults: list[dict[str, Any]] | None = None,
        extra_args: tuple[str, ...] = (),
    ) -> None:
        self._profiles = profiles
        self._extra_args = extra_args
        self._limits = query_rate_limit or {}
        self._faults = faults or []
        self._time_scale = time_scale
        self._seed = seed
        self._process: asyncio.subprocess.Process | None = None
        self._folder = tempfile.TemporaryDirectory(prefix="anyint-bench-")
        self.url = ""

    async def __aenter__(self) -> GatewayProcess:
        spec = Path(self._folder.name) / "profiles.json"
        spec.write_text(json.dumps(self._profiles))
        extra = [f"--query-rate-limit={name}={rate}" for name, rate in self._limits.items()]
        extra += self._extra_args
        if self._faults:
            faults = Path(self._folder.name) / "faults.json"
            faults.write_text(json.dumps(self._faults))
            extra += ["--faults", str(faults)]
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "anyint_async.testing",
            "--port",
            "0",
            "--time-scale",
            str(self._time_scale),
            "--seed",
            str(self._seed),
            "--profiles",
            str(spec),
            *extra,
            stdout=asyncio.subprocess.PIPE,
        )
        assert self._process.stdout is not None
        self.url = (await asyncio.wait_for(self._process.stdout.readline(), 30)).decode().strip()
        return self

    async def stats(self) -> dict[str, Any]:
        async with aiohttp.ClientSession() as http, http.get(f"{self.url}/_sim/stats") as response:
            data: dict[str, Any] = await response.json()
        # The log is every request; what the figures need of it is when task queries were
        # answered (the busiest second: how fast this machine let a client ask).
        data["query_times"] = sorted(
            at
            for at, route, status, _ in data.pop("log", ())
            if route.endswith(".get") and route != "files.get" and status == 200
        )
        return data

    async def __aexit__(self, *exc: object) -> None:
        if self._process is not None and self._process.returncode is None:
            self._process.terminate()
            await self._process.wait()
        self._folder.cleanup()


async def run_client(
    url: str, contender: str, options: list[str], env: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """Run one contender (``python -m benchmarks.client``) against ``url``; its JSON report,
    or ``{"error": ...}`` with the end of its stderr if it failed."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.client",
        contender,
        "--url",
        url,
        *options,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=None if env is None else {**os.environ, **env},
    )
    out, err = await process.communicate()
    if process.returncode != 0:
        return {"error": err.decode()[-2000:]}
    report: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    return report
