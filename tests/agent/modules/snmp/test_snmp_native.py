"""The native v1/v2c codec: its requests decode with pysnmp's own decoder, pysnmp's responses
decode with ours, and arbitrary bytes give a BerError, never a crash or a value."""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pyasn1.codec.ber import decoder, encoder
from pysnmp.proto import api

from agent.modules.snmp.native import (
    GETBULK,
    BerError,
    decode_oid,
    decode_response,
    encode_oid,
    encode_request,
)
from tests.support.snmp_collect import collect, samples, snmp_config

oids = st.tuples(st.integers(0, 2), st.integers(0, 39),
                 st.lists(st.integers(0, 2**32), max_size=12)).map(lambda t: (t[0], t[1], *t[2]))


@given(oids)
def test_oid_round_trip(oid: tuple[int, ...]) -> None:
    assert decode_oid(encode_oid(oid)) == oid


def test_request_is_what_pysnmp_reads() -> None:
    data = encode_request(1, b"public", GETBULK, 4242, [(1, 3, 6, 1, 2, 1, 2)], 25)
    message, rest = decoder.decode(data, asn1Spec=api.PROTOCOL_MODULES[api.SNMP_VERSION_2C]
                                   .Message())
    assert rest == b""
    pdu = api.v2c.apiMessage.get_pdu(message)
    assert str(message["community"]) == "public"
    assert int(api.v2c.apiBulkPDU.get_request_id(pdu)) == 4242
    assert int(api.v2c.apiBulkPDU.get_max_repetitions(pdu)) == 25
    assert [tuple(oid) for oid, _ in api.v2c.apiBulkPDU.get_varbinds(pdu)] == \
        [(1, 3, 6, 1, 2, 1, 2)]


def test_response_from_pysnmp_encoder() -> None:
    v2c = api.v2c
    pdu = v2c.GetResponsePDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, 7)
    v2c.apiPDU.set_varbinds(pdu, [
        ((1, 3, 6, 1, 2, 1, 31, 1, 1, 1, 6, 1), v2c.Counter64(2**64 - 1)),
        ((1, 3, 6, 1, 2, 1, 2, 2, 1, 10, 1), v2c.Counter32(2**32 - 1)),
        ((1, 3, 6, 1, 2, 1, 1, 1, 0), v2c.OctetString(b"Linux \xff")),
        ((1, 3, 6, 1, 2, 1, 1, 2, 0), v2c.ObjectIdentifier((1, 3, 6, 1, 4, 1, 8072))),
        ((1, 3, 6, 1, 2, 1, 1, 3, 0), v2c.TimeTicks(123)),
        ((1, 3, 6, 1, 2, 1, 4, 20, 1, 1, 10, 0, 0, 1), v2c.IpAddress("10.0.0.1")),
        ((1, 3, 6, 1, 2, 1, 99, 0), v2c.Integer(-5)),
        ((1, 3, 6, 1, 2, 1, 98, 0), v2c.NoSuchObject("")),
        ((1, 3, 6, 1, 2, 1, 97, 0), v2c.EndOfMibView("")),
    ])
    message = v2c.Message()
    v2c.apiMessage.set_defaults(message)
    v2c.apiMessage.set_community(message, "public")
    v2c.apiMessage.set_pdu(message, pdu)
    request_id, status, index, varbinds = decode_response(encoder.encode(message))
    assert (request_id, status, index) == (7, 0, 0)
    assert [value for _, value, _ in varbinds] == [
        ("Counter64", 2**64 - 1), ("Counter32", 2**32 - 1), ("OctetString", b"Linux \xff"),
        ("ObjectIdentifier", (1, 3, 6, 1, 4, 1, 8072)), ("TimeTicks", 123),
        ("IpAddress", bytes([10, 0, 0, 1])), ("Integer", -5), None, None]
    assert [end for _, _, end in varbinds] == [False] * 8 + [True]


@given(st.binary(max_size=200))
def test_garbage_never_crashes(data: bytes) -> None:
    # BerError is the only error allowed: anything else would escape as a crash.
    with contextlib.suppress(BerError):
        decode_response(data)


def test_too_big_lowers_max_repetitions(tmp_path: Path) -> None:
    asked: list[int] = []

    def reply(request: object) -> bytes:
        pdu = api.v2c.apiMessage.get_pdu(request)
        repetitions = int(api.v2c.apiBulkPDU.get_max_repetitions(pdu))
        request_id = int(api.v2c.apiPDU.get_request_id(pdu))
        asked.append(repetitions)
        if repetitions > 6:
            return response(request_id, [], status=1)  # tooBig
        return response(request_id, [((1, 3, 6, 1, 2, 1, 2, 1, 0), api.v2c.Integer(3)),
                                     ((1, 3, 6, 1, 2, 1, 3, 1, 0), api.v2c.Integer(0))])

    agent = FakeAgent(reply)
    try:
        config = snmp_config(tmp_path, f"""
            - {{name: small, address: "{agent.address}", timeout: 2s, max_repetitions: 25,
               modules: [if_mib], backend: native}}
        """)
        registry = collect(config, times=2)
    finally:
        agent.close()
    assert registry.get_sample_value("ifNumber", {"device": "small"}) == 3.0
    # 25 -> 12 -> 6, then the second collection starts at 6 (0: the GET of sysUpTime).
    bulk = [r for r in asked if r]
    assert bulk[:3] == [25, 12, 6] and set(bulk[3:]) == {6}


class FakeAgent:
    """A UDP 'agent' on loopback answering every request with what ``reply`` makes of its id."""

    def __init__(self, reply: Callable[[Any], bytes]) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = f"127.0.0.1:{self.sock.getsockname()[1]}"
        self.running = True
        self.thread = threading.Thread(target=self._serve, args=(reply,), daemon=True)
        self.thread.start()

    def _serve(self, reply: Callable[[Any], bytes]) -> None:
        spec = api.PROTOCOL_MODULES[api.SNMP_VERSION_2C].Message()
        while self.running:
            try:
                data, peer = self.sock.recvfrom(65535)
            except (TimeoutError, OSError):
                continue
            message, _ = decoder.decode(data, asn1Spec=spec)
            self.sock.sendto(reply(message), peer)

    def close(self) -> None:
        self.running = False
        self.thread.join()
        self.sock.close()


def request_id_of(message: Any) -> int:
    return int(api.v2c.apiPDU.get_request_id(api.v2c.apiMessage.get_pdu(message)))


def response(request_id: int, varbinds: list, status: int = 0) -> bytes:
    v2c = api.v2c
    pdu = v2c.GetResponsePDU()
    v2c.apiPDU.set_defaults(pdu)
    v2c.apiPDU.set_request_id(pdu, request_id)
    v2c.apiPDU.set_error_status(pdu, status)
    v2c.apiPDU.set_varbinds(pdu, varbinds)
    message = v2c.Message()
    v2c.apiMessage.set_defaults(message)
    v2c.apiMessage.set_community(message, "public")
    v2c.apiMessage.set_pdu(message, pdu)
    return bytes(encoder.encode(message))


@pytest.mark.parametrize(("reply", "reason"), [
    (lambda message: b"\x30\x03\x02\x01", "decode"),  # truncated BER
    # An agent looping on the same OID: stopped, not walked forever.
    (lambda message: response(request_id_of(message), [
        ((1, 3, 6, 1, 2, 1, 2, 1, 0), api.v2c.Integer(1)),
        ((1, 3, 6, 1, 2, 1, 2, 1, 0), api.v2c.Integer(1))]), "decode"),
])
def test_misbehaving_agents(tmp_path: Path, reply: Callable[[Any], bytes], reason: str) -> None:
    agent = FakeAgent(reply)
    try:
        config = snmp_config(tmp_path, f"""
            - {{name: odd, address: "{agent.address}", timeout: 500ms, retries: 0,
               modules: [if_mib], backend: native}}
        """)
        registry = collect(config)
    finally:
        agent.close()
    assert registry.get_sample_value("commune_snmp_up", {"device": "odd"}) == 0.0
    assert registry.get_sample_value("commune_snmp_failure_reason",
                                     {"device": "odd", "reason": reason}) == 1.0
    assert samples(registry, "ifNumber") == []
