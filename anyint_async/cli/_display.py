"""What the command line shows: a live status line, a batch progress bar, a summary table."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType
from typing import Self

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from ..batch import BatchProgress, BatchResult
from ..polling import TaskEvent

__all__ = [
    "BatchDisplay",
    "TaskStatusLine",
    "failures_table",
    "not_saved_lines",
    "summary_table",
]


class TaskStatusLine:
    """``task 8672... RUNNING 12s`` on one line that updates in place."""

    def __init__(self, console: Console, task_id: str, status: str) -> None:
        self._console = console
        self._task_id = task_id
        self._status = status
        self._started = time.monotonic()
        self._live = console.status(self._text())

    def _text(self) -> str:
        seconds = time.monotonic() - self._started
        return f"task {self._task_id} [bold]{self._status}[/bold] {seconds:.0f}s"

    def on_event(self, event: TaskEvent) -> None:
        self._status = event.task.status.value
        self._live.update(self._text())

    def __enter__(self) -> Self:
        self._live.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._live.stop()


class BatchDisplay:
    """A progress bar with created / running / done / failed counts and the finishing rate."""

    def __init__(self, console: Console, total: int, title: str) -> None:
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[counts]}"),
            TextColumn("{task.fields[rate]}"),
            TimeElapsedColumn(),
            console=console,
            transient=False,
        )
        self._bar = self._progress.add_task(title, total=total, counts="", rate="")

    def update(self, progress: BatchProgress) -> None:
        states = progress.states
        waiting = states["creating"] + states["created"]
        counts = (
            f"created {waiting}  running {states['running']}  "
            f"done {states['succeeded'] + states['resumed']}  failed {states['failed']}"
        )
        self._progress.update(
            self._bar,
            completed=progress.finished,
            counts=counts,
            rate=f"{progress.rate():.1f}/s",
        )

    def __enter__(self) -> Self:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()


def summary_table(results: Sequence[BatchResult], out_dir: Path) -> Table:
    """Jobs per route and outcome."""
    table = Table(title=f"batch summary ({out_dir})")
    table.add_column("route")
    labels = sorted({_label(r) for r in results})
    for label in labels:
        table.add_column(label, justify="right")
    counts = Counter((r.route, _label(r)) for r in results)
    for route in sorted({r.route for r in results}):
        table.add_row(route, *(str(counts[(route, label)] or "") for label in labels))
    return table


def failures_table(results: Sequence[BatchResult], *, limit: int = 10) -> Table | None:
    """The jobs that did not succeed, with the provider's reason (first ``limit``)."""
    failed = [r for r in results if not r.succeeded]
    if not failed:
        return None
    table = Table(title=f"not succeeded ({len(failed)})")
    for column in ("key", "route", "outcome", "reason"):
        table.add_column(column)
    for result in failed[:limit]:
        reason = ""
        if result.error is not None:
            reason = " ".join(p for p in (result.error.code, result.error.message) if p)
        table.add_row(result.key, result.route, _label(result), reason[:80])
    if len(failed) > limit:
        table.caption = f"... and {len(failed) - limit} more: see manifest.jsonl"
    return table


def not_saved_lines(results: Sequence[BatchResult]) -> list[str]:
    """One whole line per job that succeeded upstream but is not on disk: what went wrong
    and what to do (a table cell would cut or wrap it)."""
    return [f"{r.key}: {r.note}" for r in results if not r.saved and r.note]


def _label(result: BatchResult) -> str:
    if result.succeeded:
        return "resumed" if result.resumed else "succeeded"
    if not result.saved:
        return "not saved"
    return result.status.value.lower()
