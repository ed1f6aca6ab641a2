"""Timing full garbage collections, with nothing imported that would add objects to them (the
official SDK's client process uses it too, and must not load anyint_async for it)."""

from __future__ import annotations

import gc
import statistics
import time

__all__ = ["collection_ms"]


def collection_ms(repeat: int = 5) -> float:
    """The median time of ``repeat`` full collections, in milliseconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        gc.collect()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 1)
