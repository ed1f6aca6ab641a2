"""The shapes benchmark's verdicts on issue 30's real-time targets, read off a made-up run."""

from __future__ import annotations

from typing import Any

from benchmarks.shape_targets import shape_verdicts


def _result(name: str, queries: float, mean: float, p95: float, **extra: float) -> dict[str, Any]:
    return {
        "contender": name,
        "queries_per_task": queries,
        "delay_mean_s": mean,
        "delay_p95_s": p95,
        "delay_p99_s": extra.get("p99", p95),
        "relative_delay_p99": extra.get("own_p99", 0.1),
        "efficiency_mean_optimised": extra.get("efficiency"),
    }


def _run(*shapes: tuple[str, list[dict[str, Any]]], scale: float = 1.0) -> dict[str, Any]:
    return {
        "scenarios": [
            {"scenario": f"shape-{n}", "results": r, "settings": {"policy_scale": scale}}
            for n, r in shapes
        ]
    }


def _verdict(report: dict[str, Any], starts: str) -> dict[str, Any]:
    (found,) = [v for v in shape_verdicts(report) if v["target"].startswith(starts)]
    return found


def _good() -> list[dict[str, Any]]:
    return [
        _result("naive-1s", 20, 0.5, 0.95),
        _result("naive-5s", 4.5, 2.5, 4.8),
        _result("official", 5.0, 4.0, 7.5),
        _result("anyint", 8, 1.0, 2.0, efficiency=0.9, own_p99=0.14),
        _result("anyint@0.03", 25, 0.4, 0.9, own_p99=0.04),
        _result("anyint@0.3", 3.5, 2.4, 4.6, own_p99=0.4),
        _result("anyint@1s", 15, 0.5, 0.95, p99=1.0),
        _result("anyint@5s", 3.8, 2.5, 4.7, p99=4.9),
        _result("anyint-warm", 7, 0.8, 1.8, efficiency=0.96, own_p99=0.12),
    ]


def test_every_target_met_on_a_run_that_meets_them() -> None:
    verdicts = shape_verdicts(_run(("a", _good()), ("b", _good())))
    assert len(verdicts) == 8
    assert all(v["met"] for v in verdicts), [v for v in verdicts if not v["met"]]


def test_a_miss_on_one_shape_misses_the_target_and_names_that_shape() -> None:
    slow = [r for r in _good() if r["contender"] != "anyint@5s"]
    slow.append(_result("anyint@5s", 3.8, 2.9, 4.7, p99=4.9))  # 1.16x the 5 s loop's mean
    line = _verdict(_run(("fine", _good()), ("twomodes", slow)), "cold, `target_delay_seconds=5`")
    assert not line["met"]
    assert "twomodes MISSED: mean 1.16x" in line["detail"]
    assert "fine: mean 1.00x" in line["detail"]


def test_a_tighter_setting_found_later_breaks_the_knob_order() -> None:
    swapped = [r for r in _good() if r["contender"] != "anyint@0.03"]
    swapped.append(_result("anyint@0.03", 25, 1.2, 2.0, own_p99=0.04))  # later than the default
    assert not _verdict(_run(("a", swapped)), "along the knob (0.03, 0.1, 0.3)")["met"]


def test_the_knob_in_seconds_is_read_in_order_up_to_6_s() -> None:
    in_order = [*_good(), _result("anyint@6s", 3.2, 3.0, 5.7, p99=5.9)]
    assert _verdict(_run(("a", in_order)), "the same in seconds")["met"]
    # 6 s spaced wider than 5 s but found tasks sooner on average: not the knob's order.
    sooner = [*_good(), _result("anyint@6s", 3.2, 2.4, 5.7, p99=5.9)]
    line = _verdict(_run(("a", sooner)), "the same in seconds")
    assert not line["met"]
    assert "3.8 q at 2.50 s -> 3.2 q at 2.40 s" in line["detail"]


def test_the_tail_is_read_against_each_setting_own_target() -> None:
    # The default's target is 0.1: an own-run p99 of 0.2 is 2.0 f; 1.6 s at 1 s is 1.6 S.
    results = [r for r in _good() if r["contender"] not in ("anyint", "anyint@1s")]
    results += [
        _result("anyint", 8, 1.0, 2.0, efficiency=0.9, own_p99=0.2),
        _result("anyint@1s", 15, 0.5, 0.95, p99=1.6),
    ]
    line = _verdict(_run(("a", results)), "no tail left behind")
    assert not line["met"]
    assert "anyint 2.00" in line["detail"] and "anyint@1s 1.60" in line["detail"]
    assert "anyint@0.03 1.33" in line["detail"]


def test_against_the_official_sdk_shows_the_cheapest_setting_that_beats_it() -> None:
    line = _verdict(_run(("a", _good())), "cold, some setting of the knob")
    assert line["met"]
    assert "anyint@0.3 0.70x its queries" in line["detail"]


def test_a_target_without_its_contenders_is_left_out() -> None:
    only_loops = [r for r in _good() if not r["contender"].startswith("anyint")]
    assert shape_verdicts(_run(("a", only_loops))) == []


def test_a_quick_run_reads_seconds_on_its_own_shrunk_clock() -> None:
    # At a time scale of 0.1, `anyint@1s` spaces queries 0.1 s apart: a p99 of 0.16 s is 1.6 S.
    results = [r for r in _good() if r["contender"] != "anyint@1s"]
    results.append(_result("anyint@1s", 15, 0.05, 0.095, p99=0.16))
    line = _verdict(_run(("a", results), scale=0.1), "no tail left behind")
    assert not line["met"]
    assert "anyint@1s 1.60" in line["detail"]
