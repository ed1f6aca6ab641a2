"""Downloading result files: streamed to disk, written atomically, never with the API key.

Result URLs live on the providers' storage hosts, not on the gateway: they are fetched with no
``Authorization`` header at all. They are signed and temporary (DashScope about 24 h, Kling 30
days), so an expired one is reported as such, with the way to a fresh one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import mimetypes
import os
import random
import secrets
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path, PurePosixPath

import aiohttp
from yarl import URL

from ._errors import DownloadError, InvalidParameterError, ResultExpiredError
from ._retry import RetryPolicy
from ._transport import ConnectionPool

__all__ = ["Downloader", "safe_target"]

logger = logging.getLogger("anyint_async.download")

_CHUNK = 64 * 1024
_FLUSH_BYTES = 1024 * 1024  # written to disk in pieces this big, off the event loop
_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/webp": ".webp",
    "image/gif": ".gif",
    "video/mp4": ".mp4",
    "video/quicktime": ".mov",
    "video/webm": ".webm",
    "audio/mpeg": ".mp3",
    "audio/wav": ".wav",
}
_TRANSIENT = frozenset({408, 425, 429, 500, 502, 503, 504})


class _FileSink:
    """A file written under a temporary name in its folder, renamed into place when whole.

    Its methods block (disk I/O): the downloader calls them through ``asyncio.to_thread``.
    """

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.temporary = path.parent / f".{path.name}.{secrets.token_hex(4)}.part"
        self._handle = self.temporary.open("wb")
        self.written = 0

    def write(self, data: bytes) -> None:
        self._handle.write(data)
        self.written += len(data)

    def commit(self) -> None:
        self._handle.flush()
        os.fsync(self._handle.fileno())
        self._handle.close()
        os.replace(self.temporary, self.path)

    def discard(self) -> None:
        self._handle.close()
        with contextlib.suppress(FileNotFoundError):
            self.temporary.unlink()


class _Transient(Exception):
    """One attempt failed in a way that may heal."""


def safe_target(dest: Path, stem: str) -> Path:
    """``dest / stem``, refused if ``stem`` would land outside ``dest``.

    Sub-folders are fine (``"heroes/01"``); ``"../x"``, absolute paths and NUL are not.

    Example:
        >>> safe_target(Path("/out"), "heroes/01")
        PosixPath('/out/heroes/01')
    """
    if not isinstance(stem, str) or not stem.strip() or "\x00" in stem:
        raise InvalidParameterError("name", f"must be a non-empty file name, got {stem!r:.60}")
    relative = PurePosixPath(stem.replace("\\", "/"))
    if relative.is_absolute() or ".." in relative.parts:
        raise InvalidParameterError(
            "name", f"must stay inside the destination folder, got {stem!r:.60}"
        )
    root = dest.resolve()
    target = (root / relative).resolve()
    if target != root and root not in target.parents:
        raise InvalidParameterError(
            "name", f"must stay inside the destination folder, got {stem!r:.60}"
        )
    return target


def _shown(url: str) -> str:
    """The URL without its query: the signature is nobody's business in a log or error."""
    return str(URL(url).with_query(None).with_fragment(None))


def _extension(content_type: str, url: str) -> str:
    known = _EXTENSIONS.get(content_type.lower())
    if known:
        return known
    suffix = PurePosixPath(URL(url).path).suffix.lower()
    if suffix and len(suffix) <= 6 and suffix[1:].isalnum():
        return suffix
    guessed = mimetypes.guess_extension(content_type) if content_type else None
    return guessed or ".bin"


class Downloader:
    """Fetches result URLs over the session's pool, a bounded number at a time."""

    def __init__(
        self,
        pool: ConnectionPool,
        *,
        retry: RetryPolicy,
        timeout: aiohttp.ClientTimeout,
        max_concurrent: int = 4,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._pool = pool
        self._retry = retry
        # A result file can be large: the whole-request budget is for API calls, not videos.
        self._timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeout.sock_connect, sock_read=timeout.total
        )
        self._limit = asyncio.Semaphore(max_concurrent)
        self._rng = rng or random.Random()
        self._sleep = sleep

    async def download(self, urls: Sequence[str], dest: Path, stem: str) -> list[Path]:
        """Download every URL to ``dest``; one URL is ``stem.ext``, several ``stem-1.ext``, ..."""
        target = safe_target(dest, stem)  # refused before any byte moves
        names = (
            [target.name]
            if len(urls) == 1
            else [f"{target.name}-{i + 1}" for i in range(len(urls))]
        )
        return list(
            await asyncio.gather(
                *(
                    self._fetch(url, target.parent, name)
                    for url, name in zip(urls, names, strict=True)
                )
            )
        )

    async def _fetch(self, url: str, folder: Path, name: str) -> Path:
        delays = self._retry.delays(self._rng)
        attempt = 0
        async with self._limit:
            while True:
                attempt += 1
                try:
                    return await self._attempt(url, folder, name)
                except _Transient as failure:
                    if attempt > self._retry.max_retries:
                        raise DownloadError(
                            f"could not download {_shown(url)} after {attempt} attempts: {failure}",
                            url=_shown(url),
                        ) from failure
                    wait = next(delays)
                    logger.info("retrying download of %s in %.2fs: %s", _shown(url), wait, failure)
                    await self._sleep(wait)

    async def _attempt(self, url: str, folder: Path, name: str) -> Path:
        http = self._pool.session()
        sink: _FileSink | None = None
        try:
            # No Authorization header: the key belongs to the gateway alone.
            async with http.get(url, timeout=self._timeout) as response:
                if response.status != 200:
                    await self._refuse(response, url)
                path = folder / (name + _extension(response.content_type, url))
                sink = await asyncio.to_thread(_FileSink, path)
                buffered: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_chunked(_CHUNK):
                    buffered.append(chunk)
                    size += len(chunk)
                    if size >= _FLUSH_BYTES:
                        await asyncio.to_thread(sink.write, b"".join(buffered))
                        buffered, size = [], 0
                await asyncio.to_thread(sink.write, b"".join(buffered))
                expected = response.content_length
                if expected is not None and sink.written != expected:
                    raise _Transient(f"got {sink.written} of {expected} bytes")
                await asyncio.to_thread(sink.commit)
                sink = None
                return path
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        finally:
            if sink is not None:
                await asyncio.to_thread(sink.discard)

    @staticmethod
    async def _refuse(response: aiohttp.ClientResponse, url: str) -> None:
        status = response.status
        detail = (await response.text(errors="replace"))[:200]
        if status in _TRANSIENT:
            raise _Transient(f"HTTP {status}")
        if status == 403:
            raise ResultExpiredError(
                f"the result URL {_shown(url)} was refused (403): it has most likely expired "
                "(result URLs are temporary); query the task again with session.refresh(task) "
                "for fresh URLs and download those",
                url=_shown(url),
                status=status,
            )
        raise DownloadError(
            f"downloading {_shown(url)} failed with HTTP {status}: {detail!r}",
            url=_shown(url),
            status=status,
        )
