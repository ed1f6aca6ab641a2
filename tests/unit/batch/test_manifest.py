"""The manifest is replaced whole or not at all: a reader never sees half of one."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from anyint_async import TaskStatus
from anyint_async.batch import MANIFEST_NAME, write_manifest
from anyint_async.batch.journal import JobRecord, Phase


def _record(key: str) -> JobRecord:
    return JobRecord(
        key=key,
        position=0,
        route="dashscope.video",
        params="{}",
        phase=Phase.DONE,
        task_id=f"task-{key}",
        status=TaskStatus.SUCCEEDED,
    )


def test_a_manifest_write_that_fails_part_way_leaves_the_last_one_whole(tmp_path: Path) -> None:
    write_manifest(tmp_path, [_record("a"), _record("b")])

    def failing() -> Iterator[JobRecord]:
        yield _record("c")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_manifest(tmp_path, failing())
    lines = (tmp_path / MANIFEST_NAME).read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["key"] for line in lines] == ["a", "b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [MANIFEST_NAME]
