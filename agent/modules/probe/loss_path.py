"""The path probe an ``icmp`` target runs by itself when its bursts start losing packets.

When a burst loses echo requests and no such trace ran within ``path_on_loss`` (the target's
period), a traceroute to the target starts in a thread of its own, outside the collection's
deadline. Its result, the first hop from which loss persists to the end of the path (mtr's rule:
loss at one router that later hops do not show is its ICMP rate limit), is reported by the
target's next collections until the next trace replaces it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from agent.modules.probe.result import (
    LOSS_PATH_FAILURES,
    LOSS_PATH_FIRST_LOSSY,
    LOSS_PATH_RUNS,
    LOSS_PATH_TIMESTAMP,
    ProbeResult,
)
from agent.modules.probe.targets import IcmpTarget, PathTarget

log = logging.getLogger(__name__)
HOP_PROBES = 10  # echo requests per hop: a loss under ~20 % may miss a hop in one trace


@dataclass(frozen=True)
class LossyHop:
    """The hop from which loss lasts to the end (distance 0 and no address when none)."""

    distance: int
    address: str


def hop_losses(target: PathTarget, interval: float = 0.02,
               ) -> list[tuple[int, str, float]]:
    """Blocking: (distance, address, loss ratio) of each hop that answered, mtr-style.

    Each hop gets ``target.count`` echo requests with its TTL, every one waited for (up to
    ``packet_timeout``), so a lost probe counts as loss rather than ending the hop. The trace ends
    at the hop where the target itself answers.
    """
    import icmplib
    from icmplib.utils import unique_identifier

    address = icmplib.resolve(target.host)[0]
    sock_class = icmplib.ICMPv6Socket if icmplib.is_ipv6_address(address) else \
        icmplib.ICMPv4Socket
    ident = unique_identifier()
    hops: list[tuple[int, str, float]] = []
    with sock_class(privileged=True) as sock:
        for ttl in range(1, target.max_hops + 1):
            answered, source = 0, ""
            for sequence in range(target.count):
                request = icmplib.ICMPRequest(address, ident, sequence, ttl=ttl)
                sock.send(request)
                try:
                    reply = sock.receive(request, target.packet_timeout)
                except icmplib.TimeoutExceeded:
                    continue
                answered, source = answered + 1, reply.source
                time.sleep(interval)
            if answered:
                hops.append((ttl, source, 1 - answered / target.count))
            if source == address:
                break
    return hops


def first_lossy_hop(hops: list[tuple[int, str, float]]) -> LossyHop:
    """The first hop from which every later answering hop loses too; distance 0 when none."""
    for i, (distance, address, _) in enumerate(hops):
        if all(loss > 0 for _, _, loss in hops[i:]):
            return LossyHop(distance, address)
    return LossyHop(0, "")


def trace_lossy_hop(target: PathTarget) -> LossyHop:
    """Blocking: measure each hop's loss and name the hop that starts it."""
    return first_lossy_hop(hop_losses(target))


class LossPath:
    """One ``icmp`` target's automatic path probe: when it runs, and what it found last."""

    def __init__(self, target: IcmpTarget,
                 trace: Callable[[PathTarget], LossyHop] = trace_lossy_hop,
                 clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self.period = target.path_on_loss
        self.path = PathTarget(name=target.name, host=target.host, count=HOP_PROBES,
                               packet_timeout=target.packet_timeout)
        self.trace, self.clock, self.wall = trace, clock, wall
        self.started: float | None = None
        self.running: threading.Thread | None = None
        self.last: LossyHop | None = None
        self.finished: float | None = None
        self.runs = self.failures = 0
        self._lock = threading.Lock()

    def after_burst(self, loss: float) -> bool:
        """Start a trace if the burst lost packets and none ran within the period."""
        if self.period <= 0 or loss <= 0 or (self.running and self.running.is_alive()):
            return False
        now = self.clock()
        if self.started is not None and now - self.started < self.period:
            return False
        self.started = now
        self.running = threading.Thread(target=self._run, name=f"loss-path-{self.path.name}",
                                        daemon=True)
        self.running.start()
        return True

    def _run(self) -> None:
        try:
            found: LossyHop | None = self.trace(self.path)
        except Exception as exc:  # a failed trace is counted; the burst's own result stands
            log.warning("path to %s after packet loss failed: %s: %s", self.path.host,
                        type(exc).__name__, exc)
            found = None
        with self._lock:
            self.runs += 1
            if found is None:
                self.failures += 1
            else:
                self.last, self.finished = found, self.wall()

    def report(self, result: ProbeResult) -> None:
        """Add the counts and the last trace's lossy hop to ``result``."""
        if self.period <= 0:
            return
        with self._lock:
            result.add(LOSS_PATH_RUNS, self.runs)
            result.add(LOSS_PATH_FAILURES, self.failures)
            if self.last is not None and self.finished is not None:
                result.add(LOSS_PATH_FIRST_LOSSY, self.last.distance, self.last.address)
                result.add(LOSS_PATH_TIMESTAMP, self.finished)

    def wait(self, timeout: float) -> None:
        """Wait for a running trace to finish (tests, shutdown)."""
        if self.running is not None:
            self.running.join(timeout)
