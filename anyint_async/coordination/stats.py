"""What a session's link to Redis did, for dashboards and for checking a deployment."""

from __future__ import annotations

import attrs

__all__ = ["CoordinationStats"]


@attrs.frozen
class CoordinationStats:
    """``state``: ``off``, ``connecting``, ``up``, ``down`` or ``closed``; ``drops``: how often
    the link went down after being up; ``callbacks_passed_on``: callbacks for tasks this session
    does not wait for, passed to the account's other sessions; ``callbacks_heard``: callbacks
    other sessions passed to this one; ``refusals_heard``: refusals other sessions told of."""

    state: str
    drops: int = 0
    callbacks_passed_on: int = 0
    callbacks_heard: int = 0
    refusals_heard: int = 0
