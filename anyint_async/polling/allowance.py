"""The late allowance: what a request shape's 95th percentile detection delay already is.

``target_delay`` asks for a p95: 5% of tasks may be found later than the target. A cold batch
spends that allowance before anything is learned: its fastest tasks end before the first query
of the batch (the scouts' first finish sets it off), and are found late. Once more than 5% of a
shape's tasks were found later than the target, its p95 cannot come back below the delay the
last of that 5% had, and polling the rest at the target's pace buys the p95 nothing: they are
polled at that delay instead. (The informed client of the benchmarks spends its 5% the same way,
on purpose.) As tasks keep coming, 5% of them is more tasks than were late, and the stretch
fades back to the target on its own: a stretched wait is never longer than the delay that set
it, so the tasks it finds cannot hold that delay's place. Every finish counts, whatever pace
found it.

The tail pace (``PollPolicy.learned_wait``), which lets the slowest few be later than the
target out of the same 5%, waits while a stretch is on (that share is spent already) until a
task has run twice as long as they do: such a task is stuck, not slow.
"""

from __future__ import annotations

import bisect
from typing import Final

from ..models import TaskRoute

__all__ = ["LATE_SHARE", "LateAllowance"]

#: The share of tasks a p95 lets be late.
LATE_SHARE: Final = 0.05
#: The longest delays kept per request shape: 5% of 80,000 tasks; a shape with more finished
#: and tracked stretches nothing.
_KEPT: Final = 4096

#: (route, model, workload): a request shape, as the learner groups them.
Shape = tuple[TaskRoute, str, str | None]


class LateAllowance:
    """Counts, per request shape, the tasks seen finished and the longest detection delays.

    Examples:
        >>> allowance = LateAllowance()
        >>> shape = (TaskRoute.DASHSCOPE_TASKS, "wan2.6-t2v", "5s/720P")
        >>> for delay in (0.5, 3.5, 2.5, 2.9):  # seconds from each end to its detection
        ...     allowance.finished(shape, delay)
        >>> # Of 40 tasks two may be late: the p95 is already the third longest delay, 2.5 s.
        >>> allowance.stretch(shape, tracked=36, spacing=1.0, jitter=0.25)
        2.0
        >>> allowance.stretch(shape, tracked=76, spacing=1.0, jitter=0.25)  # of 80, four
        1.0
    """

    def __init__(self, share: float = LATE_SHARE) -> None:
        self._share = share
        self._finished: dict[Shape, int] = {}
        self._longest: dict[Shape, list[float]] = {}  # ascending

    def finished(self, shape: Shape, delay: float | None) -> None:
        """A task of ``shape`` was seen finished ``delay`` seconds after its end (None when
        its end is not known)."""
        self._finished[shape] = self._finished.get(shape, 0) + 1
        if delay is None:
            return
        longest = self._longest.setdefault(shape, [])
        bisect.insort(longest, delay)
        if len(longest) > _KEPT:
            del longest[0]

    def stretch(self, shape: Shape, *, tracked: int, spacing: float, jitter: float) -> float:
        """How many times ``spacing`` (the target's, in seconds) the shape's running tasks
        may be polled at without moving its p95: 1.0 until more than the share of its tasks
        (finished and ``tracked``) were found later than that. Divided by the jitter's
        widest spread, so the stretched polls find no task later than the delay already
        there."""
        longest = self._longest.get(shape)
        # The delay one place inside the share: where a p95 of these tasks lies, however its
        # index is rounded.
        inside = int(self._share * (self._finished.get(shape, 0) + tracked)) + 1
        if not longest or inside < 2 or len(longest) < inside or spacing <= 0:
            return 1.0
        return max(1.0, longest[-inside] / ((1.0 + jitter) * spacing))

    def forget(self, shape: Shape) -> None:
        """The shape's batch ended (none of its tasks is tracked): the next one starts its own
        account, since a p95 is a batch's."""
        self._finished.pop(shape, None)
        self._longest.pop(shape, None)
