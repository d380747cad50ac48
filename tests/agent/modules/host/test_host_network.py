"""Network devices and protocol counters, read from a fixture procfs and sysfs."""

from __future__ import annotations

import os

from tests.agent.modules.host.collect import by_device, collect
from tests.agent.modules.host.tree import HostTree
from tests.support.samples import maybe_value, samples, value

ODD = "br-lan.100@x"


def test_netdev_every_column_and_odd_names(tree: HostTree) -> None:
    families = collect(tree.config())
    assert set(by_device(families, "node_network_receive_bytes_total")) == {"lo", "eth0", ODD}
    eth0 = {"device": "eth0"}
    for n, column in enumerate(("receive_packets", "receive_errs", "receive_drop",
                                "receive_fifo", "receive_frame", "receive_compressed",
                                "receive_multicast"), start=1):
        assert value(families, f"node_network_{column}_total", **eth0) == [
            789, 1, 2, 3, 4, 5, 6][n - 1]
    assert value(families, "node_network_transmit_bytes_total", **eth0) == 654321
    assert value(families, "node_network_transmit_colls_total", **eth0) == 10
    assert value(families, "node_network_transmit_carrier_total", **eth0) == 11
    assert value(families, "node_network_transmit_compressed_total", **eth0) == 12
    assert value(families, "node_network_receive_bytes_total", device=ODD) == 10
    assert value(families, "node_network_receive_nohandler_total", device="lo") == 7


def test_up_follows_operstate_loopback_is_zero(tree: HostTree) -> None:
    families = collect(tree.config())
    assert by_device(families, "node_network_up") == {"lo": 0, "eth0": 0, ODD: 1}


def test_netclass_properties(tree: HostTree) -> None:
    families = collect(tree.config())
    assert by_device(families, "node_network_carrier") == {"lo": 1, "eth0": 0, ODD: 1}
    # lo has no speed attribute (reading it fails, EINVAL): no series, as node_exporter
    assert by_device(families, "node_network_speed_bytes") == {"eth0": 125_000_000,
                                                              ODD: 1_250_000_000}
    assert value(families, "node_network_mtu_bytes", device=ODD) == 9000
    assert value(families, "node_network_flags", device="eth0") == 0x1003
    assert value(families, "node_network_iface_id", device="eth0") == 2
    assert value(families, "node_network_protocol_type", device="lo") == 772
    assert value(families, "node_network_transmit_queue_length", device="eth0") == 1000
    assert value(families, "node_network_carrier_changes_total", device="eth0") == 3
    assert value(families, "node_network_carrier_up_changes_total", device="eth0") == 1
    assert value(families, "node_network_carrier_down_changes_total", device="eth0") == 2
    assert value(families, "node_network_info", device="eth0", address="02:fc:00:00:00:01",
                 broadcast="ff:ff:ff:ff:ff:ff", duplex="full", ifalias="uplink",
                 operstate="down") == 1
    assert value(families, "node_network_info", device=ODD, duplex="", operstate="up") == 1


def test_netdev_exclude_applies_to_netclass(tree: HostTree) -> None:
    families = collect(tree.config(netdev_exclude="^lo$"))
    assert set(by_device(families, "node_network_up")) == {"eth0", ODD}
    assert set(by_device(families, "node_network_receive_bytes_total")) == {"eth0", ODD}


def test_arp_entries_by_device(tree: HostTree) -> None:
    families = collect(tree.config())
    assert by_device(families, "node_arp_entries") == {"eth0": 2, ODD: 1}


def test_netstat_snmp_and_snmp6(tree: HostTree) -> None:
    families = collect(tree.config())
    assert value(families, "node_netstat_Tcp_InSegs") == 300
    assert value(families, "node_netstat_Tcp_InErrs") == 6
    assert value(families, "node_netstat_TcpExt_ListenOverflows") == 3
    assert value(families, "node_netstat_TcpExt_SyncookiesSent") == 11
    assert value(families, "node_netstat_IpExt_InOctets") == 1000
    assert value(families, "node_netstat_Ip_Forwarding") == 1
    assert value(families, "node_netstat_Udp_NoPorts") == 2
    assert value(families, "node_netstat_Ip6_InOctets") == 9000
    assert value(families, "node_netstat_Udp6_InDatagrams") == 12
    assert value(families, "node_netstat_Icmp6_InMsgs") == 3
    # not in node_exporter's default field set
    assert maybe_value(families, "node_netstat_TcpExt_PruneCalled") is None
    assert maybe_value(families, "node_netstat_Tcp_MaxConn") is None
    assert next(f for f in families if f.name == "node_netstat_Tcp_InSegs").type == "unknown"


def test_netstat_without_ipv6(tree: HostTree) -> None:
    tree.remove("net/snmp6")
    families = collect(tree.config())
    assert value(families, "node_netstat_Tcp_InSegs") == 300
    assert maybe_value(families, "node_netstat_Ip6_InOctets") is None


def test_sockstat(tree: HostTree) -> None:
    families = collect(tree.config())
    assert value(families, "node_sockstat_sockets_used") == 56
    assert value(families, "node_sockstat_TCP_inuse") == 33
    assert value(families, "node_sockstat_TCP_tw") == 339
    assert value(families, "node_sockstat_TCP_mem") == 69
    assert value(families, "node_sockstat_TCP_mem_bytes") == 69 * os.sysconf("SC_PAGE_SIZE")
    assert value(families, "node_sockstat_FRAG_memory") == 0
    assert value(families, "node_sockstat_TCP6_inuse") == 4
    assert value(families, "node_sockstat_UDP6_inuse") == 2


def test_softnet_per_cpu(tree: HostTree) -> None:
    families = collect(tree.config())
    assert value(families, "node_softnet_processed_total", cpu="0") == 0x8fde5
    assert value(families, "node_softnet_dropped_total", cpu="1") == 3
    assert value(families, "node_softnet_times_squeezed_total", cpu="1") == 2


def test_udp_queues(tree: HostTree) -> None:
    families = collect(tree.config())
    assert value(families, "node_udp_queues", ip="v4", queue="tx") == 0x10 + 1
    assert value(families, "node_udp_queues", ip="v4", queue="rx") == 0x200
    assert {dict(k)["ip"] for k in samples(families, "node_udp_queues")} == {"v4"}  # no udp6


def test_conntrack_summed_over_cpus(tree: HostTree) -> None:
    families = collect(tree.config())
    assert value(families, "node_nf_conntrack_entries") == 42
    assert value(families, "node_nf_conntrack_entries_limit") == 262144
    assert value(families, "node_nf_conntrack_stat_found") == 10
    assert value(families, "node_nf_conntrack_stat_drop") == 10
    assert value(families, "node_nf_conntrack_stat_search_restart") == 3
    assert value(families, "node_nf_conntrack_stat_insert_failed") == 0
