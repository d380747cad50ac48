"""Config of the ``host`` module (kept apart so loading a config imports no collection code)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.modules.base import ModuleConfig
from common.schema import Invalid
from common.units import Duration

# node_exporter 1.5's defaults, so the same filesystems, disks and counters show up.
DEFAULT_MOUNT_POINTS_EXCLUDE = (
    r"^/(dev|proc|run/credentials/.+|sys|var/lib/docker/.+|var/lib/containers/storage/.+)($|/)"
)
DEFAULT_FS_TYPES_EXCLUDE = (
    r"^(autofs|binfmt_misc|bpf|cgroup2?|configfs|debugfs|devpts|devtmpfs|fusectl|hugetlbfs"
    r"|iso9660|mqueue|nsfs|overlay|proc|procfs|pstore|rpc_pipefs|securityfs|selinuxfs"
    r"|squashfs|sysfs|tracefs)$"
)
DEFAULT_DISK_DEVICES_EXCLUDE = r"^(ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$"
DEFAULT_NETDEV_EXCLUDE = r"^$"
DEFAULT_NETSTAT_FIELDS = (
    r"^(.*_(InErrors|InErrs)|Ip_Forwarding|Ip(6|Ext)_(InOctets|OutOctets)|Icmp6?_(InMsgs|OutMsgs)"
    r"|TcpExt_(Listen.*|Syncookies.*|TCPSynRetrans|TCPTimeouts)"
    r"|Tcp_(ActiveOpens|InSegs|OutSegs|OutRsts|PassiveOpens|RetransSegs|CurrEstab)"
    r"|Udp6?_(InDatagrams|OutDatagrams|NoPorts|RcvbufErrors|SndbufErrors))$"
)
DEFAULT_VMSTAT_FIELDS = r"^(oom_kill|pgpg|pswp|pg.*fault).*"
DEFAULT_MOUNT_TIMEOUT = Duration(5)  # node_exporter's --collector.filesystem.mount-timeout
_REGEX_KEYS = ("mount_points_exclude", "fs_types_exclude", "disk_devices_exclude",
               "netdev_exclude", "netstat_fields", "vmstat_fields")


@dataclass(frozen=True)
class HostConfig(ModuleConfig):
    """``modules.host``: where the kernel's files are, what to leave out, the textfile folder.

    ``procfs``, ``sysfs`` and ``rootfs`` are node_exporter's ``--path.*`` roots: an agent in a
    container reads the host through them (``/host/proc``...). ``textfile_directory`` is
    node_exporter's ``--collector.textfile.directory`` (empty: no textfile collector);
    ``processes`` turns on node_exporter's ``processes`` collector (off there too);
    ``mount_timeout`` is how long a mount's statvfs may take before the mount is reported
    stuck (node_exporter's ``--collector.filesystem.mount-timeout``). It is not held against the
    module's ``timeout``: an agent collecting every 1s keeps the default, and the one collection
    that outlives its timeout when a mount first hangs is abandoned by the scheduler.
    """

    procfs: str = "/proc"
    sysfs: str = "/sys"
    rootfs: str = "/"
    textfile_directory: str = ""
    processes: bool = False
    mount_points_exclude: str = DEFAULT_MOUNT_POINTS_EXCLUDE
    fs_types_exclude: str = DEFAULT_FS_TYPES_EXCLUDE
    disk_devices_exclude: str = DEFAULT_DISK_DEVICES_EXCLUDE
    netdev_exclude: str = DEFAULT_NETDEV_EXCLUDE
    netstat_fields: str = DEFAULT_NETSTAT_FIELDS
    vmstat_fields: str = DEFAULT_VMSTAT_FIELDS
    mount_timeout: Duration = DEFAULT_MOUNT_TIMEOUT

    def __post_init__(self) -> None:
        if self.mount_timeout <= 0:
            raise Invalid(f"must be greater than 0s, like '5s', got '{self.mount_timeout}'",
                          key="mount_timeout")
        for key in _REGEX_KEYS:
            try:
                re.compile(getattr(self, key))
            except re.error as exc:
                raise Invalid(f"not a valid regular expression: {exc}", key=key) from None
        for key in ("procfs", "sysfs", "rootfs"):
            if not getattr(self, key).startswith("/"):
                raise Invalid(f"expected an absolute path like '/host/{key.removesuffix('fs')}', "
                              f"got {getattr(self, key)!r}", key=key)
