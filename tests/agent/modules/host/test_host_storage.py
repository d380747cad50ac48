"""Filesystems and disks, read from a fixture procfs and rootfs."""

from __future__ import annotations

import os

import pytest

from tests.agent.modules.host.collect import by_device, collect
from tests.agent.modules.host.tree import HostTree
from tests.support.samples import maybe_value, samples, value


def test_filesystems_under_rootfs(tree: HostTree) -> None:
    families = collect(tree.config())
    st = os.statvfs(tree.rootfs)
    root = {"device": "/dev/vda", "fstype": "ext4", "mountpoint": "/"}
    assert value(families, "node_filesystem_size_bytes", **root) == st.f_blocks * st.f_frsize
    assert value(families, "node_filesystem_files", **root) == st.f_files
    assert value(families, "node_filesystem_readonly", **root) == 0
    assert value(families, "node_filesystem_device_error", **root) == 0
    # \040 in the mounts table is a space in the mount point
    data = {"device": "/dev/vdb", "fstype": "xfs", "mountpoint": "/srv/data store"}
    assert value(families, "node_filesystem_readonly", **data) == 1
    assert value(families, "node_filesystem_avail_bytes", **data) > 0


def test_a_filesystem_statvfs_fails_on_reports_device_error_only(tree: HostTree) -> None:
    families = collect(tree.config())
    gone = {"device": "tmpfs", "fstype": "tmpfs", "mountpoint": "/gone"}  # no such folder
    assert value(families, "node_filesystem_device_error", **gone) == 1
    assert value(families, "node_filesystem_readonly", **gone) == 0
    assert maybe_value(families, "node_filesystem_size_bytes", **gone) is None
    mounts = {dict(k)["mountpoint"] for k in samples(families, "node_filesystem_readonly")}
    assert "/proc" not in mounts  # excluded by node_exporter's defaults


def test_mounts_fall_back_to_procfs_mounts(tree: HostTree) -> None:
    os.rename(tree.procfs / "1/mounts", tree.procfs / "mounts")
    families = collect(tree.config())
    assert value(families, "node_filesystem_readonly", mountpoint="/srv/data store") == 1


def test_diskstats_every_column(tree: HostTree) -> None:
    """Times are milliseconds times 0.001, as node_exporter computes them (same rounding)."""
    families = collect(tree.config())
    assert set(by_device(families, "node_disk_reads_completed_total")) == {"vda", "zram0"}
    vda = {"device": "vda"}
    assert value(families, "node_disk_read_bytes_total", **vda) == 6934418 * 512
    assert value(families, "node_disk_read_time_seconds_total", **vda) == pytest.approx(3722.113)
    assert value(families, "node_disk_writes_merged_total", **vda) == 183001
    assert value(families, "node_disk_written_bytes_total", **vda) == 10114952 * 512
    assert value(families, "node_disk_io_now", **vda) == 2
    assert value(families, "node_disk_io_time_seconds_total", **vda) == pytest.approx(243.024)
    weighted = value(families, "node_disk_io_time_weighted_seconds_total", **vda)
    assert weighted == pytest.approx(4022.301)
    assert value(families, "node_disk_discards_completed_total", **vda) == 82048
    assert value(families, "node_disk_discards_merged_total", **vda) == 72
    assert value(families, "node_disk_discarded_sectors_total", **vda) == 3610256
    assert value(families, "node_disk_discard_time_seconds_total", **vda) == pytest.approx(102.371)
    assert value(families, "node_disk_flush_requests_total", **vda) == 26800
    flush = value(families, "node_disk_flush_requests_time_seconds_total", **vda)
    assert flush == pytest.approx(4.331)


def test_old_kernel_columns_only_what_it_has(tree: HostTree) -> None:
    families = collect(tree.config())
    weighted = value(families, "node_disk_io_time_weighted_seconds_total", device="zram0")
    assert weighted == pytest.approx(0.001)
    assert maybe_value(families, "node_disk_discards_completed_total", device="zram0") is None


def test_disk_info_from_udev(tree: HostTree) -> None:
    families = collect(tree.config())
    assert value(families, "node_disk_info", device="vda", major="254", minor="0",
                 path="pci-0000:00:05.0", serial="abc123", model="QEMU_DISK", wwn="",
                 revision="") == 1
    assert value(families, "node_disk_info", device="zram0", model="") == 1
