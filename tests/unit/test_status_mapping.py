"""Status words map onto TaskStatus for every provider; terminal means terminal."""

from __future__ import annotations

from aioresponses import aioresponses
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from anyint_async import TaskStatus

from .helpers import make_session

DASHSCOPE = {
    "PENDING": TaskStatus.PENDING,
    "RUNNING": TaskStatus.RUNNING,
    "SUCCEEDED": TaskStatus.SUCCEEDED,
    "FAILED": TaskStatus.FAILED,
    "CANCELED": TaskStatus.CANCELED,
    "UNKNOWN": TaskStatus.UNKNOWN,
}
KLING = {
    "submitted": TaskStatus.PENDING,
    "processing": TaskStatus.RUNNING,
    "succeed": TaskStatus.SUCCEEDED,
    "failed": TaskStatus.FAILED,
}
ANY_CASE = st.sampled_from([str.lower, str.upper, str.title, lambda w: f" {w} "])
ODD_WORDS = st.text(min_size=1, max_size=12).filter(
    lambda w: (
        w.strip().lower() not in {*map(str.lower, DASHSCOPE), *KLING, "succeeded", "cancelled"}
    )
)
SETTINGS = settings(max_examples=40, suppress_health_check=[HealthCheck.function_scoped_fixture])


async def _dashscope_status(word: str) -> TaskStatus:
    with aioresponses() as mock:
        mock.get(
            "https://gateway.test/dashscope/v1/tasks/t",
            payload={"output": {"task_id": "t", "task_status": word}},
        )
        async with make_session() as session:
            return (await session.dashscope.tasks.get("t")).status


async def _kling_status(word: str) -> TaskStatus:
    body = {"code": 0, "data": {"task_id": "1", "task_status": word}}
    with aioresponses() as mock:
        mock.get("https://gateway.test/transtreams/kling/v1/images/omni-image/1", payload=body)
        async with make_session() as session:
            return (await session.kling.omni_image.get("1")).status


@SETTINGS
@given(word=st.sampled_from(sorted(DASHSCOPE)), case=ANY_CASE)
async def test_dashscope_words_in_any_case(word: str, case: object) -> None:
    assert await _dashscope_status(case(word)) is DASHSCOPE[word]  # type: ignore[operator]


@SETTINGS
@given(word=st.sampled_from(sorted(KLING)), case=ANY_CASE)
async def test_kling_words_in_any_case(word: str, case: object) -> None:
    assert await _kling_status(case(word)) is KLING[word]  # type: ignore[operator]


@SETTINGS
@given(word=ODD_WORDS)
async def test_unseen_words_are_unknown_and_terminal(word: str) -> None:
    for status in (await _dashscope_status(word), await _kling_status(word)):
        assert status is TaskStatus.UNKNOWN and status.done


@given(status=st.sampled_from(list(TaskStatus)))
def test_done_is_exactly_the_terminal_states(status: TaskStatus) -> None:
    assert status.done is (status not in (TaskStatus.PENDING, TaskStatus.RUNNING))
