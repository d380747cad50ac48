"""The flows module end to end on loopback (datagrams sent to its socket), its accounting of
top-N hosts and "other", the app table, host names, config errors and the cardinality bound."""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from pathlib import Path

import pytest
from prometheus_client.core import Metric

from agent.modules.flows.accounting import OTHER, Accounting
from agent.modules.flows.apps import AppTable
from agent.modules.flows.config import AppRule, FlowsConfig, Network, Ports
from agent.modules.flows.module import FlowsModule
from agent.modules.flows.names import HostNames, read_names_file
from agent.modules.flows.records import Record
from common.schema import ConfigError, HostPort, load_yaml
from tests.support.agent_process import Agent
from tests.support.flow_packets import Flow, ipfix, netflow_v5, netflow_v9, sflow_v5
from tests.support.peers import free_udp_port, http_get, wait_for
from tests.support.samples import registry_of


def _ip(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def _accounting(top_n: int = 2, tracked: int = 8, max_series: int = 4) -> Accounting:
    return Accounting([ipaddress.ip_network("192.168.1.0/24")], AppTable(), top_n, tracked,
                      max_series)


def _rec(src: str, dst: str, octets: int, sport: int = 40000, dport: int = 443,
         proto: int = 6) -> Record:
    return Record(_ip(src), _ip(dst), sport, dport, proto, octets, 1)


def test_top_n_hosts_get_series_the_rest_is_other_and_app_totals_are_whole() -> None:
    acc = _accounting()
    acc.add([_rec("192.168.1.10", "203.0.113.5", 9000),
             _rec("192.168.1.11", "203.0.113.5", 5000),
             _rec("192.168.1.12", "203.0.113.5", 100),
             _rec("198.51.100.7", "192.168.1.12", 300, 53, 50000, 17),  # download, dns
             _rec("198.51.100.7", "203.0.113.5", 999)])  # no LAN side
    acc.close_interval()
    assert acc.series == {
        ("upload", _ip("192.168.1.10"), "https"): [9000, 1],
        ("upload", _ip("192.168.1.11"), "https"): [5000, 1],
        ("upload", OTHER, "https"): [100, 1],
        ("download", OTHER, "dns"): [300, 1],
    }
    assert acc.ignored == 1
    # Next interval .12 is the top talker: it gets its own series; counters only grow.
    acc.add([_rec("192.168.1.12", "203.0.113.5", 50_000), _rec("192.168.1.10", "203.0.113.5", 1)])
    acc.close_interval()
    assert acc.series[("upload", _ip("192.168.1.12"), "https")] == [50_000, 1]
    assert acc.series[("upload", _ip("192.168.1.10"), "https")] == [9001, 2]
    assert acc.series[("upload", OTHER, "https")] == [100, 1]


def test_series_of_hosts_longest_out_of_the_top_are_dropped_first() -> None:
    acc = _accounting(top_n=1, max_series=2)
    for i in range(4):
        acc.add([_rec(f"192.168.1.{i + 1}", "203.0.113.5", 1000)])
        acc.close_interval()
    hosts = {key[1] for key in acc.series}
    assert hosts == {_ip("192.168.1.3"), _ip("192.168.1.4")}


def test_100k_distinct_hosts_in_an_hour_stay_within_the_bound() -> None:
    acc = Accounting([ipaddress.ip_network("10.0.0.0/8")], AppTable(), 20, 200, 100)
    big = _ip("10.255.0.1")
    largest = 0
    for interval in range(120):  # an hour of 30 s collections
        batch = [Record((10 << 24 | interval * 1000 + i).to_bytes(4, "big"), _ip("203.0.113.5"),
                        40000, 443, 6, 1500, 1) for i in range(834)]
        batch.append(Record(big, _ip("203.0.113.5"), 40000, 443, 6, 10**6, 700))
        acc.add(batch)
        largest = max(largest, len(acc.heavy.entries))
        acc.close_interval()
    assert largest <= 2 * 200
    assert len({key[1] for key in acc.series}) <= 100 + 1  # the hosts, and "other"
    assert acc.series[("upload", big, "https")] == [120 * 10**6, 120 * 700]
    assert acc.evicted > 0  # the table did drop hosts to stay bounded
    total = sum(octets for octets, _ in acc.series.values())
    assert total <= 120 * (834 * 1500 + 10**6)


def test_app_table_order_portal_rules_then_ports() -> None:
    apps = AppTable([AppRule("camera", (Ports.parse("tcp/554"),)),
                     AppRule("wsus", (Ports.parse("443"),), (Network.parse("192.0.2.5"),))],
                    [Network.parse("203.0.113.10")])
    assert apps.app(_ip("203.0.113.10"), 6, 443, 50000) == "tthc-portal"
    assert apps.app(_ip("192.0.2.5"), 6, 443, 50000) == "wsus"
    assert apps.app(_ip("192.0.2.5"), 6, 80, 50000) == "http"
    assert apps.app(_ip("198.51.100.1"), 6, 554, 50000) == "camera"
    assert apps.app(_ip("198.51.100.1"), 17, 443, 50000) == "https"  # QUIC
    assert apps.app(_ip("198.51.100.1"), 17, 20000, 20002) == "rtp"
    assert apps.app(_ip("198.51.100.1"), 17, 50000, 5060) == "sip"
    assert apps.app(_ip("198.51.100.1"), 17, 123, 123) == "ntp"
    assert apps.app(_ip("198.51.100.1"), 6, 7680, 50000) == "windows-update"
    assert apps.app(_ip("198.51.100.1"), 6, 9999, 50000) == "other"


def test_host_names_by_address_and_by_mac_through_the_neighbour_table(tmp_path: Path) -> None:
    arp = tmp_path / "arp"
    arp.write_text("IP address       HW type     Flags       HW address            Mask     "
                   "Device\n192.168.1.30     0x1         0x2         00:1b:21:aa:bb:cc     *    "
                   "    eth0\n")
    names = HostNames({"192.168.1.20": "ketoan-pc", "00-1B-21-AA-BB-CC": "vc-room"}, arp)
    names.refresh()
    assert names.label(_ip("192.168.1.20")) == "ketoan-pc"
    assert names.label(_ip("192.168.1.30")) == "vc-room"
    assert names.label(_ip("192.168.1.31")) == "192.168.1.31"


def test_a_names_file_is_read_bounded_and_its_errors_name_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "flows-names.yml"
    path.write_text("192.168.1.20: ketoan-pc\n00:1b:21:aa:bb:cc: vc-room\n")
    config = FlowsConfig(names_file=str(path), names={"192.168.1.20": "ke-toan"})  # type: ignore
    assert FlowsModule(config).names.by_address == {_ip("192.168.1.20"): "ke-toan"}
    path.write_text("192.168.1.20: ketoan-pc\n192.168.1.21: [pc\n")
    with pytest.raises(ConfigError) as caught:
        read_names_file(str(path))
    assert str(caught.value).startswith(f"{path}:3:1: invalid YAML")
    path.write_text("- 192.168.1.20\n")
    with pytest.raises(ConfigError, match="expected a mapping of address or MAC to name"):
        read_names_file(str(path))
    path.write_text("a: &a [x, x, x, x, x, x, x, x]\n" + "".join(
        f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)))  # 8**9 nodes: refused
    with pytest.raises(ConfigError) as caught:
        read_names_file(str(path))
    assert str(caught.value).startswith(str(path))
    monkeypatch.setattr("agent.modules.flows.names.NAMES_MAX_BYTES", 64)
    path.write_text("".join(f"192.168.1.{i}: pc-{i}\n" for i in range(10)))
    with pytest.raises(ConfigError, match="over the 64 bytes limit for a names file"):
        read_names_file(str(path))


def test_config_errors_name_the_key() -> None:
    with pytest.raises(ConfigError) as caught:
        load_yaml(FlowsConfig, "portal: [portal.example]\n"
                               "apps: [{name: other, ports: ['udp/99999']}]\n", "flows.yml")
    text = str(caught.value)
    assert "portal[0]: expected an address or network" in text
    assert "apps[0].ports[0]: expected a port" in text
    with pytest.raises(ConfigError) as caught:
        load_yaml(FlowsConfig, "top_n: 50\ntracked: 10\n", "flows.yml")
    assert "tracked: expected 50 (top_n)..100000, got 10" in str(caught.value)
    with pytest.raises(ConfigError) as caught:
        load_yaml(FlowsConfig, "apps: [{name: other, ports: ['443']}]\n", "flows.yml")
    assert "(not 'other'), got 'other'" in str(caught.value)


async def _exchange(config: FlowsConfig, datagrams: list[bytes]) -> list[Metric]:
    module = FlowsModule(config)
    await module.start()
    host, port = module.listener.bound()[0]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        for data in datagrams:
            sender.sendto(data, (host, port))
    expected = len(datagrams)
    for _ in range(200):
        received = sum(module.listener.datagrams.values()) + sum(module.listener.dropped.values())
        if received >= expected:
            break
        await asyncio.sleep(0.01)
    try:
        return list(await module.collect())
    finally:
        module.close()


def test_every_protocol_on_one_port_and_drops_counted() -> None:
    flows = [Flow("192.168.1.10", "203.0.113.10", 4000, 4, 40000, 443),
             Flow("192.168.1.11", "203.0.113.5", 100, 1, 40001, 53, 17)]
    config = FlowsConfig(listen=(HostPort(f"127.0.0.1:{free_udp_port()}"),),
                         lan=(Network("192.168.1.0/24"),), portal=(Network("203.0.113.10"),))
    datagrams = [netflow_v5(flows), netflow_v9(flows), ipfix(flows, template=False),
                 ipfix(flows), sflow_v5(flows, sampling_rate=2), b"\x00\x07junk",
                 netflow_v5(flows)[:40]]
    value = registry_of(asyncio.run(_exchange(config, datagrams))).get_sample_value
    for protocol, records in (("netflow5", 2), ("netflow9", 2), ("ipfix", 2), ("sflow5", 2)):
        assert value("commune_flow_records_total", {"protocol": protocol}) == records
    assert value("commune_flow_datagrams_total", {"protocol": "ipfix"}) == 2
    assert value("commune_flow_template_errors_total",
                 {"protocol": "ipfix", "reason": "missing"}) == 1
    assert value("commune_flow_datagrams_dropped_total", {"reason": "unknown_version"}) == 1
    assert value("commune_flow_datagrams_dropped_total", {"reason": "malformed"}) == 1
    assert value("commune_flow_bytes_total", {"direction": "upload", "host": "192.168.1.10",
                                              "app": "tthc-portal"}) == 4000 * 3 + 8000
    assert value("commune_flow_listener_up") == 1


def test_only_the_configured_exporters_are_read() -> None:
    config = FlowsConfig(listen=(HostPort("127.0.0.1:0"),), exporters=(Network("192.0.2.1"),),
                         lan=(Network("192.168.1.0/24"),))
    module = FlowsModule(config)
    data = netflow_v5([Flow("192.168.1.10", "203.0.113.5", 100, 1, 40000, 443)])
    module.listener.receive(data, "192.0.2.1")
    module.listener.receive(data, "::ffff:192.0.2.1")
    module.listener.receive(data, "198.51.100.9")
    assert module.listener.records["netflow5"] == 2
    assert module.listener.drops()["unknown_exporter"] == 1


def test_a_port_already_taken_is_logged_once_and_its_recovery_once(
        caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="agent.modules.flows.module")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        module = FlowsModule(FlowsConfig(listen=(HostPort(f"127.0.0.1:{port}"),)))
        for _ in range(3):
            families = asyncio.run(module.collect())
            assert registry_of(families).get_sample_value("commune_flow_listener_up") == 0
    assert caplog.text.count("cannot bind") == 1
    try:
        families = asyncio.run(module.collect())  # the port is free now
        asyncio.run(module.collect())
        assert registry_of(families).get_sample_value("commune_flow_listener_up") == 1
    finally:
        module.close()
    assert caplog.text.count("at last, listening") == 1 and "listening on" not in caplog.text


def test_a_running_agent_serves_what_its_flows_module_received(tmp_path: Path) -> None:
    port = free_udp_port()
    config = (f'commune: "16318"\ninterval: 1s\nmodules:\n  flows:\n'
              f'    listen: ["127.0.0.1:{port}"]\n    lan: ["192.168.1.0/24"]\n'
              f'    names: {{"192.168.1.10": ketoan-pc}}\n')
    flows = [Flow("192.168.1.10", "203.0.113.5", 7000, 5, 40000, 443)]
    with Agent(tmp_path, config) as agent, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        def metrics() -> str:
            return http_get(f"{agent.url}/metrics")[1].decode()

        wait_for(lambda: 'commune_flow_listener_up{commune="16318"} 1.0' in metrics(),
                 what="the listener up")
        sender.sendto(netflow_v9(flows), ("127.0.0.1", port))
        wanted = ('commune_flow_bytes_total{app="https",commune="16318",direction="upload",'
                  'host="ketoan-pc"} 7000.0')
        wait_for(lambda: wanted in metrics(),
                 what="the flow in /metrics")
