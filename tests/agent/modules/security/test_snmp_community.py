"""Weak SNMP credentials: a real snmpd answering 'public' is flagged; 'private' is not."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.modules.security.config import SnmpCommunityConfig
from agent.modules.security.snmp_community import SnmpCommunityCheck, accepted, get_request
from common.schema import HostPort
from common.units import Duration
from tests.support.peers import free_udp_port
from tests.support.samples import value
from tests.support.snmp_peers import Snmpd

METRIC = "commune_snmp_default_community"


@pytest.mark.peer
def test_real_snmpd_answering_public(tmp_path: Path) -> None:
    with Snmpd(tmp_path, community="public") as snmpd:
        address = f"127.0.0.1:{snmpd.port}"
        check = SnmpCommunityCheck(SnmpCommunityConfig(address=HostPort(address),
                                                       timeout=Duration(1)))
        families = check.collect()
    assert value(families, METRIC, address=address, community="public") == 1
    assert value(families, METRIC, address=address, community="private") == 0


@pytest.mark.peer
def test_real_snmpd_with_its_own_community(tmp_path: Path) -> None:
    with Snmpd(tmp_path, community="Xa-9-commune-secret") as snmpd:
        address = f"127.0.0.1:{snmpd.port}"
        families = SnmpCommunityCheck(SnmpCommunityConfig(address=HostPort(address),
                                                          timeout=Duration(0.5))).collect()
    assert value(families, METRIC, address=address, community="public") == 0
    assert value(families, METRIC, address=address, community="private") == 0


def test_nothing_listening() -> None:
    address = f"127.0.0.1:{free_udp_port()}"
    families = SnmpCommunityCheck(SnmpCommunityConfig(address=HostPort(address),
                                                      communities=("public",))).collect()
    assert value(families, METRIC, address=address, community="public") == 0


def test_reply_must_match_request() -> None:
    request = get_request("public", 4242)
    assert not accepted(request, "public", 4242)  # a GetRequest is not a GetResponse
    response = bytearray(request)
    response[response.index(0xA0)] = 0xA2
    assert accepted(bytes(response), "public", 4242)
    assert not accepted(bytes(response), "public", 4243)
    assert not accepted(bytes(response), "private", 4242)
    assert not accepted(bytes(response[:-3]), "public", 4242)
