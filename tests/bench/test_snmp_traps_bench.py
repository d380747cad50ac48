"""Benchmark: what one datagram costs the trap listener (and so the loop that runs the
collections), by kind of hostile datagram, on one core. Prints microseconds per datagram.

Run with ``make bench``. Target: no hostile datagram costs more than twice a good trap (a few
tens of microseconds on an idle core), whatever its size or its arcs.
"""

from __future__ import annotations

import os
import time

import pytest

from agent.modules.snmp.config import TrapConfig
from agent.modules.snmp.traps import MAX_TRAP_BYTES, TrapListener
from common.schema import HostPort
from tests.support.snmp_traps import (
    INFORM,
    huge_arc_trap,
    padded,
    trap_v2,
    v3_message,
)

pytestmark = pytest.mark.bench

SECRET = b"bench-secret"
ROUNDS = 2000


def per_datagram(listener: TrapListener, data: bytes) -> float:
    """Median-ish cost: the best of 5 runs of ROUNDS datagrams, in seconds per datagram."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        for _ in range(ROUNDS):
            listener.receive(data, "192.0.2.1")
        best = min(best, (time.perf_counter() - start) / ROUNDS)
    return best


def test_cost_of_one_datagram_by_kind(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BENCH_TRAP_COMMUNITY", SECRET.decode())
    listener = TrapListener(TrapConfig(HostPort.parse("127.0.0.1:0"),
                                       community_envs=("BENCH_TRAP_COMMUNITY",)), {})
    kinds = {
        "good trap": trap_v2(SECRET),
        "good inform (acknowledged)": trap_v2(SECRET, pdu_type=INFORM),
        "64 KB, wrong community": padded(b"wrong", 64000),
        "16 KB, wrong community": padded(b"wrong", MAX_TRAP_BYTES),
        "16 KB, right community": padded(SECRET, MAX_TRAP_BYTES),
        "33,000-digit arc, wrong community": huge_arc_trap(b"wrong", 33000),
        "33,000-digit arc, right community": huge_arc_trap(SECRET, 33000),
        "6,000-digit arc, right community": huge_arc_trap(SECRET, 6000),
        "SNMPv3": v3_message(),
        "1400 random bytes": os.urandom(1400),
    }
    print(f"\n[snmp traps bench] cost per datagram, best of 5 x {ROUNDS}:")
    costs = {}
    for label, data in kinds.items():
        costs[label] = per_datagram(listener, data)
        print(f"  {label:36s} {len(data):6d} B {costs[label] * 1e6:8.1f} us")
    counted = sum(listener.counts.values()) + sum(listener.dropped.values())
    assert counted == 5 * ROUNDS * len(kinds)
    good = costs["good trap"]
    hostile = {k: v for k, v in costs.items() if "good" not in k}
    assert max(hostile.values()) < 2 * good, {k: f"{v / good:.2f}x" for k, v in hostile.items()}
