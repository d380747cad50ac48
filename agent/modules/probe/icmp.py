"""The ``icmp`` probe (a burst of echo requests) and the ``path`` probe (mtr-style hops).

ICMP needs either unprivileged ping sockets (``SOCK_DGRAM``, allowed to the groups in the sysctl
``net.ipv4.ping_group_range``) or raw sockets (root or ``CAP_NET_RAW``). The probe tries the
former, then the latter, and says which sysctl or capability to grant when neither is allowed.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from collections.abc import Callable, Sequence

import icmplib

from agent.modules.probe import mos
from agent.modules.probe.loss_path import LossPath
from agent.modules.probe.result import (
    ICMP_JITTER,
    ICMP_LOSS,
    ICMP_RTT,
    ICMP_SENT,
    PATH_FIRST_BAD,
    PATH_HOP_LOSS,
    PATH_HOP_RTT,
    PATH_HOPS,
    VC_MOS,
    VC_R_FACTOR,
    ProbeFailed,
    ProbeResult,
)
from agent.modules.probe.targets import IcmpTarget, PathTarget

NO_ICMP = ("ICMP is not permitted for this user: allow its group unprivileged ping sockets with "
           "the sysctl net.ipv4.ping_group_range (e.g. 'sysctl -w net.ipv4.ping_group_range="
           "\"0 2147483647\"'), or give the agent CAP_NET_RAW for raw sockets")

SocketFactory = Callable[[int, int, int], socket.socket]


class IcmpUnavailable(Exception):
    """Neither unprivileged ping sockets nor raw sockets may be opened."""


def icmp_privileged(family: int = socket.AF_INET,
                    open_socket: SocketFactory = socket.socket) -> bool:
    """False if unprivileged ping sockets work, True if raw sockets do; else IcmpUnavailable."""
    proto = socket.IPPROTO_ICMP if family == socket.AF_INET else socket.IPPROTO_ICMPV6
    for kind, privileged in ((socket.SOCK_DGRAM, False), (socket.SOCK_RAW, True)):
        try:
            open_socket(family, kind, proto).close()
            return privileged
        except OSError:
            continue
    raise IcmpUnavailable(NO_ICMP)


def rfc3550_jitter(rtts: Sequence[float]) -> float:
    """Interarrival jitter over consecutive RTTs: J += (|D| - J) / 16 (RFC 3550, 6.4.1)."""
    jitter = 0.0
    for previous, current in itertools.pairwise(rtts):
        jitter += (abs(current - previous) - jitter) / 16
    return jitter


class IcmpProbe:
    """Probes one ``icmp`` target with a burst of echo requests."""

    def __init__(self, target: IcmpTarget, privileged: Callable[[], bool],
                 loss_path: LossPath | None = None) -> None:
        self.target = target
        self.privileged = privileged
        self.loss_path = loss_path or LossPath(target)

    async def probe(self, result: ProbeResult) -> None:
        """Send the burst; success while at least one reply comes back."""
        self.loss_path.report(result)
        target = self.target
        try:
            privileged = self.privileged()
        except IcmpUnavailable as exc:
            raise ProbeFailed("connect", str(exc)) from None
        try:
            host = await icmplib.async_ping(
                target.host, count=target.count, interval=target.interval,
                timeout=target.packet_timeout, privileged=privileged,
                payload_size=target.payload_size)
        except icmplib.NameLookupError as exc:
            raise ProbeFailed("dns", str(exc)) from None
        except icmplib.SocketPermissionError as exc:
            raise ProbeFailed("connect", f"{exc}; {NO_ICMP}") from None
        except (icmplib.ICMPLibError, OSError) as exc:
            raise ProbeFailed("connect", f"ping {target.host}: {exc}") from None
        rtts = [ms / 1000 for ms in host.rtts]
        for rtt in rtts:
            result.observe_rtt(rtt)
        result.add(ICMP_SENT, host.packets_sent)
        result.add(ICMP_LOSS, host.packet_loss)
        self.loss_path.after_burst(host.packet_loss)
        if rtts:
            result.add(ICMP_RTT, min(rtts), "min")
            result.add(ICMP_RTT, sum(rtts) / len(rtts), "avg")
            result.add(ICMP_RTT, max(rtts), "max")
            result.add(ICMP_JITTER, rfc3550_jitter(rtts))
        if target.mos:  # a dead path (every packet lost) is the worst call: R 0, MOS 1
            r, score = (mos.estimate(sum(rtts) / len(rtts), rfc3550_jitter(rtts),
                                     host.packet_loss, target.codec or "g711")
                        if rtts else (0.0, 1.0))
            result.add(VC_R_FACTOR, r)
            result.add(VC_MOS, score)
        if not rtts:
            raise ProbeFailed("timeout", f"no reply to {host.packets_sent} echo requests")


def first_bad_hop(hops: Sequence[tuple[int, float, float]], loss_threshold: float,
                  rtt_jump: float) -> int:
    """The first hop (distance) from which loss or an RTT jump lasts to the end; 0 if none.

    ``hops`` holds (distance, average RTT, loss ratio) of the hops that answered. Loss at one
    router that later hops do not show is its ICMP rate limit, not a fault (mtr's rule of thumb).
    """
    for i, (distance, rtt, loss) in enumerate(hops):
        later = hops[i:]
        if loss > loss_threshold and all(h[2] > loss_threshold for h in later):
            return distance
        if i > 0 and rtt - hops[i - 1][1] > rtt_jump and all(
                h[1] - hops[i - 1][1] > rtt_jump for h in later):
            return distance
    return 0


def trace_path(target: PathTarget) -> tuple[list[icmplib.Hop], set[str]]:
    """Blocking: the hops to the target, and the target's addresses."""
    final = {str(info[4][0]) for info in socket.getaddrinfo(target.host, None)}
    hops = icmplib.traceroute(target.host, count=target.count, interval=0.05,
                              timeout=target.packet_timeout, max_hops=target.max_hops, fast=True)
    return hops, final


class PathProbe:
    """Probes one ``path`` target: icmplib's traceroute, in a worker thread."""

    def __init__(self, target: PathTarget, privileged: Callable[[], bool]) -> None:
        self.target = target
        self.privileged = privileged

    async def probe(self, result: ProbeResult) -> None:
        """Trace the path; success when the target itself answers."""
        target = self.target
        try:
            self.privileged()
        except IcmpUnavailable as exc:
            raise ProbeFailed("connect", str(exc)) from None
        try:
            hops, final = await asyncio.to_thread(trace_path, target)
        except (icmplib.NameLookupError, socket.gaierror) as exc:
            raise ProbeFailed("dns", f"cannot resolve {target.host!r}: {exc}") from None
        except (icmplib.SocketPermissionError, PermissionError):
            raise ProbeFailed("connect", "traceroute needs raw ICMP sockets: run the agent as "
                                         "root or give it CAP_NET_RAW") from None
        except (icmplib.ICMPLibError, OSError) as exc:
            raise ProbeFailed("connect", f"traceroute {target.host}: {exc}") from None
        summary = []
        for hop in hops:
            loss = hop.packet_loss
            rtt = hop.avg_rtt / 1000
            result.add(PATH_HOP_LOSS, loss, str(hop.distance), hop.address)
            if hop.rtts:
                result.add(PATH_HOP_RTT, rtt, str(hop.distance), hop.address)
            summary.append((hop.distance, rtt, loss))
        result.add(PATH_HOPS, hops[-1].distance if hops else 0)
        result.add(PATH_FIRST_BAD, first_bad_hop(summary, target.loss_threshold, target.rtt_jump))
        if not hops or hops[-1].address not in final:
            raise ProbeFailed("timeout", f"{target.host} not reached within "
                                         f"{target.max_hops} hops")
