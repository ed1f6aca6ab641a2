"""`python -m benchmarks --contenders`: a chosen scenario runs only the contenders named, and a
name none of them runs is refused before anything runs."""

from __future__ import annotations

import pytest

from benchmarks.run import main, scenarios, unknown_contenders, with_contenders


def test_only_the_named_contenders_run_and_a_scenario_left_with_none_is_dropped() -> None:
    chosen = scenarios(quick=True)
    kept = with_contenders(chosen, ("typed-5s", "anyint"))
    assert [s.name for s in kept] == ["realtime", "scale-300", "mixed"]
    # In each scenario's own order, the others gone.
    assert [s.contenders for s in kept] == [("anyint",), ("anyint", "typed-5s"), ("anyint",)]
    assert [s.name for s in with_contenders(chosen, ("typed-5s",))] == ["scale-300"]
    assert with_contenders(chosen, ()) == chosen


def test_a_name_no_chosen_scenario_runs_is_named_with_those_they_do() -> None:
    unknown, offered = unknown_contenders(True, ("scale",), ("naive-5s", "official", "typo"))
    assert unknown == ["official", "typo"]  # official runs in realtime, not chosen here
    assert "naive-5s" in offered and "official" not in offered
    # A limit scenario's contender and the scheduler's run alone count when chosen.
    assert unknown_contenders(True, ("kling-limit",), ("anyint-exact",))[0] == []
    assert unknown_contenders(True, ("scheduler-only",), ("scheduler-only",))[0] == []
    assert unknown_contenders(True, ("scale",), ("scheduler-only",))[0] == ["scheduler-only"]


def test_the_command_refuses_an_unknown_contender_before_running(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as stopped:
        main(["--quick", "--only", "scale", "--contenders", "anyint,typo-5s"])
    assert stopped.value.code == 2
    error = capsys.readouterr().err
    assert "--contenders: typo-5s is not run by the chosen scenarios" in error
    assert "naive-5s" in error and "--only" in error
