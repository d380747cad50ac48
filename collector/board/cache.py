"""A one-value cache with a time to live and a single refresher: many viewers, one fetch."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Cached(Generic[T]):
    """``get()`` returns what ``fetch()`` gave less than ``ttl`` seconds ago, else fetches.

    Concurrent callers of a stale value wait for one fetch and share its result. A failure is
    kept as long as a value (Prometheus down is not asked again by every viewer) and re-raised.
    """

    def __init__(self, fetch: Callable[[], T], ttl: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.fetch = fetch
        self.ttl = ttl
        self.clock = clock
        self.fetches = 0
        self._lock = threading.Lock()
        self._at = float("-inf")
        self._value: T | None = None
        self._error: Exception | None = None

    def get(self) -> T:
        """The fresh value, or raise the fresh failure."""
        with self._lock:
            if self.clock() - self._at >= self.ttl:
                self.fetches += 1
                try:
                    self._value, self._error = self.fetch(), None
                except Exception as exc:  # kept and re-raised to every caller until stale
                    self._value, self._error = None, exc
                self._at = self.clock()
            if self._error is not None:
                raise self._error
            assert self._value is not None
            return self._value
