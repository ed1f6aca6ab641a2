"""OpenTelemetry spans and metrics, when ``opentelemetry-api`` is installed (extra ``otel``).

Without it, every method here does nothing and nothing is imported. With it, the session records
(through whatever tracer and meter providers the application configured, none meaning no-op):

- one ``anyint.task`` span per task, from the moment its create is sent to the moment the
  scheduler sees it end, with route, model, task id, final status, queries spent and detection
  delay; its children are the ``anyint.create`` span and the ``anyint.download`` span of its files.
  A task never waited for is ended when the session closes, with status ``unobserved``.
- ``anyint.generate`` for a DashScope image generation (it answers at once, there is no task).
- metrics: ``anyint.queries`` (by route and outcome), ``anyint.cooldowns``, ``anyint.billed``
  (what finished tasks and generated images reported they made, by ``unit``: video_seconds,
  videos, images, kling_units; the providers' figures, not a price), and the gauges
  ``anyint.queries.in_flight`` and ``anyint.tasks.tracked``.
"""

from __future__ import annotations

import contextlib
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from ._version import __version__
from .billing import billed_units, usage_to_json
from .models import Task, TaskUsage

if TYPE_CHECKING:
    from opentelemetry.trace import Span

try:
    from opentelemetry import metrics as otel_metrics
    from opentelemetry import trace as otel_trace
except ImportError:  # the extra is not installed: every hook below is a no-op
    otel_metrics = None  # type: ignore[assignment]
    otel_trace = None  # type: ignore[assignment]

__all__ = ["CreateTrace", "Telemetry"]

_Key = tuple[str, str]
_RECENT = 4096


class CreateTrace:
    """The spans of one create in flight; ``bind`` names the task it made."""

    def __init__(self, telemetry: Telemetry, task_span: Span | None) -> None:
        self._telemetry = telemetry
        self._task_span = task_span

    def bind(self, task: Task) -> None:
        """The create answered with ``task``: its span stays open until the task ends."""
        if self._task_span is None or not self._task_span.get_span_context().is_valid:
            # No tracer provider configured (the API's no-op spans): nothing to count, end or
            # parent a download to, so nothing is kept for a task that may run for minutes.
            return
        self._task_span.set_attribute("anyint.task.id", task.id)
        if task.model:
            self._task_span.set_attribute("anyint.model", task.model)
        self._telemetry._open[(task.route.value, task.id)] = [self._task_span, 0]
        self._task_span = None


class Telemetry:
    """The session's spans and metrics; every hook is cheap and safe to call without OTel."""

    def __init__(self, *, enabled: bool = True) -> None:
        self.enabled = enabled and otel_trace is not None and otel_metrics is not None
        self._open: dict[_Key, list[Any]] = {}
        # Spans of tasks that just ended: their downloads (which come after) are their children.
        self._ended: OrderedDict[_Key, Span] = OrderedDict()
        self._in_flight_source: Callable[[], int] | None = None
        self._tracked_source: Callable[[], int] | None = None
        if not self.enabled:
            return
        self._tracer = otel_trace.get_tracer("anyint_async", __version__)
        instruments = _instruments()
        self._queries = instruments.queries
        self._cooldowns = instruments.cooldowns
        self._hedges = instruments.hedges
        self._billed = instruments.billed
        _LIVE.add(self)

    def watch(self, *, in_flight: Callable[[], int], tracked: Callable[[], int]) -> None:
        """Where the gauges read from (the scheduler, once it exists)."""
        self._in_flight_source = in_flight
        self._tracked_source = tracked

    # --- creates -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def create(self, route: str, model: str | None) -> Iterator[CreateTrace]:
        """Around one create call: a task span (left open) and its child create span."""
        if not self.enabled:
            yield CreateTrace(self, None)
            return
        task_span = self._tracer.start_span("anyint.task", attributes=_route_model(route, model))
        context = otel_trace.set_span_in_context(task_span)
        trace = CreateTrace(self, task_span)
        try:
            with self._tracer.start_as_current_span(
                "anyint.create", context=context, attributes=_route_model(route, model)
            ):
                yield trace
        except BaseException as exc:
            # No task came of it (or none we know of): the task span ends with the create.
            task_span.set_attribute("anyint.task.status", "not created")
            task_span.record_exception(exc)
            task_span.end()
            raise
        if trace._task_span is not None:  # the caller made no task of the answer
            trace._task_span.end()

    @contextlib.contextmanager
    def generate(self, model: str) -> Iterator[None]:
        """Around one image generation (no task: the answer is the result)."""
        if not self.enabled:
            yield
            return
        with self._tracer.start_as_current_span(
            "anyint.generate", attributes=_route_model("dashscope.images", model)
        ):
            yield

    # --- polling -------------------------------------------------------------------------------

    def queried(self, task: Task, outcome: str) -> None:
        """One scheduler query of ``task`` ended with ``outcome`` (answered, failed, 429...)."""
        if not self.enabled:
            return
        self._queries.add(1, {"anyint.route": task.route.value, "anyint.outcome": outcome})
        entry = self._open.get((task.route.value, task.id))
        if entry is not None:
            entry[1] += 1

    def hedged(self, task: Task) -> None:
        """A query of ``task`` was asked again while the first was still unanswered."""
        if self.enabled:
            self._hedges.add(1, {"anyint.route": task.route.value})

    def cooled_down(self) -> None:
        """A 429 paused every query."""
        if self.enabled:
            self._cooldowns.add(1)

    def billed(self, usage: TaskUsage | None, route: str) -> None:
        """Count what a finished task or a generated image reported it made."""
        if not self.enabled:
            return
        for unit, value in billed_units(usage).items():
            self._billed.add(value, {"unit": unit, "anyint.route": route})

    def finished(self, task: Task) -> None:
        """The scheduler saw ``task`` end: close its span with what became of it."""
        self.billed(task.usage, task.route.value)
        entry = self._open.pop((task.route.value, task.id), None)
        if entry is None:
            return
        span, queries = entry
        for name, value in (usage_to_json(task.usage) or {}).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                span.set_attribute(f"anyint.usage.{name}", value)
        span.set_attribute("anyint.task.status", task.status.value)
        span.set_attribute("anyint.queries", queries)
        if task.finished_at is not None:
            delay = max(0.0, time.time() - task.finished_at.timestamp())
            span.set_attribute("anyint.detection_delay_s", round(delay, 3))
        if task.error is not None and task.error.code:
            span.set_attribute("anyint.error.code", task.error.code)
        span.end()
        self._ended[(task.route.value, task.id)] = span
        while len(self._ended) > _RECENT:
            self._ended.popitem(last=False)

    # --- downloads -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def download(self, task: Task | None, files: int) -> Iterator[None]:
        """Around the download of a result's files; a child of the task's span when known."""
        if not self.enabled:
            yield
            return
        context = None
        if task is not None:
            entry = self._open.get((task.route.value, task.id))
            parent = entry[0] if entry is not None else None
            if parent is None:
                parent = self._ended.get((task.route.value, task.id))
            if parent is not None:
                context = otel_trace.set_span_in_context(parent)
        with self._tracer.start_as_current_span(
            "anyint.download", context=context, attributes={"anyint.files": files}
        ):
            yield

    def close(self) -> None:
        """End the spans of tasks nobody waited for to the end."""
        for span, queries in self._open.values():
            span.set_attribute("anyint.task.status", "unobserved")
            span.set_attribute("anyint.queries", queries)
            span.end()
        self._open.clear()


# Instruments are made once per process: a meter keeps the first instrument of a name and
# ignores the callbacks of any later one, so per-session gauges would read only the first
# session. The gauges sum over the sessions alive (held weakly: a closed one is not kept).
_LIVE: weakref.WeakSet[Telemetry] = weakref.WeakSet()


class _Instruments:
    def __init__(self) -> None:
        meter = otel_metrics.get_meter("anyint_async", __version__)
        self.queries = meter.create_counter(
            "anyint.queries", unit="{query}", description="task queries sent by the scheduler"
        )
        self.hedges = meter.create_counter(
            "anyint.queries.hedged",
            unit="{query}",
            description="task queries asked again while the first was still unanswered",
        )
        self.cooldowns = meter.create_counter(
            "anyint.cooldowns", unit="{cooldown}", description="429 pauses of every query"
        )
        self.billed = meter.create_counter(
            "anyint.billed",
            unit="1",
            description="what finished tasks reported they made, by unit (provider figures)",
        )
        meter.create_observable_gauge(
            "anyint.queries.in_flight",
            callbacks=[_observe("_in_flight_source")],
            unit="{query}",
            description="task queries waiting for an answer",
        )
        meter.create_observable_gauge(
            "anyint.tasks.tracked",
            callbacks=[_observe("_tracked_source")],
            unit="{task}",
            description="tasks the scheduler is polling",
        )


_made: list[_Instruments] = []


def _instruments() -> _Instruments:
    if not _made:
        _made.append(_Instruments())
    return _made[0]


def _observe(source: str) -> Callable[[Any], Iterator[Any]]:
    def observe(options: Any) -> Iterator[Any]:
        total = 0
        for telemetry in list(_LIVE):
            read = getattr(telemetry, source)
            if read is not None:
                total += read()
        yield otel_metrics.Observation(total)

    return observe


def _route_model(route: str, model: str | None) -> dict[str, str]:
    attributes = {"anyint.route": route}
    if model:
        attributes["anyint.model"] = model
    return attributes
