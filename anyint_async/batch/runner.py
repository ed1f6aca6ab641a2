"""The batch runner: create, poll and download a list of jobs, surviving crashes and Ctrl-C.

The runner orchestrates; ``creating`` makes (or resolves) each job's task, ``saving`` puts
finished results on disk, ``manifest`` writes what became of each job, ``routes`` says what
each route can do.

For each key the journal moves QUEUED -> CREATING -> CREATED -> FINISHED -> DONE, committing each
step. A re-run of the same batch into the same folder skips DONE keys, polls CREATED and FINISHED
ones again (a fresh query also brings fresh result URLs), and resolves CREATING ones, which a
crash caught mid-create:

- Kling: the create carried an ``external_task_id`` made of the key and this folder's token
  (``batch.keys``), so the task is looked up by it; only if Kling does not know it is it
  created (nothing was created the first time).
- DashScope: there is no way to ask. The job is reported UNKNOWN with a note saying the create
  may have happened, and is not repeated unless ``retry_uncertain=True``: paying twice silently
  is worse than asking the user.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import weakref
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import attrs
from attrs import define

from .._errors import InvalidParameterError
from .._session import AnyIntSession
from ..billing import BilledTotals
from ..models import Task, TaskStatus
from ..polling import PollPolicy, TaskEvent, TaskEventKind
from ..polling.schedule import Key, task_key
from .creating import JobCreator
from .journal import JobRecord, Journal, Phase
from .keys import new_batch_token
from .lock import FolderLock
from .manifest import write_manifest
from .requests import BatchFileError, BatchRequest, parse_requests
from .result import BatchResult
from .saving import ResultSaver

__all__ = ["BatchProgress", "BatchResult", "BatchResults", "BatchRunner"]

logger = logging.getLogger("anyint_async.batch")

_DONE = object()


@define
class BatchProgress:
    """Counters for a progress display; ``states`` counts jobs per state word."""

    total: int
    started_at: float = attrs.field(factory=time.monotonic)
    states: Counter[str] = attrs.field(factory=Counter)

    @property
    def finished(self) -> int:
        return self.states["succeeded"] + self.states["failed"] + self.states["resumed"]

    def rate(self) -> float:
        """Jobs finished per second in this run."""
        elapsed = time.monotonic() - self.started_at
        done = self.states["succeeded"] + self.states["failed"]
        return done / elapsed if elapsed > 0 else 0.0


class BatchRunner:
    """Runs ``requests`` into ``out_dir``; see the module doc for what a re-run does.

    Examples:
        >>> runner = BatchRunner(session, load_requests("jobs.jsonl"), "out")  # doctest: +SKIP
        >>> async with runner.results() as results:  # doctest: +SKIP
        ...     async for result in results:
        ...         print(result.key, result.status, result.files)
    """

    def __init__(
        self,
        session: AnyIntSession,
        requests: Sequence[BatchRequest] | Sequence[dict[str, Any]],
        out_dir: str | Path,
        *,
        concurrency: int = 8,
        creates_per_second: float | None = None,
        retry_uncertain: bool = False,
        poll_policy: PollPolicy | None = None,
        on_progress: Callable[[BatchProgress], None] | None = None,
    ) -> None:
        if isinstance(concurrency, bool) or not isinstance(concurrency, int) or concurrency < 1:
            raise InvalidParameterError("concurrency", f"must be an int >= 1, got {concurrency!r}")
        if creates_per_second is not None and not creates_per_second > 0:
            raise InvalidParameterError(
                "creates_per_second", f"must be a positive number, got {creates_per_second!r}"
            )
        self.session = session
        self.requests = parse_requests(requests)
        self.out_dir = Path(out_dir)
        self.concurrency = concurrency
        self.retry_uncertain = retry_uncertain
        self.poll_policy = poll_policy
        self.progress = BatchProgress(total=len(self.requests))
        self._on_progress = on_progress
        self._creates_per_second = creates_per_second
        self._stop_requested = asyncio.Event()
        self._by_key = {request.key: request for request in self.requests}
        self._keys: dict[Key, str] = {}
        self._state: dict[str, str] = {}
        self._journal: Journal | None = None
        self._saver: ResultSaver | None = None
        self._creator: JobCreator | None = None
        # Set for the length of a run: where results go, and how tasks join the poller.
        self._emit: Callable[[BatchResult], None] = lambda result: None
        self._add: Callable[[Task], None] | None = None
        self._manifest_written = 0.0
        self._billed = BilledTotals()

    @property
    def billed(self) -> BilledTotals:
        """What the batch's succeeded jobs reported they made, each job once (resumed ones
        too): current as of the last manifest write, exact once the run has ended."""
        return self._billed

    def results(self) -> BatchResults:
        """The results as they land, one per job (resumed ones first)."""
        return BatchResults(self)

    async def run(self) -> list[BatchResult]:
        """Run to the end and return every result."""
        async with self.results() as results:
            return [result async for result in results]

    def stop(self) -> None:
        """Finish in-flight creates, start no new ones, and end soon. Created tasks stay in the
        journal: the next run polls them."""
        self._stop_requested.set()

    # --- the run -------------------------------------------------------------------------------

    async def _execute(self, emit: Callable[[BatchResult], None]) -> None:
        self._emit = emit
        # One writer per folder, before anything is read or created: a second run beside this
        # one would create (and pay for) every job this one has not finished yet.
        lock = FolderLock(self.out_dir)
        lock.acquire()
        try:
            await self._execute_locked()
        finally:
            lock.release()

    async def _execute_locked(self) -> None:
        # Journal writes are small local commits: done on the loop thread, in order, at once.
        journal = self._journal = Journal(self.out_dir)
        saver = self._saver = ResultSaver(self.session, journal, self.out_dir)
        self._creator = JobCreator(
            self.session,
            journal,
            journal.token(new_batch_token),
            retry_uncertain=self.retry_uncertain,
            creates_per_second=self._creates_per_second,
            track=self._track,
            report=self._report,
            set_state=self._set_state,
            save_image=saver.save_image,
        )
        _remove_partial_files(self.out_dir)
        try:
            records = {record.key: record for record in journal.records()}
            self._check_same_batch(records)
            pending: list[tuple[int, BatchRequest, JobRecord | None]] = []
            for position, request in enumerate(self.requests):
                record = records.get(request.key)
                if record is not None and record.phase is Phase.DONE:
                    self._set_state(request.key, "resumed")
                    self._emit(self._result_from_record(record, resumed=True))
                else:
                    pending.append((position, request, record))
            logger.info(
                "batch of %d job(s) into %s: %d already done, %d to run",
                len(self.requests),
                self.out_dir,
                len(self.requests) - len(pending),
                len(pending),
            )
            if pending:
                await self._run_pending(pending)
            states = self.progress.states
            logger.info(
                "batch finished: %d succeeded, %d failed or not saved, %d resumed",
                states["succeeded"],
                states["failed"],
                states["resumed"],
            )
        except* _Stopped:
            logger.info("batch stopped; created tasks are kept in the journal for the next run")
        finally:
            self._write_manifest(force=True)
            journal.close()

    async def _run_pending(self, pending: list[tuple[int, BatchRequest, JobRecord | None]]) -> None:
        async with (
            self.session.poller(policy=self.poll_policy, on_event=self._on_event) as poller,
            asyncio.TaskGroup() as group,
        ):
            self._add = poller.add
            work: asyncio.Queue[tuple[int, BatchRequest, JobRecord | None]] = asyncio.Queue()
            for item in pending:
                work.put_nowait(item)

            creating_done = asyncio.Event()

            async def feed() -> None:
                workers = [
                    asyncio.create_task(self._worker(work))
                    for _ in range(min(self.concurrency, len(pending)))
                ]
                try:
                    await asyncio.gather(*workers)
                    logger.info("batch: every create is sent; waiting for the tasks to finish")
                finally:
                    for worker in workers:
                        worker.cancel()
                    creating_done.set()
                poller.close()

            async def stop_when_asked() -> None:
                await self._stop_requested.wait()
                await creating_done.wait()  # creates in flight finish and are journaled first
                raise _Stopped

            group.create_task(feed())
            stopper = group.create_task(stop_when_asked())
            async for task in poller:
                key = self._keys.pop(task_key(task))
                group.create_task(self._finish(key, task))
            stopper.cancel()

    async def _worker(
        self, work: asyncio.Queue[tuple[int, BatchRequest, JobRecord | None]]
    ) -> None:
        while not self._stop_requested.is_set():
            try:
                position, request, record = work.get_nowait()
            except asyncio.QueueEmpty:
                return
            if record is not None and record.phase is Phase.FINISHED and record.task_id is None:
                # A generated image whose files were not saved: its URLs are in the journal.
                self._set_state(request.key, "running")
                self._report(await self._require_saver().save_image(request, record.urls))
            elif record is not None and record.phase in (Phase.CREATED, Phase.FINISHED):
                task = record.task()
                assert task is not None
                self._track(request.key, task)
            elif record is not None and record.phase is Phase.CREATING:
                await self._require_creator().resolve(position, request)
            else:
                await self._require_creator().create(position, request)

    # --- finishing -----------------------------------------------------------------------------

    def _track(self, key: str, task: Task) -> None:
        self._keys[task_key(task)] = key
        assert self._add is not None
        self._add(task)

    async def _finish(self, key: str, task: Task) -> None:
        self._require_creator().slot_freed()
        self._report(await self._require_saver().save_task(self._by_key[key], task))

    def _report(self, result: BatchResult) -> None:
        # The journal holds what the provider reported, whichever step learned it.
        record = self._require_journal().get(result.key)
        if record is not None and record.usage is not None:
            result = attrs.evolve(result, usage=record.usage)
        self._set_state(result.key, "succeeded" if result.succeeded else "failed")
        self._emit(result)

    # --- bookkeeping -----------------------------------------------------------------------------

    def _check_same_batch(self, records: dict[str, JobRecord]) -> None:
        for request in self.requests:
            record = records.get(request.key)
            if record is not None and (
                record.route != request.route or record.params != request.params_json()
            ):
                raise BatchFileError(
                    str(self.out_dir),
                    None,
                    request.key,
                    "this key was run into this folder before with another route or params; "
                    "give the changed job a new key, or use another output folder",
                )

    def _on_event(self, event: TaskEvent) -> None:
        key = self._keys.get(task_key(event.task))
        if key is None:
            return
        if event.kind is TaskEventKind.CREATED:
            self._set_state(key, "created")
        elif event.kind is TaskEventKind.RUNNING:
            self._set_state(key, "running")

    def _set_state(self, key: str, state: str) -> None:
        previous = self._state.get(key)
        if previous == state:
            return
        if previous is not None:
            self.progress.states[previous] -= 1
        self._state[key] = state
        self.progress.states[state] += 1
        if state in ("succeeded", "failed", "resumed"):
            self._write_manifest()
        if self._on_progress is not None:
            self._on_progress(self.progress)

    def _write_manifest(self, *, force: bool = False) -> None:
        now = time.monotonic()
        journal = self._journal
        if journal is None or (not force and now - self._manifest_written < 0.5):
            return
        self._manifest_written = now
        records = {record.key: record for record in journal.records()}
        ordered = [
            records.get(request.key)
            or JobRecord(
                key=request.key,
                position=position,
                route=request.route,
                params=request.params_json(),
                phase=Phase.QUEUED,
            )
            for position, request in enumerate(self.requests)
        ]
        write_manifest(self.out_dir, ordered)
        self._billed = BilledTotals.of(
            record.usage for record in ordered if record.status is TaskStatus.SUCCEEDED
        )

    def _result_from_record(self, record: JobRecord, *, resumed: bool) -> BatchResult:
        return BatchResult(
            key=record.key,
            route=record.route,
            status=record.status or TaskStatus.UNKNOWN,
            task_id=record.task_id,
            files=tuple(self.out_dir / name for name in record.files),
            error=record.error,
            note=record.note,
            resumed=resumed,
            usage=record.usage,
        )

    def _require_journal(self) -> Journal:
        assert self._journal is not None
        return self._journal

    def _require_saver(self) -> ResultSaver:
        assert self._saver is not None
        return self._saver

    def _require_creator(self) -> JobCreator:
        assert self._creator is not None
        return self._creator


class _Stopped(Exception):
    """Raised inside the run's task group to end it after ``stop()``."""


def _remove_partial_files(folder: Path) -> None:
    """A run killed mid-download leaves its temporary ``.part`` files; nothing else writes
    into a batch folder while its run starts, so they can all go."""
    for leftover in folder.rglob(".*.part"):
        with contextlib.suppress(FileNotFoundError):
            leftover.unlink()


class BatchResults:
    """Async iterator (and context manager) over a batch's results.

    The run happens in a task this object owns: leaving the ``async with`` block (or dropping
    the iterator) cancels it, after which the journal still holds every created task.
    """

    def __init__(self, runner: BatchRunner) -> None:
        self._runner = runner
        self._queue: asyncio.Queue[object] = asyncio.Queue()
        self._work: asyncio.Task[None] | None = None
        self._finalizer: weakref.finalize[Any, Any] | None = None

    def _start(self) -> None:
        if self._work is None:
            self._work = asyncio.get_running_loop().create_task(
                self._run(), name="anyint_async batch"
            )
            self._finalizer = weakref.finalize(self, self._work.cancel)

    async def _run(self) -> None:
        try:
            await self._runner._execute(self._queue.put_nowait)
        finally:
            self._queue.put_nowait(_DONE)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> BatchResult:
        self._start()
        item = await self._queue.get()
        if item is _DONE:
            assert self._work is not None
            await self._work  # raises what the run raised, if anything
            raise StopAsyncIteration
        assert isinstance(item, BatchResult)
        return item

    async def __aenter__(self) -> Self:
        self._start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Cancel the run if it is still going; the journal and manifest stay consistent."""
        work = self._work
        if work is not None and not work.done():
            work.cancel()
            await asyncio.gather(work, return_exceptions=True)
