"""The cap on queries in flight on its own: it rises while the cap binds and the loop's thread
has time to spare (a far network), falls while that thread is busy (a near one), and stays
between its floor and the session's ceiling."""

from __future__ import annotations

from anyint_async.polling.inflight import FLOOR, InFlightCap


class _Thread:
    """A loop's thread with a cap on its queries in flight: the scheduler's clock and its CPU
    clock, both moved by the test, and how often the CPU clock was read."""

    def __init__(self, ceiling: int) -> None:
        self.cap = InFlightCap(ceiling, cpu=self)
        self.now = 0.0
        self.cpu = 0.0
        self.reads = 0
        self.cap.observe(self.now, reached=False)  # the first look starts a window

    def __call__(self) -> float:
        self.reads += 1
        return self.cpu

    def windows(self, count: int, *, busy: float, reached: bool) -> list[int]:
        """``count`` half-second windows, each with ``busy`` of it on the CPU; the cap after
        each."""
        caps = []
        for _ in range(count):
            self.now += 0.5
            self.cpu += busy * 0.5
            self.cap.observe(self.now, reached=reached)
            caps.append(self.cap.current)
        return caps


def test_it_starts_at_the_floor_and_a_lower_ceiling_is_a_fixed_cap() -> None:
    assert InFlightCap(48, cpu=lambda: 0.0).current == FLOOR
    assert _Thread(4).windows(5, busy=0.05, reached=True) == [4] * 5


def test_a_thread_with_time_to_spare_raises_the_cap_to_where_it_would_be_half_busy() -> None:
    # 40% of the time at 16 in flight: 20 would take about half of it, and so on.
    assert _Thread(48).windows(6, busy=0.4, reached=True) == [20, 25, 31, 39, 48, 48]


def test_a_nearly_idle_thread_raises_the_cap_fourfold_at_most() -> None:
    assert _Thread(200).windows(3, busy=0.01, reached=True) == [64, 200, 200]


def test_the_cap_does_not_rise_unless_it_bound() -> None:
    assert _Thread(48).windows(5, busy=0.05, reached=False) == [FLOOR] * 5


def test_a_busy_thread_lowers_the_cap_back_to_the_floor_and_no_lower() -> None:
    thread = _Thread(48)
    assert thread.windows(1, busy=0.1, reached=True) == [48]
    assert thread.windows(4, busy=0.95, reached=True) == [32, 21, 16, 16]


def test_between_idle_and_busy_the_cap_holds() -> None:
    thread = _Thread(48)
    assert thread.windows(1, busy=0.25, reached=True) == [32]
    assert thread.windows(4, busy=0.65, reached=True) == [32] * 4


def test_within_a_window_the_thread_clock_is_not_read() -> None:
    thread = _Thread(48)
    cap = thread.cap
    for step in range(1, 100):
        assert not cap.observe(step / 200, reached=step == 50)
    assert thread.reads == 1
    thread.cpu = 0.05
    assert cap.observe(0.5, reached=False)  # reached earlier in the window counts
    assert thread.reads == 2
