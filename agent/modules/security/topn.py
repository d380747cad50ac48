"""Bounded heavy hitters: the space-saving algorithm (Metwally et al., 2005).

At most ``capacity`` keys are tracked whatever the number of distinct keys seen; a newcomer
replaces the smallest counter and inherits its count, so every key that really occurs more than
``total / capacity`` times is kept, with a count that may be overestimated by at most that much.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable


class SpaceSaving:
    """Approximate counts of the most frequent keys, in bounded memory."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.counts: dict[str, int] = {}
        # One (count, key) entry per tracked key; the count may lag behind (counts only grow),
        # so a popped entry that lags is pushed back with its current count.
        self._heap: list[tuple[int, str]] = []

    def add(self, key: str, count: int = 1) -> None:
        """Count ``key`` ``count`` times."""
        counts = self.counts
        if key in counts:
            counts[key] += count
            return
        if len(counts) < self.capacity:
            counts[key] = count
            heapq.heappush(self._heap, (count, key))
            return
        heap = self._heap
        while True:
            lagging, victim = heapq.heappop(heap)
            current = counts[victim]
            if current == lagging:
                break
            heapq.heappush(heap, (current, victim))
        del counts[victim]
        counts[key] = current + count
        heapq.heappush(heap, (current + count, key))

    def top(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` largest (key, count) pairs, largest first, ties by key."""
        return sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


class WindowedTop:
    """Space-saving counts over the current window and the one before it.

    The top sources are those of the last one to two windows, so an attacker from last month
    leaves the list while a current one enters it; memory is two summaries.
    """

    def __init__(self, capacity: int, window: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = capacity
        self.window = window
        self.clock = clock
        self.current = SpaceSaving(capacity)
        self.previous = SpaceSaving(capacity)
        self._started = clock()

    def _rotate(self) -> None:
        now = self.clock()
        if now - self._started >= 2 * self.window:  # idle for two windows: nothing is recent
            self.previous, self.current = SpaceSaving(self.capacity), SpaceSaving(self.capacity)
            self._started = now
        elif now - self._started >= self.window:
            self.previous, self.current = self.current, SpaceSaving(self.capacity)
            self._started += self.window

    def add(self, key: str, count: int = 1) -> None:
        """Count ``key`` in the current window."""
        self._rotate()
        self.current.add(key, count)

    def top(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` largest counts over both windows, largest first, ties by key."""
        self._rotate()
        merged = dict(self.previous.counts)
        for key, count in self.current.counts.items():
            merged[key] = merged.get(key, 0) + count
        return sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
