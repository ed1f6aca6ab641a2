"""The real-time targets of issue 30 ("every task, not a percentile"), read off one run of
``benchmarks.shapes``: each a line, met or missed on every shape, with each shape's figures.

- In seconds against the loops: ``anyint@Ss`` against the loop asking every S seconds (S = 1
  and 5), cold: mean delay <= 1.1x the loop's, p95 <= 1.1x the loop's + 0.1 s, queries <=
  0.85x.
- Against the official SDK: some cold setting of the knob with a mean and a p95 no later than
  its, with <= 0.75x its queries.
- The default's efficiency at equal mean delay against the optimised informed client: >= 0.85
  cold, >= 0.95 warm.
- Along the knob (0.03, the default 0.1, 0.3; and 1, 5 and 6 s): a tighter setting never
  finds tasks later on average and never spends fewer queries.
- No tail left behind: at ``target_delay=f``, the p99 of each task's delay over its own run <=
  1.5 f; at ``target_delay_seconds=S``, the p99 delay <= 1.5 S.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise
from typing import Any

from anyint_async import TaskRoute
from anyint_async.polling import DEFAULT_POLICIES

from .contenders import anyint_setting, starts_warm
from .report import _by, _line

__all__ = ["shape_verdicts"]

Result = dict[str, Any]
#: What one shape's results say of a target, given the run's time scale (a quick run's seconds
#: are shrunk, the knob's in seconds too): None when the run lacks a contender it needs, else
#: (met, detail).
Check = Callable[[dict[str, Result], float], tuple[bool, str] | None]

_DEFAULT_TARGET = DEFAULT_POLICIES[TaskRoute.DASHSCOPE_TASKS].target_delay
#: The knob as a fraction of the run, tightest first.
_ALONG_FRACTION = ("anyint@0.03", "anyint", "anyint@0.3")
_ALONG_SECONDS = ("anyint@1s", "anyint@5s", "anyint@6s")


def _short(scenario: str) -> str:
    return scenario.removeprefix("shape-")


def _across(report: dict[str, Any], target: str, check: Check) -> dict[str, Any] | None:
    """One verdict line for ``target``: met if met on every shape that has the contenders it
    needs, with each shape's detail (a missed one marked)."""
    parts, met = [], True
    for scenario in report["scenarios"]:
        scale = scenario.get("settings", {}).get("policy_scale", 1.0)
        found = check(_by(scenario), scale)
        if found is None:
            continue
        ok, detail = found
        met = met and ok
        parts.append(f"{_short(scenario['scenario'])}{'' if ok else ' MISSED'}: {detail}")
    if not parts:
        return None
    return _line(target, met, "; ".join(parts))


def _against_loop(seconds: int) -> Check:
    def check(got: dict[str, Result], scale: float) -> tuple[bool, str] | None:
        ours, loop = got.get(f"anyint@{seconds}s"), got.get(f"naive-{seconds}s")
        if ours is None or loop is None:
            return None
        mean = ours["delay_mean_s"] / loop["delay_mean_s"]
        p95_cap = 1.1 * loop["delay_p95_s"] + 0.1 * scale
        queries = ours["queries_per_task"] / loop["queries_per_task"]
        ok = mean <= 1.1 and ours["delay_p95_s"] <= p95_cap and queries <= 0.85
        return ok, (
            f"mean {mean:.2f}x, p95 {ours['delay_p95_s']:.2f} s (cap {p95_cap:.2f}), "
            f"queries {queries:.2f}x"
        )

    return check


def _cold_settings(got: dict[str, Result]) -> list[Result]:
    return [
        result
        for name, result in got.items()
        if anyint_setting(name) is not None and not starts_warm(name)
    ]


def _against_official(got: dict[str, Result], scale: float) -> tuple[bool, str] | None:
    official = got.get("official")
    if official is None:
        return None
    settings = _cold_settings(got)
    if not settings:
        return None
    no_later = [
        r
        for r in settings
        if r["delay_mean_s"] <= official["delay_mean_s"]
        and r["delay_p95_s"] <= official["delay_p95_s"]
    ]
    beating = [r for r in no_later if r["queries_per_task"] <= 0.75 * official["queries_per_task"]]
    # The setting shown: the cheapest that beats it, else the cheapest no later than it.
    shown = min(beating or no_later or settings, key=lambda r: r["queries_per_task"])
    return bool(beating), (
        f"{shown['contender']} {shown['queries_per_task'] / official['queries_per_task']:.2f}x "
        f"its queries, mean {shown['delay_mean_s']:.2f} / {official['delay_mean_s']:.2f} s, "
        f"p95 {shown['delay_p95_s']:.2f} / {official['delay_p95_s']:.2f} s"
    )


def _efficiency(contender: str, floor: float) -> Check:
    def check(got: dict[str, Result], scale: float) -> tuple[bool, str] | None:
        ours = got.get(contender)
        if ours is None:
            return None
        best = ours.get("efficiency_mean_optimised")
        if best is None:
            # The informed client cannot reach this mean: nothing to compare with.
            return True, f"mean {ours['delay_mean_s']:.2f} s, out of the informed client's reach"
        return best >= floor, f"{best} at mean {ours['delay_mean_s']:.2f} s"

    return check


def _along(names: tuple[str, ...]) -> Check:
    def check(got: dict[str, Result], scale: float) -> tuple[bool, str] | None:
        points = [got[name] for name in names if name in got]
        if len(points) < 2:
            return None
        ok = all(
            tight["delay_mean_s"] <= loose["delay_mean_s"]
            and tight["queries_per_task"] >= loose["queries_per_task"]
            for tight, loose in pairwise(points)
        )
        return ok, " -> ".join(
            f"{p['queries_per_task']:.1f} q at {p['delay_mean_s']:.2f} s" for p in points
        )

    return check


def _tail(got: dict[str, Result], scale: float) -> tuple[bool, str] | None:
    parts, met = [], True
    for name, result in got.items():
        setting = anyint_setting(name)
        if setting is None:
            continue
        if setting.seconds is not None:
            ratio = result["delay_p99_s"] / (setting.seconds * scale)
        else:
            target = setting.target if setting.target is not None else _DEFAULT_TARGET
            ratio = result["relative_delay_p99"] / target
        met = met and ratio <= 1.5
        parts.append(f"{name} {ratio:.2f}")
    if not parts:
        return None
    return met, ", ".join(parts)


def shape_verdicts(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Each real-time target of issue 30 over the run's shapes, met or not, and by how much."""
    checks: list[tuple[str, Check]] = [
        (
            "cold, `target_delay_seconds=1` against a loop asking every 1 s: mean <= 1.1x, "
            "p95 <= 1.1x + 0.1 s, queries <= 0.85x",
            _against_loop(1),
        ),
        (
            "cold, `target_delay_seconds=5` against a loop asking every 5 s: the same",
            _against_loop(5),
        ),
        (
            "cold, some setting of the knob no later than the official SDK on mean and p95, "
            "with <= 0.75x its queries",
            _against_official,
        ),
        (
            "the default's efficiency at equal mean delay >= 0.85 against the optimised "
            "informed client, cold",
            _efficiency("anyint", 0.85),
        ),
        ("the same, >= 0.95, warm (a duration memory)", _efficiency("anyint-warm", 0.95)),
        (
            "along the knob (0.03, 0.1, 0.3): a tighter setting never later on average, "
            "never fewer queries",
            _along(_ALONG_FRACTION),
        ),
        ("the same in seconds (1 s, 5 s, 6 s)", _along(_ALONG_SECONDS)),
        (
            "no tail left behind: p99 of each task's delay over its own run <= 1.5 f at "
            "`target_delay=f`, p99 delay <= 1.5 S at `target_delay_seconds=S` (shown: that "
            "p99 over f or S)",
            _tail,
        ),
    ]
    found = (_across(report, target, check) for target, check in checks)
    return [line for line in found if line is not None]
