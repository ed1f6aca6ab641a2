"""A tracked task's last answer, held as plain values the garbage collector stops walking.

A full garbage collection walks every tracked object and holds the event loop while it does.
Held as a ``Task``, a running task's last answer is two such objects (the ``Task``, and its raw
dict, which holds a dict and so stays tracked), walked at every full collection for as long as
the task runs. Packed into a tuple of strings, numbers and datetimes, with the raw answer as its
JSON text, it is left untracked from its first collection on. A ``Task`` is made again from it
only when one is asked for (a consumer's pending tasks, a timeout, a close), which is rare beside
the answers that arrive.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any, Final

from ..models import Task, TaskError, TaskRoute, TaskStatus, TaskUsage

__all__ = [
    "FIELDS",
    "Packed",
    "created_at",
    "pack",
    "repeats",
    "scheduled_fields",
    "started_at",
    "unpack",
]

#: Every field of ``Task``, in the order a packed snapshot holds them: those an answer is
#: compared by first, then the two that differ in every answer (its request id, and the raw
#: body that carries it), then the raw body's own request id.
FIELDS: Final = (
    "id",
    "status",
    "route",
    "model",
    "urls",
    "error",
    "external_id",
    "workload",
    "callback",
    "created_at",
    "started_at",
    "updated_at",
    "finished_at",
    "usage",
    "actual_prompt",
    "request_id",
    "raw",
)
# Positions in FIELDS, as literals so each reads as its own type (a test holds them to FIELDS).
_COMPARED: Final = 15
_STATUS: Final = 1
_ROUTE: Final = 2
_MODEL: Final = 3
_WORKLOAD: Final = 7
_CALLBACK: Final = 8
_CREATED_AT: Final = 9
_STARTED_AT: Final = 10
_RAW: Final = 16
_RAW_RECEIPT: Final = 17

#: An answer's fields it is compared by, the status and route as their values (an enum member is
#: itself a tracked object, and would keep the tuple tracked).
_Compared = tuple[
    str,
    str,
    str,
    str | None,
    tuple[str, ...],
    TaskError | None,
    str | None,
    str | None,
    bool,
    datetime | None,
    datetime | None,
    datetime | None,
    datetime | None,
    TaskUsage | None,
    str | None,
]
#: Those, then the request id; the raw body as JSON text, or as given when it does not survive
#: the trip through JSON (a ``Task`` made by hand may hold anything); last, the raw body's own
#: ``request_id``.
Packed = tuple[*_Compared, str | None, str | Mapping[str, Any], Any]

_ENCODER: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
_ABSENT: Final = object()


def _compared(task: Task) -> _Compared:
    return (
        task.id,
        task.status.value,
        task.route.value,
        task.model,
        task.urls,
        task.error,
        task.external_id,
        task.workload,
        task.callback,
        task.created_at,
        task.started_at,
        task.updated_at,
        task.finished_at,
        task.usage,
        task.actual_prompt,
    )


def _as_text(raw: Mapping[str, Any]) -> str | Mapping[str, Any]:
    try:
        text = _ENCODER.encode(raw)
    except (TypeError, ValueError, RecursionError):
        return raw
    # Keys that are not strings, tuples, NaN: JSON would hand back something else.
    return text if json.loads(text) == raw else raw


def pack(task: Task) -> Packed:
    """``task`` as plain values; :func:`unpack` makes an equal ``Task`` of them."""
    raw = task.raw
    return (*_compared(task), task.request_id, _as_text(raw), raw.get("request_id"))


def unpack(
    packed: Packed,
    *,
    status: TaskStatus | None = None,
    route: TaskRoute | None = None,
    with_raw: bool = True,
) -> Task:
    """The ``Task`` that was packed. ``status`` and ``route``, when the caller holds them as
    members already, spare their lookups; without ``with_raw`` the raw body stays empty (for a
    query that needs the task's name, not its last answer)."""
    raw = packed[_RAW]
    return Task(
        id=packed[0],
        status=TaskStatus(packed[1]) if status is None else status,
        route=TaskRoute(packed[2]) if route is None else route,
        model=packed[3],
        urls=packed[4],
        error=packed[5],
        external_id=packed[6],
        workload=packed[7],
        callback=packed[8],
        created_at=packed[9],
        started_at=packed[10],
        updated_at=packed[11],
        finished_at=packed[12],
        usage=packed[13],
        actual_prompt=packed[14],
        request_id=packed[15],
        raw=(json.loads(raw) if isinstance(raw, str) else raw) if with_raw else {},
    )


def repeats(packed: Packed, fresh: Task) -> bool:
    """True when ``fresh`` tells nothing the packed answer did not: the same fields and the
    same body, but the request id every answer gets."""
    if packed[:_COMPARED] != _compared(fresh):
        return False
    held, raw = packed[_RAW], fresh.raw
    if not isinstance(held, str):
        return len(held) == len(raw) and all(
            key == "request_id" or held.get(key, _ABSENT) == value for key, value in raw.items()
        )
    # The body with the held one's request id in place of its own: the same text if nothing
    # else differs (a body without one, against a held body with one, differs by the key).
    probe = {**raw, "request_id": packed[_RAW_RECEIPT]} if "request_id" in raw else raw
    try:
        return _ENCODER.encode(probe) == held
    except (TypeError, ValueError, RecursionError):
        return False


def created_at(packed: Packed) -> datetime | None:
    """When the provider says the packed task was created."""
    return packed[_CREATED_AT]


def started_at(packed: Packed) -> datetime | None:
    """When the provider says the packed task started running."""
    return packed[_STARTED_AT]


#: What scheduling reads of a packed task: its status's and route family's values, model,
#: workload, and whether it will call back (one C-level call: read each time a schedule entry is
#: made from its slot).
scheduled_fields: Final[Callable[[Packed], tuple[str, str, str | None, str | None, bool]]] = (
    operator.itemgetter(_STATUS, _ROUTE, _MODEL, _WORKLOAD, _CALLBACK)
)
