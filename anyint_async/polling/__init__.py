"""The polling scheduler: one heap of next-due times drives every task a session waits for.

- ``policy``: ``PollPolicy``, when to ask again (backoff waits with jitter), per route family.
- ``learning``: ``DurationLearner``, how long each model's tasks take, to poll the rest of a batch
  near when they finish.
- ``cooldown``: ``RateLimitCooldown``, one shared pause on a 429.
- ``schedule``: the pure core (no asyncio, no clock of its own).
- ``scheduler``: the async driver and fan-out to consumers.
- ``streams``: ``AsCompleted`` and ``Poller``, what consumers iterate.
- ``events``: ``TaskEvent`` status changes for progress displays.
"""

from .cooldown import RateLimitCooldown
from .events import EventHook, TaskEvent, TaskEventKind
from .learning import DurationEstimate, DurationLearner
from .policy import DEFAULT_POLICIES, POLL_PRESETS, PollPolicy
from .streams import AsCompleted, Poller

__all__ = [
    "DEFAULT_POLICIES",
    "POLL_PRESETS",
    "AsCompleted",
    "DurationEstimate",
    "DurationLearner",
    "EventHook",
    "PollPolicy",
    "Poller",
    "RateLimitCooldown",
    "TaskEvent",
    "TaskEventKind",
]
