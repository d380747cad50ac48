"""Config of the ``host`` module (kept apart so loading a config imports no collection code)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.modules.base import ModuleConfig
from common.schema import Invalid

# node_exporter 1.5's defaults, so the same filesystems and disks show up.
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


@dataclass(frozen=True)
class HostConfig(ModuleConfig):
    """``modules.host``: which filesystems, disks and network devices to leave out (regexes)."""

    mount_points_exclude: str = DEFAULT_MOUNT_POINTS_EXCLUDE
    fs_types_exclude: str = DEFAULT_FS_TYPES_EXCLUDE
    disk_devices_exclude: str = DEFAULT_DISK_DEVICES_EXCLUDE
    netdev_exclude: str = DEFAULT_NETDEV_EXCLUDE

    def __post_init__(self) -> None:
        for key in ("mount_points_exclude", "fs_types_exclude", "disk_devices_exclude",
                    "netdev_exclude"):
            try:
                re.compile(getattr(self, key))
            except re.error as exc:
                raise Invalid(f"not a valid regular expression: {exc}", key=key) from None
