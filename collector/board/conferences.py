"""The board's conference readiness: for each conference whose window is open, who is not ready.

Read from the rendered rules/commune-conferences.yml (docs/alerts.md): the open windows
(``conference:window:bool == 1``), the start of each upcoming conference, and per commune
``commune_conference:vc_ready:bool`` and its reasons.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from collector.board.sources import Readings
from collector.inventory import Inventory

# Why a commune is not ready (the ``reason`` label), in Vietnamese and English.
REASONS: dict[str, tuple[str, str]] = {
    "unreachable": ("thiết bị không phản hồi", "endpoint unreachable"),
    "unregistered": ("chưa đăng ký tổng đài", "not registered"),
    "mos_low": ("MOS đường truyền thấp", "link MOS below the threshold"),
    "no_data": ("không có dữ liệu", "no data"),
}


@dataclass(frozen=True)
class NotReady:
    """A commune of the conference that is not ready, and why (reason labels, sorted)."""

    code: str
    name: str
    region: str
    reasons: tuple[str, ...]

    def texts(self) -> list[str]:
        """Each reason as ``vi / en``."""
        return [" / ".join(REASONS.get(r, (r, r))) for r in self.reasons]


@dataclass(frozen=True)
class Conference:
    """One conference: its title, start, and (window open) the communes ready and not."""

    name: str
    title: str
    starts: str                 # local time, as the schedule's zone writes it
    start: float | None         # Unix time
    is_open: bool               # its readiness window is open
    mos_threshold: str = ""
    ready: int = 0
    not_ready: tuple[NotReady, ...] = ()


def conferences(readings: Readings, inventory: Inventory) -> tuple[Conference, ...]:
    """The upcoming conferences, soonest first; those with an open window carry readiness."""
    names = {c.code: (c.name, c.group) for c in inventory.communes}
    found: dict[str, dict[str, str]] = {}
    starts: dict[str, float] = {}
    for sample in readings.vector("conference_start"):
        name = sample.labels.get("conference", "")
        found.setdefault(name, dict(sample.labels))
        starts[name] = sample.value
    open_names = set()
    for sample in readings.vector("conference_open"):
        name = sample.labels.get("conference", "")
        found.setdefault(name, dict(sample.labels))
        open_names.add(name)
    ready: dict[str, int] = defaultdict(int)
    for sample in readings.vector("conference_ready"):
        if sample.value == 1:
            ready[sample.labels.get("conference", "")] += 1
    reasons: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
    for sample in readings.vector("conference_reason"):
        labels = sample.labels
        reasons[labels.get("conference", "")][labels.get("commune", "")].add(
            labels.get("reason", ""))
    result = []
    for name, labels in found.items():
        not_ready = []
        if name in open_names:
            for code, why in sorted(reasons[name].items()):
                commune, region = names.get(code, (code, ""))
                not_ready.append(NotReady(code, commune, region, tuple(sorted(why))))
        not_ready.sort(key=lambda n: (n.region, n.name, n.code))
        result.append(Conference(name, labels.get("title", name), labels.get("starts", ""),
                                 starts.get(name), name in open_names,
                                 labels.get("mos_threshold", ""), ready[name],
                                 tuple(not_ready)))
    result.sort(key=lambda c: (c.start if c.start is not None else float("inf"), c.name))
    return tuple(result)
