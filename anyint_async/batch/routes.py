"""What each batch route can do, in one table the runner, the dry run and the CLI all read.

A new provider route is one entry here, not a hunt for ``route.startswith(...)`` tests.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from attrs import frozen

from ..models import Task
from ..providers.dashscope import DashScope
from ..providers.kling import Kling

__all__ = ["BATCH_ROUTES", "ROUTES", "BatchRoute", "lookup_calls", "route_calls"]


@frozen
class BatchRoute:
    """One route's capabilities.

    - ``answers_at_once``: the create call returns the result itself (no task to poll; DashScope
      image generation). Such a result cannot be asked for again later.
    - ``takes_external_id``: the create carries an ``external_task_id`` and the task can be
      looked up by it, so a create whose answer was lost is found, not repeated (Kling).
    - ``uncertain_note``: what the manifest says when a create may have happened and the
      route offers no way to find out.
    """

    name: str
    answers_at_once: bool = False
    takes_external_id: bool = False
    uncertain_note: str = ""


_DASHSCOPE_UNCERTAIN = (
    "the create request may have reached DashScope, which cannot be asked about it; it was not "
    "sent again so that you do not pay twice. Check your DashScope task list, or re-run with "
    "--retry-uncertain (retry_uncertain=True) to create it anew"
)
_GENERATION_UNCERTAIN = (
    "the generation request may have reached DashScope and the image may have been made and "
    "billed, but this route returns an image only in its answer, so it cannot be fetched again. "
    "It was not sent again so that you do not pay twice; re-run with --retry-uncertain "
    "(retry_uncertain=True) to generate it anew"
)
_KLING_UNRESOLVED = (
    "the create's outcome stayed unknown after several lookups and was not repeated; check "
    "your Kling task list for this job's external_task_id (in the manifest)"
)

ROUTES: Mapping[str, BatchRoute] = {
    route.name: route
    for route in (
        BatchRoute("dashscope.images", answers_at_once=True, uncertain_note=_GENERATION_UNCERTAIN),
        BatchRoute("dashscope.videos", uncertain_note=_DASHSCOPE_UNCERTAIN),
        BatchRoute("kling.images", takes_external_id=True, uncertain_note=_KLING_UNRESOLVED),
        BatchRoute("kling.omni_image", takes_external_id=True, uncertain_note=_KLING_UNRESOLVED),
        BatchRoute("kling.omni_video", takes_external_id=True, uncertain_note=_KLING_UNRESOLVED),
    )
}
BATCH_ROUTES = tuple(ROUTES)


def route_calls(dashscope: DashScope, kling: Kling) -> dict[str, Callable[..., Awaitable[Any]]]:
    """Each batch route's create (or generate) call, by the route's name."""
    return {
        "dashscope.images": dashscope.images.generate,
        "dashscope.videos": dashscope.videos.create,
        "kling.images": kling.images.create,
        "kling.omni_image": kling.omni_image.create,
        "kling.omni_video": kling.omni_video.create,
    }


def lookup_calls(kling: Kling) -> dict[str, Callable[[str], Awaitable[Task]]]:
    """The lookup by external id of each route that ``takes_external_id``."""
    return {
        "kling.images": kling.images.get,
        "kling.omni_image": kling.omni_image.get,
        "kling.omni_video": kling.omni_video.get,
    }
