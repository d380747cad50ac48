"""Section ``filesystem``: the mounts of ``<procfs>/1/mounts`` and statvfs under rootfs.

statvfs on a mount whose server stopped answering (NFS, CIFS) blocks in the kernel, for good
with a ``hard`` NFS mount. :class:`StatWatch` asks each mount in a thread of its own and waits
``mount_timeout`` at most, as node_exporter's ``--collector.filesystem.mount-timeout``.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

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
FS_STUCK = MetricSpec("commune_host_filesystem_stuck_mounts", "gauge",
                      "Mounts whose statvfs has not returned within mount_timeout: reported with "
                      "node_filesystem_device_error 1 and not asked again until it returns.")
FS_SPECS = (FS_SIZE, FS_FREE, FS_AVAIL, FS_FILES, FS_FILES_FREE, FS_READONLY, FS_DEVICE_ERROR,
            FS_STUCK)
_OCTAL = re.compile(r"\\([0-7]{3})")

log = logging.getLogger(__name__)

Statvfs = Callable[[str], os.statvfs_result]
# What asking a mount gave: its numbers, the error it raised, or None while it has not answered.
StatResult = os.statvfs_result | Exception | None


@dataclass
class _Call:
    """One statvfs in flight; ``result`` is set, under the watch's lock, when it returns."""

    path: str
    started: float
    done: threading.Event = field(default_factory=threading.Event)
    result: StatResult = None


class StatWatch:
    """statvfs of each mount in a worker thread, waited on for at most ``timeout`` seconds.

    A mount whose call has not returned by then is *stuck*: it gets None (the section reports
    ``node_filesystem_device_error 1``) and is not asked again until that call returns, so a
    mount never has more than one call outstanding and a hung server costs one thread, not one
    per collection. A warning is logged when a mount gets stuck, a line when its call returns.
    """

    def __init__(self, timeout: float, statvfs: Statvfs = os.statvfs,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.timeout = timeout
        self.statvfs = statvfs
        self.clock = clock
        self._stuck: dict[str, _Call] = {}
        self._lock = threading.Lock()

    def stuck(self) -> list[str]:
        """The paths whose call is still outstanding past the timeout."""
        with self._lock:
            return sorted(self._stuck)

    def stat(self, paths: Sequence[str]) -> dict[str, StatResult]:
        """Each path's statvfs, asked all at once; None for a stuck path (now or from before)."""
        results: dict[str, StatResult] = {}
        calls: list[_Call] = []
        with self._lock:
            stuck = set(self._stuck)
        for path in dict.fromkeys(paths):
            if path in stuck:
                results[path] = None
                continue
            call = _Call(path, self.clock())
            threading.Thread(target=self._run, args=(call,), name=f"statvfs {path}",
                             daemon=True).start()
            calls.append(call)
        deadline = self.clock() + self.timeout
        for call in calls:
            call.done.wait(max(0.0, deadline - self.clock()))
            with self._lock:
                if not call.done.is_set():
                    self._stuck[call.path] = call
                results[call.path] = call.result
            if call.result is None:
                log.warning("host filesystem: statvfs of %s did not answer within %gs "
                            "(mount_timeout); it is reported with node_filesystem_device_error 1 "
                            "and not asked again until the call returns", call.path, self.timeout)
        return results

    def _run(self, call: _Call) -> None:
        result: StatResult
        try:
            result = self.statvfs(call.path)
        # Whatever the call raised is that mount's error, not the section's.
        except Exception as exc:
            result = exc
        with self._lock:
            call.result = result
            call.done.set()
            late = self._stuck.pop(call.path, None) is not None
        if late:
            log.info("host filesystem: statvfs of %s returned after %.0fs; the mount is asked "
                     "again from the next collection", call.path, self.clock() - call.started)


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
                       fstype_exclude: re.Pattern[str], watch: StatWatch) -> Iterable[Metric]:
    """Size, free, available and inode counts of each mounted filesystem not excluded.

    A filesystem statvfs fails on, or that did not answer within the watch's timeout, gets
    ``node_filesystem_device_error 1`` and its read-only flag, nothing else, as node_exporter.
    """
    families = {spec: spec.family() for spec in FS_SPECS}
    seen: dict[tuple[str, str, str], tuple[Mount, str]] = {}
    for mount in read_mounts(roots):
        mountpoint = roots.strip_rootfs(mount.mountpoint)
        labels = (mount.device, mount.fstype, mountpoint)
        if (labels in seen or mount_exclude.search(mountpoint)
                or fstype_exclude.search(mount.fstype)):
            continue
        seen[labels] = (mount, str(roots.root(mountpoint)))
    stats = watch.stat([path for _, path in seen.values()])
    for labels, (mount, path) in seen.items():
        families[FS_READONLY].add_metric(labels, 1.0 if "ro" in mount.options else 0.0)
        st = stats[path]
        if not isinstance(st, os.statvfs_result):
            families[FS_DEVICE_ERROR].add_metric(labels, 1)
            continue
        families[FS_DEVICE_ERROR].add_metric(labels, 0)
        for spec, value in ((FS_SIZE, st.f_blocks * st.f_frsize),
                            (FS_FREE, st.f_bfree * st.f_frsize),
                            (FS_AVAIL, st.f_bavail * st.f_frsize),
                            (FS_FILES, st.f_files), (FS_FILES_FREE, st.f_ffree)):
            families[spec].add_metric(labels, float(value))
    families[FS_STUCK].add_metric((), len(watch.stuck()))
    return list(families.values())
