"""SNMP trap listener (optional, off by default): counts v1/v2c traps and informs by type and
source, for alert rules (link flaps, authentication failures, VC login and call failures).

It runs on the scheduler's loop, opened by the snmp module's first collection. Informs are
acknowledged. A trap's type is its snmpTrapOID (v1 traps converted as RFC 3584 says), named
when known. The source is the configured device whose address sent it, else the sender's IP.

A datagram is let in step by step, cheapest first, and every one turned away is counted by
reason (:data:`DROP_REASONS`): over :data:`MAX_TRAP_BYTES` (``too_big``); not a v1/v2c message,
SNMPv3 included (``bad_version``); a community not configured (``bad_community``, compared in
constant time); only then is the PDU decoded (``malformed``, ``bad_pdu``); and datagrams the
kernel discarded because the socket's queue was full (``overflow``, read from /proc/net/udp at
each collection, Linux only). Decoding is linear and bounded (see ``native``), so a flood of
hostile datagrams costs the loop that runs the collections a few microseconds each.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections import Counter
from collections.abc import Iterable, Mapping

from agent.modules.snmp.config import TrapConfig
from agent.modules.snmp.native import (
    INFORM,
    TRAP_V1,
    TRAP_V2,
    BerError,
    Message,
    VersionError,
    decode_header,
    decode_pdu,
    encode_response,
)
from agent.udp_listener import UdpSockets

log = logging.getLogger(__name__)

SNMP_TRAP_OID = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
_SNMP_TRAPS = (1, 3, 6, 1, 6, 3, 1, 1, 5)
_GENERIC = ("coldStart", "warmStart", "linkDown", "linkUp", "authenticationFailure",
            "egpNeighborLoss")
_POLYCOM = (1, 3, 6, 1, 4, 1, 2684, 1, 1, 0)
# Trap OID -> name. Polycom's from POLYCOM-VIDEO-MIB as in shared/VC-DEVICES.md (unconfirmed).
TRAP_NAMES: dict[tuple[int, ...], str] = {
    **{(*_SNMP_TRAPS, i + 1): name for i, name in enumerate(_GENERIC)},
    **{(*_POLYCOM, n): name for n, name in (
        (1, "polycomLoginOK"), (2, "polycomLoginFail"), (4, "polycomCallUp"),
        (5, "polycomCallDown"), (6, "polycomCallFail"), (19, "polycomGatekeeperReg"),
        (20, "polycomGatekeeperDown"), (21, "polycomGatekeeperOff"),
        (22, "polycomIpAddressChange"))},
}
MAX_SERIES = 1000  # distinct (source, trap) pairs kept; more are dropped as "cardinality"
#: The largest datagram looked at: devices send traps of a few hundred bytes.
MAX_TRAP_BYTES = 16384
#: The socket's receive buffer asked for, in bytes.
RECEIVE_BUFFER = 1 << 20
#: Why a datagram was not counted as a trap (``commune_snmp_traps_dropped_total{reason}``).
DROP_REASONS = ("too_big", "bad_version", "bad_community", "malformed", "bad_pdu",
                "cardinality", "overflow", "internal")


def trap_oid(message: Message) -> tuple[int, ...] | None:
    """The notification's OID: snmpTrapOID.0 (v2c), or RFC 3584's conversion of a v1 trap."""
    if message.pdu_type == TRAP_V1:
        (_, enterprise), _, (_, generic), (_, specific), _ = message.header
        if not isinstance(enterprise, tuple) or not isinstance(generic, int):
            return None
        if generic != 6:
            return (*_SNMP_TRAPS, generic + 1)
        return (*enterprise, 0, specific) if isinstance(specific, int) else None
    for oid, value, _ in message.varbinds:
        if oid == SNMP_TRAP_OID and value is not None and isinstance(value[1], tuple):
            return value[1]
    return None


class TrapListener:
    """Counts received notifications; ``counts[(source, trap)]``, ``dropped[reason]``."""

    def __init__(self, config: TrapConfig, sources: Mapping[str, str]) -> None:
        self.config = config
        self.sources = dict(sources)  # sender IP -> device name
        self._digests = [hashlib.sha256(c.reveal().encode()).digest()
                         for c in config.communities()]
        self.counts: Counter[tuple[str, str]] = Counter()
        self.dropped: Counter[str] = Counter()
        # A switch rebooting sends a linkUp per port: RECEIVE_BUFFER holds such a burst.
        self.sockets = UdpSockets("trap listener", self, RECEIVE_BUFFER, log)

    async def start(self) -> None:
        """Bind the UDP socket; raises OSError when the port cannot be had."""
        await self.sockets.bind([self.config.listen])

    @property
    def running(self) -> bool:
        """True while the socket is bound."""
        return self.sockets.running

    def receive(self, data: bytes, sender: str) -> bytes | None:
        """Count one datagram, as a trap or as a drop; return an inform's acknowledgement."""
        admitted = self._admit(data)
        if isinstance(admitted, str):
            self.dropped[admitted] += 1
            return None
        message, oid = admitted
        key = (self.sources.get(sender, sender),
               TRAP_NAMES.get(oid, ".".join(map(str, oid))))
        if key not in self.counts and len(self.counts) >= MAX_SERIES:
            self.dropped["cardinality"] += 1
        else:
            self.counts[key] += 1
        if message.pdu_type == INFORM:
            request_id = message.header[0][1]
            varbinds = [(o, v) for o, v, _ in message.varbinds if v is not None]
            return encode_response(message.version, message.community,
                                   request_id if isinstance(request_id, int) else 0, varbinds)
        return None

    def _admit(self, data: bytes) -> tuple[Message, tuple[int, ...]] | str:
        """The notification and its OID, or the reason to drop the datagram."""
        if len(data) > MAX_TRAP_BYTES:
            return "too_big"
        try:
            header = decode_header(data)
        except VersionError:
            return "bad_version"
        except BerError:
            return "malformed"
        if not self._known(header.community):
            return "bad_community"
        try:
            message = decode_pdu(data, header)
        except BerError:
            return "malformed"
        if message.pdu_type not in (TRAP_V1, TRAP_V2, INFORM):
            return "bad_pdu"
        oid = trap_oid(message)
        return "malformed" if oid is None else (message, oid)

    def _known(self, community: bytes) -> bool:
        """True if ``community`` is configured; the time taken tells nothing about it.

        The digests have one length whatever the community's, and every configured one is
        compared (no early exit at a match).
        """
        digest = hashlib.sha256(community).digest()
        known = False
        for expected in self._digests:
            known |= hmac.compare_digest(digest, expected)
        return known

    def drops(self) -> dict[str, int]:
        """Drops by reason, every reason of :data:`DROP_REASONS` (0 too, for ``rate()``):
        the listener's own and the kernel's (``overflow``)."""
        return self.sockets.drops(DROP_REASONS)

    def close(self) -> None:
        """Unbind the socket (keeping its kernel drops counted)."""
        self.sockets.close()


def device_sources(devices: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """Sender IP -> device name, from (name, host) pairs of the configured devices."""
    return {host: name for name, host in devices if host}


