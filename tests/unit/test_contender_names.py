"""What an SDK contender's name asks of the session it runs."""

from __future__ import annotations

from benchmarks.contenders import anyint_setting


def test_an_in_flight_variant_names_the_session_s_limit_on_task_queries() -> None:
    setting = anyint_setting("anyint-inflight16")
    assert setting is not None and setting.polls_in_flight == 16
    assert setting.preset == "default" and setting.learn


def test_without_one_the_session_keeps_its_default() -> None:
    for name in ("anyint", "anyint-gcfreeze", "anyint-inflight"):
        setting = anyint_setting(name)
        assert setting is not None and setting.polls_in_flight is None
