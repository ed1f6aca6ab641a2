"""The batch folder's lock, alone: who holds it, and that a file left behind holds nothing."""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

import pytest

from anyint_async import BatchLockedError
from anyint_async.batch import LOCK_NAME
from anyint_async.batch.lock import FolderLock


def test_a_second_lock_on_one_folder_is_refused_with_the_holder_named(tmp_path: Path) -> None:
    first = FolderLock(tmp_path)
    first.acquire()
    try:
        with pytest.raises(BatchLockedError) as refused:
            FolderLock(tmp_path).acquire()
    finally:
        first.release()
    holder = refused.value.holder
    assert holder.pid == os.getpid()
    assert holder.host == socket.gethostname()
    assert holder.since is not None
    message = str(refused.value)
    assert f"pid {os.getpid()}" in message and "nothing was created" in message
    assert "manifest.jsonl" in message and f"kill -INT {os.getpid()}" in message


def test_a_released_lock_is_taken_again_at_once(tmp_path: Path) -> None:
    first = FolderLock(tmp_path)
    first.acquire()
    first.release()
    assert (tmp_path / LOCK_NAME).exists()  # the file stays; only the kernel's lock is gone
    second = FolderLock(tmp_path)
    second.acquire()
    assert second.held
    second.release()


def test_a_lock_file_left_by_a_dead_run_is_not_a_live_lock(tmp_path: Path) -> None:
    # What a SIGKILLed run leaves: the file, naming a pid that is gone.
    (tmp_path / LOCK_NAME).write_text(json.dumps({"pid": 999_999, "host": "gone", "since": 1.0}))
    lock = FolderLock(tmp_path)
    lock.acquire()
    try:
        data = json.loads((tmp_path / LOCK_NAME).read_text())
        assert data["pid"] == os.getpid()  # the new holder's name replaced the dead one's
    finally:
        lock.release()


def test_an_unreadable_holder_still_gives_a_refusal(tmp_path: Path) -> None:
    first = FolderLock(tmp_path)
    first.acquire()
    try:
        (tmp_path / LOCK_NAME).write_text("not json")
        with pytest.raises(BatchLockedError) as refused:
            FolderLock(tmp_path).acquire()
    finally:
        first.release()
    assert refused.value.holder.pid is None
    assert "another run" in str(refused.value) and "Ctrl-C" in str(refused.value)
