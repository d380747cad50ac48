"""Section ``filesystem``: the mounts of ``<procfs>/1/mounts`` and statvfs under rootfs."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from prometheus_client.core import Metric

from agent.modules.base import MetricSpec
from agent.modules.host.roots import Roots, read_text

FS_LABELS = ("device", "fstype", "mountpoint")
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
FS_SPECS = (FS_SIZE, FS_FREE, FS_AVAIL, FS_FILES, FS_FILES_FREE, FS_READONLY, FS_DEVICE_ERROR)
_OCTAL = re.compile(r"\\([0-7]{3})")

Statvfs = Callable[[str], os.statvfs_result]


@dataclass(frozen=True)
class Mount:
    """One line of a mounts table, with the kernel's octal escapes (``\\040``) decoded."""

    device: str
    mountpoint: str
    fstype: str
    options: tuple[str, ...]


def _unescape(field: str) -> str:
    return _OCTAL.sub(lambda m: chr(int(m[1], 8)), field)


def parse_mounts(text: str) -> list[Mount]:
    """The mounts of a ``/proc/*/mounts`` table; short lines are skipped."""
    mounts = []
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 4:
            continue
        mounts.append(Mount(_unescape(parts[0]), _unescape(parts[1]), parts[2],
                            tuple(parts[3].split(","))))
    return mounts


def read_mounts(roots: Roots) -> list[Mount]:
    """PID 1's mounts (the host's, from a container with the host's procfs), else procfs's."""
    try:
        return parse_mounts(read_text(roots.proc("1/mounts")))
    except OSError:
        return parse_mounts(read_text(roots.proc("mounts")))


def collect_filesystem(roots: Roots, mount_exclude: re.Pattern[str],
                       fstype_exclude: re.Pattern[str],
                       statvfs: Statvfs = os.statvfs) -> Iterable[Metric]:
    """Size, free, available and inode counts of each mounted filesystem not excluded.

    A filesystem statvfs fails on gets ``node_filesystem_device_error 1`` and its read-only flag,
    nothing else, as node_exporter.
    """
    families = {spec: spec.family() for spec in FS_SPECS}
    seen: set[tuple[str, str, str]] = set()
    for mount in read_mounts(roots):
        mountpoint = roots.strip_rootfs(mount.mountpoint)
        labels = (mount.device, mount.fstype, mountpoint)
        if (labels in seen or mount_exclude.search(mountpoint)
                or fstype_exclude.search(mount.fstype)):
            continue
        seen.add(labels)
        families[FS_READONLY].add_metric(labels, 1.0 if "ro" in mount.options else 0.0)
        try:
            st = statvfs(str(roots.root(mountpoint)))
        except OSError:
            families[FS_DEVICE_ERROR].add_metric(labels, 1)
            continue
        families[FS_DEVICE_ERROR].add_metric(labels, 0)
        for spec, value in ((FS_SIZE, st.f_blocks * st.f_frsize),
                            (FS_FREE, st.f_bfree * st.f_frsize),
                            (FS_AVAIL, st.f_bavail * st.f_frsize),
                            (FS_FILES, st.f_files), (FS_FILES_FREE, st.f_ffree)):
            families[spec].add_metric(labels, float(value))
    return list(families.values())
