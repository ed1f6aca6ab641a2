"""The phase benchmark's reading of the 5 s loop against ``target_delay_seconds=5``: every
shift, and the average over the phase, off made-up runs."""

from __future__ import annotations

from typing import Any

from benchmarks.phase import SHIFTS, phase_average, phase_scenarios, phase_verdicts


def _result(name: str, queries: float, mean: float, p95: float) -> dict[str, Any]:
    return {
        "contender": name,
        "queries_per_task": queries,
        "delay_mean_s": mean,
        "delay_p95_s": p95,
    }


def _run(*shifts: tuple[tuple[float, float, float], tuple[float, float, float]]) -> dict[str, Any]:
    return {
        "scenarios": [
            {
                "scenario": f"bimodal+{i}s",
                "settings": {"policy_scale": 1.0},
                "results": [_result("naive-5s", *loop), _result("anyint@5s", *knob)],
            }
            for i, (loop, knob) in enumerate(shifts)
        ]
    }


def _verdicts(report: dict[str, Any]) -> dict[str, bool]:
    return {v["target"].rsplit(", ", 1)[-1]: v["met"] for v in phase_verdicts(report)}


def test_a_lucky_phase_misses_at_that_shift_and_the_average_decides_the_phase() -> None:
    lucky = ((3.9, 1.36, 3.4), (3.2, 1.8, 4.8))  # the loop's grid at the fast mode's end
    unlucky = ((4.8, 3.2, 4.5), (3.1, 2.6, 4.0))
    found = _verdicts(_run(lucky, unlucky))
    assert found == {"at every shift": False, "averaged over the loop's phase": True}


def test_the_average_misses_when_the_knob_is_late_at_every_phase() -> None:
    late = ((4.0, 2.5, 4.6), (3.0, 3.0, 4.6))
    found = _verdicts(_run(late, late))
    assert found == {"at every shift": False, "averaged over the loop's phase": False}


def test_the_average_is_each_figure_averaged_over_the_shifts() -> None:
    average = phase_average(
        _run(((4.0, 1.0, 3.0), (3.0, 2.0, 4.0)), ((5.0, 3.0, 5.0), (3.0, 2.0, 4.0)))
    )
    got = {r["contender"]: r for r in average["results"]}
    assert got["naive-5s"]["delay_mean_s"] == 2.0
    assert got["naive-5s"]["queries_per_task"] == 4.5
    assert got["anyint@5s"]["delay_p95_s"] == 4.0


def test_the_shifts_move_both_modes_and_nothing_else() -> None:
    scenarios = phase_scenarios(quick=False)
    assert [s.contenders for s in scenarios] == [("naive-5s", "anyint@5s")] * len(SHIFTS)
    for shift, scenario in zip(SHIFTS, scenarios, strict=True):
        assert scenario.run is not None
        bounds = [(part["low"], part["high"]) for part in scenario.run["parts"]]
        assert bounds == [(8 + shift, 10 + shift), (32 + shift, 40 + shift)]
        assert scenario.count == 300
