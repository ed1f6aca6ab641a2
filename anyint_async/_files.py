"""Files written whole or not at all: under a temporary name in their folder, fsynced, then
renamed into place, so a crash or a failed write never leaves a half-written file at the path.
Downloads and a batch's manifest stream into one; the duration memory writes one in a
single piece."""

from __future__ import annotations

import contextlib
import os
import secrets
from collections.abc import Iterable
from pathlib import Path

__all__ = ["FileSink", "write_whole"]


class FileSink:
    """A file written under a temporary name in its folder, renamed into place when whole.

    Its methods block (disk I/O): async callers run them through ``asyncio.to_thread``.
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


def write_whole(path: Path, pieces: Iterable[bytes]) -> Path:
    """Write ``pieces`` to ``path`` through a ``FileSink``: the old file stays in place, and no
    temporary file is left, if producing or writing any piece fails. Blocks."""
    sink = FileSink(path)
    try:
        for piece in pieces:
            sink.write(piece)
        sink.commit()
    except BaseException:
        sink.discard()
        raise
    return path
