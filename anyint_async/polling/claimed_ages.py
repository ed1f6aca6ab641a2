"""How old a task is, when another machine's clock says when it was created.

A provider's ``created_at`` is a claim made on its clock, not a fact on ours: a relay that writes
DashScope times in UTC instead of UTC+8, or a provider clock hours off, makes every task look
hours old (or not yet created). Taken at its word, such an age stretches every learned wait, and
tasks of a minute go unpolled for hours.

What the session can stand behind: a task handed over was created no later than its hand-over,
and among the tasks of one provider handed over recently, the youngest was about as old as
nothing at all. So the *apparent* age at hand-over (our clock minus the claimed creation, less
the time since hand-over) of the youngest recent task measures the provider's clock offset plus a
non-negative remainder. Subtracting it leaves an age that is never more than the true age: a
wrong clock can then only make polls come earlier than the true age would, never later. Ages on
one provider's clock against each other (a batch created over a minute and waited for afterwards)
keep their meaning.
"""

from __future__ import annotations

from collections import deque

__all__ = ["ClaimedAges"]


class ClaimedAges:
    """Corrects the ages a provider's timestamps claim, one offset per provider.

    Examples:
        >>> ages = ClaimedAges()
        >>> # A clock 8 h behind: a task just handed over claims to be 8 h old.
        >>> ages.created_at("dashscope", claimed_age=28_800.0, now=100.0, handed_at=100.0)
        100.0
        >>> # One handed over 30 s later, created 60 s before the first, on the same wrong clock:
        >>> ages.created_at("dashscope", claimed_age=28_890.0, now=130.0, handed_at=130.0)
        40.0
    """

    def __init__(self, *, window: int = 256) -> None:
        self._window = window
        self._offsets: dict[str, deque[float]] = {}

    def created_at(
        self, provider: str, *, claimed_age: float, now: float, handed_at: float
    ) -> float:
        """When the task was created on the session's clock, at the latest.

        ``claimed_age`` is the session's wall clock minus the provider's creation timestamp,
        now; ``handed_at`` is when the task was handed over (the session's clock).
        """
        at_handover = claimed_age - (now - handed_at)
        recent = self._offsets.setdefault(provider, deque(maxlen=self._window))
        recent.append(at_handover)
        offset = min(recent)
        trusted_age = max(0.0, claimed_age - offset)
        return min(handed_at, now - trusted_age)

    def offset(self, provider: str) -> float | None:
        """The provider's clock offset as estimated so far (seconds behind ours), if any."""
        recent = self._offsets.get(provider)
        return min(recent) if recent else None
