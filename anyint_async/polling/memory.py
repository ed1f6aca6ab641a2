"""Durations remembered between sessions: a small JSON file a session reads when it opens and
writes when it closes (``AnyIntSession(duration_memory=path)``).

A batch run every day meets the same models and request shapes each time; without memory its
first tasks are polled blind while scouts learn what yesterday's run already knew. The file
holds routes, models, request shapes and seconds, never task ids, prompts or keys. A missing,
unreadable or foreign file is a fresh start (logged), never an error: it only speeds polling up.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from .._files import write_whole
from .learning import DurationLearner

__all__ = ["load_memory", "save_memory"]

logger = logging.getLogger("anyint_async.polling")


def load_memory(path: Path, learner: DurationLearner) -> int:
    """Restore what ``path`` remembers into ``learner``; returns how many groups it held."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return 0
    except OSError as error:
        logger.warning("duration memory %s not read (%s); starting fresh", path, error.strerror)
        return 0
    try:
        taken = learner.restore(json.loads(raw))
    except ValueError:  # JSONDecodeError, or bytes that are not UTF-8
        logger.warning("duration memory %s is not JSON; starting fresh", path)
        return 0
    logger.debug("duration memory %s: %d groups restored", path, taken)
    return taken


def save_memory(path: Path, learner: DurationLearner) -> None:
    """Write what ``learner`` knows to ``path`` atomically (a crash leaves the old file)."""
    text = json.dumps(learner.export(), indent=1)
    try:
        write_whole(path, [text.encode("utf-8")])
    except OSError as error:
        # Closing a session must not fail over a cache: the next one merely starts fresh.
        logger.warning("duration memory %s not written (%s)", path, error.strerror or error)
