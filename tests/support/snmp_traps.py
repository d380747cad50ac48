"""SNMP notifications as bytes, for the trap listener's tests and fuzz targets: well-formed v1
and v2c traps and informs, and hostile ones (huge OID arcs, oversized datagrams). A BER encoder
of its own, so the tests do not check the listener's decoder against itself."""

from __future__ import annotations

from collections.abc import Sequence

LINK_DOWN = (1, 3, 6, 1, 6, 3, 1, 1, 5, 3)
SNMP_TRAP_OID = (1, 3, 6, 1, 6, 3, 1, 1, 4, 1, 0)
SYS_UPTIME = (1, 3, 6, 1, 2, 1, 1, 3, 0)
IF_INDEX = (1, 3, 6, 1, 2, 1, 2, 2, 1, 1, 2)
TRAP_V1, INFORM, TRAP_V2 = 0xA4, 0xA6, 0xA7


def tlv(tag: int, content: bytes) -> bytes:
    """One BER tag-length-value (definite length, short or long form)."""
    n = len(content)
    if n < 0x80:
        return bytes((tag, n)) + content
    size = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(size))) + size + content


def integer(n: int, tag: int = 0x02) -> bytes:
    """An INTEGER (or an application type of one) in the fewest bytes."""
    return tlv(tag, n.to_bytes(n.bit_length() // 8 + 1, "big", signed=True))


def oid_content(arcs: Sequence[int]) -> bytes:
    """BER content of an OBJECT IDENTIFIER (any arc size: hostile ones too)."""
    out = bytearray()
    for arc in (arcs[0] * 40 + arcs[1], *arcs[2:]):
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def oid(arcs: Sequence[int]) -> bytes:
    """An OBJECT IDENTIFIER TLV."""
    return tlv(0x06, oid_content(arcs))


def varbind(name: Sequence[int], value: bytes) -> bytes:
    """One varbind: a name and an encoded value."""
    return tlv(0x30, oid(name) + value)


def message(community: bytes, pdu_type: int, pdu_body: bytes, version: int = 1) -> bytes:
    """A whole v1/v2c message around a PDU body."""
    return tlv(0x30, integer(version) + tlv(0x04, community) + tlv(pdu_type, pdu_body))


def trap_v2(community: bytes, trap: Sequence[int] = LINK_DOWN, extra: Sequence[bytes] = (),
            pdu_type: int = TRAP_V2, request_id: int = 1) -> bytes:
    """A v2c trap (or inform, with ``pdu_type=INFORM``): sysUpTime, snmpTrapOID, ``extra``."""
    varbinds = (varbind(SYS_UPTIME, integer(1234, 0x43)) + varbind(SNMP_TRAP_OID, oid(trap))
                + b"".join(extra))
    body = integer(request_id) + integer(0) + integer(0) + tlv(0x30, varbinds)
    return message(community, pdu_type, body)


def trap_v1(community: bytes, enterprise: Sequence[int], generic: int, specific: int) -> bytes:
    """An SNMPv1 Trap-PDU from 127.0.0.1."""
    body = (oid(enterprise) + tlv(0x40, bytes((127, 0, 0, 1))) + integer(generic)
            + integer(specific) + integer(99, 0x43) + tlv(0x30, b""))
    return message(community, TRAP_V1, body, version=0)


def padded(community: bytes, size: int) -> bytes:
    """A v2c trap of exactly ``size`` bytes, padded with an OctetString varbind."""
    pad = size - len(trap_v2(community))
    for n in range(pad, pad - 40, -1):  # less the varbind and length bytes it brings
        data = trap_v2(community, extra=[varbind(IF_INDEX, tlv(0x04, b"x" * max(0, n)))])
        if len(data) == size:
            return data
    raise ValueError(f"cannot pad a trap to {size} bytes")


def huge_arc_trap(community: bytes, digits: int) -> bytes:
    """A v2c trap whose snmpTrapOID value has an arc of ``digits`` decimal digits."""
    return trap_v2(community, trap=(1, 3, 6, 1, 4, 1, 10 ** (digits - 1)))


def v3_message() -> bytes:
    """The start of an SNMPv3 message: version 3, then msgGlobalData (not a community)."""
    global_data = tlv(0x30, integer(1) + integer(65507) + tlv(0x04, b"\x04") + integer(3))
    return tlv(0x30, integer(3) + global_data + tlv(0x04, b"") + tlv(0x30, b""))
