"""``HostModule``: the host's sections, each isolated, read under the configured roots."""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable
from functools import partial

from prometheus_client.core import Metric

from agent.modules.base import MetricSpec
from agent.modules.host import (
    clock,
    disk,
    filesystem,
    identity,
    kernel,
    memory,
    netstat,
    network,
    portable,
    processes,
    procstat,
    textfile,
)
from agent.modules.host.roots import Roots
from agent.modules.host.sections import SCRAPE_DURATION, SCRAPE_SUCCESS, Section, SectionRunner
from agent.modules.host_config import HostConfig

METRICS: tuple[MetricSpec, ...] = (
    procstat.CPU_SECONDS, procstat.CPU_GUEST_SECONDS, *procstat.STAT_LINES.values(),
    procstat.UPTIME, *kernel.LOAD.values(), *kernel.PRESSURE.values(), kernel.ENTROPY_AVAILABLE,
    kernel.ENTROPY_POOL, kernel.FILEFD_ALLOCATED, kernel.FILEFD_MAXIMUM,
    kernel.CONNTRACK_ENTRIES, kernel.CONNTRACK_LIMIT, *kernel.CONNTRACK_STATS.values(),
    clock.TIME, clock.TIME_ZONE_OFFSET, clock.CLOCKSOURCE_AVAILABLE, clock.CLOCKSOURCE_CURRENT,
    *clock.TIMEX.values(), identity.UNAME, identity.OS_INFO, identity.OS_VERSION,
    identity.SELINUX_ENABLED, identity.SELINUX_CURRENT_MODE,
    *filesystem.FS_SPECS, *(spec for spec, _ in disk.DISK_COLUMNS), disk.DISK_INFO,
    *network.NETDEV_SPECS, network.NOHANDLER, network.NET_UP, network.NET_INFO,
    *(spec for _, spec, _, _ in network.NETCLASS_SPECS), network.ARP_ENTRIES,
    *(spec for _, spec in netstat.SOFTNET), netstat.SOCKETS_USED, netstat.UDP_QUEUES,
    processes.PIDS, processes.THREADS, processes.MAX_PROCESSES, processes.MAX_THREADS,
    processes.STATE, processes.THREADS_STATE, textfile.MTIME, textfile.SCRAPE_ERROR,
    textfile.DROPPED, SCRAPE_SUCCESS, SCRAPE_DURATION,
)
# Families named at collection time after the kernel's fields (not in METRICS).
DYNAMIC_PREFIXES = ("node_memory_", "node_vmstat_", "node_netstat_", "node_sockstat_")


def is_host_family(name: str) -> bool:
    """Whether the host module itself may expose a family of this name."""
    return name in _DECLARED or name.startswith(DYNAMIC_PREFIXES)


_DECLARED = frozenset(spec.name for spec in METRICS)


class HostModule:
    """Host metrics of the node the agent runs on, as node_exporter's default collectors."""

    name = "host"
    metrics = METRICS

    def __init__(self, config: HostConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.roots = Roots.of(config)
        self.clock = clock
        self.statvfs = filesystem.StatWatch(config.mount_timeout)
        self.runner = SectionRunner(self._sections())

    def _sections(self) -> dict[str, Section]:
        c, roots = self.config, self.roots
        netdev_exclude = re.compile(c.netdev_exclude)
        sections: dict[str, Section]
        if sys.platform.startswith("linux"):
            sections = {
                "cpu": partial(procstat.collect_cpu, roots, procstat.user_hz()),
                "stat": partial(procstat.collect_stat, roots, self.clock),
                "loadavg": partial(kernel.collect_loadavg, roots),
                "meminfo": partial(memory.collect_meminfo, roots),
                "filesystem": partial(filesystem.collect_filesystem, roots,
                                      re.compile(c.mount_points_exclude),
                                      re.compile(c.fs_types_exclude), self.statvfs),
                "diskstats": partial(disk.collect_diskstats, roots,
                                     re.compile(c.disk_devices_exclude)),
                "netdev": partial(network.collect_netdev, roots, netdev_exclude),
                "netclass": partial(network.collect_netclass, roots, netdev_exclude),
                "arp": partial(network.collect_arp, roots),
                "netstat": partial(netstat.collect_netstat, roots, re.compile(c.netstat_fields)),
                "sockstat": partial(netstat.collect_sockstat, roots),
                "softnet": partial(netstat.collect_softnet, roots),
                "udp_queues": partial(netstat.collect_udp_queues, roots),
                "vmstat": partial(memory.collect_vmstat, roots, re.compile(c.vmstat_fields)),
                "pressure": partial(kernel.collect_pressure, roots),
                "entropy": partial(kernel.collect_entropy, roots),
                "filefd": partial(kernel.collect_filefd, roots),
                "conntrack": partial(kernel.collect_conntrack, roots),
                "timex": clock.collect_timex,
                "selinux": partial(identity.collect_selinux, roots),
            }
            if c.processes:
                sections["processes"] = partial(processes.collect_processes, roots)
        else:
            sections = {"cpu": portable.collect_cpu, "loadavg": portable.collect_loadavg,
                        "meminfo": portable.collect_meminfo,
                        "filesystem": portable.collect_filesystem,
                        "diskstats": portable.collect_diskstats,
                        "netdev": portable.collect_netdev}
        sections["time"] = partial(clock.collect_time, roots, self.clock)
        sections["uname"] = partial(identity.collect_uname, roots)
        sections["os"] = partial(identity.collect_os, roots)
        if c.textfile_directory:
            sections["textfile"] = textfile.TextfileCollector(c.textfile_directory,
                                                              is_host_family).collect
        return sections

    def collect(self) -> Iterable[Metric]:
        """Every section once; a failing section costs only its own families."""
        return self.runner.collect()

    def close(self) -> None:
        """Nothing to release."""
