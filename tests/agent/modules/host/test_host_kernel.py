"""Pressure, entropy, file handles, clock, timex and identity, from a fixture tree."""

from __future__ import annotations

import os
import time

import pytest

from agent.modules.host.clock import Timex, collect_timex, read_timex
from tests.agent.modules.host.collect import NOW, collect
from tests.agent.modules.host.tree import HostTree
from tests.support.samples import maybe_value, value


def test_pressure_in_seconds(tree: HostTree) -> None:
    families = collect(tree.config())
    assert value(families, "node_pressure_cpu_waiting_seconds_total") == 5.0
    assert value(families, "node_pressure_io_waiting_seconds_total") == 2.5
    assert value(families, "node_pressure_io_stalled_seconds_total") == 1.0
    assert value(families, "node_pressure_memory_waiting_seconds_total") == 0.0003
    assert value(families, "node_pressure_memory_stalled_seconds_total") == 0.0001


def test_entropy_and_filefd(tree: HostTree) -> None:
    families = collect(tree.config())
    assert value(families, "node_entropy_available_bits") == 256
    assert value(families, "node_entropy_pool_size_bits") == 4096
    assert value(families, "node_filefd_allocated") == 1412
    assert value(families, "node_filefd_maximum") == 2466170


def test_time_zone_and_clocksources(tree: HostTree) -> None:
    families = collect(tree.config())
    assert value(families, "node_time_seconds") == NOW
    for source in ("kvm-clock", "tsc", "acpi_pm"):
        assert value(families, "node_time_clocksource_available_info", clocksource=source,
                     device="0") == 1
    assert value(families, "node_time_clocksource_current_info", clocksource="kvm-clock",
                 device="0") == 1
    assert maybe_value(families, "node_time_clocksource_current_info", clocksource="tsc") is None
    local = time.localtime(NOW)
    assert value(families, "node_time_zone_offset_seconds", time_zone=local.tm_zone) == \
        local.tm_gmtoff


def test_uname_os_and_selinux(tree: HostTree) -> None:
    families = collect(tree.config())
    assert value(families, "node_uname_info", domainname="example.lan",
                 nodename=os.uname().nodename) == 1
    assert value(families, "node_os_info", id="debian", version_id="12",
                 pretty_name="Debian GNU/Linux 12 (bookworm)", version_codename="bookworm",
                 build_id="") == 1
    assert value(families, "node_os_version", id="debian", name="Debian GNU/Linux") == 12
    assert value(families, "node_selinux_enabled") == 0
    tree.write(tree.sysfs / "fs/selinux/enforce", "1\n")
    families = collect(tree.config())
    assert value(families, "node_selinux_enabled") == 1
    assert value(families, "node_selinux_current_mode") == 1


def test_timex_conversions() -> None:
    """STA_NANO offsets are nanoseconds; freq is ppm with a 16-bit fraction."""
    tx = Timex(offset=2_500_000, freq=65536 * 10, maxerror=16_000, esterror=1_500, status=0x2001,
               constant=7, tick=10_000, shift=2, tai=37)
    families = collect_timex(lambda: (0, tx))
    assert value(families, "node_timex_offset_seconds") == 0.0025
    assert value(families, "node_timex_frequency_adjustment_ratio") == pytest.approx(1.00001)
    assert value(families, "node_timex_maxerror_seconds") == 0.016
    assert value(families, "node_timex_estimated_error_seconds") == 0.0015
    assert value(families, "node_timex_status") == 0x2001
    assert value(families, "node_timex_tick_seconds") == 0.01
    assert value(families, "node_timex_pps_shift_seconds") == 4
    assert value(families, "node_timex_tai_offset_seconds") == 37
    assert value(families, "node_timex_sync_status") == 1
    assert value(collect_timex(lambda: (5, tx)), "node_timex_sync_status") == 0  # TIME_ERROR


def test_timex_reads_the_kernel() -> None:
    state, tx = read_timex()
    assert 0 <= state <= 5
    assert tx.tick > 0  # microseconds per tick: 10000 at HZ=100
