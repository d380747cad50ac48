"""Sections for systems without a Linux procfs (Windows), through psutil's portable calls.

Same families and labels as the Linux sections, where psutil has the numbers.
"""

from __future__ import annotations

from collections.abc import Iterable

import psutil
from prometheus_client.core import Metric

from agent.modules.host.disk import DISK_COLUMNS
from agent.modules.host.filesystem import FS_AVAIL, FS_DEVICE_ERROR, FS_FREE, FS_SIZE, FS_SPECS
from agent.modules.host.kernel import LOAD
from agent.modules.host.memory import memory_families
from agent.modules.host.network import NETDEV_SPECS
from agent.modules.host.procstat import CPU_SECONDS

# psutil's disk_io_counters field -> (metric name, scale)
PSUTIL_DISK = {"read_count": ("node_disk_reads_completed_total", 1.0),
               "write_count": ("node_disk_writes_completed_total", 1.0),
               "read_bytes": ("node_disk_read_bytes_total", 1.0),
               "write_bytes": ("node_disk_written_bytes_total", 1.0),
               "read_time": ("node_disk_read_time_seconds_total", 0.001),
               "write_time": ("node_disk_write_time_seconds_total", 0.001),
               "busy_time": ("node_disk_io_time_seconds_total", 0.001)}
# psutil's net_io_counters field -> node_network_* column
PSUTIL_NET = {"bytes_recv": "receive_bytes", "bytes_sent": "transmit_bytes",
              "packets_recv": "receive_packets", "packets_sent": "transmit_packets",
              "errin": "receive_errs", "errout": "transmit_errs",
              "dropin": "receive_drop", "dropout": "transmit_drop"}
PORTABLE_MEMORY = (("total", "MemTotal"), ("available", "MemAvailable"), ("free", "MemFree"))
PORTABLE_SWAP = (("total", "SwapTotal"), ("free", "SwapFree"))


def collect_cpu() -> Iterable[Metric]:
    """CPU times per CPU, numbered as psutil lists them."""
    family = CPU_SECONDS.family()
    for cpu, times in enumerate(psutil.cpu_times(percpu=True)):
        for mode, value in times._asdict().items():
            if mode not in ("guest", "guest_nice"):
                family.add_metric([str(cpu), mode], value)
    return (family,)


def collect_loadavg() -> Iterable[Metric]:
    """psutil's load average (emulated on Windows)."""
    families = []
    for n, value in zip((1, 5, 15), psutil.getloadavg(), strict=True):
        family = LOAD[n].family()
        family.add_metric([], value)
        families.append(family)
    return families


def collect_meminfo() -> Iterable[Metric]:
    """The portable subset of node_memory_*."""
    vm, swap = psutil.virtual_memory(), psutil.swap_memory()
    values = {f"node_memory_{name}_bytes": float(getattr(vm, f)) for f, name in PORTABLE_MEMORY}
    values.update({f"node_memory_{name}_bytes": float(getattr(swap, f))
                   for f, name in PORTABLE_SWAP})
    return list(memory_families(values))


def collect_filesystem() -> Iterable[Metric]:
    """Size, free and available bytes of each partition psutil lists."""
    families = {spec: spec.family() for spec in FS_SPECS}
    for part in psutil.disk_partitions(all=False):
        labels = (part.device, part.fstype, part.mountpoint)
        try:
            usage = psutil.disk_usage(part.mountpoint)
        except OSError:
            families[FS_DEVICE_ERROR].add_metric(labels, 1)
            continue
        families[FS_DEVICE_ERROR].add_metric(labels, 0)
        for spec, value in ((FS_SIZE, usage.total), (FS_FREE, usage.free),
                            (FS_AVAIL, usage.free)):
            families[spec].add_metric(labels, float(value))
    return list(families.values())


def collect_diskstats() -> Iterable[Metric]:
    """The disk counters psutil has."""
    specs = {spec.name: spec for spec, _ in DISK_COLUMNS}
    families = {field: (specs[name].family(), scale) for field, (name, scale) in
                PSUTIL_DISK.items()}
    for device, io in sorted((psutil.disk_io_counters(perdisk=True) or {}).items()):
        for field, (family, scale) in families.items():
            family.add_metric([device], getattr(io, field, 0) * scale)
    return [family for family, _ in families.values()]


def collect_netdev() -> Iterable[Metric]:
    """The network counters psutil has."""
    specs = {spec.name: spec for spec in NETDEV_SPECS}
    families = {field: specs[f"node_network_{column}_total"].family()
                for field, column in PSUTIL_NET.items()}
    for device, io in sorted(psutil.net_io_counters(pernic=True).items()):
        for field, family in families.items():
            family.add_metric([device], getattr(io, field))
    return list(families.values())
