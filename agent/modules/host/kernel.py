"""Small kernel tables: sections loadavg, pressure, entropy, filefd and conntrack."""

from __future__ import annotations

from collections.abc import Iterable

from prometheus_client.core import Metric

from agent.modules.base import MetricSpec
from agent.modules.host.roots import Roots, read_text

LOAD = {n: MetricSpec(f"node_load{n}", "gauge", f"{n}m load average.") for n in (1, 5, 15)}
PRESSURE = {
    ("cpu", "some"): MetricSpec("node_pressure_cpu_waiting_seconds_total", "counter",
                                "Total time in seconds that processes have waited for CPU time"),
    ("io", "some"): MetricSpec("node_pressure_io_waiting_seconds_total", "counter",
                               "Total time in seconds that processes have waited due to IO "
                               "congestion"),
    ("io", "full"): MetricSpec("node_pressure_io_stalled_seconds_total", "counter",
                               "Total time in seconds no process could make progress due to IO "
                               "congestion"),
    ("memory", "some"): MetricSpec("node_pressure_memory_waiting_seconds_total", "counter",
                                   "Total time in seconds that processes have waited for memory"),
    ("memory", "full"): MetricSpec("node_pressure_memory_stalled_seconds_total", "counter",
                                   "Total time in seconds no process could make progress due to "
                                   "memory congestion"),
}
ENTROPY_AVAILABLE = MetricSpec("node_entropy_available_bits", "gauge",
                               "Bits of available entropy.")
ENTROPY_POOL = MetricSpec("node_entropy_pool_size_bits", "gauge", "Bits of entropy pool.")
FILEFD_ALLOCATED = MetricSpec("node_filefd_allocated", "gauge",
                              "File descriptor statistics: allocated.")
FILEFD_MAXIMUM = MetricSpec("node_filefd_maximum", "gauge", "File descriptor statistics: maximum.")
CONNTRACK_ENTRIES = MetricSpec("node_nf_conntrack_entries", "gauge",
                               "Number of currently allocated flow entries for connection "
                               "tracking.")
CONNTRACK_LIMIT = MetricSpec("node_nf_conntrack_entries_limit", "gauge",
                             "Maximum size of connection tracking table.")
# Column of /proc/net/stat/nf_conntrack -> spec; the columns are summed over the CPUs.
CONNTRACK_STATS = {
    "found": MetricSpec("node_nf_conntrack_stat_found", "gauge",
                        "Number of searched entries which were successful."),
    "invalid": MetricSpec("node_nf_conntrack_stat_invalid", "gauge",
                          "Number of packets seen which can not be tracked."),
    "ignore": MetricSpec("node_nf_conntrack_stat_ignore", "gauge",
                         "Number of packets seen which are already connected to a conntrack "
                         "entry."),
    "insert": MetricSpec("node_nf_conntrack_stat_insert", "gauge",
                         "Number of entries inserted into the list."),
    "insert_failed": MetricSpec("node_nf_conntrack_stat_insert_failed", "gauge",
                                "Number of entries for which list insertion was attempted but "
                                "failed."),
    "drop": MetricSpec("node_nf_conntrack_stat_drop", "gauge",
                       "Number of packets dropped due to conntrack failure."),
    "early_drop": MetricSpec("node_nf_conntrack_stat_early_drop", "gauge",
                             "Number of dropped conntrack entries to make room for new ones, if "
                             "maximum table size was reached."),
    "search_restart": MetricSpec("node_nf_conntrack_stat_search_restart", "gauge",
                                 "Number of conntrack table lookups which had to be restarted due "
                                 "to hashtable resizes."),
}


def _single(spec: MetricSpec, value: float) -> Metric:
    family = spec.family()
    family.add_metric([], value)
    return family


def collect_loadavg(roots: Roots) -> Iterable[Metric]:
    """``node_load1``, ``node_load5``, ``node_load15`` from ``<procfs>/loadavg``."""
    fields = read_text(roots.proc("loadavg")).split()
    return [_single(LOAD[n], float(value)) for n, value in zip((1, 5, 15), fields[:3],
                                                                  strict=True)]


def parse_pressure(text: str) -> dict[str, float]:
    """``some``/``full`` -> total stall time in seconds, from a /proc/pressure file."""
    totals: dict[str, float] = {}
    for line in text.splitlines():
        kind, *pairs = line.split()
        for pair in pairs:
            key, _, value = pair.partition("=")
            if key == "total":
                totals[kind] = float(value) / 1e6  # microseconds
    return totals


def collect_pressure(roots: Roots) -> Iterable[Metric]:
    """Pressure stall totals (PSI) of cpu, io and memory."""
    families: list[Metric] = []
    for resource in ("cpu", "io", "memory"):
        totals = parse_pressure(read_text(roots.proc(f"pressure/{resource}")))
        for (res, kind), spec in PRESSURE.items():
            if res == resource and kind in totals:
                families.append(_single(spec, totals[kind]))
    return families


def collect_entropy(roots: Roots) -> Iterable[Metric]:
    """Available entropy and the pool's size, in bits."""
    available = float(read_text(roots.proc("sys/kernel/random/entropy_avail")))
    pool = float(read_text(roots.proc("sys/kernel/random/poolsize")))
    return [_single(ENTROPY_AVAILABLE, available), _single(ENTROPY_POOL, pool)]


def collect_filefd(roots: Roots) -> Iterable[Metric]:
    """Allocated and maximum file handles from ``<procfs>/sys/fs/file-nr``."""
    allocated, _unused, maximum = read_text(roots.proc("sys/fs/file-nr")).split()
    return [_single(FILEFD_ALLOCATED, float(allocated)), _single(FILEFD_MAXIMUM, float(maximum))]


def parse_conntrack_stat(text: str) -> dict[str, float]:
    """Column name -> sum over the CPUs' lines of /proc/net/stat/nf_conntrack (hexadecimal)."""
    lines = text.split("\n")
    header = lines[0].split()
    sums = dict.fromkeys(header, 0.0)
    for line in lines[1:]:
        for name, value in zip(header, line.split(), strict=False):
            sums[name] += int(value, 16)
    return sums


def collect_conntrack(roots: Roots) -> Iterable[Metric]:
    """Connection tracking entries, limit and, where the kernel has them, statistics."""
    families = [
        _single(CONNTRACK_ENTRIES,
                float(read_text(roots.proc("sys/net/netfilter/nf_conntrack_count")))),
        _single(CONNTRACK_LIMIT,
                float(read_text(roots.proc("sys/net/netfilter/nf_conntrack_max")))),
    ]
    stat = roots.proc("net/stat/nf_conntrack")
    if stat.exists():
        sums = parse_conntrack_stat(read_text(stat))
        families.extend(_single(spec, sums[column]) for column, spec in CONNTRACK_STATS.items()
                        if column in sums)
    return families
