"""Reading a provider's status word into :class:`TaskStatus`."""

from __future__ import annotations

from collections.abc import Mapping

from ..models import TaskStatus


def status_from_word(word: str, table: Mapping[str, TaskStatus]) -> TaskStatus:
    """Map a provider's status word (any case) to a TaskStatus; an unseen word is UNKNOWN.

    UNKNOWN rather than a guess: it is terminal, so a wait ends and shows the word (kept in
    ``Task.raw``) instead of hanging on a state this SDK cannot interpret.
    """
    return table.get(word.strip().lower(), TaskStatus.UNKNOWN)
