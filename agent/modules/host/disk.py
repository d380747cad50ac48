"""Section ``diskstats``: ``<procfs>/diskstats``, with udev's device properties for the info."""

from __future__ import annotations

import re
from collections.abc import Iterable

from prometheus_client.core import Metric

from agent.modules.base import MetricKind, MetricSpec
from agent.modules.host.roots import Roots, read_text

SECTOR = 512.0  # /proc/diskstats counts 512-byte sectors whatever the device's block size
MS = 0.001

# The columns after major, minor and name (Documentation/admin-guide/iostats.rst), in order:
# (metric, kind, help, scale).
_COLUMNS: tuple[tuple[str, MetricKind, str, float], ...] = (
    ("node_disk_reads_completed_total", "counter",
     "The total number of reads completed successfully.", 1.0),
    ("node_disk_reads_merged_total", "counter", "The total number of reads merged.", 1.0),
    ("node_disk_read_bytes_total", "counter",
     "The total number of bytes read successfully.", SECTOR),
    ("node_disk_read_time_seconds_total", "counter",
     "The total number of seconds spent by all reads.", MS),
    ("node_disk_writes_completed_total", "counter",
     "The total number of writes completed successfully.", 1.0),
    ("node_disk_writes_merged_total", "counter", "The number of writes merged.", 1.0),
    ("node_disk_written_bytes_total", "counter",
     "The total number of bytes written successfully.", SECTOR),
    ("node_disk_write_time_seconds_total", "counter",
     "This is the total number of seconds spent by all writes.", MS),
    ("node_disk_io_now", "gauge", "The number of I/Os currently in progress.", 1.0),
    ("node_disk_io_time_seconds_total", "counter", "Total seconds spent doing I/Os.", MS),
    ("node_disk_io_time_weighted_seconds_total", "counter",
     "The weighted # of seconds spent doing I/Os.", MS),
    ("node_disk_discards_completed_total", "counter",
     "The total number of discards completed successfully.", 1.0),
    ("node_disk_discards_merged_total", "counter", "The total number of discards merged.",
     1.0),
    ("node_disk_discarded_sectors_total", "counter",
     "The total number of sectors discarded successfully.", 1.0),
    ("node_disk_discard_time_seconds_total", "counter",
     "This is the total number of seconds spent by all discards.", MS),
    ("node_disk_flush_requests_total", "counter",
     "The total number of flush requests completed successfully", 1.0),
    ("node_disk_flush_requests_time_seconds_total", "counter",
     "This is the total number of seconds spent by all flush requests.", MS),
)
DISK_COLUMNS = tuple((MetricSpec(name, kind, help_, ("device",)), scale)
                     for name, kind, help_, scale in _COLUMNS)
DISK_INFO = MetricSpec("node_disk_info", "gauge", "Info of /sys/block/<block_device>.",
                       ("device", "major", "minor", "path", "wwn", "model", "serial",
                        "revision"))
# node_disk_info label -> udev property (/run/udev/data/b<major>:<minor>, lines E:KEY=value)
UDEV_PROPERTIES = (("path", "ID_PATH"), ("wwn", "ID_WWN"), ("model", "ID_MODEL"),
                   ("serial", "ID_SERIAL_SHORT"), ("revision", "ID_REVISION"))


def udev_properties(roots: Roots, major: str, minor: str) -> dict[str, str]:
    """The ``E:`` properties udev recorded for a block device; empty when it has none."""
    try:
        text = read_text(roots.root(f"/run/udev/data/b{major}:{minor}"))
    except OSError:
        return {}
    props = {}
    for line in text.splitlines():
        if line.startswith("E:"):
            key, _, value = line[2:].partition("=")
            props[key] = value
    return props


def collect_diskstats(roots: Roots, exclude: re.Pattern[str]) -> Iterable[Metric]:
    """Every column of /proc/diskstats the kernel provides, for the devices not excluded."""
    families = [(spec.family(), scale) for spec, scale in DISK_COLUMNS]
    info = DISK_INFO.family()
    for line in read_text(roots.proc("diskstats")).splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        major, minor, device = parts[:3]
        if exclude.search(device):
            continue
        for (family, scale), raw in zip(families, parts[3:], strict=False):
            family.add_metric([device], float(raw) * scale)
        props = udev_properties(roots, major, minor)
        info.add_metric([device, major, minor,
                         *(props.get(key, "") for _, key in UDEV_PROPERTIES)], 1)
    return [*(family for family, _ in families), info]
