"""The lag benchmark's split of the event loop's holds: those with a full garbage collection in
them against those without, read off made-up samples and collection spans."""

from __future__ import annotations

from benchmarks.client import _Collections


def _collections(*spans: tuple[int, float, float, float]) -> _Collections:
    seen = _Collections()
    seen.spans.extend(spans)
    return seen


def test_a_hold_with_a_full_collection_in_it_is_told_apart() -> None:
    seen = _collections((0, 0.5, 0.502, 0.002), (2, 1.000, 1.060, 0.020), (1, 3.0, 3.004, 0.004))
    samples = [
        (0.99, 0.055, 0.021),  # slept through the full collection, on a core for 21 ms of it
        (1.055, 0.006, 0.006),  # woke while it was ending
        (2.0, 0.015, 0.016),  # a hold of its own, worked through
        (3.0, 0.004, 0.004),
    ]
    figures = seen.figures(samples)
    assert figures["loop_lag_max_without_full_gc_ms"] == 15.0
    assert figures["loop_holds_over_10ms"] == 2
    assert figures["gc_full_count"] == 1
    assert figures["gc_full_max_ms"] == 60.0
    assert figures["gc_full_max_cpu_ms"] == 20.0
    assert figures["gc_young_max_ms"] == 4.0
    # 55 ms late with 21 ms on a core: at most 21 ms of it was the process's own work.
    assert figures["loop_lag_max_own_work_ms"] == 21.0


def test_a_hold_is_never_counted_as_more_work_than_its_lag() -> None:
    # The loop worked through most of a sleep (callbacks due meanwhile) and woke 3 ms late.
    figures = _collections().figures([(0.0, 0.003, 0.012), (0.02, 0.002, 0.001)])
    assert figures["loop_lag_max_own_work_ms"] == 3.0


def test_a_sample_that_ends_before_a_collection_begins_counts_as_its_own() -> None:
    seen = _collections((2, 1.0, 1.05, 0.01), (2, 5.0, 5.03, 0.03))
    samples = [(0.9, 0.02, 0.02), (1.2, 0.001, 0.0), (4.98, 0.03, 0.03), (5.06, 0.012, 0.0)]
    figures = seen.figures(samples)
    assert figures["loop_lag_max_without_full_gc_ms"] == 20.0  # woke at 0.93, before it began
    assert figures["gc_full_count"] == 2


def _lag_line(*results: dict[str, object]) -> str:
    from benchmarks.report import verdicts

    report = {"scenarios": [{"scenario": "lag-20000", "results": list(results)}]}
    (line,) = [v for v in verdicts(report) if v["target"].startswith("lag-20000: the event loop")]
    detail: str = line["detail"]
    return detail


def _held(name: str, most: float, full: float) -> dict[str, object]:
    return {
        "contender": name,
        "loop_lag_max_ms": most,
        "loop_lag_p99_ms": 5.0,
        "gc_full_max_ms": full,
    }


def test_the_lag_line_sets_the_least_a_client_can_hold_beside_the_sdk() -> None:
    detail = _lag_line(
        _held("anyint", 80.0, 72.0), _held("heap-5s", 18.9, 19.3), _held("heap-5s-keep", 31.0, 30.2)
    )
    assert "80.0 ms at the most" in detail
    assert "nothing per task but its id (heap-5s) 18.9 ms at the most" in detail
    assert "longest full collection 19.3 ms" in detail
    assert "last answer too (heap-5s-keep) 31.0 ms at the most" in detail


def test_the_lag_line_leaves_out_a_floor_client_that_did_not_run() -> None:
    detail = _lag_line(_held("anyint", 80.0, 72.0))
    assert "heap-5s" not in detail


def test_the_lag_line_says_what_a_collection_with_no_task_held_took() -> None:
    ours = {
        **_held("anyint", 28.6, 20.2),
        "loop_holds_over_10ms": 40,
        "loop_lag_max_without_full_gc_ms": 18.0,
        "gc_full_count": 12,
        "gc_young_max_ms": 5.0,
        "loop_lag_max_own_work_ms": 12.5,
        "gc_full_max_cpu_ms": 9.0,
        "gc_imports_ms": 17.5,
        "gc_after_ms": 16.1,
    }
    floor = {**_held("heap-5s", 27.6, 24.1), "gc_imports_ms": 9.4, "gc_after_ms": 8.8}
    detail = _lag_line(ours, floor)
    said = "a full collection with no task held took"
    assert f"{said} 17.5 ms before the run and 16.1 ms after it" in detail
    assert "the process had, no hold passed 12.5 ms and no full collection 9.0 ms" in detail
    assert (
        f"(heap-5s) 27.6 ms at the most, its longest full collection 24.1 ms; {said} 9.4" in detail
    )


def test_the_lag_line_from_a_run_before_the_idle_collection_was_taken_says_nothing_of_it() -> None:
    assert "no task held" not in _lag_line(
        _held("anyint", 28.6, 20.2), _held("heap-5s", 27.6, 24.1)
    )


def test_the_lag_line_sets_the_sdk_as_an_app_may_set_it_up_beside_its_default() -> None:
    fewer = {
        **_held("anyint-inflight16", 12.4, 12.9),
        "gc_full_count": 1,
        "queries_per_task": 9.22,
        "delay_mean_s": 2.16,
    }
    ours = {**_held("anyint", 35.5, 25.8), "queries_per_task": 9.04, "delay_mean_s": 2.199}
    detail = _lag_line(ours, fewer)
    assert "(at 9.04 queries a task and a mean delay of 2.199 s)" in detail
    assert (
        "with max_polls_in_flight=16 (anyint-inflight16) 12.4 ms at the most, 1 full "
        "collections, the longest 12.9 ms, at 9.22 queries a task and a mean delay of 2.16 s"
    ) in detail
    assert "gc.freeze()" not in detail
