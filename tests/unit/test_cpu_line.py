"""The realtime CPU verdict: the SDK's CPU per query against the 1 s loop as users write it,
against the same loop with its queries spread over the second, and against that loop through
the SDK's typed calls."""

from __future__ import annotations

from benchmarks.report import _realtime_cpu


def _ran(ms: float) -> dict[str, object]:
    return {"cpu_per_query_ms": ms}


def _cpu_line(
    sdk: float, loop: float, spread: float, typed: float | None = None
) -> dict[str, object]:
    return _realtime_cpu(
        "realtime-200", _ran(sdk), _ran(loop), _ran(spread), None if typed is None else _ran(typed)
    )


def test_the_realtime_cpu_line_reads_the_sdk_against_both_loops() -> None:
    line = _cpu_line(0.66, 0.30, 0.55)
    assert line["met"] is False  # 2.2x the loop as users write it
    detail = str(line["detail"])
    assert detail.startswith("2.20x (0.660 ms vs 0.300 ms)")
    assert "(naive-1s-spread) 0.550 ms, 1.83x its own, and the SDK 1.20x it" in detail


def test_the_realtime_cpu_line_is_met_within_the_target_of_the_plain_loop() -> None:
    assert _cpu_line(0.36, 0.30, 0.55)["met"] is True


def test_the_realtime_cpu_line_parts_the_sdk_into_its_typed_calls_and_its_scheduler() -> None:
    detail = str(_cpu_line(0.75, 0.30, 0.50, typed=0.60)["detail"])
    assert "(typed-1s-spread) 0.600 ms, 1.20x the bare one" in detail
    assert detail.endswith("the SDK with its scheduler 1.25x that")
    # Without that run the line says nothing of it.
    assert "typed" not in str(_cpu_line(0.75, 0.30, 0.50)["detail"])
