"""How long to hold the answer to a failed login, per source address (:class:`FailureDelay`).

Used by the basic-auth check of the web config (common/webconfig.py) and the gateway's token
check (collector/gateway/http.py).
"""

from __future__ import annotations

import collections
import ipaddress
import math
import threading
import time
from collections.abc import Callable


class FailureDelay:
    """How long to hold the answer to a failed login, per source address.

    The delay doubles with each failure from a source (``base`` seconds for the first, at most
    ``cap``) and decays when the source stops failing: each ``half_life`` seconds without a
    failure halves the count. Successful logins are never delayed. IPv6 sources count per /64,
    which one client usually holds whole. The table keeps the ``max_sources`` most recent
    sources, so its memory is bounded (about 200 bytes a source).
    """

    def __init__(self, base: float = 0.05, cap: float = 5.0, half_life: float = 60.0,
                 max_sources: int = 10_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.base = base
        self.cap = cap
        self.half_life = half_life
        self.max_sources = max_sources
        self.clock = clock
        self._failures: collections.OrderedDict[str, tuple[float, float]] = (
            collections.OrderedDict())
        self._lock = threading.Lock()

    @staticmethod
    def source_key(address: str) -> str:
        """The table key of a client address: itself for IPv4, its /64 for IPv6."""
        try:
            ip = ipaddress.ip_address(address.split("%", 1)[0])
        except ValueError:
            return address
        if isinstance(ip, ipaddress.IPv6Address):
            if ip.ipv4_mapped is not None:
                return str(ip.ipv4_mapped)
            return str(ipaddress.IPv6Network((ip, 64), strict=False))
        return str(ip)

    def failed(self, address: str) -> float:
        """Record a failure from ``address``; return the seconds to wait before answering."""
        key = self.source_key(address)
        now = self.clock()
        with self._lock:
            count, last = self._failures.pop(key, (0.0, now))
            count = count * math.pow(0.5, (now - last) / self.half_life) + 1
            self._failures[key] = (count, now)
            while len(self._failures) > self.max_sources:
                self._failures.popitem(last=False)
        return min(self.cap, self.base * math.pow(2, count - 1))

    def wait(self, address: str) -> float:
        """Record a failure from ``address`` and sleep its delay; return the delay."""
        delay = self.failed(address)
        time.sleep(delay)
        return delay

    def __len__(self) -> int:
        return len(self._failures)
