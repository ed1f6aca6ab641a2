"""The lag benchmark's split of the event loop's holds: those with a full garbage collection in
them against those without, read off made-up samples and collection spans."""

from __future__ import annotations

from benchmarks.client import _Collections


def _collections(*spans: tuple[int, float, float]) -> _Collections:
    seen = _Collections()
    seen.spans.extend(spans)
    return seen


def test_a_hold_with_a_full_collection_in_it_is_told_apart() -> None:
    seen = _collections((0, 0.5, 0.502), (2, 1.000, 1.060), (1, 3.0, 3.004))
    samples = [
        (0.99, 0.055),  # slept through the full collection
        (1.055, 0.006),  # woke while it was ending
        (2.0, 0.015),  # a hold of its own
        (3.0, 0.004),
    ]
    figures = seen.figures(samples)
    assert figures["loop_lag_max_without_full_gc_ms"] == 15.0
    assert figures["loop_holds_over_10ms"] == 2
    assert figures["gc_full_count"] == 1
    assert figures["gc_full_max_ms"] == 60.0
    assert figures["gc_young_max_ms"] == 4.0


def test_a_sample_that_ends_before_a_collection_begins_counts_as_its_own() -> None:
    seen = _collections((2, 1.0, 1.05), (2, 5.0, 5.03))
    samples = [(0.9, 0.02), (1.2, 0.001), (4.98, 0.03), (5.06, 0.012)]
    figures = seen.figures(samples)
    assert figures["loop_lag_max_without_full_gc_ms"] == 20.0  # woke at 0.93, before it began
    assert figures["gc_full_count"] == 2
