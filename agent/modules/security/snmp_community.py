"""Weak SNMP credentials: does an SNMP agent (by default this host's) answer the default
communities ``public`` and ``private``?

One SNMPv2c GET of ``sysDescr.0`` per community, BER-encoded here (no SNMP library needed): an
agent answers a community it accepts and stays silent otherwise. The ``snmp`` module's devices are
polled with their own configured credentials; checking them for defaults is left to that module.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator

from prometheus_client.core import Metric

from agent.modules.base import MetricSpec
from agent.modules.security.config import SnmpCommunityConfig

DEFAULT_COMMUNITY = MetricSpec("commune_snmp_default_community", "gauge",
                               "1 if the SNMP agent answers a GET with this default community.",
                               ("address", "community"))
METRICS = (DEFAULT_COMMUNITY,)

_SYS_DESCR = bytes([0x06, 0x08, 0x2B, 0x06, 0x01, 0x02, 0x01, 0x01, 0x01, 0x00])
_GET_RESPONSE = 0xA2


def _tlv(tag: int, value: bytes) -> bytes:
    length = len(value)
    if length < 0x80:
        head = bytes([length])
    else:
        size = length.to_bytes((length.bit_length() + 7) // 8, "big")
        head = bytes([0x80 | len(size)]) + size
    return bytes([tag]) + head + value


def _int(value: int) -> bytes:
    return _tlv(0x02, value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True))


def get_request(community: str, request_id: int) -> bytes:
    """An SNMPv2c GetRequest for sysDescr.0."""
    varbind = _tlv(0x30, _tlv(0x30, _SYS_DESCR + b"\x05\x00"))
    pdu = _tlv(0xA0, _int(request_id) + _int(0) + _int(0) + varbind)
    return _tlv(0x30, _int(1) + _tlv(0x04, community.encode()) + pdu)


def _items(data: bytes) -> Iterator[tuple[int, bytes]]:
    pos = 0
    while pos < len(data):
        tag, length = data[pos], data[pos + 1]
        pos += 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[pos:pos + count], "big")
            pos += count
        if pos + length > len(data):
            raise ValueError("truncated BER value")
        yield tag, data[pos:pos + length]
        pos += length


def accepted(reply: bytes, community: str, request_id: int) -> bool:
    """True if ``reply`` is the GetResponse to our request, without error."""
    try:
        (tag, message), = _items(reply)
        version, comm, (pdu_tag, pdu) = list(_items(message))[:3]
        rid, status = list(_items(pdu))[:2]
    except (ValueError, IndexError):
        return False
    return (tag == 0x30 and comm == (0x04, community.encode()) and pdu_tag == _GET_RESPONSE
            and int.from_bytes(rid[1], "big", signed=True) == request_id
            and int.from_bytes(status[1], "big") == 0 and version[0] == 0x02)


def answers(host: str, port: int, community: str, timeout: float) -> bool:
    """Send one GET with ``community``; True if the agent answers it."""
    request_id = int.from_bytes(os.urandom(3), "big")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.connect((host, port))
        sock.send(get_request(community, request_id))
        try:
            while True:
                if accepted(sock.recv(65535), community, request_id):
                    return True
        except (TimeoutError, ConnectionRefusedError):
            return False  # silent (wrong community) or nothing listening


class SnmpCommunityCheck:
    """Flags an SNMP agent that answers the default communities."""

    name = "snmp_community"

    def __init__(self, config: SnmpCommunityConfig) -> None:
        self.config = config

    def collect(self) -> list[Metric]:
        """One GET per configured default community."""
        family = DEFAULT_COMMUNITY.family()
        address = self.config.address
        for community in self.config.communities:
            ok = answers(address.host, address.port, community, float(self.config.timeout))
            family.add_metric([str(address), community], 1.0 if ok else 0.0)
        return [family]
