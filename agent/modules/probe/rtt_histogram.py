"""Every ICMP echo and TCP connect of the probes, kept as a latency histogram per target.

The buckets are smokeping_prober's: 20 exponential upper bounds from 50 µs doubling to
26.2144 s (``5e-05 × 2**i``, i = 0..19), plus ``+Inf``. Counts only grow for as long as the agent
runs; a target that is no longer configured is no longer kept, so its series disappear.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field

from prometheus_client.core import HistogramMetricFamily
from prometheus_client.utils import floatToGoString

from agent.modules.base import MetricSpec

BUCKETS: tuple[float, ...] = tuple(0.00005 * 2**i for i in range(20))
RTT_HISTOGRAM = MetricSpec("commune_probe_rtt_histogram_seconds", "histogram",
                           "Every ICMP echo reply's RTT and every TCP connect time of the probe, "
                           "in buckets from 50us doubling to 26.2144s.", ("target", "kind"))
# Kinds whose every probe measures RTTs: their series exist (at zero) from the first collection,
# so that rate() counts the first observations too. Others appear at their first TCP connect.
RTT_KINDS = frozenset({"icmp", "tcp", "h323"})


@dataclass
class Histogram:
    """Counts per bucket (not cumulative; the last one is ``+Inf``), their sum and count."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    sum: float = 0.0

    def observe(self, seconds: float) -> None:
        """Count one RTT in the first bucket whose upper bound is at least ``seconds``."""
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.sum += seconds

    @property
    def count(self) -> int:
        """The number of RTTs observed."""
        return sum(self.counts)

    def cumulative(self) -> list[tuple[str, float]]:
        """(le, cumulative count) pairs as the exposition format wants them."""
        total, out = 0, []
        for bound, n in zip((*BUCKETS, float("inf")), self.counts, strict=True):
            total += n
            out.append((floatToGoString(bound), float(total)))
        return out


class RttHistograms:
    """The histograms of the configured targets, by (target, kind)."""

    def __init__(self, targets: Iterable[tuple[str, str]]) -> None:
        self.configured = frozenset(targets)
        self.histograms: dict[tuple[str, str], Histogram] = {
            key: Histogram() for key in sorted(self.configured) if key[1] in RTT_KINDS}

    def observe(self, target: str, kind: str, rtts: Iterable[float]) -> None:
        """Count ``rtts`` of a configured target; RTTs of others are not kept."""
        key = (target, kind)
        if key not in self.configured:
            return
        histogram = self.histograms.get(key)
        for seconds in rtts:
            if histogram is None:
                histogram = self.histograms[key] = Histogram()
            histogram.observe(seconds)

    def family(self) -> HistogramMetricFamily:
        """A fresh family holding every kept histogram."""
        family = RTT_HISTOGRAM.histogram_family()
        for (target, kind), histogram in self.histograms.items():
            family.add_metric([target, kind], histogram.cumulative(), histogram.sum)
        return family
