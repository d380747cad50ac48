"""Bounded heavy hitters: the space-saving algorithm (Metwally et al., 2005).

At most ``capacity`` keys are tracked whatever the number of distinct keys seen; a newcomer
replaces the smallest counter and inherits its count, so every key that really occurs more than
``total / capacity`` times is kept, with a count that may be overestimated by at most that much.
"""

from __future__ import annotations


class SpaceSaving:
    """Approximate counts of the most frequent keys, in bounded memory."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.counts: dict[str, int] = {}

    def add(self, key: str, count: int = 1) -> None:
        """Count ``key`` ``count`` times."""
        counts = self.counts
        if key in counts:
            counts[key] += count
        elif len(counts) < self.capacity:
            counts[key] = count
        else:
            victim = min(counts, key=counts.__getitem__)
            counts[key] = counts.pop(victim) + count

    def top(self, n: int) -> list[tuple[str, int]]:
        """The ``n`` largest (key, count) pairs, largest first, ties by key."""
        return sorted(self.counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]
