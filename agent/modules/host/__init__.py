"""The ``host`` module: node_exporter's default Linux collectors, read from procfs and sysfs.

One module per family group, each a *section* named after node_exporter's collector
(``cpu``, ``meminfo``, ``netclass``, ``textfile``...): ``procstat`` (cpu, stat), ``memory``
(meminfo, vmstat), ``kernel`` (loadavg, pressure, entropy, filefd, conntrack), ``clock`` (time,
timex), ``identity`` (uname, os, selinux), ``filesystem``, ``disk`` (diskstats), ``network``
(netdev, netclass, arp), ``netstat`` (netstat, sockstat, softnet, udp_queues), ``processes``,
``textfile``; ``portable`` holds the psutil sections used where there is no Linux procfs.
``roots`` points every read at the configured procfs, sysfs and rootfs; ``sections`` isolates
them.
"""

from __future__ import annotations

from agent.modules.host.memory import parse_meminfo
from agent.modules.host.module import METRICS, HostModule

__all__ = ["METRICS", "HostModule", "parse_meminfo"]
