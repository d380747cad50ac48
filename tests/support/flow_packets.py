"""Flow export datagrams built by the specs, for tests and benchmarks: NetFlow v5 and v9
(RFC 3954), IPFIX (RFC 7011) and sFlow v5 (sflow.org's sflow_version_5.txt).

A :class:`Flow` is one record; each encoder packs a list of them into one datagram. v9 and IPFIX
use one template (:data:`TEMPLATE_ID`) of the fields softflowd exports for IPv4.
"""

from __future__ import annotations

import struct

# NetFlow v5 is the demo's too (its stand-in router): scripts/flow_export.py holds it.
from scripts.flow_export import Flow as Flow
from scripts.flow_export import netflow_v5 as netflow_v5
from scripts.flow_export import packed

TEMPLATE_ID = 256
# (field type, length): src addr, dst addr, bytes, packets, src port, dst port, protocol
_FIELDS = ((8, 4), (12, 4), (1, 4), (2, 4), (7, 2), (11, 2), (4, 1))
_RECORD = struct.Struct("!4s4sIIHHB")


def _template_set(set_id: int) -> bytes:
    fields = b"".join(struct.pack("!HH", t, n) for t, n in _FIELDS)
    record = struct.pack("!HH", TEMPLATE_ID, len(_FIELDS)) + fields
    return struct.pack("!HH", set_id, 4 + len(record)) + record


def _data_set(flows: list[Flow]) -> bytes:
    body = b"".join(_RECORD.pack(packed(f.src), packed(f.dst), f.octets, f.packets, f.sport,
                                 f.dport, f.proto) for f in flows)
    body += b"\0" * (-(4 + len(body)) % 4)
    return struct.pack("!HH", TEMPLATE_ID, 4 + len(body)) + body


def netflow_v9(flows: list[Flow], template: bool = True, sequence: int = 0) -> bytes:
    """A NetFlow v9 datagram: the template (unless ``template`` is False), then the records."""
    sets = (_template_set(0) if template else b"") + (_data_set(flows) if flows else b"")
    count = (1 if template else 0) + len(flows)
    return struct.pack("!HHIIII", 9, count, 1000, 1_700_000_000, sequence, 1) + sets


def ipfix(flows: list[Flow], template: bool = True, sequence: int = 0) -> bytes:
    """An IPFIX message: the template (unless ``template`` is False), then the records."""
    sets = (_template_set(2) if template else b"") + (_data_set(flows) if flows else b"")
    return struct.pack("!HHIII", 10, 16 + len(sets), 1_700_000_000, sequence, 1) + sets


def _ethernet_ipv4(flow: Flow, frame_length: int) -> bytes:
    """The first bytes of an Ethernet frame carrying ``flow``'s IPv4 packet (TCP or UDP)."""
    eth = b"\x02\0\0\0\0\x01" + b"\x02\0\0\0\0\x02" + b"\x08\x00"
    l4 = struct.pack("!HH", flow.sport, flow.dport) + b"\0" * 16
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, min(max(frame_length - 14, 28), 65535), 0, 0,
                     64, flow.proto, 0,
                     packed(flow.src), packed(flow.dst))
    return eth + ip + l4


def sflow_v5(flows: list[Flow], sampling_rate: int = 1, agent: str = "192.0.2.1",
             raw_header: bool = True, sequence: int = 1) -> bytes:
    """An sFlow v5 datagram: one flow sample per flow, each with one record.

    With ``raw_header`` the record is a sampled Ethernet header (format 1) whose frame length
    is ``flow.octets``; else a sampled IPv4 record (format 3). ``packets`` is not encoded: a
    sample is one packet, scaled by ``sampling_rate``.
    """
    samples = []
    for i, flow in enumerate(flows):
        if raw_header:
            header = _ethernet_ipv4(flow, flow.octets)
            pad = b"\0" * (-len(header) % 4)
            data = struct.pack("!IIII", 1, flow.octets, 4, len(header)) + header + pad
            record = struct.pack("!II", 1, len(data)) + data
        else:
            data = struct.pack("!II4s4sIIII", flow.octets, flow.proto, packed(flow.src),
                               packed(flow.dst), flow.sport, flow.dport, 0, 0)
            record = struct.pack("!II", 3, len(data)) + data
        body = struct.pack("!IIIIIIII", i, 3, sampling_rate, sampling_rate * (i + 1), 0, 1, 2,
                           1) + record
        samples.append(struct.pack("!II", 1, len(body)) + body)
    header = struct.pack("!II4sIIII", 5, 1, packed(agent), 0, sequence, 1000, len(samples))
    return header + b"".join(samples)
