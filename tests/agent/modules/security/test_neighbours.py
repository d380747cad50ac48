"""New LAN devices: neighbour table fixtures per format, first-seen kept across restarts,
bounded series, vendor from the offline OUI table."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.modules.security.config import NeighboursConfig
from agent.modules.security.neighbours import (
    Neighbour,
    NeighboursCheck,
    parse_ip_neigh_json,
    parse_proc_arp,
    read_table,
    vendor_of,
)
from tests.support import paths
from tests.support.samples import samples, value

FIXTURES = paths.FIXTURES / "security"
FIRST_SEEN = "commune_lan_device_first_seen_timestamp_seconds"
GATEWAY, PC1, PC2, PHONE, VM = ("00:1b:21:0a:0b:0c", "3c:52:82:11:22:33", "3c:52:82:11:22:34",
                                "da:a1:19:00:00:01", "00:0c:29:ab:cd:ef")


def test_proc_net_arp_fixture() -> None:
    table = parse_proc_arp((FIXTURES / "proc_net_arp").read_text())
    assert [n.mac for n in table] == [GATEWAY, PC1, PC2, PHONE]  # incomplete entry left out
    assert table[3] == Neighbour("10.38.1.77", PHONE, "wlan0")


def test_ip_neigh_json_fixture() -> None:
    table = parse_ip_neigh_json((FIXTURES / "ip_neigh.json").read_text())
    assert [n.mac for n in table] == [GATEWAY, PC1, PC1, PC2, PHONE, VM]  # FAILED/INCOMPLETE out
    assert table[2].ip == "fe80::3e52:82ff:fe11:2233"


def test_vendor_from_offline_oui_table() -> None:
    assert vendor_of(GATEWAY) == "Intel Corporate"
    assert vendor_of(VM) == "VMware, Inc."
    assert vendor_of(PHONE) == ""  # locally administered (randomised) address


def test_unknown_devices_and_first_seen_survive_restart(tmp_path: Path) -> None:
    table = parse_ip_neigh_json((FIXTURES / "ip_neigh.json").read_text())
    now = [1_000.0]
    config = NeighboursConfig(known=(GATEWAY.upper().replace(":", "-"), PC1))
    check = NeighboursCheck(config, str(tmp_path), table=lambda: table, clock=lambda: now[0])
    families = check.collect()
    assert value(families, "commune_lan_unknown_devices") == 3  # PC2, PHONE, VM
    assert value(families, "commune_lan_devices") == 5
    assert value(families, FIRST_SEEN, mac=VM, vendor="VMware, Inc.") == 1_000
    assert value(families, FIRST_SEEN, mac=PHONE, vendor="") == 1_000

    now[0] = 2_000.0
    newcomer = Neighbour("10.38.1.99", "00:1b:21:99:99:99", "eth0")
    restarted = NeighboursCheck(config, str(tmp_path), table=lambda: [*table, newcomer],
                                clock=lambda: now[0])
    families = restarted.collect()
    assert value(families, "commune_lan_unknown_devices") == 4
    assert value(families, FIRST_SEEN, mac=VM, vendor="VMware, Inc.") == 1_000
    assert value(families, FIRST_SEEN, mac=newcomer.mac, vendor="Intel Corporate") == 2_000


def test_series_and_memory_bounded(tmp_path: Path) -> None:
    macs = [f"02:00:00:{i >> 16 & 255:02x}:{i >> 8 & 255:02x}:{i & 255:02x}"
            for i in range(5_000)]
    current: list[Neighbour] = []
    clock = [0.0]
    check = NeighboursCheck(NeighboursConfig(max_series=20, max_tracked=500), None,
                            table=lambda: current, clock=lambda: clock[0])
    for start in range(0, 5_000, 100):  # devices come and go, 100 at a time
        clock[0] += 1
        current[:] = [Neighbour("10.0.0.1", mac, "eth0") for mac in macs[start:start + 100]]
        families = check.collect()
    assert len(samples(families, FIRST_SEEN)) == 20
    assert len(check.first_seen) <= 500
    assert value(families, "commune_lan_unknown_devices") == 100


def test_bad_known_mac_is_a_config_error() -> None:
    from common.schema import Invalid
    with pytest.raises(Invalid) as info:
        NeighboursConfig(known=("00:11:22:33:44",))
    assert info.value.key == "known"
    assert str(info.value).startswith("known[0]: expected a MAC address")


def test_this_hosts_table_reads() -> None:
    table = read_table("auto")
    proc = read_table("proc")
    assert all(len(n.mac) == 17 and n.mac != "00:00:00:00:00:00" for n in table + proc)


def test_mac_forms() -> None:
    from agent.modules.security.config import normalise_mac
    assert normalise_mac("00-1B-21-0A-0B-0C") == GATEWAY
    assert normalise_mac("001b.210a.0b0c") == GATEWAY
    assert normalise_mac("001B210A0B0C") == GATEWAY
    for bad in ("x0:1b:21:0a:0b:0c", "00:1b:21:0a:0b", "00:1b:21:0a:0b:0c:0d", ""):
        with pytest.raises(ValueError):
            normalise_mac(bad)
