"""Space-saving top-N: heavy hitters kept, counts within the algorithm's bound, memory bounded."""

from __future__ import annotations

import random
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from agent.modules.security.topn import SpaceSaving, WindowedTop


@settings(max_examples=50, deadline=None)
@given(st.lists(st.integers(0, 300), min_size=1, max_size=3000), st.integers(5, 50))
def test_guarantees(keys: list[int], capacity: int) -> None:
    summary = SpaceSaving(capacity)
    for k in keys:
        summary.add(str(k))
    exact = Counter(str(k) for k in keys)
    bound = len(keys) / capacity
    assert len(summary.counts) <= capacity
    assert sum(summary.counts.values()) == len(keys)
    for key, true in exact.items():
        if true > bound:
            assert key in summary.counts
        if key in summary.counts:
            assert true <= summary.counts[key] <= true + bound


def test_heavy_hitters_among_noise() -> None:
    rng = random.Random(7)
    summary = SpaceSaving(50)
    for i in range(50_000):
        summary.add(f"noise-{i}")
        if rng.random() < 0.05:
            summary.add("attacker-a")
        if rng.random() < 0.02:
            summary.add("attacker-b")
    assert [key for key, _ in summary.top(2)] == ["attacker-a", "attacker-b"]


def test_windowed_top_forgets_old_attackers() -> None:
    now = [0.0]
    top = WindowedTop(capacity=10, window=3600, clock=lambda: now[0])
    for _ in range(50):
        top.add("last-month")
    now[0] = 3000.0
    top.add("recent")
    assert top.top(2) == [("last-month", 50), ("recent", 1)]
    now[0] = 3700.0  # one window later: both windows still count
    for _ in range(3):
        top.add("now")
    assert top.top(3) == [("last-month", 50), ("now", 3), ("recent", 1)]
    now[0] = 7300.0  # the window of 'last-month' has gone
    assert top.top(3) == [("now", 3)]
    now[0] = 20000.0  # idle for long: nothing is recent
    assert top.top(3) == []
