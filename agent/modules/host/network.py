"""Network devices: sections ``netdev`` (``/proc/net/dev``), ``netclass`` (``/sys/class/net``)
and ``arp`` (``/proc/net/arp``)."""

from __future__ import annotations

import re
from collections.abc import Iterable

from prometheus_client.core import Metric

from agent.modules.base import MetricKind, MetricSpec
from agent.modules.host.roots import Roots, read_number, read_text, read_value

# /proc/net/dev's columns after "name:", in order, as node_exporter names them.
NETDEV_COLUMNS = tuple(f"receive_{c}" for c in ("bytes", "packets", "errs", "drop", "fifo",
                                                 "frame", "compressed", "multicast")) + tuple(
    f"transmit_{c}" for c in ("bytes", "packets", "errs", "drop", "fifo", "colls", "carrier",
                              "compressed"))
NETDEV_SPECS = tuple(MetricSpec(f"node_network_{column}_total", "counter",
                                f"Network device statistic {column}.", ("device",))
                     for column in NETDEV_COLUMNS)
# Not in /proc/net/dev (node_exporter reads it over netlink): the sysfs statistics file.
NOHANDLER = MetricSpec("node_network_receive_nohandler_total", "counter",
                       "Network device statistic receive_nohandler.", ("device",))

NET_UP = MetricSpec("node_network_up", "gauge",
                    "Value is 1 if operstate is 'up', 0 otherwise.", ("device",))
NET_INFO_LABELS = ("address", "broadcast", "device", "duplex", "ifalias", "operstate")
NET_INFO = MetricSpec("node_network_info", "gauge",
                      "Non-numeric data from /sys/class/net/<iface>, value is always 1.",
                      NET_INFO_LABELS)
# (sysfs attribute, node_exporter property, kind, number base, scale)
NETCLASS_ATTRIBUTES: tuple[tuple[str, str, MetricKind, int, float], ...] = (
    ("addr_assign_type", "address_assign_type", "gauge", 10, 1.0),
    ("carrier", "carrier", "gauge", 10, 1.0),
    ("carrier_changes", "carrier_changes_total", "counter", 10, 1.0),
    ("carrier_up_count", "carrier_up_changes_total", "counter", 10, 1.0),
    ("carrier_down_count", "carrier_down_changes_total", "counter", 10, 1.0),
    ("dev_id", "device_id", "gauge", 16, 1.0),
    ("dormant", "dormant", "gauge", 10, 1.0),
    ("flags", "flags", "gauge", 16, 1.0),
    ("ifindex", "iface_id", "gauge", 10, 1.0),
    ("iflink", "iface_link", "gauge", 10, 1.0),
    ("link_mode", "iface_link_mode", "gauge", 10, 1.0),
    ("mtu", "mtu_bytes", "gauge", 10, 1.0),
    ("name_assign_type", "name_assign_type", "gauge", 10, 1.0),
    ("netdev_group", "net_dev_group", "gauge", 10, 1.0),
    ("type", "protocol_type", "gauge", 10, 1.0),
    ("speed", "speed_bytes", "gauge", 10, 125_000.0),  # Mbit/s -> bytes/s
    ("tx_queue_len", "transmit_queue_length", "gauge", 10, 1.0),
)
NETCLASS_SPECS = tuple(
    (attribute, MetricSpec(f"node_network_{prop}", kind,
                           f"Network device property: {prop}", ("device",)), base, scale)
    for attribute, prop, kind, base, scale in NETCLASS_ATTRIBUTES)
ARP_ENTRIES = MetricSpec("node_arp_entries", "gauge", "ARP entries by device", ("device",))


def parse_netdev(text: str) -> dict[str, list[float]]:
    """Device -> its counters, from /proc/net/dev (device names cannot hold ':' or spaces)."""
    devices: dict[str, list[float]] = {}
    for line in text.splitlines()[2:]:
        name, sep, rest = line.partition(":")
        if sep:
            devices[name.strip()] = [float(v) for v in rest.split()]
    return devices


def collect_netdev(roots: Roots, exclude: re.Pattern[str]) -> Iterable[Metric]:
    """The 16 counters of each network device, and ``receive_nohandler`` from sysfs."""
    families = [spec.family() for spec in NETDEV_SPECS]
    nohandler = NOHANDLER.family()
    for device, values in sorted(parse_netdev(read_text(roots.proc("net/dev"))).items()):
        if exclude.search(device):
            continue
        for family, value in zip(families, values, strict=False):
            family.add_metric([device], value)
        count = read_number(roots.sys(f"class/net/{device}/statistics/rx_nohandler"))
        if count is not None:
            nohandler.add_metric([device], count)
    return [*families, nohandler]


def collect_netclass(roots: Roots, exclude: re.Pattern[str]) -> Iterable[Metric]:
    """Up (from ``operstate``: loopback's ``unknown`` is 0), carrier, speed, info and the other
    properties of ``<sysfs>/class/net/<device>``; an attribute that cannot be read (the speed of a
    link that is down) is left out."""
    base = roots.sys("class/net")
    up, info = NET_UP.family(), NET_INFO.family()
    families = [(attribute, spec.family(), number_base, scale)
                for attribute, spec, number_base, scale in NETCLASS_SPECS]
    for entry in sorted(base.iterdir()):
        device = entry.name
        if exclude.search(device) or not entry.is_dir():
            continue
        operstate = read_value(entry / "operstate")
        if operstate is not None:
            up.add_metric([device], 1.0 if operstate == "up" else 0.0)
        info.add_metric([read_value(entry / "address") or "",
                         read_value(entry / "broadcast") or "", device,
                         read_value(entry / "duplex") or "", read_value(entry / "ifalias") or "",
                         operstate or ""], 1)
        for attribute, family, number_base, scale in families:
            value = read_number(entry / attribute, number_base)
            if value is not None:
                family.add_metric([device], value * scale)
    return [up, info, *(family for _, family, _, _ in families)]


def collect_arp(roots: Roots) -> Iterable[Metric]:
    """The number of neighbour entries per device of ``<procfs>/net/arp``."""
    counts: dict[str, int] = {}
    for line in read_text(roots.proc("net/arp")).splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 6:
            counts[parts[5]] = counts.get(parts[5], 0) + 1
    family = ARP_ENTRIES.family()
    for device, count in sorted(counts.items()):
        family.add_metric([device], count)
    return (family,)
