"""The UDP listener: every datagram is told apart by its first bytes and decoded.

NetFlow v5, v9 and IPFIX start with their 16-bit version (5, 9, 10), sFlow v5 with a 32-bit 5,
so one port can take them all. A datagram from a sender not in ``exporters`` (when set) is
dropped as ``unknown_exporter``, one that is no export read here as ``unknown_version``, one
whose lengths do not hold as ``malformed``; the kernel's drops (the socket's queue full) are
read from /proc/net/udp as ``overflow``. Templates are per exporter, so a sender allowed here
cannot spoil another's.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Sequence

from agent.modules.flows.accounting import Accounting
from agent.modules.flows.netflow import Templates, decode_templated, decode_v5
from agent.modules.flows.networks import Net, member_of
from agent.modules.flows.records import Decoded, DecodeError
from agent.modules.flows.sflow import decode_sflow
from agent.udp_listener import UdpSockets
from common.schema import HostPort

log = logging.getLogger(__name__)
RECEIVE_BUFFER = 4 << 20
PROTOCOLS = ("netflow5", "netflow9", "ipfix", "sflow5")
DROP_REASONS = ("unknown_exporter", "unknown_version", "malformed", "overflow", "internal")
#: Senders remembered as allowed or not; the cache is emptied when full.
SENDER_CACHE = 4096
TEMPLATE_REASONS = ("missing", "unsupported", "invalid", "limit")
_SFLOW5 = b"\0\0\0\x05"


def decode(data: bytes, sender: str, templates: Templates) -> Decoded | None:
    """The datagram's records; None if it is no flow export this module reads."""
    if len(data) < 4:
        return None
    version = int.from_bytes(data[:2], "big")
    if version == 5:
        return decode_v5(data)
    if version in (9, 10):
        return decode_templated(data, sender, templates)
    if data[:4] == _SFLOW5:
        return decode_sflow(data)
    return None


class FlowListener:
    """Receives exports on ``addresses`` and counts their records into ``accounting``."""

    def __init__(self, addresses: tuple[HostPort, ...], accounting: Accounting,
                 exporters: Sequence[Net] = ()) -> None:
        self.addresses = addresses
        self.exporters = tuple(exporters)
        self._allowed = member_of(self.exporters, SENDER_CACHE)
        self.accounting = accounting
        self.templates = Templates()
        self.datagrams: Counter[str] = Counter()
        self.records: Counter[str] = Counter()
        self.dropped: Counter[str] = Counter()
        self.template_errors: Counter[tuple[str, str]] = Counter()
        # Exporters send bursts at each active timeout: RECEIVE_BUFFER holds them.
        self.sockets = UdpSockets("flows", self, RECEIVE_BUFFER, log)

    async def start(self) -> None:
        """Bind every address; raises OSError (and binds none) when one cannot be had."""
        await self.sockets.bind(self.addresses)

    @property
    def running(self) -> bool:
        """True while the sockets are bound."""
        return self.sockets.running

    def bound(self) -> list[tuple[str, int]]:
        """The (host, port) each socket is bound to (port 0 in the config picks one)."""
        return self.sockets.bound()

    def receive(self, data: bytes, sender: str) -> None:
        """Decode one datagram and count its records, or count why it was dropped."""
        if self.exporters and not self._allowed(sender):
            self.dropped["unknown_exporter"] += 1
            return
        try:
            decoded = decode(data, sender, self.templates)
        except DecodeError:
            self.dropped["malformed"] += 1
            return
        if decoded is None:
            self.dropped["unknown_version"] += 1
            return
        self.datagrams[decoded.protocol] += 1
        self.records[decoded.protocol] += len(decoded.records)
        for reason, count in decoded.template_errors.items():
            self.template_errors[(decoded.protocol, reason)] += count
        self.accounting.add(decoded.records)

    def drops(self) -> dict[str, int]:
        """Drops by reason, every reason of :data:`DROP_REASONS` (0 too, for ``rate()``)."""
        return self.sockets.drops(DROP_REASONS)

    def close(self) -> None:
        """Unbind the sockets (keeping their kernel drops counted)."""
        self.sockets.close()
