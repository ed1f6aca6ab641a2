"""Coordination: sessions of one account, in several processes, acting as one polite client.

A web app runs several workers (``uvicorn --workers 4``, gunicorn, replicas behind a load
balancer); each opens its own session, and they share one AnyInt account and one callback URL.
With ``AnyIntSession(coordination_url="redis://...")`` they share, through Redis:

- the query budget of each provider whose limit is known: one schedule of send times for the
  whole account, leased a few sends at a time (``lease``, ``scripts``); a refusal anywhere slows
  everyone;
- callbacks: a callback for a task another worker waits for is passed on to it (its id only);
- learned durations: a new worker starts from what the others learned.

Redis is a helper, never a single point of failure: unreachable, dropped, restarted or slow,
each session polls alone as it would without it, and rejoins when it can (``link``). Only
hashes, task ids, send times and durations are stored or sent: never a key, prompt or URL.

- ``stats``: ``CoordinationStats``, what the link did (``AnyIntSession.coordination_stats()``).
- ``keys``: the account's keyed hash and the names of what is kept in Redis.
- ``lease``: the sync side of a shared budget, which the scheduler's core consults.
- ``scripts``: the Lua scripts that keep the account's send times atomically.
- ``link``: the connection, its up/down states, and the loops that carry each kind of sharing
  (imports redis: only loaded when coordination is configured).
"""

from .keys import account_id
from .lease import Lease
from .stats import CoordinationStats

__all__ = ["CoordinationStats", "Lease", "account_id"]
