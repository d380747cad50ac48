"""Bytes and packets by direction, host and app: the top-N hosts of each interval, the rest as
``other``, so that the sum over hosts of an app is every byte of that app.

A record is counted from the LAN's side: a LAN source talking outside is ``upload`` of that
source, the reverse is ``download``, LAN to LAN is ``lan`` (counted for the source); a record
with no LAN side is not counted (``ignored``). During an interval, hosts go into a bounded
:class:`~agent.modules.flows.heavy.HeavyHitters` table and every byte into per-app totals.
When the interval closes, the top-N hosts' exact counts are added to their series and the rest
of each app's total to ``other``; series are cumulative counters. Hosts that were not in the
top-N for the longest are dropped first once more than ``max_series`` hosts have series.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from agent.modules.flows.apps import AppTable
from agent.modules.flows.heavy import HeavyHitters
from agent.modules.flows.networks import Net, member_of
from agent.modules.flows.records import Record

OTHER = b""  # the host of everything outside the top-N
LAN_CACHE = 65536
SeriesKey = tuple[str, bytes, str]  # direction, host, app


class Accounting:
    """Counts records into intervals; :meth:`close_interval` turns one into series."""

    def __init__(self, lan: Sequence[Net], apps: AppTable, top_n: int, tracked: int,
                 max_series: int) -> None:
        self.networks = tuple(lan)
        self.apps = apps
        self.top_n = top_n
        self.tracked = tracked
        self.max_series = max_series
        self._lan = member_of(self.networks, LAN_CACHE)
        self.heavy = HeavyHitters(tracked)
        self.totals: dict[tuple[str, str], list[int]] = {}
        self.series: dict[SeriesKey, list[int]] = {}
        self._host_keys: dict[bytes, set[SeriesKey]] = {}
        self._last_top: dict[bytes, int] = {}
        self.intervals = 0
        self.ignored = 0
        self.hosts_seen = 0  # hosts in the table when the last interval closed
        self.evicted = 0  # hosts the table dropped within intervals, all intervals

    def add(self, records: Iterable[Record]) -> None:
        """Count records of the current interval."""
        lan, is_lan, app_of = self._lan.known, self._lan.lookup, self.apps.app
        heavy_add, totals = self.heavy.add, self.totals
        for src, dst, sport, dport, proto, octets, packets in records:
            s = lan.get(src)
            if s is None:
                s = is_lan(src)
            d = lan.get(dst)
            if d is None:
                d = is_lan(dst)
            if s:
                direction = "lan" if d else "upload"
                host = src
                app = app_of(dst, proto, dport, sport)
            elif d:
                direction, host = "download", dst
                app = app_of(src, proto, sport, dport)
            else:
                self.ignored += 1
                continue
            key = (direction, app)
            total = totals.get(key)
            if total is None:
                totals[key] = [octets, packets]
            else:
                total[0] += octets
                total[1] += packets
            heavy_add(host, key, octets, packets)

    def close_interval(self) -> None:
        """Add the interval's top-N hosts and the rest (``other``) to the series; start anew."""
        self.intervals += 1
        rest = {key: list(value) for key, value in self.totals.items()}
        for host, entry in self.heavy.top(self.top_n):
            for (direction, app), (octets, packets) in entry.counts.items():
                self._count((direction, host, app), octets, packets)
                left = rest[(direction, app)]
                left[0] -= octets
                left[1] -= packets
            self._last_top[host] = self.intervals
        for (direction, app), (octets, packets) in rest.items():
            if octets or packets:
                self._count((direction, OTHER, app), octets, packets)
        self.hosts_seen = len(self.heavy.entries)
        self.evicted += self.heavy.evicted
        self.heavy = HeavyHitters(self.tracked)
        self.totals = {}
        self._forget_oldest()

    def _count(self, key: SeriesKey, octets: int, packets: int) -> None:
        series = self.series.get(key)
        if series is None:
            self.series[key] = [octets, packets]
            self._host_keys.setdefault(key[1], set()).add(key)
        else:
            series[0] += octets
            series[1] += packets

    def _forget_oldest(self) -> None:
        excess = len(self._last_top) - self.max_series
        if excess <= 0:
            return
        oldest = sorted(self._last_top.items(), key=lambda item: (item[1], item[0]))[:excess]
        for host, _ in oldest:
            del self._last_top[host]
            for key in self._host_keys.pop(host, ()):
                del self.series[key]
