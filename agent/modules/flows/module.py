"""The ``flows`` module: who and what uses the commune's link, from NetFlow, IPFIX and sFlow.

The listener opens at the first collection, on the scheduler's loop. Each collection closes an
interval: the top-N hosts of that interval get their own series, the rest goes to
``host="other"``, so the app totals are whole (see ``accounting``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

from prometheus_client.core import Metric

from agent.modules.base import MetricSpec
from agent.modules.flows.accounting import OTHER, Accounting
from agent.modules.flows.apps import AppTable
from agent.modules.flows.config import FlowsConfig
from agent.modules.flows.listener import PROTOCOLS, TEMPLATE_REASONS, FlowListener
from agent.modules.flows.names import PROC_ARP, HostNames, read_names_file

log = logging.getLogger(__name__)

_SERIES = ("direction", "host", "app")
BYTES = MetricSpec("commune_flow_bytes_total", "counter",
                   "Bytes of flows by direction (download, upload, lan), LAN host (name or "
                   "address; 'other' outside the top-N of an interval) and app.", _SERIES)
PACKETS = MetricSpec("commune_flow_packets_total", "counter",
                     "Packets of flows, labelled as commune_flow_bytes_total.", _SERIES)
RECORDS = MetricSpec("commune_flow_records_total", "counter",
                     "Flow records (sFlow: sampled packets) decoded, by export protocol.",
                     ("protocol",))
DATAGRAMS = MetricSpec("commune_flow_datagrams_total", "counter",
                       "Export datagrams decoded, by protocol (netflow5, netflow9, ipfix, "
                       "sflow5).", ("protocol",))
DROPPED = MetricSpec("commune_flow_datagrams_dropped_total", "counter",
                     "Datagrams not decoded (unknown_exporter, unknown_version, malformed, "
                     "overflow: the socket's queue was full, internal).", ("reason",))
TEMPLATE_ERRORS = MetricSpec("commune_flow_template_errors_total", "counter",
                             "NetFlow v9/IPFIX sets not decoded: data before its template "
                             "(missing), a template without addresses or bytes (unsupported), "
                             "a reserved set id (invalid), too many templates (limit).",
                             ("protocol", "reason"))
IGNORED = MetricSpec("commune_flow_records_ignored_total", "counter",
                     "Flow records with no side in the configured LAN, not counted.")
HOSTS = MetricSpec("commune_flow_hosts", "gauge",
                   "Distinct LAN hosts in the heavy-hitter table when the last interval closed.")
EVICTED = MetricSpec("commune_flow_hosts_evicted_total", "counter",
                     "Hosts the bounded heavy-hitter table dropped within an interval (their "
                     "bytes counted as 'other').")
LISTENER_UP = MetricSpec("commune_flow_listener_up", "gauge",
                         "1 if the listener holds every configured UDP port.")
METRICS: tuple[MetricSpec, ...] = (BYTES, PACKETS, RECORDS, DATAGRAMS, DROPPED,
                                   TEMPLATE_ERRORS, IGNORED, HOSTS, EVICTED, LISTENER_UP)


class FlowsModule:
    """Receives flow exports and exposes the top talkers and apps of each interval."""

    name = "flows"
    metrics = METRICS

    def __init__(self, config: FlowsConfig, arp: Path = PROC_ARP) -> None:
        self.config = config
        names = dict(config.names)
        if config.names_file:
            names = {**read_names_file(config.names_file), **names}
        self.names = HostNames(names, arp)
        self.apps = AppTable(config.apps, config.portal)
        self.accounting = Accounting([n.network() for n in config.lan], self.apps,
                                     config.top_n, config.tracked, config.max_series)
        self.listener = FlowListener(config.listen, self.accounting,
                                     [n.network() for n in config.exporters])
        self.bind_failing = False  # logged once when binding starts failing, once when it recovers

    async def start(self) -> None:
        """Bind the listener if it is not bound; a port that cannot be had is logged once."""
        if self.listener.running:
            return
        addresses = ", ".join(self.config.listen)
        try:
            await self.listener.start()
        except OSError as exc:
            if not self.bind_failing:
                log.warning("flows: cannot bind %s: %s (retried each interval; "
                            "commune_flow_listener_up is 0 until it succeeds)", addresses, exc)
            self.bind_failing = True
            return
        if self.bind_failing:
            log.warning("flows: bound %s at last, listening", addresses)
        else:
            log.info("flows: listening on %s", addresses)
        self.bind_failing = False

    async def collect(self) -> Iterable[Metric]:
        """Close the interval and return the families."""
        await self.start()
        self.names.refresh()
        self.accounting.close_interval()
        return self.families()

    def families(self) -> list[Metric]:
        """The families of what has been counted so far (the interval closed by the caller)."""
        merged: dict[tuple[str, str, str], list[int]] = {}
        for (direction, host, app), (octets, packets) in self.accounting.series.items():
            label = "other" if host == OTHER else self.names.label(host)
            values = merged.setdefault((direction, label, app), [0, 0])
            values[0] += octets
            values[1] += packets
        octets_family, packets_family = BYTES.family(), PACKETS.family()
        for labels, (octets, packets) in sorted(merged.items()):
            octets_family.add_metric(list(labels), octets)
            packets_family.add_metric(list(labels), packets)
        listener = self.listener
        records, datagrams = RECORDS.family(), DATAGRAMS.family()
        for protocol in PROTOCOLS:
            records.add_metric([protocol], listener.records[protocol])
            datagrams.add_metric([protocol], listener.datagrams[protocol])
        dropped = DROPPED.family()
        for reason, count in listener.drops().items():
            dropped.add_metric([reason], count)
        template_errors = TEMPLATE_ERRORS.family()
        for protocol in ("netflow9", "ipfix"):
            for reason in TEMPLATE_REASONS:
                template_errors.add_metric([protocol, reason],
                                           listener.template_errors[(protocol, reason)])
        ignored, hosts, evicted, up = (IGNORED.family(), HOSTS.family(), EVICTED.family(),
                                       LISTENER_UP.family())
        ignored.add_metric([], self.accounting.ignored)
        hosts.add_metric([], self.accounting.hosts_seen)
        evicted.add_metric([], self.accounting.evicted)
        up.add_metric([], 1.0 if listener.running else 0.0)
        return [octets_family, packets_family, records, datagrams, dropped, template_errors,
                ignored, hosts, evicted, up]

    def close(self) -> None:
        """Unbind the listener."""
        self.listener.close()
