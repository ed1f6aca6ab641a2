"""Who waits for each tracked task: groups held once, named by ints the collector never walks."""

from __future__ import annotations

import gc

from anyint_async.polling.watchers import Watchers


class _Consumer:
    """Equal to every other consumer: watchers go by identity, never by equality."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Consumer)

    def __hash__(self) -> int:
        return 0


def _references_walked() -> int:
    return sum(len(gc.get_referents(held)) for held in gc.get_objects())


def test_each_task_keeps_its_own_watchers_in_the_order_they_came() -> None:
    watchers: Watchers[_Consumer] = Watchers()
    first, second = _Consumer(), _Consumer()
    watchers.add("dashscope.tasks a", first)
    watchers.add("dashscope.tasks b", first)
    watchers.add("dashscope.tasks b", second)
    watchers.add("dashscope.tasks b", second)  # already there: nothing changes
    assert watchers.get("dashscope.tasks a") == (first,)
    got = watchers.get("dashscope.tasks b")
    assert len(got) == 2 and got[0] is first and got[1] is second
    assert watchers.get("dashscope.tasks c") == ()
    assert len(watchers) == 2 and set(watchers) == {"dashscope.tasks a", "dashscope.tasks b"}
    everyone = watchers.everyone()
    assert len(everyone) == 2 and {id(w) for w in everyone} == {id(first), id(second)}


def test_a_task_is_dropped_when_its_last_watcher_leaves() -> None:
    watchers: Watchers[_Consumer] = Watchers()
    first, second, stranger = _Consumer(), _Consumer(), _Consumer()
    watchers.add("kling.images 1", first)
    watchers.add("kling.images 1", second)
    assert watchers.discard("kling.images 1", stranger) is False  # equal, but not a watcher
    assert len(watchers.get("kling.images 1")) == 2
    assert watchers.discard("kling.images 1", first) is False  # the second still waits
    assert watchers.get("kling.images 1")[0] is second
    assert watchers.discard("kling.images 1", second) is True
    assert watchers.get("kling.images 1") == () and len(watchers) == 0
    assert watchers.discard("kling.images 1", second) is False
    assert watchers.pop("kling.images 1") == ()


def test_groups_are_shared_and_let_go_when_no_task_has_them() -> None:
    watchers: Watchers[_Consumer] = Watchers()
    consumers = [_Consumer() for _ in range(3)]
    for i in range(100):
        watchers.add(f"dashscope.tasks {i}", consumers[i % 3])
    # One group per consumer, however many tasks.
    assert len(watchers.everyone()) == 3
    assert len({id(watchers.get(f"dashscope.tasks {i}")) for i in range(100)}) == 3
    for i in range(100):
        if i % 3 == 0:
            assert watchers.pop(f"dashscope.tasks {i}")[0] is consumers[0]
    # The first consumer waits for nothing now, and is not held for it.
    assert {id(w) for w in watchers.everyone()} == {id(consumers[1]), id(consumers[2])}
    newcomer = _Consumer()
    watchers.add("dashscope.tasks new", newcomer)
    assert watchers.get("dashscope.tasks new")[0] is newcomer
    watchers.clear()
    assert len(watchers) == 0 and watchers.everyone() == []


def test_watched_tasks_are_not_walked_by_the_garbage_collector() -> None:
    watchers: Watchers[_Consumer] = Watchers()
    consumer, other = _Consumer(), _Consumer()
    watchers.add("dashscope.tasks first", consumer)
    watchers.add("dashscope.tasks first", other)
    for _ in range(3):
        gc.collect()
    walked_before = _references_walked()
    for i in range(2_000):
        watchers.add(f"dashscope.tasks {i}", consumer)
        if i % 10 == 0:
            watchers.add(f"dashscope.tasks {i}", other)
    gc.collect()
    # Held by key a tuple of consumers each (as before), a full collection followed 1.0
    # reference a task, the tuple, for as long as the tasks were watched.
    walked = (_references_walked() - walked_before) / 2_000
    assert walked < 0.05, f"{walked:.3f} references walked per task"
