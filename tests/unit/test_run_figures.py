"""A benchmark run's figures for one contender, read off a made-up client report and gateway
stats: the SDK's own count of hedges and retries rides along with the gateway's count."""

from __future__ import annotations

from typing import Any

from benchmarks.run import Scenario, busiest_second, figures

SCENARIO = Scenario(
    name="made-up",
    description="two tasks",
    count=2,
    median=10.0,
    sigma=0.5,
    low=5.0,
    high=20.0,
    time_scale=1.0,
    contenders=("anyint", "naive-5s"),
    concurrent=True,
)


def _client(**extra: Any) -> dict[str, Any]:
    return {
        "seen": {"a": 11.0, "b": 21.5},
        "started": 0.0,
        "ended": 22.0,
        "cpu_seconds": 1.0,
        "cpu_after_creates_seconds": 0.8,
        "rss_base_kib": 1000,
        "rss_peak_kib": 1100,
        **extra,
    }


STATS = {
    "finished_at": {"a": 10.0, "b": 20.0},
    "created_at": {"a": 0.0, "b": 0.0},
    "polls": {"a": 3, "b": 5},
    "run_factors": {},
    "tasks_created": 2,
    "query_times": [1.0, 5.0, 5.2, 5.9, 6.0, 6.1, 7.5],
}


def test_the_sdks_hedges_and_retries_are_reported_beside_the_gateways_queries() -> None:
    sent = {"polls": 7, "retries": 1, "hedges": 2, "yielded": 2}
    found = figures("anyint", _client(sent=sent), STATS, SCENARIO)
    assert found["queries"] == 8  # the gateway's count, hedges among them
    assert (found["sdk_hedges"], found["sdk_retries"]) == (2, 1)


def test_a_client_that_counts_nothing_reports_no_hedges() -> None:
    found = figures("naive-5s", _client(sent={}), STATS, SCENARIO)
    assert "sdk_hedges" not in found and "sdk_retries" not in found
    assert found["delay_mean_s"] == 1.25


def test_the_busiest_second_counts_the_most_queries_within_any_one_second() -> None:
    # 5.2, 5.9, 6.0 and 6.1 lie within one second of each other; 5.0 to 6.0 is a full second.
    found = figures("anyint", _client(sent={}), STATS, SCENARIO)
    assert found["peak_queries_per_second"] == 4
    assert busiest_second([]) == 0
    assert busiest_second([2.0, 2.0, 2.0]) == 3
