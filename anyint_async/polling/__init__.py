"""The polling scheduler: one heap of next-due times drives every task a session waits for.

- ``policy``: ``PollPolicy``, when to ask again (backoff waits with jitter), per route family.
- ``learning``: ``DurationLearner``, how long each model's tasks take, to poll the rest of a batch
  near when they finish.
- ``budget``: ``QueryBudget``, each provider's query rate: known, found from refusals, or none.
- ``cooldown``: ``RateLimitCooldown``, the pause after a 429 without ``Retry-After``.
- ``hedging``: ``HedgePolicy``, when a task query still unanswered is asked again.
- ``schedule``: the pure core (no asyncio, no clock of its own).
- ``scheduler``: the async driver and fan-out to consumers.
- ``streams``: ``AsCompleted`` and ``Poller``, what consumers iterate.
- ``events``: ``TaskEvent`` status changes for progress displays.
"""

from .budget import QueryBudget
from .cooldown import RateLimitCooldown
from .events import EventHook, TaskEvent, TaskEventKind
from .hedging import HedgePolicy
from .learning import DurationEstimate, DurationLearner
from .policy import DEFAULT_POLICIES, POLL_PRESETS, PollPolicy
from .schedule import DEFAULT_QUERY_RATE_LIMITS, PollStats
from .streams import AsCompleted, Poller

__all__ = [
    "DEFAULT_POLICIES",
    "DEFAULT_QUERY_RATE_LIMITS",
    "POLL_PRESETS",
    "AsCompleted",
    "DurationEstimate",
    "DurationLearner",
    "EventHook",
    "HedgePolicy",
    "PollPolicy",
    "PollStats",
    "Poller",
    "QueryBudget",
    "RateLimitCooldown",
    "TaskEvent",
    "TaskEventKind",
]
