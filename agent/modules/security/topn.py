"""Bounded heavy hitters: the space-saving algorithm (Metwally et al., 2005).

At most ``capacity`` keys are tracked whatever the number of distinct keys seen; a newcomer
replaces the smallest counter and inherits its count, so every key that really occurs more than
``total / capacity`` times is kept, with a count that may be overestimated by at most that much.
"""

from __future__ import annotations

import heapq


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
