"""SNMP trap listener (optional, off by default): counts v1/v2c traps and informs by type and
source, for alert rules (link flaps, authentication failures, VC login and call failures).

It runs on the scheduler's loop, opened by the snmp module's first collection. Informs are
acknowledged. A trap's type is its snmpTrapOID (v1 traps converted as RFC 3584 says), named
when known. The source is the configured device whose address sent it, else the sender's IP.
SNMPv3 traps are not decoded (counted as dropped, reason ``version``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import typing
from collections import Counter
from collections.abc import Iterable, Mapping

from agent.modules.snmp.config import TrapConfig
from agent.modules.snmp.native import (
    INFORM,
    TRAP_V1,
    TRAP_V2,
    BerError,
    Message,
    decode_message,
    encode_response,
)

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


class _Receiver(asyncio.DatagramProtocol):
    def __init__(self, listener: TrapListener) -> None:
        self.listener = listener
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = typing.cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        reply = self.listener.receive(data, addr[0])
        if reply is not None and self.transport is not None:
            self.transport.sendto(reply, addr)


class TrapListener:
    """Counts received notifications; ``counts[(source, trap)]``, ``dropped[reason]``."""

    def __init__(self, config: TrapConfig, sources: Mapping[str, str]) -> None:
        self.config = config
        self.sources = dict(sources)  # sender IP -> device name
        self.communities = {c.reveal().encode() for c in config.communities()}
        self.counts: Counter[tuple[str, str]] = Counter()
        self.dropped: Counter[str] = Counter()
        self._transport: asyncio.BaseTransport | None = None

    async def start(self) -> None:
        """Bind the UDP socket; raises OSError when the port cannot be had."""
        loop = asyncio.get_running_loop()
        address = self.config.listen
        self._transport, _ = await loop.create_datagram_endpoint(
            lambda: _Receiver(self), local_addr=(address.host, address.port))

    @property
    def running(self) -> bool:
        """True while the socket is bound."""
        return self._transport is not None

    def receive(self, data: bytes, sender: str) -> bytes | None:
        """Count one datagram; return the acknowledgement of an inform, if any."""
        if data[:1] == b"\x30" and b"\x02\x01\x03" in data[:8]:
            self.dropped["version"] += 1  # SNMPv3 message
            return None
        try:
            message = decode_message(data)
        except BerError:
            self.dropped["decode"] += 1
            return None
        if message.pdu_type not in (TRAP_V1, TRAP_V2, INFORM):
            self.dropped["pdu"] += 1
            return None
        if message.community not in self.communities:
            self.dropped["community"] += 1
            return None
        oid = trap_oid(message)
        if oid is None:
            self.dropped["decode"] += 1
            return None
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

    def close(self) -> None:
        """Unbind the socket."""
        if self._transport is not None:
            with contextlib.suppress(RuntimeError):  # the loop may be closed already
                self._transport.close()
            self._transport = None


def device_sources(devices: Iterable[tuple[str, str | None]]) -> dict[str, str]:
    """Sender IP -> device name, from (name, host) pairs of the configured devices."""
    return {host: name for name, host in devices if host}
