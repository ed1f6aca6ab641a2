"""Creating a batch job's task, and resolving a create whose outcome is unknown.

Kling creates carry an external id, so a create that may or may not have happened is looked
up and adopted (or, if Kling does not know it, created). DashScope cannot be asked: such a job is
reported UNKNOWN, and sent again only at the user's word (``retry_uncertain``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable

import attrs

from .._errors import (
    AnyIntError,
    APIError,
    BadRequestError,
    InvalidParameterError,
    NotFoundError,
    RateLimitError,
)
from .._session import AnyIntSession
from ..billing import image_task_usage
from ..models import Task, TaskError, TaskStatus
from .journal import Journal
from .keys import external_task_id
from .requests import BatchRequest
from .result import BatchResult
from .routes import ROUTES, lookup_calls, route_calls

__all__ = ["JobCreator"]

logger = logging.getLogger("anyint_async.batch")

# Quota and billing answers do not heal by waiting (reference/kling.md 2, reference/dashscope.md).
_PERMANENT_LIMITS = frozenset(
    {"1100", "1101", "1102", "1304", "Throttling.FreeTierOnly", "Arrearage"}
)
_UNCERTAIN_CODE = "CreateOutcomeUnknown"
_LOOKUP_FAILED_NOTE = (
    "the create may have happened and looking it up failed; re-run the batch to look it up again"
)
_MAX_RESOLVES = 3  # creates whose outcome stays unknown after this many are reported, not retried


class JobCreator:
    """Creates each job's task once, journaling the intent first and the task id right after.

    What it finds goes out through three hooks: ``track`` (a task to poll), ``report`` (a
    job that ended here: failed, uncertain, or an image saved) and ``set_state`` (progress).
    """

    def __init__(
        self,
        session: AnyIntSession,
        journal: Journal,
        token: str,
        *,
        retry_uncertain: bool,
        creates_per_second: float | None,
        track: Callable[[str, Task], None],
        report: Callable[[BatchResult], None],
        set_state: Callable[[str, str], None],
        save_image: Callable[[BatchRequest, tuple[str, ...]], Awaitable[BatchResult]],
    ) -> None:
        self._journal = journal
        self._token = token
        self.retry_uncertain = retry_uncertain
        self._calls = route_calls(session.dashscope, session.kling)
        self._lookups = lookup_calls(session.kling)
        self._track = track
        self._report = report
        self._set_state = set_state
        self._save_image = save_image
        self._create_gap = 1.0 / creates_per_second if creates_per_second else 0.0
        self._next_create = 0.0
        self._slot_freed = asyncio.Event()

    def slot_freed(self) -> None:
        """One of the batch's tasks ended: a create held back by a concurrency cap may go."""
        self._slot_freed.set()

    async def create(self, position: int, request: BatchRequest) -> None:
        """Create the job's task (or generate its image) and hand it on."""
        await self._create(position, request, tries=0)

    async def resolve(self, position: int, request: BatchRequest) -> None:
        """A previous run was cut off mid-create: find out what happened, or say so."""
        await self._resolve(position, request, tries=0)

    def _external_id(self, request: BatchRequest) -> str | None:
        """The external id this job's create carries: the user's own, else one derived from
        the key and this folder's token; None for routes that take none."""
        if not ROUTES[request.route].takes_external_id:
            return None
        given = request.params.get("external_task_id")
        return str(given) if given is not None else external_task_id(request.key, self._token)

    async def _create(
        self,
        position: int,
        request: BatchRequest,
        *,
        tries: int,
    ) -> None:
        journal = self._journal
        route = ROUTES[request.route]
        params = dict(request.params)
        external_id = self._external_id(request)
        if external_id is not None:
            # Lets an interrupted create be looked up instead of repeated.
            params["external_task_id"] = external_id
        self._set_state(request.key, "creating")
        while True:
            await self._pace()
            journal.intend(request.key, position, request.route, request.params_json(), external_id)
            try:
                if route.answers_at_once:
                    image = await self._calls[request.route](**params)
                    journal.finished(
                        request.key,
                        TaskStatus.SUCCEEDED,
                        image.urls,
                        image_task_usage(image.usage),
                    )
                    self._set_state(request.key, "running")
                    self._report(await self._save_image(request, image.urls))
                    return
                task = await self._calls[request.route](**params)
            except RateLimitError as exc:
                if exc.code in _PERMANENT_LIMITS:
                    await self._fail(request, exc)
                    return
                # Too many tasks in flight (Kling 1303) or too fast: nothing was created. Wait
                # for one of this batch's tasks to finish, or a while, then try again.
                await self._wait_for_slot(exc.retry_after)
                continue
            except APIError as exc:
                taken = _external_id_taken(exc) and route.takes_external_id
                if exc.may_have_created_task or taken:
                    await self._resolve(position, request, tries=tries + 1, cause=exc)
                else:
                    await self._fail(request, exc)
                return
            except InvalidParameterError as exc:
                await self._fail(request, exc)
                return
            journal.created(request.key, task)
            self._track(request.key, task)
            return

    async def _resolve(
        self,
        position: int,
        request: BatchRequest,
        *,
        tries: int,
        cause: AnyIntError | None = None,
    ) -> None:
        """A create may or may not have happened: find out, or say so."""
        journal = self._journal
        route = ROUTES[request.route]
        if route.takes_external_id and tries <= _MAX_RESOLVES:
            record = journal.get(request.key)
            external_id = (record.external_id if record else None) or self._external_id(request)
            assert external_id is not None
            try:
                task = await self._lookups[request.route](external_id)
            except NotFoundError:
                logger.info("%s: Kling has no task %r; creating it", request.key, external_id)
                await self._create(position, request, tries=tries)
                return
            except AnyIntError as exc:
                # Left CREATING in the journal: the next run looks it up again.
                logger.warning("%s: could not look the task up yet: %s", request.key, exc)
                self._report_uncertain(request, str(exc), _LOOKUP_FAILED_NOTE, final=False)
                return
            if task.model is None:
                task = attrs.evolve(task, model=request.params.get("model"))
            journal.created(request.key, task)
            self._track(request.key, task)
            return
        if self.retry_uncertain and tries <= _MAX_RESOLVES:
            await self._create(position, request, tries=tries)
            return
        note = route.uncertain_note
        self._report_uncertain(request, str(cause) if cause else note, note, final=True)

    def _report_uncertain(
        self, request: BatchRequest, message: str, note: str, *, final: bool
    ) -> None:
        error = TaskError(code=_UNCERTAIN_CODE, message=message)
        if final:
            self._journal.done(request.key, status=TaskStatus.UNKNOWN, error=error, note=note)
        self._report(
            BatchResult(
                key=request.key,
                route=request.route,
                status=TaskStatus.UNKNOWN,
                error=error,
                note=note,
            )
        )

    async def _pace(self) -> None:
        if not self._create_gap:
            return
        now = time.monotonic()
        slot = max(now, self._next_create)
        self._next_create = slot + self._create_gap
        if slot > now:
            await asyncio.sleep(slot - now)

    async def _wait_for_slot(self, retry_after: float | None) -> None:
        self._slot_freed.clear()
        wait = retry_after if retry_after is not None else 5.0
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._slot_freed.wait(), timeout=wait)

    async def _fail(self, request: BatchRequest, exc: AnyIntError) -> None:
        code = getattr(exc, "code", None) or type(exc).__name__
        error = TaskError(code=str(code), message=getattr(exc, "message", None) or str(exc))
        self._journal.done(request.key, status=TaskStatus.FAILED, error=error)
        self._report(
            BatchResult(key=request.key, route=request.route, status=TaskStatus.FAILED, error=error)
        )


def _external_id_taken(exc: APIError) -> bool:
    return (
        isinstance(exc, BadRequestError)
        and exc.code == "1201"
        and "external_task_id" in (exc.message or "")
    )
