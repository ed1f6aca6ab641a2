"""How many task queries may be in flight at once: what the network needs, no more than the
event loop can answer.

A query in flight costs the loop nothing until its answer comes back; then the answer is read,
parsed and settled on the loop's thread. Two kinds of gateway call for opposite caps:

- **Near** (a gateway in the same region, thousands of tasks, query limits lifted): answers come
  back faster than the loop's thread handles them, and queries in flight past a few only wait
  for the loop in turn. With 20,000 tasks on loopback the loop's thread was busy all the time
  at 16 in flight and at 48 alike, and 16 sent as many queries a second, while 48 held the loop
  for up to 36 ms at a turn and let far more objects reach the garbage collector's oldest
  generation (11-15 full collections a run, against one).
- **Far** (an ocean away): the loop idles while answers travel, and the queries in flight are
  what bound the query rate, at the cap over the round trip. With 0.25 s round trips the loop's
  thread was busy a tenth of the time at 48 in flight; 16 allowed 64 queries a second against
  48's 192, and 1,000 tasks were found 5.4 s after they ended on average, against 2.0 s.

So the cap starts at a floor and moves between it and the session's ceiling, twice a second, by
how much of that half second the loop's thread spent on the CPU. Where the cap was reached and
the thread was on the CPU less than half the time, the cap rises in proportion, to where the
same answers would keep it busy about half the time (a thread busy 5% of the time at 16 in
flight goes to 48 at once, so a far gateway loses half a second to the floor, not seconds);
where the thread was busy more than 80% of the time, the cap falls by a third. The thread's
CPU time counts the app's own work on the loop too, which is as it should be: a busy loop is
no place for more answers at once, whatever keeps it busy.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Final

__all__ = ["FLOOR", "InFlightCap"]

#: The cap a session starts at, and never goes below: where 20,000 tasks on loopback held the
#: loop less than 20 ms at a turn while sending as many queries as 48 in flight did.
FLOOR: Final = 16
#: Below this share of its time on the CPU, the loop's thread had time for more answers; the
#: cap rises toward where the answers would take this share.
_IDLE: Final = 0.5
#: Above it, answers wait for the thread: more in flight would only queue them.
_BUSY: Final = 0.8
#: The most the cap grows at one look (a thread that read nearly idle may have been idle for
#: reasons of its own, a pause in the answers).
_MOST_RAISE: Final = 4.0
_LOWER: Final = 2 / 3


class InFlightCap:
    """The cap on queries in flight, between ``min(floor, ceiling)`` and ``ceiling``.

    ``cpu`` reads the loop's thread CPU time (``time.thread_time``); it is read only once a
    ``window`` has passed, so an answer costs no system call. Told, after answers, the time
    on the scheduler's clock and whether the cap was reached since the last look.

    Examples:
        >>> cap = InFlightCap(48, cpu=iter([0.0, 0.2, 0.45, 0.95]).__next__)
        >>> cap.current
        16
        >>> cap.observe(0.0, reached=False)  # the first look starts a window
        False
        >>> cap.observe(0.5, reached=True), cap.current  # on the CPU 40%: room for 25%
        (True, 20)
        >>> cap.observe(1.0, reached=True), cap.current  # 50%: enough
        (False, 20)
        >>> cap.observe(1.5, reached=True), cap.current  # all the time: busy
        (False, 16)
    """

    def __init__(
        self,
        ceiling: int,
        *,
        cpu: Callable[[], float],
        floor: int = FLOOR,
        window: float = 0.5,
    ) -> None:
        self.ceiling = ceiling
        self._cpu = cpu
        self.floor = min(floor, ceiling)
        self.current = self.floor
        self._window = window
        self._since = math.nan
        self._cpu_since = 0.0
        self._reached = False

    def observe(self, now: float, *, reached: bool) -> bool:
        """Look at the last window once it has passed; True if the cap rose (more queries may
        leave now)."""
        self._reached = self._reached or reached
        if not now - self._since >= self._window:
            if math.isnan(self._since):
                self._since, self._cpu_since = now, self._cpu()
            return False
        used = self._cpu()
        busy = (used - self._cpu_since) / (now - self._since)
        was_reached, self._reached = self._reached, False
        self._since, self._cpu_since = now, used
        before = self.current
        if busy > _BUSY:
            self.current = max(self.floor, math.floor(self.current * _LOWER))
        elif busy < _IDLE and was_reached:
            raised = self.current * min(_MOST_RAISE, _IDLE / max(busy, _IDLE / _MOST_RAISE))
            self.current = min(self.ceiling, max(self.current + 1, round(raised)))
        return self.current > before
