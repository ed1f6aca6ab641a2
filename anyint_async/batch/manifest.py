"""``manifest.jsonl``: one line per key, what became of it; rewritten whole, atomically."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .._files import write_whole
from ..billing import usage_to_json
from .journal import JobRecord, Phase

__all__ = ["MANIFEST_NAME", "manifest_line", "write_manifest"]

MANIFEST_NAME = "manifest.jsonl"


def manifest_line(record: JobRecord) -> dict[str, Any]:
    """The manifest entry of one job: status is a ``TaskStatus`` value (PENDING until known).

    ``usage`` is what the provider reported the job made (``null`` where it said nothing).
    ``status`` is what happened upstream and ``done`` whether anything is left to do here: a
    job that SUCCEEDED upstream but whose files could not be written has ``done: false``, its
    ``error`` and ``note`` say why, and the next run saves it.
    """
    seconds = None
    if record.created_at is not None and record.finished_at is not None:
        seconds = round(record.finished_at - record.created_at, 3)
    return {
        "key": record.key,
        "route": record.route,
        "task_id": record.task_id,
        "external_task_id": record.external_id,
        "status": record.status.value if record.status else "PENDING",
        "error": (
            {"code": record.error.code, "message": record.error.message} if record.error else None
        ),
        "files": list(record.files),
        "done": record.phase is Phase.DONE,
        "note": record.note,
        "usage": usage_to_json(record.usage),
        "timings": {
            "intent_at": record.intent_at,
            "created_at": record.created_at,
            "finished_at": record.finished_at,
            "done_at": record.done_at,
            "seconds": seconds,
        },
    }


def write_manifest(folder: Path, records: Iterable[JobRecord]) -> Path:
    """Write the manifest whole under a temporary name and rename it over the old one."""
    lines = (
        (json.dumps(manifest_line(record), ensure_ascii=False) + "\n").encode("utf-8")
        for record in records
    )
    return write_whole(folder / MANIFEST_NAME, lines)
