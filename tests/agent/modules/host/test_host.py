"""The host module on the live machine: node_exporter's names, values that match psutil and /proc.

Fixture trees (tree.py) test each section's values; these tests read this machine.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Sequence
from pathlib import Path

import psutil
import pytest
from prometheus_client.core import Metric

from agent.modules import MODULES
from agent.modules.base import MetricSpec
from agent.modules.host import HostModule, parse_meminfo
from agent.modules.host.module import DYNAMIC_PREFIXES
from agent.modules.host_config import HostConfig
from common.schema import Invalid
from tests.support.paths import FIXTURES, ROOT
from tests.support.samples import samples, value

FIXTURE_PROC = FIXTURES / "proc"
STANDARD_PREFIXES = ("node_", "probe_", "process_", "if", "sys", "hr", "ucd", "la", "mem", "ss",
                     "dsk")


def collect(module: HostModule) -> dict[str, Metric]:
    return {family.name: family for family in module.collect()}


def test_meminfo_names_as_node_exporter() -> None:
    values = parse_meminfo((FIXTURE_PROC / "meminfo").read_text())
    assert values["node_memory_MemTotal_bytes"] == 8048576 * 1024
    assert values["node_memory_Active_anon_bytes"] == 512000 * 1024
    assert values["node_memory_Inactive_file_bytes"] == 256000 * 1024
    assert values["node_memory_HugePages_Total"] == 0  # no unit, no _bytes
    assert values["node_memory_Hugepagesize_bytes"] == 2048 * 1024
    assert len(values) == 13


def test_portable_memory_without_proc(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where /proc is missing (Windows), memory comes from psutil's portable calls."""
    monkeypatch.setattr(sys, "platform", "win32")
    families = collect(HostModule(HostConfig()))
    assert value(families, "node_memory_MemTotal_bytes") == psutil.virtual_memory().total
    assert value(families, "node_memory_SwapTotal_bytes") == psutil.swap_memory().total
    assert "node_memory_Active_anon_bytes" not in families


def test_values_match_psutil_and_proc() -> None:
    before_cpu = psutil.cpu_times(percpu=True)
    before_net = psutil.net_io_counters(pernic=True)
    families = collect(HostModule(HostConfig()))
    after_cpu = psutil.cpu_times(percpu=True)

    online = sorted(int(k[0][1]) for k in samples(families, "node_cpu_seconds_total")
                    if k[1] == ("mode", "idle"))
    for cpu, b, a in zip(online, before_cpu, after_cpu, strict=True):
        got = value(families, "node_cpu_seconds_total", cpu=str(cpu), mode="idle")
        assert b.idle - 0.01 <= got <= a.idle + 0.01  # psutil rounds to the tick too
    if Path("/proc/meminfo").exists():
        total = parse_meminfo(Path("/proc/meminfo").read_text())["node_memory_MemTotal_bytes"]
        assert value(families, "node_memory_MemTotal_bytes") == total
    assert value(families, "node_boot_time_seconds") == pytest.approx(psutil.boot_time(), abs=1)
    assert value(families, "node_load1") == pytest.approx(os.getloadavg()[0], abs=1.0)

    st = os.statvfs("/")
    assert value(families, "node_filesystem_size_bytes", mountpoint="/") == \
        st.f_blocks * st.f_frsize
    avail = value(families, "node_filesystem_avail_bytes", mountpoint="/")
    assert avail == pytest.approx(st.f_bavail * st.f_frsize, rel=0.01)
    assert value(families, "node_filesystem_files", mountpoint="/") == st.f_files

    lo = before_net["lo"]
    assert value(families, "node_network_receive_bytes_total", device="lo") >= lo.bytes_recv
    assert value(families, "node_network_up", device="lo") == 0  # operstate "unknown"
    uptime = value(families, "commune_host_uptime_seconds")
    assert uptime == pytest.approx(value(families, "node_time_seconds")
                                   - value(families, "node_boot_time_seconds"), abs=1)
    assert all(ok == 1 for ok in samples(families, "node_scrape_collector_success").values())


def test_excludes_like_node_exporter() -> None:
    families = collect(HostModule(HostConfig()))
    mounts = {s.labels["mountpoint"] for s in families["node_filesystem_size_bytes"].samples}
    fstypes = {s.labels["fstype"] for s in families["node_filesystem_size_bytes"].samples}
    assert "/" in mounts
    assert not {m for m in mounts if re.match(r"^/(proc|sys|dev)($|/)", m)}
    assert not fstypes & {"proc", "sysfs", "cgroup2", "overlay", "devpts"}
    disks = {s.labels["device"] for s in families["node_disk_read_bytes"].samples}
    assert disks
    assert not {d for d in disks if re.match(r"^(loop|ram)\d+$", d)}

    only_lo = collect(HostModule(HostConfig(netdev_exclude="^(?!lo$)")))
    devices = {s.labels["device"] for s in only_lo["node_network_receive_bytes"].samples}
    assert devices == {"lo"}


def test_declared_metrics_follow_the_naming_guide() -> None:
    """Every declared metric of every registered module: valid name, help, unit suffixes."""
    for info in MODULES.values():
        specs: Sequence[MetricSpec] = info.load().metrics  # off the class: no config needed
        assert specs, info.name
        for spec in specs:
            assert re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", spec.name), spec.name
            assert spec.help.strip(), spec.name
            assert spec.name.startswith(("commune_", *STANDARD_PREFIXES)), spec.name
            if spec.kind == "counter":
                assert spec.name.endswith("_total"), spec.name
            else:
                assert not spec.name.endswith("_total"), spec.name
            if spec.name.startswith("commune_") and ("seconds" in spec.name
                                                     or "bytes" in spec.name):
                assert re.search(r"_(seconds|bytes)(_total)?$", spec.name), spec.name


def test_collected_families_are_declared() -> None:
    module = HostModule(HostConfig())
    declared = {spec.name for spec in module.metrics}
    for family in module.collect():
        name = family.name + ("_total" if family.type == "counter" else "")
        if not name.startswith(DYNAMIC_PREFIXES):  # named after the kernel's fields
            assert name in declared, name


def test_roots_must_be_absolute() -> None:
    with pytest.raises(Invalid, match="absolute path") as caught:
        HostConfig(procfs="host/proc")
    assert caught.value.key == "procfs"


def test_every_registered_module_has_a_test_file() -> None:
    tests = ROOT / "tests"
    for name in MODULES:
        assert list(tests.glob(f"**/test_{name}*.py")), f"no tests for module {name}"
