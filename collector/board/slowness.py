""""Vì sao chậm? / Why is it slow?": a commune's RTT quantiles, last throughput run and top
talkers and apps, for the commune page and the JSON API.

Four queries read the whole fleet (166 communes cost as many as one), each bounded: the RTT
quantiles and the grade are recorded (configs/prometheus/rules/recording.yml), the throughput
gauges are one series per target and direction, the flows two ``topk by (commune) (5, ...)``.
A part without data carries a sentence saying what is missing and how to get it.
"""

from __future__ import annotations

import concurrent.futures
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field

from collector.board.sources import Prometheus, Sample

TOP = 5
FLOW_WINDOW = "15m"
RTT_QUANTILES = {"commune_target:commune_probe_rtt_seconds:p50_1h": "p50",
                 "commune_target:commune_probe_rtt_seconds:p90_1h": "p90",
                 "commune_target:commune_probe_rtt_seconds:p99_1h": "p99"}
BITS = "commune_throughput_bits_per_second"
UNDER_LOAD = "commune_latency_under_load_seconds"
IDLE = "commune_throughput_idle_latency_seconds"
GRADE = "commune_target_direction:commune_bufferbloat_grade:score"
BUDGET = "commune_throughput_budget_used_bytes"      # present from a throughput target's start
LISTENER = "commune_flow_listener_up"                 # present while the flows module runs
LAST_VALUES = (BITS, UNDER_LOAD, IDLE, GRADE, BUDGET, LISTENER)
_TALKERS = 'commune_flow_bytes_total{commune!="", host!="other"}[' + FLOW_WINDOW + "]"
_APPS = 'commune_flow_bytes_total{commune!=""}[' + FLOW_WINDOW + "]"
QUERIES: Mapping[str, str] = {
    "rtt": f'{{__name__=~"{"|".join(RTT_QUANTILES)}", commune!=""}}',
    "last": f'{{__name__=~"{"|".join(LAST_VALUES)}", commune!=""}}',
    "talkers": f"topk by (commune) ({TOP}, sum by (commune, host) (rate({_TALKERS})))",
    "apps": f"topk by (commune) ({TOP}, sum by (commune, app) (rate({_APPS})))",
}
# recording.yml's score of each bufferbloat grade.
GRADES = {6: "A+", 5: "A", 4: "B", 3: "C", 2: "D", 1: "F"}

NO_RTT = ("chưa có độ trễ trong 1 giờ qua: cấu hình một phép thử icmp hoặc tcp / no RTT in the "
          "last hour: give the agent an icmp or tcp target (modules.probe.targets)")
NO_THROUGHPUT_TARGET = (
    "chưa cấu hình đo băng thông / no throughput target configured: add a target of kind "
    "throughput (the province's iperf3 server) to the agent's modules.probe.targets")
NO_THROUGHPUT_RUN = (
    "chưa có lần đo băng thông nào / no throughput run yet: the throughput target runs once an "
    "hour at its slot_second; a failed run is shown with the probes above")
NO_FLOWS_MODULE = (
    "chưa bật mô-đun flows / the agent's flows module is off: enable modules.flows and send "
    "the router's NetFlow/IPFIX export to its port (UDP 2055 by default)")
FLOWS_NOT_LISTENING = (
    "mô-đun flows không mở được cổng UDP / the flows module cannot bind its UDP port "
    "(modules.flows.listen): see the agent's log")
NO_FLOW_EXPORT = (
    f"không có luồng nào từ router trong {FLOW_WINDOW} / no flow export from the router in the "
    f"last {FLOW_WINDOW}: enable NetFlow/IPFIX on the router to the agent's flows port "
    "(modules.flows.listen), from an address in modules.flows.exporters")


@dataclass(frozen=True)
class RttQuantiles:
    """RTT quantiles of one probe target over the last hour, seconds."""

    target: str
    kind: str
    p50: float | None
    p90: float | None
    p99: float | None


@dataclass(frozen=True)
class ThroughputRun:
    """The last throughput run of one target in one direction."""

    target: str
    direction: str
    bits_per_second: float | None
    latency_under_load: float | None    # seconds
    idle_latency: float | None          # seconds, before the transfers
    grade: str | None                   # A+ .. F


@dataclass(frozen=True)
class Usage:
    """A host or an app and its mean bytes per second over :data:`FLOW_WINDOW`."""

    name: str
    bytes_per_second: float


@dataclass(frozen=True)
class WhySlow:
    """One commune's section; ``missing`` names each empty part (``rtt``, ``throughput``,
    ``flows``) with the sentence to show instead."""

    rtt: tuple[RttQuantiles, ...] = ()
    throughput: tuple[ThroughputRun, ...] = ()
    talkers: tuple[Usage, ...] = ()
    apps: tuple[Usage, ...] = ()
    missing: Mapping[str, str] = field(default_factory=dict)


class Slowness:
    """The fleet's readings of :data:`QUERIES`, indexed by commune; ``error`` when they
    could not be read."""

    def __init__(self, vectors: Mapping[str, list[Sample]], error: str = "") -> None:
        self.error = error
        self.by_commune: dict[str, dict[str, list[Sample]]] = defaultdict(
            lambda: defaultdict(list))
        for query, samples in vectors.items():
            for s in samples:
                name = s.labels.get("__name__", "") if query == "last" else query
                self.by_commune[s.labels.get("commune", "")][name].append(s)

    def of(self, code: str) -> WhySlow:
        """The section of commune ``code``."""
        mine = self.by_commune.get(code, {})
        rtt = _rtt(mine.get("rtt", []))
        runs = _runs(mine)
        talkers = _usage(mine.get("talkers", []), "host")
        apps = _usage(mine.get("apps", []), "app")
        missing: dict[str, str] = {}
        if self.error:
            missing = dict.fromkeys(("rtt", "throughput", "flows"), self.error)
        else:
            if not rtt:
                missing["rtt"] = NO_RTT
            if not runs:
                missing["throughput"] = (NO_THROUGHPUT_RUN if mine.get(BUDGET)
                                         else NO_THROUGHPUT_TARGET)
            if not talkers and not apps:
                listening = [s.value for s in mine.get(LISTENER, [])]
                missing["flows"] = (NO_FLOWS_MODULE if not listening else NO_FLOW_EXPORT
                                    if max(listening) >= 1 else FLOWS_NOT_LISTENING)
        return WhySlow(rtt, runs, talkers, apps, missing)


def _value(samples: list[Sample]) -> float | None:
    return max((s.value for s in samples), default=None)


def _rtt(samples: list[Sample]) -> tuple[RttQuantiles, ...]:
    by_target: dict[tuple[str, str], dict[str, float]] = defaultdict(dict)
    for s in samples:
        q = RTT_QUANTILES.get(s.labels.get("__name__", ""))
        if q is not None and s.value == s.value:  # NaN: no RTT in the hour
            by_target[(s.labels.get("target", "?"), s.labels.get("kind", ""))][q] = s.value
    return tuple(RttQuantiles(t, k, v.get("p50"), v.get("p90"), v.get("p99"))
                 for (t, k), v in sorted(by_target.items()))


def _runs(last: Mapping[str, list[Sample]]) -> tuple[ThroughputRun, ...]:
    def pick(name: str, target: str, direction: str | None = None) -> list[Sample]:
        return [s for s in last.get(name, []) if s.labels.get("target") == target
                and (direction is None or s.labels.get("direction") == direction)]

    keys = sorted({(s.labels.get("target", "?"), s.labels.get("direction", "?"))
                   for name in (BITS, UNDER_LOAD) for s in last.get(name, [])})
    runs = []
    for target, direction in keys:
        score = _value(pick(GRADE, target, direction))
        runs.append(ThroughputRun(
            target, direction, _value(pick(BITS, target, direction)),
            _value(pick(UNDER_LOAD, target, direction)), _value(pick(IDLE, target)),
            GRADES.get(round(score)) if score is not None else None))
    return tuple(runs)


def _usage(samples: list[Sample], label: str) -> tuple[Usage, ...]:
    return tuple(sorted((Usage(s.labels.get(label, "?"), s.value) for s in samples),
                        key=lambda u: (-u.bytes_per_second, u.name))[:TOP])


def read_slowness(prometheus: Prometheus) -> Slowness:
    """Run :data:`QUERIES` at once; raise SourceError when Prometheus fails."""
    with concurrent.futures.ThreadPoolExecutor(len(QUERIES),
                                               thread_name_prefix="board-slow") as pool:
        futures = {name: pool.submit(prometheus.query, expr) for name, expr in QUERIES.items()}
        return Slowness({name: future.result() for name, future in futures.items()})
