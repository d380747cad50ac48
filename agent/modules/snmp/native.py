"""A lean SNMP v1/v2c client: BER encoding of GET/GETNEXT/GETBULK and decoding of responses,
over one asyncio UDP socket per device.

Why: pysnmp decodes every reply through pyasn1's generic BER machinery, which costs ~14 Python
calls per varbind and makes an IF-MIB walk CPU-bound (see tests/bench). Community-based SNMP
needs only a dozen BER types, decoded here directly. SNMPv3 (USM keys, encryption) stays on
pysnmp. Malformed replies raise ``SnmpError("decode")``: they never yield a guessed value.

Decoding costs time linear in the message's size, whoever sent it: a message is at most
:data:`MAX_MESSAGE` bytes; its nesting is SNMP's fixed one (message, PDU, varbind list, varbind,
value: no recursion, so no depth to exhaust); an integer is at most 9 bytes (a Counter64 with its
sign byte); an OID has at most :data:`MAX_OID_ARCS` arcs, each below 2**64. Anything else is a
:class:`BerError`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
from collections.abc import Sequence
from dataclasses import dataclass

from agent.modules.snmp.config import Device
from agent.modules.snmp.decode import Value
from agent.modules.snmp.errors import SnmpError

Varbind = tuple[tuple[int, ...], Value]

GET, GETNEXT, RESPONSE, TRAP_V1, GETBULK, INFORM, TRAP_V2, REPORT = (
    0xA0, 0xA1, 0xA2, 0xA4, 0xA5, 0xA6, 0xA7, 0xA8)
_END_OF_MIB = 0x82
_ABSENT = {0x05, 0x80, 0x81}  # NULL, noSuchObject, noSuchInstance
_TYPES = {0x02: "Integer", 0x04: "OctetString", 0x06: "ObjectIdentifier", 0x40: "IpAddress",
          0x41: "Counter32", 0x42: "Gauge32", 0x43: "TimeTicks", 0x44: "Opaque",
          0x46: "Counter64", 0x47: "Unsigned32"}
_UNSIGNED = {0x41, 0x42, 0x43, 0x46, 0x47}
_STATUS = {1: "tooBig", 2: "noSuchName", 3: "badValue", 4: "readOnly", 5: "genErr",
           6: "noAccess", 7: "wrongType", 16: "authorizationError", 17: "notWritable"}


#: The largest SNMP message decoded: what one UDP datagram carries over IPv4.
MAX_MESSAGE = 65507
#: The most arcs an OID may have (RFC 2578 allows 128 sub-identifiers).
MAX_OID_ARCS = 128
_ARC_BITS = 64  # an arc is below 2**64 (SNMP itself uses 32 bits)
_MAX_ARC_BYTES = (_ARC_BITS + 6) // 7 + 1  # 7 bits a byte, plus one leading 0x80 of slack
_MAX_INTEGER_BYTES = 9  # a Counter64 with its sign byte
_UNSIGNED_LIMIT, _SIGNED_LIMIT = 1 << 64, 1 << 63


class BerError(ValueError):
    """Bytes that are not the BER an SNMP agent must send."""


class VersionError(BerError):
    """A message of an SNMP version other than v1/v2c (``version``: 3 for SNMPv3)."""

    def __init__(self, version: int) -> None:
        super().__init__(f"SNMP version {version} is not v1/v2c")
        self.version = version


def _length(n: int) -> bytes:
    if n < 0x80:
        return bytes((n,))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes((0x80 | len(body),)) + body


def _tlv(tag: int, content: bytes) -> bytes:
    return bytes((tag,)) + _length(len(content)) + content


def _int(n: int) -> bytes:
    return _tlv(0x02, n.to_bytes(max(1, (n.bit_length() + 8) // 8), "big", signed=True))


def encode_oid(oid: Sequence[int]) -> bytes:
    """BER content of an OBJECT IDENTIFIER."""
    if len(oid) < 2 or oid[0] > 2 or (oid[0] < 2 and oid[1] > 39):
        raise ValueError(f"not a valid OID: {oid!r}")
    out = bytearray()
    for arc in (oid[0] * 40 + oid[1], *oid[2:]):
        chunk = [arc & 0x7F]
        arc >>= 7
        while arc:
            chunk.append(0x80 | (arc & 0x7F))
            arc >>= 7
        out += bytes(reversed(chunk))
    return bytes(out)


def encode_request(version: int, community: bytes, pdu_type: int, request_id: int,
                   oids: Sequence[Sequence[int]], max_repetitions: int = 0) -> bytes:
    """A whole SNMP message with a request PDU (for GETBULK: non-repeaters 0)."""
    varbinds = b"".join(_tlv(0x30, _tlv(0x06, encode_oid(oid)) + b"\x05\x00") for oid in oids)
    pdu = _int(request_id) + _int(0) + _int(max_repetitions if pdu_type == GETBULK else 0) + \
        _tlv(0x30, varbinds)
    return _tlv(0x30, _int(version) + _tlv(0x04, community) + _tlv(pdu_type, pdu))


def _read(data: bytes, pos: int, end: int) -> tuple[int, int, int]:
    """(tag, content start, content end) of the TLV at ``pos``."""
    if pos + 2 > end:
        raise BerError("truncated")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first & 0x80:
        count = first & 0x7F
        if count == 0 or count > 4 or pos + count > end:
            raise BerError("bad length")
        length = int.from_bytes(data[pos:pos + count], "big")
        pos += count
    else:
        length = first
    if pos + length > end:
        raise BerError("truncated")
    return tag, pos, pos + length


def decode_oid(content: bytes) -> tuple[int, ...]:
    """An OBJECT IDENTIFIER's arcs from its BER content (linear in its length: arcs are bounded)."""
    # More bytes than the most arcs of the longest encoding: refuse before looking at them.
    if not content or len(content) > MAX_OID_ARCS * _MAX_ARC_BYTES or content[-1] & 0x80:
        raise BerError("bad OID")
    # Every arc below 128, as in most OIDs: no byte loop in Python.
    arcs = list(content) if content.isascii() else _long_arcs(content)
    if len(arcs) >= MAX_OID_ARCS:  # the first sub-identifier holds two arcs
        raise BerError(f"OID of more than {MAX_OID_ARCS} arcs")
    first = arcs[0]
    head = (0, first) if first < 40 else (1, first - 40) if first < 80 else (2, first - 80)
    return (*head, *arcs[1:])


def _long_arcs(content: bytes) -> list[int]:
    """The sub-identifiers of OID content that has some over 127, each checked below 2**64."""
    arcs: list[int] = []
    value = 0
    for byte in content:
        value = (value << 7) | (byte & 0x7F)
        if value >> _ARC_BITS:
            raise BerError("OID arc over 2**64")
        if not byte & 0x80:
            arcs.append(value)
            value = 0
    return arcs


Decoded = tuple[tuple[int, ...], Value | None, bool]
GET_RESPONSE_TYPES = (RESPONSE, REPORT)


def _value(tag: int, content: bytes) -> Value:
    """A BER value of one of SNMP's types (not the exceptions: NULL, noSuch*, endOfMibView)."""
    if tag == 0x06:
        return "ObjectIdentifier", decode_oid(content)
    if tag in (0x04, 0x40, 0x44):
        return _TYPES[tag], bytes(content)
    if tag in _TYPES:
        return _TYPES[tag], _integer(content, signed=tag not in _UNSIGNED)
    raise BerError(f"unknown value type 0x{tag:02x}")


def _integer(content: bytes, signed: bool = True) -> int:
    """An INTEGER (or an application type based on one) of at most 64 bits."""
    if not content:
        raise BerError("empty integer")
    if len(content) > _MAX_INTEGER_BYTES:
        raise BerError("integer over 64 bits")
    value = int.from_bytes(content, "big", signed=signed)
    # 9 bytes carry 72 bits: only a sign byte may come before a 64-bit value.
    low, high = (-_SIGNED_LIMIT, _SIGNED_LIMIT) if signed else (0, _UNSIGNED_LIMIT)
    if not low <= value < high:
        raise BerError("integer over 64 bits")
    return value


@dataclass(frozen=True)
class Message:
    """A decoded v1/v2c message: ``header`` holds the PDU's fields before the varbind list
    (request-id, error-status, error-index; or a v1 trap's enterprise ... time-stamp)."""

    version: int
    community: bytes
    pdu_type: int
    header: list[Value]
    varbinds: list[Decoded]


@dataclass(frozen=True)
class Header:
    """A message's version and community, and where its PDU starts (``pdu`` to ``end``)."""

    version: int
    community: bytes
    pdu: int
    end: int


def decode_header(data: bytes) -> Header:
    """Decode only the outer SEQUENCE, the version and the community of a v1/v2c message.

    Raise VersionError for another version (SNMPv3's next field is not a community), BerError
    on malformed bytes; the PDU is not looked at.
    """
    if len(data) > MAX_MESSAGE:
        raise BerError(f"message of more than {MAX_MESSAGE} bytes")
    tag, pos, end = _read(data, 0, len(data))
    if tag != 0x30:
        raise BerError("not a SEQUENCE")
    tag, start, pos = _read(data, pos, end)
    if tag != 0x02:
        raise BerError("bad version")
    version = _integer(data[start:pos])
    if version not in (0, 1):
        raise VersionError(version)
    tag, start, pos = _read(data, pos, end)
    if tag != 0x04:
        raise BerError("bad community")
    return Header(version, bytes(data[start:pos]), pos, end)


def decode_pdu(data: bytes, header: Header) -> Message:
    """Decode the PDU of a message whose header :func:`decode_header` returned."""
    pdu_type, pos, end = _read(data, header.pdu, header.end)
    fields = 5 if pdu_type == TRAP_V1 else 3
    header_values = []
    for _ in range(fields):
        tag, start, pos = _read(data, pos, end)
        header_values.append(_value(tag, data[start:pos]))
    if pdu_type != TRAP_V1 and any(kind != "Integer" for kind, _ in header_values):
        raise BerError("bad PDU header")
    tag, pos, list_end = _read(data, pos, end)
    if tag != 0x30:
        raise BerError("bad varbind list")
    varbinds: list[Decoded] = []
    while pos < list_end:
        tag, start, pos = _read(data, pos, list_end)
        if tag != 0x30:
            raise BerError("bad varbind")
        tag, oid_start, value_pos = _read(data, start, pos)
        if tag != 0x06:
            raise BerError("bad varbind name")
        oid = decode_oid(data[oid_start:value_pos])
        vtag, vstart, vend = _read(data, value_pos, pos)
        if vtag == _END_OF_MIB:
            varbinds.append((oid, None, True))
        elif vtag in _ABSENT:
            varbinds.append((oid, None, False))
        else:
            varbinds.append((oid, _value(vtag, data[vstart:vend]), False))
    return Message(header.version, header.community, pdu_type, header_values, varbinds)


def decode_message(data: bytes) -> Message:
    """Decode any v1/v2c message; raise BerError on malformed bytes."""
    return decode_pdu(data, decode_header(data))


def decode_response(data: bytes) -> tuple[int, int, int, list[Decoded]]:
    """(request-id, error-status, error-index, [(oid, value or None, end of MIB)])."""
    message = decode_message(data)
    if message.pdu_type not in GET_RESPONSE_TYPES:
        raise BerError(f"unexpected PDU type 0x{message.pdu_type:02x}")
    numbers = [raw for _, raw in message.header if isinstance(raw, int)]
    return numbers[0], numbers[1], numbers[2], message.varbinds


def encode_value(value: Value) -> bytes:
    """BER of a value (for inform acknowledgements, which echo the varbinds)."""
    kind, raw = value
    tag = next(t for t, name in _TYPES.items() if name == kind)
    if isinstance(raw, bytes):
        return _tlv(tag, raw)
    if isinstance(raw, tuple):
        return _tlv(tag, encode_oid(raw))
    signed = tag not in _UNSIGNED
    size = max(1, (raw.bit_length() + (8 if signed else 7)) // 8)
    if not signed and raw >> (size * 8 - 1):
        size += 1  # keep the top bit clear: BER integers are signed on the wire
    return _tlv(tag, raw.to_bytes(size, "big", signed=signed))


def encode_response(version: int, community: bytes, request_id: int,
                    varbinds: Sequence[tuple[tuple[int, ...], Value]]) -> bytes:
    """A Response PDU message, as an inform's acknowledgement."""
    body = b"".join(_tlv(0x30, _tlv(0x06, encode_oid(oid)) + encode_value(value))
                    for oid, value in varbinds)
    pdu = _int(request_id) + _int(0) + _int(0) + _tlv(0x30, body)
    return _tlv(0x30, _int(version) + _tlv(0x04, community) + _tlv(RESPONSE, pdu))


Response = tuple[int, int, int, list[Decoded]]


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.pending: dict[int, asyncio.Future[Response]] = {}
        self.malformed = 0

    def datagram_received(self, data: bytes, addr: object) -> None:
        try:
            response = decode_response(data)
        except BerError:
            # Not an answer we can match: the request gets a good copy or times out.
            self.malformed += 1
            return
        future = self.pending.get(response[0])
        if future is not None and not future.done():
            future.set_result(response)


_request_ids = itertools.count(1)


class NativeSession:
    """One v1/v2c device on its own UDP socket; the same interface as the pysnmp Session."""

    def __init__(self, device: Device, transport: asyncio.DatagramTransport,
                 protocol: _Protocol) -> None:
        self.device = device
        self.pdus = 0
        self._transport = transport
        self._protocol = protocol
        self._version = 0 if device.version == "1" else 1
        # Lowered for good when the agent answers tooBig (its replies would not fit a datagram).
        self.max_repetitions = device.max_repetitions
        self._community = device.community().reveal().encode()

    @classmethod
    async def open(cls, device: Device) -> NativeSession:
        """Open a UDP socket towards the device."""
        assert device.address is not None
        loop = asyncio.get_running_loop()
        transport, protocol = await loop.create_datagram_endpoint(
            _Protocol, remote_addr=(device.address.host, device.address.port))
        return cls(device, transport, protocol)

    async def _request(self, pdu_type: int, oids: Sequence[Sequence[int]], what: str
                       ) -> list[Decoded]:
        request_id = next(_request_ids) & 0x7FFFFFFF
        message = encode_request(self._version, self._community, pdu_type, request_id, oids,
                                 self.max_repetitions)
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Response] = loop.create_future()
        self._protocol.pending[request_id] = future
        self.pdus += 1
        try:
            for _ in range(self.device.retries + 1):
                self._transport.sendto(message)
                # A timer handle instead of asyncio.wait(): no task per request on the hot path.
                expired = loop.create_future()
                timer = loop.call_later(float(self.device.timeout), _settle, expired)
                future.add_done_callback(functools.partial(_settle, expired))
                await expired
                timer.cancel()
                if future.done():
                    break
            else:
                if self._protocol.malformed:
                    self._protocol.malformed = 0
                    raise SnmpError("decode", f"{what}: the agent answered malformed BER")
                raise SnmpError("timeout", f"{what}: no answer in "
                                           f"{self.device.timeout_budget:g}s (check address, "
                                           "community and ACLs)")
        finally:
            self._protocol.pending.pop(request_id, None)
        _, status, index, varbinds = future.result()
        if status:
            raise _StatusError(status, index, what)
        return varbinds

    async def get(self, oids: Sequence[tuple[int, ...]]) -> list[Varbind]:
        """GET the given OIDs (one PDU); absent ones are left out."""
        if not oids:
            return []
        try:
            varbinds = await self._request(GET, oids, "get")
        except _StatusError as exc:
            if exc.status != 2 or self._version != 0:
                raise SnmpError("status", str(exc)) from None
            # SNMPv1 fails the whole GET with noSuchName when one OID is missing.
            if len(oids) == 1:
                return []
            result: list[Varbind] = []
            for oid in oids:
                result += await self.get([oid])
            return result
        return [(oid, value) for oid, value, _ in varbinds if value is not None]

    async def walk(self, root: tuple[int, ...]) -> list[Varbind]:
        """Every varbind under ``root``, by GETBULK (v2c, ``bulk: true``) or GETNEXT."""
        pdu_type = GETBULK if self.device.bulk and self._version == 1 else GETNEXT
        what = f"walk {'.'.join(map(str, root))}"
        result: list[Varbind] = []
        cursor, n = root, len(root)
        while True:
            try:
                varbinds = await self._request(pdu_type, [cursor], what)
            except _StatusError as exc:
                if exc.status == 2 and self._version == 0:
                    return result  # v1's end of the MIB view
                if exc.status == 1 and pdu_type == GETBULK and self.max_repetitions > 1:
                    self.max_repetitions //= 2  # tooBig: ask for fewer rows at a time
                    continue
                raise SnmpError("status", str(exc)) from None
            if not varbinds:
                return result
            for oid, value, end in varbinds:
                if end or oid[:n] != root:
                    return result
                if oid <= cursor:
                    raise SnmpError("decode", f"{what}: agent answered non-increasing OID "
                                              f"{'.'.join(map(str, oid))}")
                cursor = oid
                if value is not None:
                    result.append((oid, value))

    def close(self) -> None:
        """Close the socket (also after the loop has stopped, as the scheduler does)."""
        with contextlib.suppress(RuntimeError):
            self._transport.close()


# A timer callback and a done callback (which passes the finished future, unused).
def _settle(future: asyncio.Future[None], *_: object) -> None:
    if not future.done():
        future.set_result(None)


class _StatusError(Exception):
    def __init__(self, status: int, index: int, what: str) -> None:
        super().__init__(f"{what}: agent answered {_STATUS.get(status, status)} "
                         f"at varbind {index}")
        self.status = status
