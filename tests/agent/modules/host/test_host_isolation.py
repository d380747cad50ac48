"""Each section fails alone: a missing or unparsable file costs that section's families only."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from agent.modules.host import HostModule
from tests.agent.modules.host.collect import collect, succeeded
from tests.agent.modules.host.tree import HostTree
from tests.support.samples import maybe_value, samples, value

LINUX_SECTIONS = {"cpu", "stat", "loadavg", "meminfo", "filesystem", "diskstats", "netdev",
                  "netclass", "arp", "netstat", "sockstat", "softnet", "udp_queues", "vmstat",
                  "pressure", "entropy", "filefd", "conntrack", "timex", "selinux", "time",
                  "uname", "os", "textfile"}


def test_every_section_succeeds_on_a_complete_tree(tree: HostTree) -> None:
    families = collect(tree.config())
    assert succeeded(families) == dict.fromkeys(LINUX_SECTIONS, 1.0)
    durations = samples(families, "node_scrape_collector_duration_seconds")
    assert {dict(k)["collector"] for k in durations} == LINUX_SECTIONS
    assert all(0 <= d < 5 for d in durations.values())


@pytest.mark.parametrize("missing, section, lost, kept", [
    ("net/dev", "netdev", "node_network_receive_bytes_total", "node_network_up"),
    ("1/mounts", "filesystem", "node_filesystem_size_bytes", "node_disk_io_now"),
    ("loadavg", "loadavg", "node_load1", "node_memory_MemTotal_bytes"),
    ("pressure/io", "pressure", "node_pressure_cpu_waiting_seconds_total", "node_load1"),
    ("sys/net/netfilter/nf_conntrack_count", "conntrack", "node_nf_conntrack_entries",
     "node_filefd_allocated"),
    ("stat", "cpu", "node_cpu_seconds_total", "node_network_receive_bytes_total"),
])
def test_a_missing_file_fails_its_section_only(tree: HostTree, missing: str, section: str,
                                               lost: str, kept: str) -> None:
    tree.remove(missing)
    families = collect(tree.config())
    status = succeeded(families)
    assert status[section] == 0
    both = {"cpu", "stat"}  # the two sections of /proc/stat
    assert {s for s, ok in status.items() if not ok} == (both if section in both else {section})
    assert maybe_value(families, lost) is None
    assert samples(families, kept)


def test_an_unparsable_file_fails_its_section_only(tree: HostTree) -> None:
    tree.write(tree.procfs / "loadavg", "not numbers\n")
    tree.write(tree.procfs / "sys/fs/file-nr", "1 2\n")
    families = collect(tree.config())
    status = succeeded(families)
    assert {s for s, ok in status.items() if not ok} == {"loadavg", "filefd"}
    assert value(families, "node_entropy_available_bits") == 256


def test_no_sysfs_at_all(tree: HostTree, tmp_path: Path) -> None:
    families = collect(tree.config(sysfs=str(tmp_path / "nowhere")))
    status = succeeded(families)
    assert status["netclass"] == 0
    assert status["time"] == 1  # clocksources are optional
    assert status["netdev"] == 1  # receive_nohandler is optional
    assert maybe_value(families, "node_network_receive_nohandler_total", device="lo") is None


def test_a_failure_is_logged_once_and_its_recovery(tree: HostTree,
                                                  caplog: pytest.LogCaptureFixture) -> None:
    module = HostModule(tree.config())
    tree.remove("net/arp")
    with caplog.at_level(logging.INFO, logger="agent.modules.host.sections"):
        for _ in range(3):
            module.collect()
        tree.write(tree.procfs / "net/arp", "IP address HW type Flags HW address Mask Device\n")
        assert succeeded(list(module.collect()))["arp"] == 1
    messages = [r.getMessage() for r in caplog.records]
    assert len([m for m in messages if "arp failed" in m]) == 1, messages
    assert any("arp recovered" in m for m in messages)
