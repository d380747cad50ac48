"""The trap listener's admission: each hostile datagram is dropped and counted under its reason,
cheapest check first; the decoder's bounds on OIDs and integers; the kernel's own drops."""

from __future__ import annotations

import asyncio
import logging
import os
import socket

import pytest

from agent.modules.snmp.config import TrapConfig
from agent.modules.snmp.native import (
    MAX_OID_ARCS,
    BerError,
    VersionError,
    decode_header,
    decode_message,
    decode_oid,
)
from agent.modules.snmp.traps import DROP_REASONS, MAX_TRAP_BYTES, TrapListener
from agent.udp_drops import socket_drops
from common.schema import HostPort
from tests.support.peers import LOOPBACK, free_udp_port
from tests.support.snmp_traps import (
    INFORM,
    huge_arc_trap,
    integer,
    message,
    oid_content,
    padded,
    tlv,
    trap_v1,
    trap_v2,
    v3_message,
    varbind,
)

SECRET = b"trap-secret"


@pytest.fixture
def listener(monkeypatch: pytest.MonkeyPatch) -> TrapListener:
    monkeypatch.setenv("TRAP_COMMUNITY", SECRET.decode())
    config = TrapConfig(HostPort.parse(f"{LOOPBACK}:0"), community_envs=("TRAP_COMMUNITY",))
    return TrapListener(config, {"10.0.0.7": "core-switch"})


def test_good_traps_are_counted(listener: TrapListener) -> None:
    biggest = varbind((1, 3, 6), tlv(0x46, (2 ** 64 - 1).to_bytes(9, "big")))
    assert listener.receive(trap_v2(SECRET, extra=[biggest]), "10.0.0.7") is None
    assert listener.receive(trap_v1(SECRET, (1, 3, 6, 1, 4, 1, 2684, 1, 1), 6, 2),
                            "10.0.0.8") is None
    ack = listener.receive(trap_v2(SECRET, pdu_type=INFORM, request_id=77), "10.0.0.7")
    assert ack is not None and decode_message(ack).header[0] == ("Integer", 77)
    assert listener.counts == {("core-switch", "linkDown"): 2,
                               ("10.0.0.8", "polycomLoginFail"): 1}
    assert not listener.dropped


@pytest.mark.parametrize(("data", "reason"), [
    (padded(SECRET, MAX_TRAP_BYTES + 1), "too_big"),
    (padded(b"wrong", 65000), "too_big"),
    (v3_message(), "bad_version"),
    (message(SECRET, 0xA7, b"", version=2), "bad_version"),
    (tlv(0x30, tlv(0x04, b"public")), "malformed"),  # a SEQUENCE, but no version
    (b"GET / HTTP/1.1\r\n\r\n", "malformed"),
    (b"", "malformed"),
    (trap_v2(SECRET)[:-3], "malformed"),
    (tlv(0x30, integer(1) + integer(5)), "malformed"),  # no community
    (trap_v2(b"wrong"), "bad_community"),
    (trap_v2(SECRET[:-1]), "bad_community"),
    (padded(b"wrong", MAX_TRAP_BYTES), "bad_community"),
    # A wrong community is refused before the PDU, even a malformed one, is looked at.
    (huge_arc_trap(b"wrong", 6000), "bad_community"),
    (huge_arc_trap(SECRET, 6000), "malformed"),
    (huge_arc_trap(SECRET, 21), "malformed"),  # 10**20 > 2**64
    (trap_v2(SECRET, trap=(1, 3, *[1] * (MAX_OID_ARCS - 1))), "malformed"),
    (trap_v2(SECRET, extra=[tlv(0x30, tlv(0x06, oid_content((1, 3))) + integer(2 ** 80))]),
     "malformed"),
    # A Counter64 of 2**64: 9 bytes, but more than a sign byte before 64 bits.
    (trap_v2(SECRET, extra=[varbind((1, 3, 6), tlv(0x46, (2 ** 64).to_bytes(9, "big")))]),
     "malformed"),
    (trap_v2(SECRET, pdu_type=0xA0), "bad_pdu"),  # a GET sent to the trap port
    (message(SECRET, 0xA7, integer(1) + integer(0) + integer(0) + tlv(0x30, b"")),
     "malformed"),  # no snmpTrapOID
])
def test_each_bad_datagram_is_counted_once(listener: TrapListener, data: bytes,
                                           reason: str) -> None:
    assert reason in DROP_REASONS
    assert listener.receive(data, "192.0.2.1") is None
    assert listener.dropped == {reason: 1}
    assert not listener.counts


def test_series_beyond_the_cap_are_counted_as_cardinality(
        listener: TrapListener, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("agent.modules.snmp.traps.MAX_SERIES", 2)
    for n in range(4):
        listener.receive(trap_v2(SECRET, trap=(1, 3, 6, 1, 4, 1, 9, n)), "192.0.2.1")
    assert len(listener.counts) == 2 and listener.dropped == {"cardinality": 2}


def test_oid_bounds() -> None:
    assert decode_oid(oid_content((1, 3, 2 ** 64 - 1))) == (1, 3, 2 ** 64 - 1)
    longest = (1, 3, *range(MAX_OID_ARCS - 2))
    assert decode_oid(oid_content(longest)) == longest
    for bad in ((1, 3, 2 ** 64), (*longest, 1), (1, 3, 10 ** 5999)):
        with pytest.raises(BerError):
            decode_oid(oid_content(bad))
    with pytest.raises(BerError):
        decode_oid(b"\x2b\x86")  # the last arc is cut


def test_an_over_long_oid_is_refused_before_it_is_read() -> None:
    # 128 arcs below 2**64 fit in 1,408 bytes: a longer OID is refused by its length alone, so
    # the work on any OID is bounded (the speed itself is measured in tests/bench).
    with pytest.raises(BerError, match="bad OID"):
        decode_oid(b"\x2b" + b"\x81" * 65000 + b"\x01")


def test_version_is_read_before_the_community() -> None:
    with pytest.raises(VersionError) as caught:
        decode_header(v3_message())
    assert caught.value.version == 3
    header = decode_header(trap_v2(SECRET))
    assert (header.version, header.community) == (1, SECRET)
    with pytest.raises(BerError):
        decode_header(tlv(0x30, tlv(0x02, b"\x01" * 10)))  # a version of 80 bits


def test_kernel_drops_of_a_full_socket_are_read() -> None:
    receiver = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        receiver.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        receiver.bind((LOOPBACK, 0))
        inode = os.fstat(receiver.fileno()).st_ino
        assert socket_drops(inode) == 0
        for _ in range(50):  # never read: the queue fills, the kernel drops the rest
            sender.sendto(b"x" * 8000, receiver.getsockname())
        drops = socket_drops(inode)
        assert drops is not None and 40 <= drops <= 50
    finally:
        receiver.close()
        sender.close()
    assert socket_drops(inode) is None


def test_every_reason_is_exposed_from_the_start(listener: TrapListener) -> None:
    assert listener.drops() == dict.fromkeys(DROP_REASONS, 0)
    listener.receive(trap_v2(b"wrong"), "192.0.2.1")
    assert listener.drops()["bad_community"] == 1


def test_a_handler_error_is_counted_and_logged_once(monkeypatch: pytest.MonkeyPatch,
                                                    caplog: pytest.LogCaptureFixture) -> None:
    port = free_udp_port()
    listener = TrapListener(TrapConfig(HostPort.parse(f"{LOOPBACK}:{port}")), {})

    def broken(data: bytes, sender: str) -> bytes | None:
        raise RuntimeError("bug")

    monkeypatch.setattr(listener, "receive", broken)

    async def run() -> None:
        await listener.start()
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
                for _ in range(3):
                    sender.sendto(trap_v2(b"public"), (LOOPBACK, port))
            for _ in range(100):
                if listener.dropped["internal"] >= 3:
                    break
                await asyncio.sleep(0.01)
        finally:
            listener.close()

    with caplog.at_level(logging.ERROR):
        asyncio.run(run())
    assert listener.dropped == {"internal": 3}
    assert len(caplog.records) == 1 and LOOPBACK in caplog.records[0].getMessage()
