"""``/proc/meminfo`` (section ``meminfo``) and ``/proc/vmstat`` (section ``vmstat``).

Both have machine-dependent field lists, so their families are named at collection time after
the kernel's fields, as node_exporter names them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from prometheus_client.core import GaugeMetricFamily, Metric, UnknownMetricFamily

from agent.modules.host.roots import Roots, read_text

_MEMINFO_PARENS = re.compile(r"\((.*)\)")


def parse_meminfo(text: str) -> dict[str, float]:
    """Parse /proc/meminfo into node_exporter's series names and values.

    ``Active(anon):  12 kB`` -> ``node_memory_Active_anon_bytes = 12288``; fields without a unit
    (``HugePages_Total``) keep their plain name, as node_exporter does.
    """
    values: dict[str, float] = {}
    for line in text.splitlines():
        field, _, rest = line.partition(":")
        parts = rest.split()
        if not parts:
            continue
        name = "node_memory_" + _MEMINFO_PARENS.sub(r"_\1", field.strip())
        value = float(parts[0])
        if len(parts) > 1 and parts[1] == "kB":
            value *= 1024
            name += "_bytes"
        values[name] = value
    return values


def memory_families(values: dict[str, float]) -> Iterable[Metric]:
    """One gauge per memory field, with node_exporter's help text."""
    for name, value in values.items():
        family = GaugeMetricFamily(name, f"Memory information field {name[12:]}.")
        family.add_metric([], value)
        yield family


def collect_meminfo(roots: Roots) -> Iterable[Metric]:
    """``node_memory_*`` from ``<procfs>/meminfo``."""
    return list(memory_families(parse_meminfo(read_text(roots.proc("meminfo")))))


def collect_vmstat(roots: Roots, fields: re.Pattern[str]) -> Iterable[Metric]:
    """``node_vmstat_<field>`` (untyped, as node_exporter) for the fields ``fields`` matches."""
    families: list[Metric] = []
    for line in read_text(roots.proc("vmstat")).splitlines():
        parts = line.split()
        if len(parts) != 2 or not fields.match(parts[0]):
            continue
        family = UnknownMetricFamily(f"node_vmstat_{parts[0]}",
                                     f"/proc/vmstat information field {parts[0]}.")
        family.add_metric([], float(parts[1]))
        families.append(family)
    return families
