"""Fuzz the native SNMP BER decoder: valid messages decode to what was encoded; random bytes and
damaged valid messages give a BerError or a message within the decoder's bounds, never another
exception; whatever decodes can be answered (an inform's acknowledgement echoes it)."""

from __future__ import annotations

import contextlib

import pytest
from hypothesis import given
from hypothesis import strategies as st

from agent.modules.snmp.decode import Value
from agent.modules.snmp.native import (
    GET_RESPONSE_TYPES,
    MAX_OID_ARCS,
    BerError,
    Message,
    decode_message,
    decode_response,
    encode_response,
)
from tests.support.fuzzing import fuzz
from tests.support.mutations import mutated_bytes
from tests.support.snmp_traps import integer, message, oid, tlv

ARC = 2 ** 64
_UNSIGNED = {0x41: "Counter32", 0x42: "Gauge32", 0x43: "TimeTicks", 0x47: "Unsigned32"}

arcs = st.one_of(st.integers(0, 255), st.integers(0, 2 ** 32), st.integers(0, ARC - 1))
_short = st.tuples(st.integers(0, 1), st.integers(0, 39), st.lists(arcs, max_size=10))
_joint = st.tuples(st.just(2), st.integers(0, ARC - 81), st.lists(arcs, max_size=4))
_long = st.tuples(st.integers(0, 1), st.integers(0, 39),  # one draw for ~126 arcs
                  st.binary(min_size=100, max_size=MAX_OID_ARCS - 2).map(list))
# Mostly short OIDs (the common case, and cheap to generate), sometimes the longest allowed.
oids = st.one_of(_short, _short, _short, _joint, _long).map(lambda t: (t[0], t[1], *t[2]))


@st.composite
def values(draw: st.DrawFn) -> tuple[bytes, Value | None, bool]:
    """(encoded value, what the decoder must return for it, end of MIB)."""
    kind = draw(st.sampled_from(("int", "unsigned", "c64", "bytes", "ip", "oid", "null", "end")))
    if kind == "int":
        n = draw(st.integers(-(2 ** 63), 2 ** 63 - 1))
        return integer(n), ("Integer", n), False
    if kind == "unsigned":
        tag = draw(st.sampled_from(sorted(_UNSIGNED)))
        n = draw(st.integers(0, 2 ** 32 - 1))
        return integer(n, tag), (_UNSIGNED[tag], n), False
    if kind == "c64":
        n = draw(st.integers(0, ARC - 1))
        return integer(n, 0x46), ("Counter64", n), False
    if kind == "bytes":
        tag, name = draw(st.sampled_from(((0x04, "OctetString"), (0x44, "Opaque"))))
        raw = draw(st.binary(max_size=100))
        return tlv(tag, raw), (name, raw), False
    if kind == "ip":
        raw = draw(st.binary(min_size=4, max_size=4))
        return tlv(0x40, raw), ("IpAddress", raw), False
    if kind == "oid":
        arcs_ = draw(oids)
        return oid(arcs_), ("ObjectIdentifier", arcs_), False
    tag = draw(st.sampled_from((0x05, 0x80, 0x81))) if kind == "null" else 0x82
    return bytes((tag, 0)), None, kind == "end"


@st.composite
def messages(draw: st.DrawFn) -> tuple[bytes, Message]:
    """A valid v1/v2c message of any PDU the decoder knows, and its decoding."""
    version = draw(st.integers(0, 1))
    community = draw(st.binary(max_size=40))
    pdu_type = draw(st.sampled_from((0xA0, 0xA1, 0xA2, 0xA5, 0xA6, 0xA7, 0xA8)))
    numbers = draw(st.lists(st.integers(-(2 ** 31), 2 ** 31 - 1), min_size=3, max_size=3))
    binds = draw(st.lists(st.tuples(oids, values()), max_size=6))
    body = (b"".join(integer(n) for n in numbers)
            + tlv(0x30, b"".join(tlv(0x30, oid(name) + value) for name, (value, _, _) in binds)))
    expected = Message(version, community, pdu_type, [("Integer", n) for n in numbers],
                       [(name, decoded, end) for name, (_, decoded, end) in binds])
    return message(community, pdu_type, body, version), expected


# Well-formed BER the decoder must refuse: arcs of 2**64 and more (up to 6,000 digits), OIDs of
# more than 128 arcs, integers of more than 64 bits.
hostile_oids = st.one_of(
    st.tuples(st.just((1, 3)), st.lists(arcs, max_size=4),
              st.one_of(st.integers(ARC, 2 ** 80), st.integers(0, 6000).map(lambda n: 10 ** n)
                        .filter(lambda n: n >= ARC))).map(lambda t: (*t[0], *t[1], t[2])),
    st.integers(MAX_OID_ARCS - 1, 400).map(lambda n: (1, 3, *[1] * n)))
hostile_values = st.one_of(
    hostile_oids.map(oid),
    st.tuples(st.sampled_from((0x02, 0x41, 0x42, 0x43, 0x46, 0x47)),
              st.binary(min_size=10, max_size=40)).map(lambda t: tlv(*t)),
    st.integers(ARC, 2 ** 72 - 1).map(lambda n: tlv(0x46, n.to_bytes(9, "big"))))


@st.composite
def hostile_messages(draw: st.DrawFn) -> bytes:
    """A valid message with one hostile part: a varbind's name or value, or a header field."""
    numbers = [integer(n) for n in draw(st.lists(st.integers(0, 2 ** 31 - 1), min_size=3,
                                                  max_size=3))]
    binds = [tlv(0x30, oid(name) + value) for name, (value, _, _) in
             draw(st.lists(st.tuples(oids, values()), max_size=3))]
    where = draw(st.sampled_from(("name", "value", "header")))
    if where == "name":
        bad = tlv(0x30, oid(draw(hostile_oids)) + b"\x05\x00")
    elif where == "value":
        bad = tlv(0x30, oid((1, 3, 6, 1)) + draw(hostile_values))
    else:
        numbers[draw(st.integers(0, 2))] = tlv(0x02, draw(st.binary(min_size=10, max_size=40)))
        bad = b""
    binds.insert(draw(st.integers(0, len(binds))), bad)
    return message(b"public", draw(st.sampled_from((0xA2, 0xA7, 0xA6))),
                   b"".join(numbers) + tlv(0x30, b"".join(binds)), draw(st.integers(0, 1)))


def check_bounds(decoded: Message) -> None:
    """A decoded message stays within the bounds the decoder promises, and can be answered."""
    values = [*decoded.header, *(v for _, v, _ in decoded.varbinds if v is not None)]
    names = [name for name, _, _ in decoded.varbinds]
    names += [raw for _, raw in values if isinstance(raw, tuple)]
    for name in names:
        assert 2 <= len(name) <= MAX_OID_ARCS
        assert all(0 <= arc < ARC for arc in name)
    for _, raw in values:
        if isinstance(raw, int):
            assert -(2 ** 63) <= raw < ARC
    echoed = [(o, v) for o, v, _ in decoded.varbinds if v is not None]
    reply = encode_response(decoded.version, decoded.community, 1, echoed)
    assert decode_message(reply).varbinds == [(o, v, False) for o, v in echoed]


@fuzz
@given(messages())
def test_valid_messages_decode_to_what_was_encoded(case: tuple[bytes, Message]) -> None:
    data, expected = case
    assert decode_message(data) == expected
    check_bounds(expected)


@fuzz
@given(st.one_of(st.binary(max_size=2000),
                 st.binary(max_size=600).map(lambda b: b"\x30\x82" + b),
                 st.binary(max_size=600).map(lambda b: b"\x30\x81\xf0\x02\x01\x01\x04" + b)))
def test_random_bytes_give_only_ber_errors(data: bytes) -> None:
    with contextlib.suppress(BerError):
        check_bounds(decode_message(data))
    with contextlib.suppress(BerError):
        request_id, status, index, _ = decode_response(data)
        assert all(isinstance(n, int) for n in (request_id, status, index))


@fuzz
@given(mutated_bytes(messages().map(lambda case: case[0])))
def test_damaged_messages_give_only_ber_errors(data: bytes) -> None:
    try:
        decoded = decode_message(data)
    except BerError:
        return
    check_bounds(decoded)
    if decoded.pdu_type in GET_RESPONSE_TYPES:
        assert decode_response(data)[3] == decoded.varbinds


@fuzz
@given(hostile_messages())
def test_hostile_parts_are_ber_errors(data: bytes) -> None:
    # Well-formed BER, but out of the decoder's bounds: refused, neither decoded nor crashed.
    with pytest.raises(BerError):
        decode_message(data)
