"""Values held once each and named by small ids, so a structure kept per task can hold an int
(which the garbage collector never walks) where it would hold a tuple or an object."""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["Interned"]

_Value = TypeVar("_Value")


class Interned(Generic[_Value]):
    """Values held once each (equal ones are one), each named by a small id: its index in a
    list that grows only with distinct values. Found by equality once, when a value is held,
    and by identity after that, which is cheaper than hashing a policy's fields at every put.

    Examples:
        >>> shapes: Interned[tuple[str, str]] = Interned()
        >>> first = shapes.hold(("wan", "5s"))
        >>> shapes.hold(("wan", "5s")) is first, shapes.id_of(first), shapes.id_for(("wan", "10s"))
        (True, 0, 1)
        >>> shapes[1]
        ('wan', '10s')
    """

    def __init__(self) -> None:
        self._values: list[_Value] = []
        self._held: dict[_Value, _Value] = {}
        self._ids: dict[int, int] = {}

    def hold(self, value: _Value) -> _Value:
        """The one value held equal to ``value``."""
        held = self._held.setdefault(value, value)
        if id(held) not in self._ids:
            self._ids[id(held)] = len(self._values)
            self._values.append(held)
        return held

    def id_of(self, held: _Value) -> int:
        """The id of a value :meth:`hold` returned."""
        return self._ids[id(held)]

    def id_for(self, value: _Value) -> int:
        """The id of the value held equal to ``value`` (held now if none was)."""
        return self._ids[id(self.hold(value))]

    def __getitem__(self, value_id: int) -> _Value:
        return self._values[value_id]
