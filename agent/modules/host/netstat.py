"""Protocol counters: sections ``netstat`` (``/proc/net/{netstat,snmp,snmp6}``), ``sockstat``
(``/proc/net/sockstat{,6}``) and ``softnet`` (``/proc/net/softnet_stat``).

netstat and sockstat names depend on the kernel's fields, so they are named at collection time,
as node_exporter names them; netstat series are untyped, as there.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric, UnknownMetricFamily

from agent.modules.base import MetricSpec
from agent.modules.host.roots import Roots, read_text

SOFTNET = (
    (0, MetricSpec("node_softnet_processed_total", "counter", "Number of processed packets",
                   ("cpu",))),
    (1, MetricSpec("node_softnet_dropped_total", "counter", "Number of dropped packets",
                   ("cpu",))),
    (2, MetricSpec("node_softnet_times_squeezed_total", "counter",
                   "Number of times processing packets ran out of quota", ("cpu",))),
)
UDP_QUEUES = MetricSpec("node_udp_queues", "gauge",
                        "Number of allocated memory in the kernel for UDP datagrams in bytes.",
                        ("ip", "queue"))
SOCKETS_USED = MetricSpec("node_sockstat_sockets_used", "gauge", "Number of IPv4 sockets in use.")


def parse_header_pairs(text: str) -> dict[str, dict[str, float]]:
    """``Proto: names`` / ``Proto: values`` line pairs (/proc/net/netstat, /proc/net/snmp)."""
    stats: dict[str, dict[str, float]] = {}
    lines = text.splitlines()
    for names_line, values_line in zip(lines[::2], lines[1::2], strict=False):
        proto, _, names = names_line.partition(":")
        _, _, values = values_line.partition(":")
        stats.setdefault(proto.strip(), {}).update(
            zip(names.split(), (float(v) for v in values.split()), strict=False))
    return stats


def parse_snmp6(text: str) -> dict[str, dict[str, float]]:
    """``Ip6InReceives 12`` lines: the protocol is the name up to its ``6``."""
    stats: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        parts = line.split()
        six = parts[0].find("6") if len(parts) == 2 else -1
        if six != -1:
            stats.setdefault(parts[0][:six + 1], {})[parts[0][six + 1:]] = float(parts[1])
    return stats


def collect_netstat(roots: Roots, fields: re.Pattern[str]) -> Iterable[Metric]:
    """``node_netstat_<Proto>_<Field>`` for the fields ``fields`` matches."""
    stats = parse_header_pairs(read_text(roots.proc("net/netstat")))
    for proto, values in parse_header_pairs(read_text(roots.proc("net/snmp"))).items():
        stats.setdefault(proto, {}).update(values)
    snmp6 = roots.proc("net/snmp6")
    if snmp6.exists():  # absent when IPv6 is disabled
        for proto, values in parse_snmp6(read_text(snmp6)).items():
            stats.setdefault(proto, {}).update(values)
    families: list[Metric] = []
    for proto, values in sorted(stats.items()):
        for field, value in sorted(values.items()):
            key = f"{proto}_{field}"
            if fields.match(key):
                family = UnknownMetricFamily(f"node_netstat_{key}", f"Statistic {proto}{field}.")
                family.add_metric([], value)
                families.append(family)
    return families


def parse_sockstat(text: str) -> dict[str, dict[str, float]]:
    """``TCP: inuse 3 orphan 0 ...`` lines: protocol -> state -> count."""
    stats: dict[str, dict[str, float]] = {}
    for line in text.splitlines():
        proto, _, rest = line.partition(":")
        parts = rest.split()
        stats[proto.strip()] = {k: float(v) for k, v in zip(parts[::2], parts[1::2],
                                                            strict=False)}
    return stats


def collect_sockstat(roots: Roots, page_size: int | None = None) -> Iterable[Metric]:
    """Sockets in use per protocol; ``mem`` (pages) also as ``mem_bytes``, as node_exporter."""
    page = page_size or os.sysconf("SC_PAGE_SIZE")
    stats = parse_sockstat(read_text(roots.proc("net/sockstat")))
    sockstat6 = roots.proc("net/sockstat6")
    if sockstat6.exists():
        stats.update(parse_sockstat(read_text(sockstat6)))
    families: list[Metric] = []
    used = stats.pop("sockets", {}).get("used")
    if used is not None:
        family = SOCKETS_USED.family()
        family.add_metric([], used)
        families.append(family)
    for proto, states in sorted(stats.items()):
        for state, value in states.items():
            pairs = [(state, value)]
            if state == "mem":
                pairs.append(("mem_bytes", value * page))
            for name, number in pairs:
                family = GaugeMetricFamily(f"node_sockstat_{proto}_{name}",
                                           f"Number of {proto} sockets in state {name}.")
                family.add_metric([], number)
                families.append(family)
    return families


def collect_softnet(roots: Roots) -> Iterable[Metric]:
    """Processed, dropped and squeezed packets per CPU (one hexadecimal line per CPU)."""
    families = [(column, spec.family()) for column, spec in SOFTNET]
    for cpu, line in enumerate(read_text(roots.proc("net/softnet_stat")).splitlines()):
        parts = line.split()
        for column, family in families:
            family.add_metric([str(cpu)], float(int(parts[column], 16)))
    return [family for _, family in families]


def udp_queue_totals(text: str) -> tuple[float, float]:
    """(tx, rx) bytes queued over the sockets of a /proc/net/udp{,6} table."""
    tx = rx = 0.0
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) > 4:
            tx_queue, _, rx_queue = parts[4].partition(":")
            tx += int(tx_queue, 16)
            rx += int(rx_queue, 16)
    return tx, rx


def collect_udp_queues(roots: Roots) -> Iterable[Metric]:
    """Bytes queued in UDP sockets, per IP version and direction."""
    family = UDP_QUEUES.family()
    for ip, table in (("v4", "net/udp"), ("v6", "net/udp6")):
        path = roots.proc(table)
        if ip == "v6" and not path.exists():
            continue
        tx, rx = udp_queue_totals(read_text(path))
        family.add_metric([ip, "rx"], rx)
        family.add_metric([ip, "tx"], tx)
    return (family,)
