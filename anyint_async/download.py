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
import random
import re
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path, PurePosixPath
from typing import Any, Final, TypeVar

import aiohttp
from yarl import URL

from ._errors import DownloadError, FileWriteError, InvalidParameterError, ResultExpiredError
from ._files import FileSink
from ._retry import RetryPolicy
from ._telemetry import Telemetry
from ._transport import ConnectionPool
from .models import Task

__all__ = [
    "INDEX_SEPARATOR",
    "NAME_MAX_BYTES",
    "Downloader",
    "check_file_name",
    "result_file_name",
]

_T = TypeVar("_T")

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
_PLAIN_EXTENSION = re.compile(r"\.[a-z0-9]{1,5}")
_TRANSIENT = frozenset({408, 425, 429, 500, 502, 503, 504})


class _Transient(Exception):
    """One attempt failed in a way that may heal."""


# Longest file name accepted, in UTF-8 bytes: file systems allow 255, and the name gains a
# "@N" index, an extension and, while it is written, a hidden temporary prefix and suffix.
NAME_MAX_BYTES: Final = 200
#: Joins a name and a file's index when a result has several files: ``fox@1.png``. Batch keys
#: never hold it, so no job's files can take another job's names.
INDEX_SEPARATOR: Final = "@"


def check_file_name(name: object) -> str:
    """``name`` if it can name files directly inside a destination folder, else raise.

    Refused: empty, ``.`` and ``..``, path separators (``/``, ``\\``), NUL and other control
    characters, and names longer than ``NAME_MAX_BYTES`` bytes in UTF-8.

    Examples:
        >>> check_file_name("hero-01")
        'hero-01'
    """
    if not isinstance(name, str) or not name.strip():
        raise InvalidParameterError("name", f"must be a non-empty file name, got {name!r:.60}")
    if name in (".", ".."):
        raise InvalidParameterError("name", f"{name!r} names a folder, not a file; choose a name")
    if "/" in name or "\\" in name:
        raise InvalidParameterError(
            "name",
            f"must be a file name without folders (no '/' or '\\'), got {name!r:.60}; "
            "put sub-folders in dest instead",
        )
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise InvalidParameterError(
            "name", f"must not hold NUL or other control characters, got {name!r:.60}"
        )
    size = len(name.encode("utf-8"))
    if size > NAME_MAX_BYTES:
        raise InvalidParameterError(
            "name",
            f"is {size} bytes long in UTF-8; the longest name is {NAME_MAX_BYTES} bytes",
        )
    return name


def result_file_name(name: str, index: int, count: int, extension: str) -> str:
    """The file name of the ``index``-th (from 1) of ``count`` files saved under ``name``.

    One file is ``name.ext``; several are ``name@1.ext``, ``name@2.ext``, ...

    Examples:
        >>> result_file_name("fox", 2, 2, ".png")
        'fox@2.png'
    """
    stem = name if count == 1 else f"{name}{INDEX_SEPARATOR}{index}"
    return stem + extension


def _shown(url: str) -> str:
    """The URL without its query: the signature is nobody's business in a log or error."""
    return str(URL(url).with_query(None).with_fragment(None))


def _extension(content_type: str, url: str) -> str:
    """A short lower-case ASCII extension (``.png``); never holds a second dot, so a file name
    always ends in exactly one extension and names stay distinct (see ``result_file_name``)."""
    known = _EXTENSIONS.get(content_type.lower())
    if known:
        return known
    for candidate in (
        PurePosixPath(URL(url).path).suffix,
        mimetypes.guess_extension(content_type) if content_type else None,
    ):
        if candidate and _PLAIN_EXTENSION.fullmatch(candidate.lower()):
            return candidate.lower()
    return ".bin"


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
        telemetry: Telemetry | None = None,
    ) -> None:
        self._pool = pool
        self._telemetry = telemetry or Telemetry(enabled=False)
        self._retry = retry
        # A result file can be large: each read is bounded, never the whole transfer.
        self._timeout = aiohttp.ClientTimeout(
            total=None,
            sock_connect=timeout.sock_connect,
            sock_read=timeout.sock_read if timeout.sock_read is not None else timeout.total,
        )
        self._limit = asyncio.Semaphore(max_concurrent)
        self._rng = rng or random.Random()
        self._sleep = sleep

    async def download(
        self, urls: Sequence[str], dest: Path, name: str, *, task: Task | None = None
    ) -> list[Path]:
        """Download every URL into ``dest``, named as ``result_file_name`` says.

        All files are fetched together; if one fails for good, the others are stopped and the
        first failure is raised (a ``FileWriteError`` when the local disk refused it).
        """
        check_file_name(name)  # refused before any byte moves
        fetches: list[asyncio.Task[Path]] = []
        with self._telemetry.download(task, len(urls)):
            try:
                async with asyncio.TaskGroup() as group:
                    for index, url in enumerate(urls, start=1):
                        fetches.append(
                            group.create_task(self._fetch(url, dest, name, index, len(urls)))
                        )
            except BaseExceptionGroup as failures:
                raise _first(failures) from None
        return [fetch.result() for fetch in fetches]

    async def _fetch(self, url: str, folder: Path, name: str, index: int, count: int) -> Path:
        delays = self._retry.delays(self._rng)
        attempt = 0
        async with self._limit:
            while True:
                attempt += 1
                try:
                    return await self._attempt(url, folder, name, index, count)
                except _Transient as failure:
                    if attempt > self._retry.max_retries:
                        raise DownloadError(
                            f"could not download {_shown(url)} after {attempt} attempts: {failure}",
                            url=_shown(url),
                        ) from failure
                    wait = next(delays)
                    logger.debug("retrying download of %s in %.2fs: %s", _shown(url), wait, failure)
                    await self._sleep(wait)

    async def _attempt(self, url: str, folder: Path, name: str, index: int, count: int) -> Path:
        http = self._pool.session()
        sink: FileSink | None = None
        try:
            # No Authorization header: the key belongs to the gateway alone.
            async with http.get(url, timeout=self._timeout) as response:
                logger.debug("GET %s -> %d", _shown(url), response.status)
                if response.status != 200:
                    await self._refuse(response, url)
                extension = _extension(response.content_type, url)
                path = folder / result_file_name(name, index, count, extension)
                sink = await _local(url, path, FileSink, path)
                buffered: list[bytes] = []
                size = 0
                async for chunk in response.content.iter_chunked(_CHUNK):
                    buffered.append(chunk)
                    size += len(chunk)
                    if size >= _FLUSH_BYTES:
                        await _local(url, path, sink.write, b"".join(buffered))
                        buffered, size = [], 0
                await _local(url, path, sink.write, b"".join(buffered))
                expected = response.content_length
                if expected is not None and sink.written != expected:
                    raise _Transient(f"got {sink.written} of {expected} bytes")
                await _local(url, path, sink.commit)
                sink = None
                return path
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise _Transient(f"{type(exc).__name__}: {exc}") from exc
        finally:
            if sink is not None:
                with contextlib.suppress(OSError):
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


async def _local(url: str, path: Path, work: Callable[..., _T], *args: Any) -> _T:
    """Run one blocking disk step off the loop; the disk's refusal becomes a FileWriteError.

    Kept apart from the network's failures on purpose: a full disk or a folder standing where
    the file goes does not heal in a retry's second, and nothing about it is the result host's.
    """
    try:
        return await asyncio.to_thread(work, *args)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        if isinstance(exc, IsADirectoryError):
            reason = "a folder stands where the file goes"
        raise FileWriteError(
            f"could not write {path}: {reason}", url=_shown(url), path=str(path), reason=reason
        ) from exc


def _first(failures: BaseExceptionGroup[BaseException]) -> BaseException:
    """The failure to report from a group: a download's own error over cancellations."""
    for failure in failures.exceptions:
        if isinstance(failure, BaseExceptionGroup):
            return _first(failure)
        if not isinstance(failure, asyncio.CancelledError):
            return failure
    return failures.exceptions[0]
