"""CPU, /proc/stat counters, memory and load, read from a fixture procfs."""

from __future__ import annotations

import pytest

from agent.modules.host.procstat import user_hz
from tests.agent.modules.host.collect import NOW, collect
from tests.agent.modules.host.tree import HostTree
from tests.support.samples import maybe_value, samples, value


def test_cpu_label_is_the_n_of_cpun_with_a_cpu_offline(tree: HostTree) -> None:
    families = collect(tree.config())
    hz = user_hz()
    cpus = {dict(k)["cpu"] for k in samples(families, "node_cpu_seconds_total")}
    assert cpus == {"0", "2"}  # cpu1 is offline: cpu2 keeps its number
    assert value(families, "node_cpu_seconds_total", cpu="2", mode="user") == 2000 / hz
    assert value(families, "node_cpu_seconds_total", cpu="0", mode="idle") == 25000 / hz
    assert value(families, "node_cpu_seconds_total", cpu="2", mode="steal") == 3 / hz
    modes = {dict(k)["mode"] for k in samples(families, "node_cpu_seconds_total")}
    assert modes == {"user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"}


def test_guest_seconds_apart_as_node_exporter(tree: HostTree) -> None:
    families = collect(tree.config())
    hz = user_hz()
    assert value(families, "node_cpu_guest_seconds_total", cpu="0", mode="user") == 30 / hz
    assert value(families, "node_cpu_guest_seconds_total", cpu="2", mode="nice") == 4 / hz


def test_stat_counters(tree: HostTree) -> None:
    families = collect(tree.config())
    assert value(families, "node_boot_time_seconds") == 1_700_000_000
    assert value(families, "node_context_switches_total") == 987654
    assert value(families, "node_intr_total") == 123456
    assert value(families, "node_forks_total") == 4321
    assert value(families, "node_procs_running") == 3
    assert value(families, "node_procs_blocked") == 1
    assert value(families, "commune_host_uptime_seconds") == NOW - 1_700_000_000


def test_load_from_procfs_not_the_live_kernel(tree: HostTree) -> None:
    families = collect(tree.config())
    assert [value(families, f"node_load{n}") for n in (1, 5, 15)] == [0.5, 1.25, 2.75]


def test_meminfo_and_vmstat(tree: HostTree) -> None:
    families = collect(tree.config())
    assert value(families, "node_memory_MemAvailable_bytes") == 4567890 * 1024
    assert value(families, "node_memory_Active_anon_bytes") == 512000 * 1024
    assert value(families, "node_memory_HugePages_Total") == 0
    assert value(families, "node_vmstat_pgmajfault") == 66
    assert value(families, "node_vmstat_oom_kill") == 2
    assert value(families, "node_vmstat_pswpout") == 4
    assert maybe_value(families, "node_vmstat_nr_free_pages") is None  # not in the default set
    vmstat = next(f for f in families if f.name == "node_vmstat_pgfault")
    assert vmstat.type == "unknown"  # untyped, as node_exporter


@pytest.mark.parametrize("fields, present, absent", [
    ("^nr_.*", "node_vmstat_nr_dirty", "node_vmstat_pgfault"),
    ("^pgfault$", "node_vmstat_pgfault", "node_vmstat_pgmajfault"),
])
def test_vmstat_fields_configurable(tree: HostTree, fields: str, present: str,
                                    absent: str) -> None:
    families = collect(tree.config(vmstat_fields=fields))
    assert maybe_value(families, present) is not None
    assert maybe_value(families, absent) is None
