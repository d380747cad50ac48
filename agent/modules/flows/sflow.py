"""sFlow v5 decoder (sflow.org's sflow_version_5.txt): flow samples into records.

Flow samples (format 1) and expanded flow samples (format 3) are read; each sampled packet
stands for ``sampling_rate`` packets of its frame length. Of the flow records, a sampled header
(format 1, Ethernet with optional 802.1Q tags, then IPv4 or IPv6) and sampled IPv4/IPv6
(formats 3 and 4) are used; counter samples and other records are skipped by their length.
Every length is checked against what is left before it is used, so a hostile datagram costs
at most one pass over its bytes.
"""

from __future__ import annotations

import struct

from agent.modules.flows.records import Decoded, DecodeError, Record

_U32 = struct.Struct("!I")
_TWO = struct.Struct("!II")
_FLOW_SAMPLE = struct.Struct("!IIIIIIII")  # seq, source, rate, pool, drops, in, out, records
_EXPANDED_SAMPLE = struct.Struct("!IIIIIIIIIII")
_RAW_HEADER = struct.Struct("!IIII")  # header protocol, frame length, stripped, header length
_SAMPLED_IPV4 = struct.Struct("!II4s4sIIII")
_SAMPLED_IPV6 = struct.Struct("!II16s16sIIII")
_PORTS = struct.Struct("!HH")
MAX_SAMPLES = 1024
MAX_RECORDS = 64
_ETHERNET = 1
_IPV4_HEADER = 11
_IPV6_HEADER = 12


def _u32(data: bytes, offset: int, end: int) -> int:
    if offset + 4 > end:
        raise DecodeError(f"truncated at byte {offset}")
    return int(_U32.unpack_from(data, offset)[0])


def _from_ip(packet: bytes, frame_length: int, rate: int) -> Record | None:
    """A record from the start of an IP packet; None if it is not IPv4/IPv6 or too short."""
    if len(packet) < 1:
        return None
    version = packet[0] >> 4
    if version == 4 and len(packet) >= 20:
        ihl = (packet[0] & 0x0F) * 4
        proto = packet[9]
        src, dst = packet[12:16], packet[16:20]
        l4 = packet[ihl:] if ihl >= 20 else b""
        fragment = int.from_bytes(packet[6:8], "big") & 0x1FFF
    elif version == 6 and len(packet) >= 40:
        proto = packet[6]
        src, dst = packet[8:24], packet[24:40]
        l4, fragment = packet[40:], 0
    else:
        return None
    sport = dport = 0
    if proto in (6, 17, 132) and fragment == 0 and len(l4) >= 4:
        sport, dport = _PORTS.unpack_from(l4)
    return Record(src, dst, sport, dport, proto, frame_length * rate, rate)


def _from_ethernet(frame: bytes, frame_length: int, rate: int) -> Record | None:
    offset = 12
    while offset + 2 <= len(frame):
        ethertype = int.from_bytes(frame[offset:offset + 2], "big")
        if ethertype in (0x8100, 0x88A8) and offset < 12 + 4 * 2:  # at most two VLAN tags
            offset += 4
            continue
        if ethertype in (0x0800, 0x86DD):
            return _from_ip(frame[offset + 2:], frame_length, rate)
        return None
    return None


def _flow_record(data: bytes, offset: int, end: int, fmt: int, rate: int) -> Record | None:
    if fmt == 1:  # sampled header
        if offset + _RAW_HEADER.size > end:
            raise DecodeError("sampled header truncated")
        protocol, frame_length, _, length = _RAW_HEADER.unpack_from(data, offset)
        start = offset + _RAW_HEADER.size
        if length > end - start:
            raise DecodeError(f"sampled header of {length} bytes in a {end - start}-byte record")
        header = data[start:start + length]
        if protocol == _ETHERNET:
            return _from_ethernet(header, frame_length, rate)
        if protocol in (_IPV4_HEADER, _IPV6_HEADER):
            return _from_ip(header, frame_length, rate)
        return None
    if fmt in (3, 4):  # sampled IPv4 / IPv6
        layout = _SAMPLED_IPV4 if fmt == 3 else _SAMPLED_IPV6
        if offset + layout.size > end:
            raise DecodeError("sampled IP record truncated")
        length, proto, src, dst, sport, dport, _, _ = layout.unpack_from(data, offset)
        return Record(src, dst, sport & 0xFFFF, dport & 0xFFFF, proto & 0xFF, length * rate,
                      rate)
    return None


def _flow_sample(data: bytes, offset: int, end: int, expanded: bool,
                 records: list[Record]) -> None:
    layout = _EXPANDED_SAMPLE if expanded else _FLOW_SAMPLE
    if offset + layout.size > end:
        raise DecodeError("flow sample truncated")
    fields = layout.unpack_from(data, offset)
    rate, count = max(fields[3 if expanded else 2], 1), fields[-1]
    if count > MAX_RECORDS:
        raise DecodeError(f"flow sample claims {count} records")
    offset += layout.size
    for _ in range(count):
        if offset + 8 > end:
            raise DecodeError("flow record truncated")
        fmt, length = _TWO.unpack_from(data, offset)
        offset += 8
        if length > end - offset:
            raise DecodeError(f"flow record of {length} bytes, {end - offset} left")
        record = _flow_record(data, offset, offset + length, fmt, rate) \
            if fmt >> 12 == 0 else None  # enterprise 0 only
        if record is not None:
            records.append(record)
            break  # one packet per sample: the first record that names it is enough
        offset += (length + 3) & ~3


def decode_sflow(data: bytes) -> Decoded:
    """An sFlow v5 datagram's sampled packets as records (bytes and packets scaled)."""
    end = len(data)
    if _u32(data, 0, end) != 5:
        raise DecodeError("not sFlow version 5")
    address_type = _u32(data, 4, end)
    if address_type not in (1, 2):
        raise DecodeError(f"agent address type {address_type}")
    offset = 8 + (4 if address_type == 1 else 16) + 12  # sub-agent, sequence, uptime
    count = _u32(data, offset, end)
    if count > MAX_SAMPLES:
        raise DecodeError(f"datagram claims {count} samples")
    offset += 4
    records: list[Record] = []
    for _ in range(count):
        if offset + 8 > end:
            raise DecodeError("sample truncated")
        fmt, length = _TWO.unpack_from(data, offset)
        offset += 8
        if length > end - offset:
            raise DecodeError(f"sample of {length} bytes, {end - offset} left")
        if fmt in (1, 3):
            _flow_sample(data, offset, offset + length, fmt == 3, records)
        offset += length
    return Decoded("sflow5", records, {})
