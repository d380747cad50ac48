"""The ``host`` module: CPU, load, memory, filesystems, disks and network of the node, via psutil.

Metric names and labels are node_exporter's where the two overlap, so its dashboards and alert
rules work unchanged. Everything goes through psutil's portable calls; the Linux-only parts
(``/proc/meminfo`` with node_exporter's exact fields, ``statvfs``) are guarded and fall back to
psutil elsewhere (Windows).
"""

from __future__ import annotations

import os
import platform
import re
import sys
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import psutil
from prometheus_client.core import Metric

from agent.modules.base import MetricSpec
from agent.modules.host_config import HostConfig

FS_LABELS = ("device", "fstype", "mountpoint")

CPU_SECONDS = MetricSpec("node_cpu_seconds_total", "counter",
                         "Seconds the CPUs spent in each mode.", ("cpu", "mode"))
LOAD = {n: MetricSpec(f"node_load{n}", "gauge", f"{n}m load average.") for n in (1, 5, 15)}
CONTEXT_SWITCHES = MetricSpec("node_context_switches_total", "counter",
                              "Total number of context switches.")
INTERRUPTS = MetricSpec("node_intr_total", "counter", "Total number of interrupts serviced.")
BOOT_TIME = MetricSpec("node_boot_time_seconds", "gauge", "Node boot time, in unixtime.")
TIME = MetricSpec("node_time_seconds", "gauge", "System time in seconds since epoch (1970).")
UPTIME = MetricSpec("commune_host_uptime_seconds", "gauge", "Seconds since the node booted.")
UNAME = MetricSpec("node_uname_info", "gauge",
                   "Labeled system information as provided by the uname system call.",
                   ("domainname", "machine", "nodename", "release", "sysname", "version"))
FS_SIZE = MetricSpec("node_filesystem_size_bytes", "gauge",
                     "Filesystem size in bytes.", FS_LABELS)
FS_FREE = MetricSpec("node_filesystem_free_bytes", "gauge",
                     "Filesystem free space in bytes.", FS_LABELS)
FS_AVAIL = MetricSpec("node_filesystem_avail_bytes", "gauge",
                      "Filesystem space available to non-root users in bytes.", FS_LABELS)
FS_FILES = MetricSpec("node_filesystem_files", "gauge",
                      "Filesystem total file nodes.", FS_LABELS)
FS_FILES_FREE = MetricSpec("node_filesystem_files_free", "gauge",
                           "Filesystem total free file nodes.", FS_LABELS)
FS_READONLY = MetricSpec("node_filesystem_readonly", "gauge",
                         "Filesystem read-only status.", FS_LABELS)
FS_DEVICE_ERROR = MetricSpec("node_filesystem_device_error", "gauge",
                             "Whether an error occurred while getting statistics for the given "
                             "device.", FS_LABELS)

# (psutil field, metric, help, scale)
DISK_FIELDS = (
    ("read_count", "node_disk_reads_completed_total",
     "The total number of reads completed successfully.", 1.0),
    ("write_count", "node_disk_writes_completed_total",
     "The total number of writes completed successfully.", 1.0),
    ("read_bytes", "node_disk_read_bytes_total",
     "The total number of bytes read successfully.", 1.0),
    ("write_bytes", "node_disk_written_bytes_total",
     "The total number of bytes written successfully.", 1.0),
    ("read_time", "node_disk_read_time_seconds_total",
     "The total number of seconds spent by all reads.", 0.001),
    ("write_time", "node_disk_write_time_seconds_total",
     "This is the total number of seconds spent by all writes.", 0.001),
    ("busy_time", "node_disk_io_time_seconds_total", "Total seconds spent doing I/Os.", 0.001),
    ("read_merged_count", "node_disk_reads_merged_total",
     "The total number of reads merged.", 1.0),
    ("write_merged_count", "node_disk_writes_merged_total",
     "The number of writes merged.", 1.0),
)
NET_FIELDS = (
    ("bytes_recv", "node_network_receive_bytes_total", "Network device statistic receive_bytes."),
    ("bytes_sent", "node_network_transmit_bytes_total",
     "Network device statistic transmit_bytes."),
    ("packets_recv", "node_network_receive_packets_total",
     "Network device statistic receive_packets."),
    ("packets_sent", "node_network_transmit_packets_total",
     "Network device statistic transmit_packets."),
    ("errin", "node_network_receive_errs_total", "Network device statistic receive_errs."),
    ("errout", "node_network_transmit_errs_total", "Network device statistic transmit_errs."),
    ("dropin", "node_network_receive_drop_total", "Network device statistic receive_drop."),
    ("dropout", "node_network_transmit_drop_total", "Network device statistic transmit_drop."),
)
DISK_SPECS = tuple((field, MetricSpec(name, "counter", help_, ("device",)), scale)
                   for field, name, help_, scale in DISK_FIELDS)
NET_SPECS = tuple((field, MetricSpec(name, "counter", help_, ("device",)))
                  for field, name, help_ in NET_FIELDS)
NET_UP = MetricSpec("node_network_up", "gauge",
                    "Value is 1 if operstate is 'up', 0 otherwise.", ("device",))
NET_MTU = MetricSpec("node_network_mtu_bytes", "gauge", "Network device property: mtu_bytes.",
                     ("device",))
NET_SPEED = MetricSpec("node_network_speed_bytes", "gauge",
                       "Network device property: speed_bytes.", ("device",))

# Memory where /proc/meminfo is not available: (psutil field, node_exporter field).
PORTABLE_MEMORY = (("total", "MemTotal"), ("available", "MemAvailable"), ("free", "MemFree"))
PORTABLE_SWAP = (("total", "SwapTotal"), ("free", "SwapFree"))
_MEMINFO_PARENS = re.compile(r"\((.*)\)")

METRICS: tuple[MetricSpec, ...] = (
    CPU_SECONDS, *LOAD.values(), CONTEXT_SWITCHES, INTERRUPTS, BOOT_TIME, TIME, UPTIME, UNAME,
    FS_SIZE, FS_FREE, FS_AVAIL, FS_FILES, FS_FILES_FREE, FS_READONLY, FS_DEVICE_ERROR,
    *(spec for _, spec, _ in DISK_SPECS), *(spec for _, spec in NET_SPECS),
    NET_UP, NET_MTU, NET_SPEED,
)


def parse_meminfo(text: str) -> dict[str, float]:
    """Parse /proc/meminfo into node_exporter's series names and values.

    ``Active(anon):  12 kB`` -> ``node_memory_Active_anon_bytes = 12288``; fields without a unit
    (``HugePages_Total``) keep their plain name, as node_exporter does.
    """
    values: dict[str, float] = {}
    for line in text.splitlines():
        field, _, rest = line.partition(":")
        parts = rest.split()
        if not parts:
            continue
        name = "node_memory_" + _MEMINFO_PARENS.sub(r"_\1", field.strip())
        value = float(parts[0])
        if len(parts) > 1 and parts[1] == "kB":
            value *= 1024
            name += "_bytes"
        values[name] = value
    return values


class HostModule:
    """Host metrics of the node the agent runs on."""

    name = "host"
    metrics = METRICS

    def __init__(self, config: HostConfig, proc_root: str | os.PathLike[str] = "/proc",
                 clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.proc_root = Path(proc_root)
        self.clock = clock
        self._mount_exclude = re.compile(config.mount_points_exclude)
        self._fstype_exclude = re.compile(config.fs_types_exclude)
        self._disk_exclude = re.compile(config.disk_devices_exclude)
        self._netdev_exclude = re.compile(config.netdev_exclude)
        self._uname = platform.uname()

    def collect(self) -> Iterable[Metric]:
        """Read every host statistic once."""
        yield from self._cpu()
        yield from self._load()
        yield from self._memory()
        yield from self._time()
        yield from self._filesystems()
        yield from self._disks()
        yield from self._network()

    def close(self) -> None:
        """Nothing to release."""

    def _cpu(self) -> Iterable[Metric]:
        family = CPU_SECONDS.family()
        for cpu, times in enumerate(psutil.cpu_times(percpu=True)):
            for mode, value in times._asdict().items():
                # guest time is already counted in user (as node_exporter reports it apart).
                if mode not in ("guest", "guest_nice"):
                    family.add_metric([str(cpu), mode], value)
        yield family
        stats = psutil.cpu_stats()
        for spec, value in ((CONTEXT_SWITCHES, stats.ctx_switches),
                            (INTERRUPTS, stats.interrupts)):
            counter = spec.family()
            counter.add_metric([], value)
            yield counter

    def _load(self) -> Iterable[Metric]:
        try:
            loads = os.getloadavg() if hasattr(os, "getloadavg") else psutil.getloadavg()
        except OSError:
            return
        for n, value in zip((1, 5, 15), loads, strict=True):
            family = LOAD[n].family()
            family.add_metric([], value)
            yield family

    def _memory(self) -> Iterable[Metric]:
        meminfo = self.proc_root / "meminfo"
        if sys.platform.startswith("linux") and meminfo.exists():
            values = parse_meminfo(meminfo.read_text())
        else:
            vm, swap = psutil.virtual_memory(), psutil.swap_memory()
            values = {f"node_memory_{name}_bytes": float(getattr(vm, f))
                      for f, name in PORTABLE_MEMORY}
            values.update({f"node_memory_{name}_bytes": float(getattr(swap, f))
                           for f, name in PORTABLE_SWAP})
        for name, value in values.items():
            spec = MetricSpec(name, "gauge", f"Memory information field {name[12:]}.")
            family = spec.family()
            family.add_metric([], value)
            yield family

    def _time(self) -> Iterable[Metric]:
        now, boot = self.clock(), psutil.boot_time()
        for spec, value in ((BOOT_TIME, boot), (TIME, now), (UPTIME, max(0.0, now - boot))):
            family = spec.family()
            family.add_metric([], value)
            yield family
        uname = UNAME.family()
        u = self._uname
        domain = ""
        if hasattr(os, "uname"):
            domain = _read(self.proc_root / "sys/kernel/domainname") or "(none)"
        uname.add_metric([domain, u.machine, u.node, u.release, u.system, u.version], 1)
        yield uname

    def _filesystems(self) -> Iterable[Metric]:
        families = {spec: spec.family() for spec in
                    (FS_SIZE, FS_FREE, FS_AVAIL, FS_FILES, FS_FILES_FREE, FS_READONLY,
                     FS_DEVICE_ERROR)}
        seen: set[tuple[str, str, str]] = set()
        for part in psutil.disk_partitions(all=True):
            labels = (part.device, part.fstype, part.mountpoint)
            if (labels in seen or self._mount_exclude.search(part.mountpoint)
                    or self._fstype_exclude.search(part.fstype)):
                continue
            seen.add(labels)
            readonly = 1.0 if "ro" in part.opts.split(",") else 0.0
            try:
                stats = _filesystem_stats(part.mountpoint)
            except OSError:
                families[FS_DEVICE_ERROR].add_metric(labels, 1)
                continue
            families[FS_DEVICE_ERROR].add_metric(labels, 0)
            families[FS_READONLY].add_metric(labels, readonly)
            for spec, value in zip((FS_SIZE, FS_FREE, FS_AVAIL, FS_FILES, FS_FILES_FREE),
                                   stats, strict=True):
                if value is not None:
                    families[spec].add_metric(labels, value)
        yield from families.values()

    def _disks(self) -> Iterable[Metric]:
        counters = psutil.disk_io_counters(perdisk=True) or {}
        families = [(field, spec.family(), scale) for field, spec, scale in DISK_SPECS]
        for device, io in sorted(counters.items()):
            if self._disk_exclude.search(device):
                continue
            for field, family, scale in families:
                value = getattr(io, field, None)
                if value is not None:
                    family.add_metric([device], value * scale)
        yield from (family for _, family, _ in families)

    def _network(self) -> Iterable[Metric]:
        counters = psutil.net_io_counters(pernic=True)
        stats = psutil.net_if_stats()
        families = [(field, spec.family()) for field, spec in NET_SPECS]
        up, mtu, speed = NET_UP.family(), NET_MTU.family(), NET_SPEED.family()
        for device, io in sorted(counters.items()):
            if self._netdev_exclude.search(device):
                continue
            for field, family in families:
                family.add_metric([device], getattr(io, field))
            st = stats.get(device)
            if st is not None:
                up.add_metric([device], 1.0 if st.isup else 0.0)
                mtu.add_metric([device], st.mtu)
                if st.speed > 0:
                    speed.add_metric([device], st.speed * 125_000)  # Mbit/s -> bytes/s
        yield from (family for _, family in families)
        yield from (up, mtu, speed)


def _filesystem_stats(mountpoint: str) -> tuple[float, float, float, Any, Any]:
    """(size, free, avail, files, files_free) of a mounted filesystem; files are None on Windows."""
    if hasattr(os, "statvfs"):
        st = os.statvfs(mountpoint)
        return (st.f_blocks * st.f_frsize, st.f_bfree * st.f_frsize, st.f_bavail * st.f_frsize,
                st.f_files, st.f_ffree)
    usage = psutil.disk_usage(mountpoint)
    return usage.total, usage.free, usage.free, None, None


def _read(path: Path) -> str:
    try:
        return path.read_text().strip()
    except OSError:
        return ""
