"""What the node is: sections ``uname`` and ``os`` (``/etc/os-release`` under rootfs)."""

from __future__ import annotations

import platform
import re
from collections.abc import Iterable

from prometheus_client.core import Metric

from agent.modules.base import MetricSpec
from agent.modules.host.roots import Roots, read_text, read_value

UNAME = MetricSpec("node_uname_info", "gauge",
                   "Labeled system information as provided by the uname system call.",
                   ("domainname", "machine", "nodename", "release", "sysname", "version"))
OS_LABELS = ("build_id", "id", "id_like", "image_id", "image_version", "name", "pretty_name",
             "variant", "variant_id", "version", "version_codename", "version_id")
OS_INFO = MetricSpec("node_os_info", "gauge",
                     "A metric with a constant '1' value labeled by " + ", ".join(OS_LABELS)
                     + ".", OS_LABELS)
OS_VERSION = MetricSpec("node_os_version", "gauge",
                        "Metric containing the major.minor part of the OS version.",
                        ("id", "id_like", "name"))
SELINUX_ENABLED = MetricSpec("node_selinux_enabled", "gauge",
                             "SELinux is enabled, 1 is true, 0 is false")
SELINUX_CURRENT_MODE = MetricSpec("node_selinux_current_mode", "gauge",
                                  "SELinux is enforcing, 1 is true, 0 is false")
_OS_RELEASE = re.compile(r"^([A-Z_]+)=(.*)$")
_MAJOR_MINOR = re.compile(r"^(\d+)(\.\d+)?")


def collect_uname(roots: Roots) -> Iterable[Metric]:
    """``node_uname_info``; the domain name comes from ``<procfs>/sys/kernel/domainname``."""
    u = platform.uname()
    domain = read_value(roots.proc("sys/kernel/domainname")) or "(none)"
    family = UNAME.family()
    family.add_metric([domain, u.machine, u.node, u.release, u.system, u.version], 1)
    return (family,)


def parse_os_release(text: str) -> dict[str, str]:
    """KEY=value pairs of os-release(5), quotes removed, keys lowercased."""
    values: dict[str, str] = {}
    for line in text.splitlines():
        match = _OS_RELEASE.match(line.strip())
        if match:
            values[match[1].lower()] = match[2].strip().strip("\"'")
    return values


def collect_os(roots: Roots) -> Iterable[Metric]:
    """``node_os_info`` and ``node_os_version`` from ``/etc/os-release`` or its fallback."""
    try:
        text = read_text(roots.root("/etc/os-release"))
    except OSError:
        text = read_text(roots.root("/usr/lib/os-release"))
    values = parse_os_release(text)
    info = OS_INFO.family()
    info.add_metric([values.get(key, "") for key in OS_LABELS], 1)
    version = OS_VERSION.family()
    match = _MAJOR_MINOR.match(values.get("version_id", ""))
    if match:
        version.add_metric([values.get("id", ""), values.get("id_like", ""),
                            values.get("name", "")], float(match[0]))
    return (info, version)


def collect_selinux(roots: Roots) -> Iterable[Metric]:
    """Whether SELinux is enabled (its filesystem is mounted) and, if so, enforcing."""
    enforce = read_value(roots.sys("fs/selinux/enforce"))
    enabled = SELINUX_ENABLED.family()
    enabled.add_metric([], 0.0 if enforce is None else 1.0)
    families: list[Metric] = [enabled]
    if enforce is not None:
        mode = SELINUX_CURRENT_MODE.family()
        mode.add_metric([], 1.0 if enforce == "1" else 0.0)
        families.append(mode)
    return families
