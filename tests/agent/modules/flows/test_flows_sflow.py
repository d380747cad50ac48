"""The sFlow v5 decoder against a datagram assembled by hand from sflow_version_5.txt, field by
field, with its decode worked out from the spec (Debian ships no sflowtool to compare with)."""

from __future__ import annotations

import ipaddress

import pytest

from agent.modules.flows.records import DecodeError, Record
from agent.modules.flows.sflow import decode_sflow
from tests.support.flow_packets import Flow, sflow_v5

DATAGRAM = bytes.fromhex("".join(line.split("#")[0] for line in """
00000005  # version 5
00000001  # agent address type: IPv4
c0000201  # agent 192.0.2.1
00000000 0000002a 00001388  # sub-agent 0, sequence 42, uptime 5000 ms
00000003  # 3 samples
00000002 00000010  # sample 1: counter sample (0:2), 16 bytes: skipped by its length
00000001 00000002 00000000 00000000
00000001 00000064  # sample 2: flow sample (0:1), 100 bytes
00000007 00000003 00000190 00000c80 00000000 00000001 00000002  # seq 7, rate 400, ...
00000001  # 1 flow record
00000001 0000003c  # record: raw packet header (0:1), 60 bytes
00000001 000005dc 00000004 0000002a  # Ethernet, frame 1500 bytes, 4 stripped, 42 of header
020000000001 020000000002 8100 0064 0800  # dst MAC, src MAC, 802.1Q VLAN 100, IPv4
45 00 05ce 0000 4000 40 06 0000 c0a8010a cb007105  # IPv4 TCP 192.168.1.10 > 203.0.113.5
d431 01bb  # ports 54321 > 443
0000       # padding to 4 bytes
00000003 00000060  # sample 3: expanded flow sample (0:3), 96 bytes
00000008 00000000 00000003 00000064 00000c80 00000000  # seq 8, source 0:3, rate 100
00000000 00000001 00000000 00000002  # input 0:1, output 0:2
00000002  # 2 flow records
000003e9 00000004 deadbeef  # record: an enterprise record (0:1001), skipped
00000003 00000020  # record: sampled IPv4 (0:3), 32 bytes
00000044 00000011 c0a8010b c6336401 0000e4d2 00000035 00000000 00000000  # 68 bytes UDP
""".splitlines()).replace(" ", ""))


def _ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def test_the_hand_built_datagram_decodes_as_the_spec_says() -> None:
    decoded = decode_sflow(DATAGRAM)
    assert decoded.protocol == "sflow5"
    assert decoded.records == [
        # 1500-byte frame sampled 1 in 400: 400 packets, 600,000 bytes.
        Record(_ip("192.168.1.10"), _ip("203.0.113.5"), 54321, 443, 6, 1500 * 400, 400),
        # The expanded sample's sampled IPv4 record: 68 bytes sampled 1 in 100.
        Record(_ip("192.168.1.11"), _ip("198.51.100.1"), 58578, 53, 17, 68 * 100, 100),
    ]


@pytest.mark.parametrize("cut", [3, 11, 30, 60, 100, len(DATAGRAM) - 1])
def test_a_truncated_datagram_is_malformed(cut: int) -> None:
    with pytest.raises(DecodeError):
        decode_sflow(DATAGRAM[:cut])


def test_a_sample_claiming_more_bytes_than_the_datagram_is_malformed() -> None:
    bad = bytearray(DATAGRAM)
    bad[32:36] = (10_000).to_bytes(4, "big")  # the counter sample's length
    with pytest.raises(DecodeError):
        decode_sflow(bytes(bad))


def test_the_test_encoder_agrees_with_the_decoder() -> None:
    flows = [Flow("192.168.1.20", "203.0.113.9", 1000, 1, 40000, 443),
             Flow("203.0.113.9", "192.168.1.20", 200, 1, 53, 40001, 17)]
    for raw in (True, False):
        records = decode_sflow(sflow_v5(flows, sampling_rate=10, raw_header=raw)).records
        assert [(r.sport, r.dport, r.proto, r.octets, r.packets) for r in records] == \
            [(40000, 443, 6, 10_000, 10), (53, 40001, 17, 2000, 10)]


def test_non_ip_frames_are_not_records() -> None:
    arp = bytearray(DATAGRAM)
    offset = DATAGRAM.index(bytes.fromhex("81000064 0800".replace(" ", "")))
    arp[offset:offset + 2] = b"\x08\x06"  # the VLAN tag's type becomes ARP
    assert len(decode_sflow(bytes(arp)).records) == 1
