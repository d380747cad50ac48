"""Section ``processes`` (off by default, as node_exporter's): process and thread counts by state.

Reads ``<procfs>/<pid>/stat`` of every process and ``<procfs>/<pid>/task/<tid>/stat`` of every
thread, so its cost grows with the number of threads; enable it with ``processes: true``.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from prometheus_client.core import Metric

from agent.modules.base import MetricSpec
from agent.modules.host.roots import Roots, read_text

PIDS = MetricSpec("node_processes_pids", "gauge", "Number of PIDs")
THREADS = MetricSpec("node_processes_threads", "gauge", "Allocated threads in system")
MAX_PROCESSES = MetricSpec("node_processes_max_processes", "gauge", "Number of max PIDs limit")
MAX_THREADS = MetricSpec("node_processes_max_threads", "gauge", "Limit of threads in the system")
STATE = MetricSpec("node_processes_state", "gauge", "Number of processes in each state.",
                   ("state",))
THREADS_STATE = MetricSpec("node_processes_threads_state", "gauge",
                           "Number of threads in each state.", ("thread_state",))


def parse_stat(text: str) -> tuple[str, int]:
    """(state, number of threads) of a ``/proc/<pid>/stat`` line; the command name may hold
    spaces and parentheses, so fields are counted from its last ``)``."""
    fields = text[text.rindex(")") + 2:].split()
    return fields[0], int(fields[17])


def _numeric(path: str) -> list[str]:
    try:
        return [name for name in os.listdir(path) if name.isdigit()]
    except OSError:  # the process exited while we read it
        return []


def collect_processes(roots: Roots) -> Iterable[Metric]:
    """PIDs, threads, their limits and counts by state."""
    base = str(roots.procfs)
    states: dict[str, int] = {}
    thread_states: dict[str, int] = {}
    pids = threads = 0
    for pid in _numeric(base):
        try:
            state, count = parse_stat(read_text(roots.proc(f"{pid}/stat")))
        except (OSError, ValueError, IndexError):  # exited, or a line we cannot read
            continue
        pids += 1
        threads += count
        states[state] = states.get(state, 0) + 1
        for tid in _numeric(f"{base}/{pid}/task"):
            try:
                thread_state, _ = parse_stat(read_text(roots.proc(f"{pid}/task/{tid}/stat")))
            except (OSError, ValueError, IndexError):
                continue
            thread_states[thread_state] = thread_states.get(thread_state, 0) + 1
    families: list[Metric] = []
    for spec, value in ((PIDS, pids), (THREADS, threads),
                        (MAX_PROCESSES, float(read_text(roots.proc("sys/kernel/pid_max")))),
                        (MAX_THREADS, float(read_text(roots.proc("sys/kernel/threads-max"))))):
        family = spec.family()
        family.add_metric([], value)
        families.append(family)
    for spec, counts in ((STATE, states), (THREADS_STATE, thread_states)):
        family = spec.family()
        for state, count in sorted(counts.items()):
            family.add_metric([state], count)
        families.append(family)
    return families
