"""A bounded heavy-hitter table: the hosts that moved the most bytes, in fixed memory.

Space-saving (Metwally et al., 2005) with evictions in batches, so that adding is a dict
update: when the table holds twice its capacity, the smaller half is dropped and the largest
estimate dropped becomes the floor a new host starts from. A host's *estimate* (its bytes plus
the floor it started from) ranks it; its *counts* are exact since it entered, so what is
reported never exceeds what was seen. Any host with more bytes than the floor is in the table.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Entry:
    """One host: its rank and its exact counts by (direction, app) since it entered."""

    estimate: int
    counts: dict[tuple[str, str], list[int]] = field(default_factory=dict)


class HeavyHitters:
    """Hosts by bytes; at most ``2 * capacity`` entries at any time."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.entries: dict[bytes, Entry] = {}
        self.floor = 0
        self.evicted = 0  # hosts dropped by evictions, for the record

    def add(self, host: bytes, key: tuple[str, str], octets: int, packets: int) -> None:
        """Count ``octets`` and ``packets`` of ``host`` under ``key``."""
        entry = self.entries.get(host)
        if entry is None:
            if len(self.entries) >= 2 * self.capacity:
                self._evict()
            entry = self.entries[host] = Entry(self.floor)
        entry.estimate += octets
        counts = entry.counts.get(key)
        if counts is None:
            entry.counts[key] = [octets, packets]
        else:
            counts[0] += octets
            counts[1] += packets

    def _evict(self) -> None:
        ranked = sorted(self.entries.items(), key=lambda item: item[1].estimate, reverse=True)
        kept, dropped = ranked[:self.capacity], ranked[self.capacity:]
        if dropped:
            self.floor = max(self.floor, dropped[0][1].estimate)
        self.evicted += len(dropped)
        self.entries = dict(kept)

    def top(self, n: int) -> list[tuple[bytes, Entry]]:
        """The ``n`` hosts of largest estimate, largest first (ties by address)."""
        return sorted(self.entries.items(), key=lambda item: (-item[1].estimate, item[0]))[:n]
