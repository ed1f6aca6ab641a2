"""Which consumers wait for each tracked task, held where the garbage collector does not walk it.

A full garbage collection follows every reference a tracked container holds, and holds the event
loop while it does: at tens of thousands of tasks a reference per task costs milliseconds, a
cache miss each. Nearly every task has the same watchers as many others (one consumer, or the
same few), so each distinct group of watchers is held once and a task names its group by a
small int. A dict of key strings and ints holds nothing the collector tracks, so a full
collection untracks it and no later one walks it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

from .entries import Key

__all__ = ["Watchers"]

_Watcher = TypeVar("_Watcher")


class Watchers(Generic[_Watcher]):
    """Per tracked task, the consumers waiting for it (in the order they came), by identity.

    Examples:
        >>> watchers: Watchers[str] = Watchers()
        >>> watchers.add("dashscope.tasks t1", "first")
        >>> watchers.add("dashscope.tasks t1", "second")
        >>> watchers.get("dashscope.tasks t1")
        ('first', 'second')
        >>> watchers.discard("dashscope.tasks t1", "first")
        False
        >>> watchers.pop("dashscope.tasks t1")
        ('second',)
        >>> watchers.get("dashscope.tasks t1")
        ()
    """

    def __init__(self) -> None:
        self._group_of: dict[Key, int] = {}
        # Per group id: its watchers (empty for an id free for reuse) and how many tasks it has.
        self._groups: list[tuple[_Watcher, ...]] = []
        self._tasks: list[int] = []
        self._free: list[int] = []
        # A group's id by its watchers' identities: groups are equal when their members are
        # the same objects, whatever those objects' own equality says.
        self._ids: dict[tuple[int, ...], int] = {}

    def __len__(self) -> int:
        return len(self._group_of)

    def __iter__(self) -> Iterator[Key]:
        return iter(self._group_of)

    def get(self, key: Key) -> tuple[_Watcher, ...]:
        """Who waits for the task; empty if nobody does."""
        group = self._group_of.get(key)
        return () if group is None else self._groups[group]

    def add(self, key: Key, watcher: _Watcher) -> None:
        """``watcher`` waits for the task too (nothing changes if it already did)."""
        group = self._group_of.get(key)
        if group is None:
            self._group_of[key] = self._join((watcher,))
            return
        members = self._groups[group]
        if any(member is watcher for member in members):
            return
        self._group_of[key] = self._join((*members, watcher))
        self._leave(group)

    def discard(self, key: Key, watcher: _Watcher) -> bool:
        """``watcher`` no longer waits for the task; True if nobody does now (the task is
        dropped here), False if others still do or ``watcher`` was not among them."""
        group = self._group_of.get(key)
        if group is None:
            return False
        members = self._groups[group]
        remaining = tuple(member for member in members if member is not watcher)
        if len(remaining) == len(members):
            return False
        self._leave(group)
        if remaining:
            self._group_of[key] = self._join(remaining)
            return False
        del self._group_of[key]
        return True

    def pop(self, key: Key) -> tuple[_Watcher, ...]:
        """Who waited for the task, which is dropped here."""
        group = self._group_of.pop(key, None)
        if group is None:
            return ()
        members = self._groups[group]
        self._leave(group)
        return members

    def everyone(self) -> list[_Watcher]:
        """Every watcher of some task, each once."""
        seen: dict[int, _Watcher] = {}
        for members in self._groups:
            for member in members:
                seen.setdefault(id(member), member)
        return list(seen.values())

    def clear(self) -> None:
        self._group_of.clear()
        self._groups.clear()
        self._tasks.clear()
        self._free.clear()
        self._ids.clear()

    def _join(self, members: tuple[_Watcher, ...]) -> int:
        """The id of the group of ``members``, with one task more."""
        identities = tuple(map(id, members))
        group = self._ids.get(identities)
        if group is None:
            if self._free:
                group = self._free.pop()
                self._groups[group] = members
            else:
                group = len(self._groups)
                self._groups.append(members)
                self._tasks.append(0)
            self._ids[identities] = group
        self._tasks[group] += 1
        return group

    def _leave(self, group: int) -> None:
        """One task fewer in ``group``; a group with none is let go, its id free for reuse (an
        identity is only reused once the object it was is gone, and a held group holds its
        members)."""
        self._tasks[group] -= 1
        if self._tasks[group]:
            return
        del self._ids[tuple(map(id, self._groups[group]))]
        self._groups[group] = ()
        self._free.append(group)
