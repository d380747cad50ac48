"""The address memo behind the LAN side, the app rules and the allowed exporters."""

from __future__ import annotations

import ipaddress

from agent.modules.flows.networks import AddressMemo, address_of, member_of

LAN = ipaddress.ip_network("192.168.1.0/24")
V6 = ipaddress.ip_network("fd00::/64")


def test_packed_and_written_addresses_are_members_of_their_own_version() -> None:
    lan = member_of([LAN, V6], 16)
    assert lan(ipaddress.ip_address("192.168.1.7").packed)
    assert lan("192.168.1.7") and lan("::ffff:192.168.1.7") and lan("fd00::5")
    assert not lan(ipaddress.ip_address("192.168.2.7").packed)
    assert not lan(ipaddress.ip_address("::ffff:c0a8:0107").packed)  # packed v6, not v4
    assert not lan(b"\x01\x02\x03") and not lan("not an address")
    assert address_of(b"\x01\x02\x03") is None


def test_the_memory_is_emptied_when_full() -> None:
    asked: list[object] = []

    def judge(ip: object) -> str:
        asked.append(ip)
        return str(ip)

    memo = AddressMemo(judge, 2)
    assert memo("10.0.0.1") == memo("10.0.0.1") == "10.0.0.1"
    assert len(asked) == 1
    memo("10.0.0.2")
    memo("10.0.0.3")  # the third address: the two known ones are forgotten
    assert list(memo.known) == ["10.0.0.3"]
    memo("10.0.0.1")
    assert len(asked) == 4
