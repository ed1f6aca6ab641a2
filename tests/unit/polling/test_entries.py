"""The schedule's per-task state held as rows: what is put is what is got, and the garbage
collector does not walk it."""

from __future__ import annotations

import gc

import attrs

from anyint_async import PollPolicy, Task, TaskRoute, TaskStatus
from anyint_async.polling.entries import Entries, Entry


def _entry(i: int, policy: PollPolicy | None = None) -> Entry:
    task = Task(
        id=f"t{i}",
        status=TaskStatus.RUNNING,
        route=TaskRoute.KLING_OMNI_VIDEO,
        model="kling-v3-omni",
        workload="5s",
        callback=i % 2 == 0,
        raw={"code": 0, "data": {"task_id": f"t{i}", "task_status": "processing"}},
    )
    return Entry.handed_over(
        task, policy=policy or PollPolicy(), handed_at=10.0 + i, created_at=9.5 + i
    )


def _references_walked() -> int:
    """The references a full collection follows: those every tracked object holds."""
    return sum(len(gc.get_referents(held)) for held in gc.get_objects())


def test_an_entry_put_is_the_entry_got_field_by_field() -> None:
    entries = Entries()
    entry = _entry(1)
    entries.track(entry)
    entry.pool = entries.pool((entry.route, "kling-v3-omni", "5s"))
    entry.scout, entry.step, entry.seq, entry.polls = False, 4, 17, 3
    entry.flying, entry.retrying, entry.seen_at, entry.started_at = True, True, 30.25, 12.5
    entries.put(entry)
    got = entries.get(entry.key)
    assert got == entry
    assert got is not None and got.snapshot() == entry.snapshot()
    assert entries.live(entry.key, 17) == entry
    assert entries.live(entry.key, 16) is None
    assert entries.seqs() == {17}
    assert entries.models() == {("kling.omni_video", "kling-v3-omni"): 1}


def test_a_key_equal_to_a_held_one_is_answered_with_the_held_string() -> None:
    entries = Entries()
    entry = _entry(5)
    entries.track(entry)
    equal = "".join(["kling.omni_video", " t5"])  # made apart: equal, not the same object
    assert equal == entry.key and equal is not entry.key
    assert entries.held_key(equal) is entry.key
    stranger = "".join(["kling.omni_video", " t6"])
    assert entries.held_key(stranger) is stranger
    entries.pop(entry.key)
    assert entries.held_key(equal) is equal


def test_a_working_copy_changes_nothing_until_it_is_put() -> None:
    entries = Entries()
    entries.track(_entry(2))
    copy = entries.get("kling.omni_video t2")
    assert copy is not None
    copy.polls = 5
    assert entries.get(copy.key) == attrs.evolve(copy, polls=0)
    entries.put(copy)
    assert entries.get(copy.key) == copy
    assert entries.pop(copy.key) == copy
    assert copy.key not in entries and entries.get(copy.key) is None and len(entries) == 0


def test_equal_policies_and_pools_are_held_once() -> None:
    entries = Entries()
    first, second = (
        _entry(3, PollPolicy(target_delay=0.05)),
        _entry(4, PollPolicy(target_delay=0.05)),
    )
    entries.track(first)
    entries.track(second)
    got = [entries.get(entry.key) for entry in (first, second)]
    assert got[0] is not None and got[1] is not None
    assert got[0].policy is got[1].policy
    pool = (TaskRoute.KLING_OMNI_VIDEO, "m", None)
    assert entries.pool(pool) is entries.pool((TaskRoute.KLING_OMNI_VIDEO, "m", None))


def test_held_entries_are_not_walked_by_the_garbage_collector() -> None:
    entries = Entries()
    entries.track(_entry(-1))  # what is made once (the policy) is not charged per entry
    gc.collect()
    gc.collect()
    before, walked_before = len(gc.get_objects()), _references_walked()
    made = [_entry(i) for i in range(2_000)]
    for entry in made:
        entries.track(entry)
        entry.seen_at = 40.0
        entries.put(entry)
    del made, entry
    # A tuple is untracked only once what it holds is, and a collection may reach a chunk
    # before the slot's tuple in it, and that before its packed answer: a few collections.
    for _ in range(3):
        gc.collect()
    # The entries made above are freed; what stays is columns and chunks of keys and packed
    # answers, which the collector stops tracking. One entry object a task held would read 1.0.
    added = (len(gc.get_objects()) - before) / 2_000
    assert added < 0.05, f"{added:.3f} tracked objects per entry"
    # Nor does a full collection follow a reference per entry: a list of them would read 1.0.
    walked = (_references_walked() - walked_before) / 2_000
    assert walked < 0.1, f"{walked:.3f} references walked per entry"
    assert len(entries) == 2_001


def test_changes_put_leave_nothing_for_young_collections_to_walk() -> None:
    entries = Entries()
    for i in range(2_000):
        entries.track(_entry(i))
    gc.collect()
    gc.collect()
    gc.disable()  # no collection in between: what the puts leave tracked stays counted
    try:
        before = len(gc.get_objects(generation=0))
        for _ in range(3):
            for key in list(entries):
                entry = entries.get(key)
                assert entry is not None
                entry.polls += 1
                entry.seen_at = 50.0 + entry.polls
                entries.put(entry)
        left = len(gc.get_objects(generation=0)) - before
    finally:
        gc.enable()
    # A tuple per task made again at each change read 2,000 here (one live per task); the
    # young generation grew by them uncounted, and young collections walked them all.
    assert left < 50, f"{left} objects left in the youngest generation by 6,000 puts"
