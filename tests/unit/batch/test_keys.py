"""Keys and the names made from them: no two jobs can ever write one path, case-blind."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from anyint_async.batch import JOURNAL_NAME, MANIFEST_NAME, key_problem
from anyint_async.batch.keys import external_task_id, folded
from anyint_async.download import _extension, check_file_name, result_file_name

from ..._validate_helpers import is_valid_task_id

# Candidate keys drawn from a wider alphabet than the grammar allows (the grammar then filters),
# so the property also sees keys that sit right at its edges.
_candidates = st.text(alphabet="aAbBzZ019._-@ ", min_size=1, max_size=70).filter(
    lambda key: key_problem(key) is None
)
_key_sets = st.lists(_candidates, min_size=1, max_size=12, unique_by=folded)
_content_types = st.sampled_from(
    ["image/png", "image/jpeg", "video/mp4", "application/octet-stream", "", "text/plain"]
)
_url_paths = st.sampled_from(
    ["/f/0.png", "/f/0.tar.gz", "/f/0", "/f/0.PNG", "/f/0.jsonl", "/f/0.sqlite3", "/f/x.verylong"]
)


@given(
    keys=_key_sets,
    counts=st.lists(st.integers(min_value=1, max_value=6), min_size=12, max_size=12),
    data=st.data(),
)
def test_no_two_jobs_share_a_file_name_even_ignoring_case(
    keys: list[str], counts: list[int], data: st.DataObject
) -> None:
    names: dict[str, str] = {}
    for key, count in zip(keys, counts, strict=False):
        check_file_name(key)  # every valid key is a valid download name
        for index in range(1, count + 1):
            extension = _extension(
                data.draw(_content_types), "https://files.test" + data.draw(_url_paths)
            )
            name = result_file_name(key, index, count, extension)
            seen = names.setdefault(name.lower(), key)
            assert seen == key, f"{key!r} and {seen!r} both write {name!r}"
            assert name.lower() not in (JOURNAL_NAME, MANIFEST_NAME)
            assert len(name.encode()) <= 255 - 20  # room for the temporary name while written


@given(keys=_key_sets, token=st.text(alphabet="0123456789abcdef", min_size=10, max_size=10))
def test_every_key_gives_a_valid_unique_external_id(keys: list[str], token: str) -> None:
    ids = [external_task_id(key, token) for key in keys]
    assert all(is_valid_task_id(value) for value in ids)
    assert len(set(ids)) == len(ids)


def test_the_fox_case_from_the_issue_no_longer_collides() -> None:
    two = [result_file_name("fox", i, 2, ".png") for i in (1, 2)]
    one = result_file_name("fox-1", 1, 1, ".png")
    assert two == ["fox@1.png", "fox@2.png"] and one == "fox-1.png"
    assert key_problem("fox@1") is not None  # the separator can never be part of a key
