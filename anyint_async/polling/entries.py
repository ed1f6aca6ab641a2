"""The schedule's state of each tracked task, held as a row of plain values between calls.

A full garbage collection walks every tracked container object and every reference it holds,
and holds the event loop while it does. Once each task's last answer was packed (see
``snapshots``), what the scheduler kept per task was one object, the schedule's entry with its
19 references, and at 20,000 tasks the entries were still about half of every full collection
(dropped from a live session held still, 16-22 ms of 32-45). Here a task's state is a tuple of
strings, numbers and small ids (its policy and pool, interned once), which the collector stops
walking at its first young collection. An ``Entry`` is made from the row for the span of one
call of the schedule and put back when that call changed it: a working copy, not the state.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from operator import itemgetter
from typing import Final

from attrs import define

from ..models import Task, TaskRoute, TaskStatus
from .policy import PollPolicy
from .snapshots import Packed, pack, scheduled_fields, unpack

__all__ = ["Entries", "Entry", "Key", "Pool"]

#: (route family's value, task id): plain strings, so the tuple and every heap item holding it
#: are left untracked by the garbage collector (an enum member in it would keep 100,000
#: tuples tracked at 20,000 tasks, and each full collection walked them: 150 ms held loops).
Key = tuple[str, str]
#: Whose scouts a task waits for: (route, model, None) for a model nothing is known of,
#: (route, model, workload) for a request shape nothing is known of.
Pool = tuple[TaskRoute, str, str | None]

_ROUTE_OF: Final = {route.value: route for route in TaskRoute}
_STATUS_OF: Final = {status.value: status for status in TaskStatus}

#: A row: the key the task was tracked under, the packed last answer (its status, model,
#: workload and callback are read from it), the policy's and the pool's ids (-1: no pool), then
#: the entry's own numbers and flags in their order in ``Entry``.
_Row = tuple[
    Key,
    Packed,
    int,
    int,
    float,
    float,
    bool,
    int,
    int,
    int,
    bool,
    bool,
    float | None,
    float | None,
]
_PACKED: Final = 1
_SEQ: Final = 8
_SEQ_OF_ROW: Final = itemgetter(_SEQ)
_NO_POOL: Final = -1


class _Rows(dict[Key, _Row]):
    """A dict the garbage collector never stops tracking. A full collection stops tracking a
    plain dict that holds only untracked values, as this one does between answers; the next
    row put in tracks it again, as a new object, and the young collections then walked all its
    rows: 13-15 ms each at 20,000 tasks (``lag-20000``, against 3 ms with entry objects). A
    subclass of dict is never untracked, so it stays in the oldest generation."""

    __slots__ = ()


@define(slots=True)
class Entry:
    """A working copy of one tracked task's state: ``Entries.get`` makes it, ``Entries.put``
    keeps what changed."""

    # The key it was tracked under, the one tuple heap items hold: with a key made afresh at
    # each answer, the items stayed tracked by the garbage collector past the young collections
    # (167,000 tuples reached the middle generation in one lag-20000 run; a few hundred since).
    key: Key
    # The task as its last answer told it: what scheduling reads at every step, and the whole
    # answer packed (see snapshots).
    route: TaskRoute
    status: TaskStatus
    model: str | None
    workload: str | None
    callback: bool
    packed: Packed
    policy: PollPolicy
    handed_at: float
    created_at: float
    scout: bool = True
    pool: Pool | None = None  # the pool it scouts or waits for, while that is unknown
    step: int = 0  # the next wait's step on the policy's curve
    seq: int = -1  # the sequence number of its one live heap item
    polls: int = 0
    flying: bool = False
    retrying: bool = False
    # When an answer last showed the task unfinished, and when the provider says it started
    # (both on the scheduler's clock): what the learner's censored estimates are built from.
    seen_at: float | None = None
    started_at: float | None = None

    def hold(self, task: Task) -> None:
        """``task`` is the task's snapshot from now on."""
        self.status = task.status
        self.model = task.model
        self.workload = task.workload
        self.callback = task.callback
        self.packed = pack(task)

    def snapshot(self) -> Task:
        return unpack(self.packed, status=self.status, route=self.route)


class Entries:
    """Tracked tasks by key, each held as a row of plain values (see the module's docstring).

    ``get`` makes a working copy of a task's entry; a change to it counts once it is ``put``
    back. Policies and pools are interned: a row holds their ids, each an index into a list
    that only grows with distinct ones (a policy or pool per route and model, in practice).
    """

    def __init__(self) -> None:
        self._rows = _Rows()
        self._policies: list[PollPolicy] = []
        # By equality once, when a task is tracked; by identity at every put, which is cheaper
        # than hashing a policy's fields.
        self._policy_of: dict[PollPolicy, PollPolicy] = {}
        self._policy_ids: dict[int, int] = {}
        self._pools: list[Pool] = []
        self._pool_of: dict[Pool, Pool] = {}
        self._pool_ids: dict[int, int] = {}

    def __len__(self) -> int:
        return len(self._rows)

    def __contains__(self, key: object) -> bool:
        return key in self._rows

    def __iter__(self) -> Iterator[Key]:
        return iter(self._rows)

    def track(self, entry: Entry) -> None:
        """Hold a newly tracked task's entry; its policy is interned here."""
        policy = self._policy_of.setdefault(entry.policy, entry.policy)
        if id(policy) not in self._policy_ids:
            self._policy_ids[id(policy)] = len(self._policies)
            self._policies.append(policy)
        entry.policy = policy
        self.put(entry)

    def pool(self, pool: Pool) -> Pool:
        """The one tuple held for this pool: entries name pools by it."""
        held = self._pool_of.setdefault(pool, pool)
        if id(held) not in self._pool_ids:
            self._pool_ids[id(held)] = len(self._pools)
            self._pools.append(held)
        return held

    def get(self, key: Key) -> Entry | None:
        """A working copy of the task's entry, or None if it is not tracked."""
        row = self._rows.get(key)
        return None if row is None else self._entry(row)

    def live(self, key: Key, seq: int) -> Entry | None:
        """The task's entry if its live heap item has this sequence number, else None."""
        row = self._rows.get(key)
        return None if row is None or row[_SEQ] != seq else self._entry(row)

    def is_live(self, key: Key, seq: int) -> bool:
        row = self._rows.get(key)
        return row is not None and row[_SEQ] == seq

    def put(self, entry: Entry) -> None:
        """Keep the working copy's state as the task's."""
        pool = entry.pool
        self._rows[entry.key] = (
            entry.key,
            entry.packed,
            self._policy_ids[id(entry.policy)],
            _NO_POOL if pool is None else self._pool_ids[id(pool)],
            entry.handed_at,
            entry.created_at,
            entry.scout,
            entry.step,
            entry.seq,
            entry.polls,
            entry.flying,
            entry.retrying,
            entry.seen_at,
            entry.started_at,
        )

    def pop(self, key: Key) -> Entry | None:
        """Stop holding the task; its entry as it last stood, or None if it was not held."""
        row = self._rows.pop(key, None)
        return None if row is None else self._entry(row)

    def packed(self, key: Key) -> Packed | None:
        row = self._rows.get(key)
        return None if row is None else row[_PACKED]

    def seqs(self) -> set[int]:
        """The sequence numbers of every live heap item."""
        return set(map(_SEQ_OF_ROW, self._rows.values()))

    def models(self) -> Counter[tuple[str, str | None]]:
        """How many tasks each (route family, model) has."""
        return Counter(
            (key[0], scheduled_fields(row[_PACKED])[1]) for key, row in self._rows.items()
        )

    def _entry(self, row: _Row) -> Entry:
        (
            key,
            packed,
            policy,
            pool,
            handed_at,
            created_at,
            scout,
            step,
            seq,
            polls,
            flying,
            retrying,
            seen_at,
            started_at,
        ) = row
        status, model, workload, callback = scheduled_fields(packed)
        return Entry(
            key,
            _ROUTE_OF[key[0]],
            _STATUS_OF[status],
            model,
            workload,
            callback,
            packed,
            self._policies[policy],
            handed_at,
            created_at,
            scout,
            None if pool == _NO_POOL else self._pools[pool],
            step,
            seq,
            polls,
            flying,
            retrying,
            seen_at,
            started_at,
        )
