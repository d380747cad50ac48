"""The board's cache: one fetch per time to live, failures kept as long as values."""

from __future__ import annotations

import pytest

from collector.board.cache import Cached


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_a_value_serves_until_its_time_to_live() -> None:
    clock, calls = Clock(), [0]

    def fetch() -> int:
        calls[0] += 1
        return calls[0]

    cached = Cached(fetch, ttl=10, clock=clock)
    assert cached.get() == 1
    clock.now = 9.9
    assert cached.get() == 1
    clock.now = 10.0
    assert cached.get() == 2
    assert cached.fetches == 2


def test_a_failure_is_kept_then_retried() -> None:
    clock, failing = Clock(), [True]

    def fetch() -> int:
        if failing.pop(0):
            raise RuntimeError("down")
        return 7

    cached = Cached(fetch, ttl=5, clock=clock)
    for _ in range(3):
        with pytest.raises(RuntimeError, match="down"):
            cached.get()
    assert cached.fetches == 1
    clock.now = 5
    failing.append(False)
    assert cached.get() == 7
