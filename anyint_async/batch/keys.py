"""The grammar of a batch key, and the names derived from it: files and Kling external ids.

A key names a job's files and, for Kling, its ``external_task_id``; so it must make a file name
on every file system (case-blind ones included: macOS and Windows by default) and a URL path
segment. One grammar serves both:

- 1 to 64 characters, ASCII letters, digits, ``.``, ``_`` and ``-``;
- it starts with a letter or digit and does not end with ``.`` (Windows drops a trailing dot);
- no ``..``;
- not a Windows device name (``con``, ``nul``, ``com1``...) before its first dot, and not one of
  the batch's own names (``journal``, ``manifest``);
- unique in a batch *ignoring case*: ``Wolf`` and ``wolf`` would be one file on a case-blind disk.

``hero-01``, ``scene_12`` and ``shot.3`` pass.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

__all__ = [
    "KEY_MAX_LENGTH",
    "external_task_id",
    "folded",
    "key_problem",
    "new_batch_token",
]

KEY_MAX_LENGTH: Final = 64
_KEY = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_-])?")
_WINDOWS_DEVICES = frozenset(
    {"con", "prn", "aux", "nul"}
    | {f"com{i}" for i in range(1, 10)}
    | {f"lpt{i}" for i in range(1, 10)}
)
_RESERVED = frozenset({"journal", "manifest"})
KEY_RULE: Final = (
    f"1 to {KEY_MAX_LENGTH} of A-Z a-z 0-9 . _ -, starting with a letter or digit, not ending "
    "with '.', without '..'"
)


def key_problem(key: object) -> str | None:
    """What is wrong with ``key`` as a batch key, or None if it is fine.

    Examples:
        >>> key_problem("shot.3") is None
        True
        >>> key_problem("heroes 01").startswith("'heroes 01' is not a valid key: use 1 to 64")
        True
    """
    if not isinstance(key, str) or not key:
        return f"must be a non-empty string, got {key!r:.60}"
    if len(key) > KEY_MAX_LENGTH:
        return f"is {len(key)} characters long; the longest key is {KEY_MAX_LENGTH}"
    if not _KEY.fullmatch(key) or ".." in key:
        return f"{key!r} is not a valid key: use {KEY_RULE}"
    stem = folded(key).split(".", 1)[0]
    if stem in _WINDOWS_DEVICES:
        return f"{key!r} starts with the Windows device name {stem!r}, which cannot name a file"
    if folded(key) in _RESERVED:
        return f"{key!r} is the name of the batch's own {folded(key)} file; choose another key"
    return None


def folded(key: str) -> str:
    """The key as a case-blind file system sees it (keys are ASCII, so lower() is exact)."""
    return key.lower()


def new_batch_token() -> str:
    """A short random token that tells this output folder's Kling tasks from any other's."""
    return secrets.token_hex(5)


def external_task_id(key: str, token: str) -> str:
    """The Kling ``external_task_id`` of a batch key: the key, a dot, the folder's token.

    Kling keeps external ids unique per *account*, for good: the token keeps a second batch with
    the same keys (in another folder) from colliding with, or worse adopting, the first one's
    tasks. The result is a valid task id for a lookup: keys hold no ``..`` and no separator.

    Examples:
        >>> external_task_id("hero-01", "a1b2c3d4e5")
        'hero-01.a1b2c3d4e5'
    """
    return f"{key}.{token}"
