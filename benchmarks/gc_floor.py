"""What a full garbage collection costs a process that holds tasks and does nothing else.

    python -m benchmarks.gc_floor [--tasks 20000] [--freeze]

A full collection walks every tracked object and holds the event loop while it does. This is
the floor under the lag-20000 scenario's "loop lag" for any client that keeps one ``Task``
per tracked task: the libraries alone, then with ``--tasks`` Task objects (each with its raw
answer, as the query route returns it) in one dict. The median of five collections each.
"""

from __future__ import annotations

import argparse
import gc
import json

import aiohttp  # noqa: F401  (imported as a session would: its objects count)

import anyint_async  # noqa: F401
from anyint_async import Task, TaskRoute, TaskStatus

from .collecting import collection_ms

__all__ = ["collection_ms", "main"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument(
        "--freeze",
        action="store_true",
        help="gc.freeze() once the libraries are imported, as an app may at start-up",
    )
    args = parser.parse_args(argv)
    found: dict[str, object] = {
        "libraries_objects": len(gc.get_objects()),
        "libraries_ms": collection_ms(),
    }
    if args.freeze:
        gc.freeze()
        found["frozen"] = gc.get_freeze_count()
    held: dict[tuple[str, str], Task] = {}
    for i in range(args.tasks):
        raw = {"request_id": f"r{i}", "output": {"task_id": f"t{i}", "task_status": "RUNNING"}}
        task = Task(id=f"t{i}", status=TaskStatus.RUNNING, route=TaskRoute.DASHSCOPE_TASKS, raw=raw)
        held[(task.route.value, task.id)] = task
    found.update(
        tasks=args.tasks,
        with_tasks_objects=len(gc.get_objects()),
        with_tasks_ms=collection_ms(),
    )
    print(json.dumps(found))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
