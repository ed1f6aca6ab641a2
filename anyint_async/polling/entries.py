"""The schedule's state of each tracked task, held in columns of plain numbers between calls.

A full garbage collection walks every tracked container object and every reference it holds,
and holds the event loop while it does. Once each task's last answer was packed (see
``snapshots``), what the scheduler kept per task was one object, the schedule's entry with its
19 references, and at 20,000 tasks the entries were still about half of every full collection
(dropped from a live session held still, 16-22 ms of 32-45). Here a task has a slot: its numbers
and flags sit in arrays (no objects at all), its key in a dict of slot numbers and its packed
last answer in a chunk of 32 slots' answers, made again only when an answer tells something
new (see ``_Chunked``). An ``Entry`` is made from the slot for the span of one call of the
schedule and put back when that call changed it: a working copy, not the state.

Not a tuple per task, made again at each change: the collector stops tracking such a tuple at
its first young collection, but a tuple made to replace one freed is taken from CPython's free
list and is not counted as an allocation, so between collections the youngest generation grew
to 25,000 of them, and young collections held the loop 11-15 ms at 20,000 tasks (against 3-4
ms with entry objects, ``lag-20000``).
"""

from __future__ import annotations

import itertools
import math
from array import array
from collections import Counter
from collections.abc import Iterator
from typing import Final, Generic, TypeVar

from attrs import define

from ..models import Task, TaskRoute, TaskStatus
from .interned import Interned
from .policy import PollPolicy
from .snapshots import Packed, pack, scheduled_fields, unpack

__all__ = ["Entries", "Entry", "Key", "Pool", "key_of", "route_of", "task_key"]

#: "<route family's value> <task id>": one string (route values hold no space, so the first
#: space parts them). A string is never tracked by the garbage collector, so neither is a heap
#: item holding it after its first young collection, nor a dict of keys and numbers; a tuple
#: key is tracked until a young collection, so every task handed over (and every answer's key
#: made afresh) tracked each such dict again, and the next full collection walked them all.
Key = str
#: Whose scouts a task waits for: (route, model, None) for a model nothing is known of,
#: (route, model, workload) for a request shape nothing is known of.
Pool = tuple[TaskRoute, str, str | None]

_ROUTE_OF: Final = {route.value: route for route in TaskRoute}
_STATUS_OF: Final = {status.value: status for status in TaskStatus}
_SCOUT: Final = 1
_FLYING: Final = 2
_RETRYING: Final = 4
_NO_POOL: Final = -1
_FREE: Final = -1  # the sequence number of a free slot: none of the heap's items

_Value = TypeVar("_Value")


def task_key(task: Task) -> Key:
    """Tasks are the same task when route family and id agree (ids are per family on Kling)."""
    return key_of(task.route.value, task.id)


def key_of(route: str, task_id: str) -> Key:
    """The key of the task ``task_id`` of the route family whose value is ``route``."""
    return f"{route} {task_id}"


def route_of(key: Key) -> str:
    """The route family's value a key names."""
    return key.partition(" ")[0]


class _Chunked(Generic[_Value]):
    """A growing list of values held in tuples of 32, each made again when one of its values
    changes. A full collection walks every reference a list holds, a cache miss each at tens of
    thousands of tasks. A tuple of untracked values is untracked once a young collection looks
    at it: here a full collection walks one reference per 32 values, and 32 more for each chunk
    changed since the young collections last looked (those are few, and with fewer values a
    chunk they would be more; tuples under 20 long also come from CPython's free list, which
    young collections do not count)."""

    _BITS: Final = 5
    _SIZE: Final = 1 << _BITS

    def __init__(self, fill: _Value) -> None:
        self._chunks: list[tuple[_Value, ...]] = []
        self._fill = fill
        self._length = 0

    def __len__(self) -> int:
        return self._length

    def __getitem__(self, index: int) -> _Value:
        return self._chunks[index >> self._BITS][index & (self._SIZE - 1)]

    def __setitem__(self, index: int, value: _Value) -> None:
        chunk = self._chunks[index >> self._BITS]
        at = index & (self._SIZE - 1)
        self._chunks[index >> self._BITS] = (*chunk[:at], value, *chunk[at + 1 :])

    def __iter__(self) -> Iterator[_Value]:
        return itertools.islice(itertools.chain.from_iterable(self._chunks), self._length)

    def append(self, value: _Value) -> None:
        if not self._length & (self._SIZE - 1):
            self._chunks.append((self._fill,) * self._SIZE)
        self._length += 1
        self[self._length - 1] = value


@define(slots=True)
class Entry:
    """A working copy of one tracked task's state: ``Entries.get`` makes it, ``Entries.put``
    keeps what changed."""

    # The key it was tracked under, the one string heap items and every per-task dict hold
    # (an equal string made at each answer would be one more for as long as it is held).
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
    due: float = math.inf  # when its live heap item is due

    @classmethod
    def handed_over(
        cls, task: Task, *, policy: PollPolicy, handed_at: float, created_at: float
    ) -> Entry:
        """The entry of a task just handed over: its first query is the curve's first step."""
        return cls(
            key=task_key(task),
            route=task.route,
            status=task.status,
            model=task.model,
            workload=task.workload,
            callback=task.callback,
            packed=pack(task),
            policy=policy,
            step=1,
            handed_at=handed_at,
            created_at=created_at,
        )

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
    """Tracked tasks by key, each held in a slot of plain columns (see the module's docstring).

    ``get`` makes a working copy of a task's entry; a change to it counts once it is ``put``
    back. Policies and pools are interned: a slot holds their ids, each an index into a list
    that only grows with distinct ones (a policy or pool per route and model, in practice).
    A slot freed by a task that left is given to the next one tracked.
    """

    def __init__(self) -> None:
        # Key -> slot. Holding only strings and ints, the dict is never tracked by the garbage
        # collector.
        self._slots: dict[Key, int] = {}
        self._free = array("q")  # numbers, not a list of int objects for collections to walk
        # Per slot: the key the task was tracked under (the one string heap items hold; a dict
        # of ints and strings, which no collection walks) and its packed last answer (None for
        # a free slot). Apart, not a (key, answer) tuple: a tuple is untracked only once what
        # it holds is, and a young collection may reach a new pair before the answer in it, so
        # pairs reached the oldest generation still tracked and kept their chunks tracked too
        # (218 chunks of 313 at 20,000 tasks, a full collection walking 64 references in each).
        self._keys: dict[int, Key] = {}
        self._answers: _Chunked[Packed | None] = _Chunked(None)
        self._handed_at = array("d")
        self._created_at = array("d")
        self._seen_at = array("d")  # NaN: not seen running yet
        self._started_at = array("d")  # NaN: start unknown
        self._due = array("d")
        self._policy = array("q")
        self._pool = array("q")
        self._step = array("q")
        self._seq = array("q")
        self._polls = array("q")
        self._flags = array("q")
        self._policies: Interned[PollPolicy] = Interned()
        self._pools: Interned[Pool] = Interned()

    def __len__(self) -> int:
        return len(self._slots)

    def __contains__(self, key: object) -> bool:
        return key in self._slots

    def __iter__(self) -> Iterator[Key]:
        return iter(self._slots)

    def track(self, entry: Entry) -> None:
        """Hold a newly tracked task's entry; its policy is interned here."""
        entry.policy = self._policies.hold(entry.policy)
        if self._free:
            slot = self._free.pop()
            self._answers[slot] = entry.packed
        else:
            slot = len(self._answers)
            self._answers.append(entry.packed)
            floats_columns = (
                self._handed_at,
                self._created_at,
                self._seen_at,
                self._started_at,
                self._due,
            )
            for floats in floats_columns:
                floats.append(math.nan)
            for ints in (self._policy, self._pool, self._step, self._seq, self._polls):
                ints.append(0)
            self._flags.append(0)
        self._slots[entry.key] = slot
        self._keys[slot] = entry.key
        self.put(entry)

    def held_key(self, key: Key) -> Key:
        """The string the task is held under, equal to ``key`` (``key`` itself if the task is
        not held): a structure keyed by it then shares the one string, not an equal copy."""
        slot = self._slots.get(key)
        return key if slot is None else self._keys[slot]

    def pool(self, pool: Pool) -> Pool:
        """The one tuple held for this pool: entries name pools by it."""
        return self._pools.hold(pool)

    def get(self, key: Key) -> Entry | None:
        """A working copy of the task's entry, or None if it is not tracked."""
        slot = self._slots.get(key)
        return None if slot is None else self._entry(slot)

    def live(self, key: Key, seq: int) -> Entry | None:
        """The task's entry if its live heap item has this sequence number, else None."""
        slot = self._slots.get(key)
        return None if slot is None or self._seq[slot] != seq else self._entry(slot)

    def is_live(self, key: Key, seq: int) -> bool:
        slot = self._slots.get(key)
        return slot is not None and self._seq[slot] == seq

    def put(self, entry: Entry) -> None:
        """Keep the working copy's state as the task's."""
        slot = self._slots[entry.key]
        if self._answers[slot] is not entry.packed:
            self._answers[slot] = entry.packed
        pool = entry.pool
        seen_at, started_at = entry.seen_at, entry.started_at
        self._handed_at[slot] = entry.handed_at
        self._created_at[slot] = entry.created_at
        self._seen_at[slot] = math.nan if seen_at is None else seen_at
        self._started_at[slot] = math.nan if started_at is None else started_at
        self._due[slot] = entry.due
        self._policy[slot] = self._policies.id_of(entry.policy)
        self._pool[slot] = _NO_POOL if pool is None else self._pools.id_of(pool)
        self._step[slot] = entry.step
        self._seq[slot] = entry.seq
        self._polls[slot] = entry.polls
        self._flags[slot] = (
            (_SCOUT if entry.scout else 0)
            | (_FLYING if entry.flying else 0)
            | (_RETRYING if entry.retrying else 0)
        )

    def pop(self, key: Key) -> Entry | None:
        """Stop holding the task; its entry as it last stood, or None if it was not held."""
        slot = self._slots.pop(key, None)
        if slot is None:
            return None
        entry = self._entry(slot)
        del self._keys[slot]
        self._answers[slot] = None
        self._seq[slot] = _FREE
        self._free.append(slot)
        return entry

    def packed(self, key: Key) -> Packed | None:
        slot = self._slots.get(key)
        return None if slot is None else self._answers[slot]

    def seqs(self) -> set[int]:
        """The sequence numbers of every live heap item."""
        live = set(self._seq)
        live.discard(_FREE)
        return live

    def models(self) -> Counter[tuple[str, str | None]]:
        """How many tasks each (route family, model) has."""
        found: Counter[tuple[str, str | None]] = Counter()
        for packed in self._answers:
            if packed is not None:
                _, route, model, _, _ = scheduled_fields(packed)
                found[(route, model)] += 1
        return found

    def _entry(self, slot: int) -> Entry:
        key, packed = self._keys[slot], self._answers[slot]
        assert packed is not None  # a slot named by a key is never free
        status, route, model, workload, callback = scheduled_fields(packed)
        pool, flags = self._pool[slot], self._flags[slot]
        seen_at, started_at = self._seen_at[slot], self._started_at[slot]
        return Entry(
            key,
            _ROUTE_OF[route],
            _STATUS_OF[status],
            model,
            workload,
            callback,
            packed,
            self._policies[self._policy[slot]],
            self._handed_at[slot],
            self._created_at[slot],
            bool(flags & _SCOUT),
            None if pool == _NO_POOL else self._pools[pool],
            self._step[slot],
            self._seq[slot],
            self._polls[slot],
            bool(flags & _FLYING),
            bool(flags & _RETRYING),
            None if seen_at != seen_at else seen_at,  # NaN: None
            None if started_at != started_at else started_at,
            self._due[slot],
        )
