"""One writer per batch folder: an operating-system file lock held for the length of a run.

Two runs of one batch side by side would each read the journal, see the same jobs still to
create, and each create them: DashScope has no idempotency key, so every such job is a second
bill. The lock is taken before the journal is opened and released when the run ends.

The kernel owns the lock (``flock`` on POSIX, ``msvcrt.locking`` on Windows), so it dies with
its process however that process ends (SIGKILL, power loss, a closed terminal): a lock file left
behind is only a file, never mistaken for a live run. The file also says who holds it (pid,
host, since when), written after the lock is taken and read only while it is held, so the
refusal can name the run that holds the folder.

``flock`` is per open file, not per process: a second ``BatchRunner`` in the same process is
refused like a second process. Over a network share the lock reaches other machines only
where the file system passes it on (NFS does; some SMB setups do not): the guide says so.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

from attrs import frozen

from .._errors import AnyIntError

__all__ = ["LOCK_NAME", "BatchLockedError", "FolderLock", "LockHolder"]

LOCK_NAME = ".anyint-batch.lock"
# Windows locks bytes, and a locked byte cannot be read by others: lock one far past the
# holder's JSON so the refused run can still read who holds the folder.
_WINDOWS_LOCK_OFFSET = 1 << 20


@frozen
class LockHolder:
    """Who holds a batch folder: the process id, its host and when it took the lock (Unix
    time). Fields are ``None`` when the holder had not written them yet."""

    pid: int | None
    host: str | None
    since: float | None


class BatchLockedError(AnyIntError):
    """Another run (process, or ``BatchRunner`` in this process) is writing this batch folder.

    Nothing was read or created. ``folder`` is the output folder and ``holder`` says which run
    holds it. The CLI exits with status 2.

    Examples:
        >>> error = BatchLockedError(Path("out"), LockHolder(pid=4242, host="web-1", since=None))
        >>> error.holder.pid
        4242
    """

    def __init__(self, folder: Path, holder: LockHolder) -> None:
        self.folder = folder
        self.holder = holder
        super().__init__(_refusal(folder, holder))


class FolderLock:
    """The exclusive lock on ``folder``'s batch; ``acquire`` raises :class:`BatchLockedError`
    at once if another run holds it.

    Examples:
        >>> lock = FolderLock(Path("out"))  # doctest: +SKIP
        >>> lock.acquire()  # doctest: +SKIP
        >>> lock.release()  # doctest: +SKIP
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.path = folder / LOCK_NAME
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> None:
        if self._fd is not None:
            raise RuntimeError("this FolderLock is already held")
        self.folder.mkdir(parents=True, exist_ok=True)
        # No O_TRUNC: opening must not erase what the holder wrote about itself.
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            if not _try_lock(fd):
                raise BatchLockedError(self.folder, _holder_when_written(fd))
            holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time()}
            os.ftruncate(fd, 0)
            os.lseek(fd, 0, os.SEEK_SET)
            os.write(fd, json.dumps(holder).encode())
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        """Release the lock; the file stays (removing it would race a run that just opened it)."""
        fd, self._fd = self._fd, None
        if fd is None:
            return
        # Say nobody holds it before letting go, so a stale name is never shown.
        os.ftruncate(fd, 0)
        _unlock(fd)
        os.close(fd)


def _holder_when_written(fd: int) -> LockHolder:
    # The holder writes its name just after taking the lock: a run refused in that instant
    # (two started together) waits a moment for it rather than name nobody. Only a refused
    # run ever sleeps here, and for 0.2 s at most.
    holder = _read_holder(fd)
    for _ in range(10):
        if holder.pid is not None:
            break
        time.sleep(0.02)
        holder = _read_holder(fd)
    return holder


def _read_holder(fd: int) -> LockHolder:
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        data = json.loads(os.read(fd, 4096).decode() or "{}")
    except (OSError, ValueError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    pid, host, since = data.get("pid"), data.get("host"), data.get("since")
    return LockHolder(
        pid=pid if isinstance(pid, int) else None,
        host=host if isinstance(host, str) else None,
        since=float(since) if isinstance(since, int | float) else None,
    )


def _refusal(folder: Path, holder: LockHolder) -> str:
    who = "another run"
    if holder.pid is not None:
        who += f" (pid {holder.pid}"
        if holder.host:
            who += f" on {holder.host}"
        if holder.since is not None:
            started = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(holder.since))
            who += f", since {started}"
        who += ")"
    stop = (
        f"stop it with `kill -INT {holder.pid}` (it finishes the creates in flight)"
        if holder.pid is not None
        else "stop it with Ctrl-C in its terminal"
    )
    return (
        f"{folder} is being written by {who}; nothing was created. Watch its progress in "
        f"{folder / 'manifest.jsonl'}, wait for it to end, or {stop}, then run this again "
        "to resume. To run the batch a second time, give it another output folder (--out)"
    )


if sys.platform == "win32":  # pragma: no cover - the CI machines are POSIX
    import msvcrt

    def _try_lock(fd: int) -> bool:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError:
            return False
        return True

    def _unlock(fd: int) -> None:
        os.lseek(fd, _WINDOWS_LOCK_OFFSET, os.SEEK_SET)
        msvcrt.locking(fd, msvcrt.LK_UNLCK, 1)

else:
    import fcntl

    def _try_lock(fd: int) -> bool:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def _unlock(fd: int) -> None:
        fcntl.flock(fd, fcntl.LOCK_UN)
