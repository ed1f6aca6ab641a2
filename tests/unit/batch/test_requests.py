"""Jobs files are checked line by line before anything is sent; errors say file, line, field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from anyint_async.batch import BatchFileError, BatchRequest, load_requests, parse_requests


def _write(tmp_path: Path, *lines: object) -> Path:
    path = tmp_path / "jobs.jsonl"
    path.write_text(
        "\n".join(line if isinstance(line, str) else json.dumps(line) for line in lines) + "\n"
    )
    return path


def test_every_route_parses(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "# a comment, then a blank line",
        "",
        {
            "key": "poster",
            "route": "dashscope.images",
            "params": {"model": "qwen-image-plus", "prompt": "p", "size": "1328*1328"},
        },
        {
            "key": "clip",
            "route": "dashscope.videos",
            "params": {"model": "happyhorse-1.0-t2v", "prompt": "p", "duration": 10},
        },
        {"key": "fox", "route": "kling.images", "params": {"prompt": "p", "n": 2}},
        {"key": "omni", "route": "kling.omni_image", "params": {"prompt": "p"}},
        {
            "key": "heroes_boat.2",
            "route": "kling.omni_video",
            "params": {"prompt": "p", "duration": "5"},
        },
    )
    requests = load_requests(path)
    assert [r.key for r in requests] == ["poster", "clip", "fox", "omni", "heroes_boat.2"]
    assert requests[4] == BatchRequest(
        "heroes_boat.2", "kling.omni_video", {"prompt": "p", "duration": "5"}
    )


@pytest.mark.parametrize(
    ("line", "field", "problem"),
    [
        ("{not json", None, "not valid JSON"),
        ("[1, 2]", None, "must be a JSON object"),
        ({"key": "a", "route": "openai.images", "params": {}}, "route", "must be one of"),
        ({"key": "", "route": "kling.images", "params": {"prompt": "p"}}, "key", "non-empty"),
        (
            {"key": "../up", "route": "kling.images", "params": {"prompt": "p"}},
            "key",
            "is not a valid key: use 1 to 64 of A-Z a-z 0-9 . _ -",
        ),
        (
            {"key": "/abs", "route": "kling.images", "params": {"prompt": "p"}},
            "key",
            "is not a valid key",
        ),
        (
            {"key": "x" * 65, "route": "kling.images", "params": {"prompt": "p"}},
            "key",
            "is 65 characters long; the longest key is 64",
        ),
        (
            {"key": "con.1", "route": "kling.images", "params": {"prompt": "p"}},
            "key",
            "Windows device name 'con'",
        ),
        (
            {"key": "Manifest", "route": "kling.images", "params": {"prompt": "p"}},
            "key",
            "the batch's own manifest file",
        ),
        (
            {
                "key": "a",
                "route": "kling.images",
                "params": {"prompt": "p", "external_task_id": "my id/1"},
            },
            "params.external_task_id",
            "may hold only letters, digits",
        ),
        ({"key": "a", "route": "kling.images", "params": ["p"]}, "params", "must be a JSON object"),
        (
            {"key": "a", "route": "kling.images", "params": {"prompt": "p", "colour": "red"}},
            "params.colour",
            "not a parameter of kling.images",
        ),
        (
            {
                "key": "a",
                "route": "dashscope.videos",
                "params": {"model": "m", "prompt": "p", "duration": "10s"},
            },
            "params.duration",
            "must be an int of seconds, got '10s'",
        ),
        (
            {"key": "a", "route": "kling.omni_video", "params": {"prompt": "p", "duration": 30}},
            "params.duration",
            "between 3 and 15",
        ),
        ({"key": "a", "route": "dashscope.videos", "params": {"prompt": "p"}}, "params", "model"),
        (
            {"key": "a", "route": "kling.images", "params": {"prompt": " "}},
            "params.prompt",
            "must not be empty",
        ),
        (
            {"key": "a", "route": "kling.images", "params": {"prompt": "p"}, "when": "now"},
            "when",
            "unknown field",
        ),
    ],
)
def test_bad_lines_name_file_line_and_field(
    tmp_path: Path, line: object, field: str | None, problem: str
) -> None:
    path = _write(tmp_path, {"key": "ok", "route": "kling.images", "params": {"prompt": "p"}}, line)
    with pytest.raises(BatchFileError) as caught:
        load_requests(path)
    error = caught.value
    assert (error.source, error.line, error.field) == (str(path), 2, field)
    assert problem in error.problem
    assert str(error).startswith(f"{path}:2: ")


def test_duplicate_keys_point_at_the_first(tmp_path: Path) -> None:
    job = {"key": "same", "route": "kling.images", "params": {"prompt": "p"}}
    with pytest.raises(
        BatchFileError,
        match=r"jobs.jsonl:2: key: 'same' is used twice, ignoring case \(first on line 1",
    ):
        load_requests(_write(tmp_path, job, job))


def test_keys_that_differ_only_in_case_are_one_file_on_case_blind_disks(tmp_path: Path) -> None:
    wolf = {"key": "Wolf", "route": "kling.images", "params": {"prompt": "p"}}
    other = {"key": "wolf", "route": "kling.images", "params": {"prompt": "q"}}
    with pytest.raises(BatchFileError) as caught:
        load_requests(_write(tmp_path, wolf, other))
    assert caught.value.line == 2 and caught.value.field == "key"
    assert "first on line 1 as 'Wolf'" in caught.value.problem


@pytest.mark.parametrize(
    "key", ["hero-01", "scene_12", "shot.3", "A", "9", "v2.1-final_cut", "x" * 64]
)
def test_real_users_keys_pass(key: str) -> None:
    assert [
        r.key for r in parse_requests([BatchRequest(key, "kling.images", {"prompt": "p"})])
    ] == [key]


@pytest.mark.parametrize(
    "key",
    [
        ".",
        "..",
        "",
        " ",
        "heroes 01",
        "heroes/01",
        "a\\b",
        "-x",
        ".x",
        "x.",
        "a..b",
        "é" * 3,
        "nul",
    ],
)
def test_keys_that_name_no_file_of_their_own_are_refused(key: str) -> None:
    with pytest.raises(BatchFileError) as caught:
        parse_requests([BatchRequest(key, "kling.images", {"prompt": "p"})])
    assert caught.value.field == "key"


def test_the_library_request_list_is_checked_the_same_way() -> None:
    with pytest.raises(BatchFileError, match=r"<requests>:2: key: .*ignoring case"):
        parse_requests(
            [
                BatchRequest("Hero", "kling.images", {"prompt": "p"}),
                {"key": "hero", "route": "kling.images", "params": {"prompt": "q"}},
            ]
        )


def test_missing_file_is_one_clear_error(tmp_path: Path) -> None:
    with pytest.raises(BatchFileError, match="cannot be read"):
        load_requests(tmp_path / "nope.jsonl")


def test_dicts_and_requests_parse_too() -> None:
    requests = parse_requests(
        [
            {"key": "a", "route": "kling.images", "params": {"prompt": "p"}},
            BatchRequest("b", "kling.images", {"prompt": "q"}),
        ]
    )
    assert [r.key for r in requests] == ["a", "b"]


def test_every_bad_line_is_reported_in_one_go(tmp_path: Path) -> None:
    good = {"key": "ok", "route": "kling.images", "params": {"prompt": "p"}}
    path = _write(
        tmp_path,
        good,
        {"key": "bad one", "route": "kling.images", "params": {"prompt": "p"}},
        good,
        "{oops",
        {"key": "x", "route": "openai.images", "params": {}},
    )
    with pytest.raises(BatchFileError) as caught:
        load_requests(path)
    error = caught.value
    assert error.line == 2 and error.field == "key"
    assert [(other.line, other.field) for other in error.others] == [
        (3, "key"),
        (4, None),
        (5, "route"),
    ]
    lines = str(error).splitlines()
    assert lines[0].endswith("(and 3 more bad lines)")
    assert lines[1].startswith(f"{path}:3: key: 'ok' is used twice")
    assert len(lines) == 4


def test_a_long_list_of_bad_lines_is_cut_at_twenty() -> None:
    bad = [{"key": f"k {i}", "route": "kling.images", "params": {"prompt": "p"}} for i in range(30)]
    with pytest.raises(BatchFileError) as caught:
        parse_requests(bad)
    assert len(caught.value.others) == 19
    assert str(caught.value).splitlines()[-1] == "... and 10 more"
