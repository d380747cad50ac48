"""``/proc/stat``: CPU times (section ``cpu``) and the kernel's counters (section ``stat``)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client.core import Metric

from agent.modules.base import MetricSpec
from agent.modules.host.roots import Roots, read_text

CPU_SECONDS = MetricSpec("node_cpu_seconds_total", "counter",
                         "Seconds the CPUs spent in each mode.", ("cpu", "mode"))
CPU_GUEST_SECONDS = MetricSpec("node_cpu_guest_seconds_total", "counter",
                               "Seconds the CPUs spent in guests (VMs) for each mode.",
                               ("cpu", "mode"))
BOOT_TIME = MetricSpec("node_boot_time_seconds", "gauge", "Node boot time, in unixtime.")
CONTEXT_SWITCHES = MetricSpec("node_context_switches_total", "counter",
                              "Total number of context switches.")
INTERRUPTS = MetricSpec("node_intr_total", "counter", "Total number of interrupts serviced.")
FORKS = MetricSpec("node_forks_total", "counter", "Total number of forks.")
PROCS_RUNNING = MetricSpec("node_procs_running", "gauge",
                           "Number of processes in runnable state.")
PROCS_BLOCKED = MetricSpec("node_procs_blocked", "gauge",
                           "Number of processes blocked waiting for I/O to complete.")
UPTIME = MetricSpec("commune_host_uptime_seconds", "gauge", "Seconds since the node booted.")

# The columns of a cpuN line, in the kernel's order (proc(5)).
CPU_MODES = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")
GUEST_MODES = ("user", "nice")  # the guest and guest_nice columns
# /proc/stat key -> spec, for the one-number lines of the stat section.
STAT_LINES = {"btime": BOOT_TIME, "ctxt": CONTEXT_SWITCHES, "intr": INTERRUPTS,
              "processes": FORKS, "procs_running": PROCS_RUNNING, "procs_blocked": PROCS_BLOCKED}


def user_hz() -> float:
    """Clock ticks per second of /proc/stat's times (USER_HZ, 100 on every Linux build)."""
    try:
        return float(os.sysconf("SC_CLK_TCK"))
    except (AttributeError, ValueError, OSError):
        return 100.0


def collect_cpu(roots: Roots, hz: float) -> Iterable[Metric]:
    """``node_cpu_seconds_total`` and ``node_cpu_guest_seconds_total`` per ``cpuN`` line.

    The ``cpu`` label is the N of ``cpuN``: an offline CPU has no line, and the others keep
    their numbers.
    """
    seconds, guest = CPU_SECONDS.family(), CPU_GUEST_SECONDS.family()
    for line in read_text(roots.proc("stat")).splitlines():
        name, _, rest = line.partition(" ")
        if not name.startswith("cpu") or name == "cpu":
            continue
        cpu = name[3:]
        values = [float(v) / hz for v in rest.split()]
        for mode, value in zip(CPU_MODES, values, strict=False):
            seconds.add_metric([cpu, mode], value)
        for mode, value in zip(GUEST_MODES, values[len(CPU_MODES):], strict=False):
            guest.add_metric([cpu, mode], value)
    return (seconds, guest)


def collect_stat(roots: Roots, clock: Callable[[], float]) -> Iterable[Metric]:
    """Boot time, context switches, interrupts, forks and running/blocked processes."""
    found: dict[str, float] = {}
    for line in read_text(roots.proc("stat")).splitlines():
        key, _, rest = line.partition(" ")
        if key in STAT_LINES:
            found[key] = float(rest.split()[0])  # intr: the total, before the per-IRQ counts
    families: list[Metric] = []
    for key, spec in STAT_LINES.items():
        if key in found:
            family = spec.family()
            family.add_metric([], found[key])
            families.append(family)
    if "btime" in found:
        uptime = UPTIME.family()
        uptime.add_metric([], max(0.0, clock() - found["btime"]))
        families.append(uptime)
    return families
