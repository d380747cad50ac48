"""NetFlow v5 export datagrams (Cisco's v5 format): the demo's stand-in router sends them
(scripts/demo_peers.py --flows-port), and tests/support/flow_packets.py builds its other
formats on the same :class:`Flow`.

    from flow_export import Flow, netflow_v5
    datagram = netflow_v5([Flow("192.168.1.20", "203.0.113.10", 7000, 5, 443, 40000)])
"""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class Flow:
    """One flow record (IPv4)."""

    src: str
    dst: str
    octets: int
    packets: int
    sport: int
    dport: int
    proto: int = 6


def packed(address: str) -> bytes:
    """The address's bytes, as the export formats carry it."""
    return ipaddress.ip_address(address).packed


def netflow_v5(flows: list[Flow], sequence: int = 0, sampling: int = 0) -> bytes:
    """A NetFlow v5 datagram (at most 30 records by the format)."""
    header = struct.pack("!HHIIIIBBH", 5, len(flows), 1000, 1_700_000_000, 0, sequence, 0, 0,
                         sampling)
    body = b"".join(struct.pack("!4s4s4sHHIIIIHHxBBBHHBBxx", packed(f.src), packed(f.dst),
                                b"\0\0\0\0", 1, 2, f.packets, f.octets, 0, 0, f.sport,
                                f.dport, 0, f.proto, 0, 0, 0, 0, 0) for f in flows)
    return header + body
