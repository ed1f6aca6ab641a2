"""The knob in seconds' tail benchmark: the mixed scenario's twin, and the informed client's
grid that prices a margin under the 99th percentile."""

from __future__ import annotations

import statistics

import pytest

from benchmarks.decisions import scenario_named, twin_tasks
from benchmarks.fake_clock import SimTask
from benchmarks.seconds_tail import informed_grid, read_setting


def test_the_mixed_twin_asks_for_each_request_shape_in_turn_and_scales_its_durations() -> None:
    tasks = twin_tasks(scenario_named("mixed-1000"), seed=1)
    assert [t.workload for t in tasks[:5]] == [
        "5:720P", "10:720P", "5:1080P", "10:1080P", "5:720P",
    ]  # fmt: skip
    medians = {
        shape: statistics.median(t.running for t in tasks if t.workload == shape)
        for shape in ("5:720P", "10:1080P")
    }
    assert 90 < medians["5:720P"] < 110  # the reference request's median, 100 s
    assert medians["10:1080P"] / medians["5:720P"] == pytest.approx(3.6, rel=0.1)


def test_the_informed_grid_asks_first_at_its_age_then_every_spacing_until_found() -> None:
    tasks = [
        SimTask(name="early", created=0.0, queued=0.0, running=7.0, workload="a"),
        SimTask(name="after", created=100.0, queued=0.0, running=12.0, workload="a"),
        SimTask(name="on", created=0.0, queued=0.0, running=15.0, workload="a"),
        SimTask(name="other", created=0.0, queued=0.0, running=12.0, workload="b"),
    ]
    per_task, delays = informed_grid(tasks, {"a": 10.0, "b": 20.0}, spacing=5.0)
    # early: found at its first query (10 s); after: at 10 and 15; on: at 10 and 15, found as
    # it ends; other: at 20.
    assert delays == [3.0, 3.0, 0.0, 8.0]
    assert per_task == (1 + 2 + 2 + 1) / 4


def test_a_smaller_share_left_out_asks_more_and_leaves_no_more_past_the_cap() -> None:
    reading = read_setting(scenario_named("mixed-1000"), 15.0, seeds=(1,), count=400)
    rows = {row["client"]: row for row in reading["rows"]}
    informed = [rows[f"informed, {share}% left out"] for share in ("1.0", "0.5", "0.2")]
    queries = [row["queries_per_task"] for row in informed]
    past = [row["past_cap"] for row in informed]
    assert queries[0] < queries[1] < queries[2]
    assert past[0] >= past[1] >= past[2]
    sdk = rows["SDK"]
    assert sdk["past_cap_in_fastest"] <= sdk["past_cap"]
    # Its eight waves: the first pays for learning four request shapes, the last does not.
    waves = reading["waves"]
    assert len(waves["sdk_queries"]) == len(waves["informed_queries"]) == 8
    assert waves["sdk_queries"][0] > 1.3 * waves["sdk_queries"][-1]
    assert waves["sdk_queries"][0] > 1.3 * waves["informed_queries"][0]
