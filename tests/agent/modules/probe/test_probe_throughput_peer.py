"""The throughput probe against Debian's iperf3: on loopback for the budget, and through a
router namespace shaped by ``tc tbf`` to 10 Mbit/s, with a short and a bloated queue."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from agent.modules.probe.result import ProbeResult
from agent.modules.probe.targets import ThroughputTarget
from agent.modules.probe.throughput import GRADE_NAMES, ThroughputProbe
from agent.modules.probe.throughput_metrics import (
    BITS_PER_SECOND,
    BYTES_TODAY,
    RUNS,
    SKIPPED,
)
from common.units import ByteSize, Duration
from tests.support.peers import LOOPBACK, free_port
from tests.support.throughput_peer import Bottleneck, iperf3_server, run_probe

pytestmark = pytest.mark.peer
RATE = 10e6


def sample(result: ProbeResult, spec: object, *labels: str) -> float:
    [value] = [v for s, ls, v in result.samples if s is spec and ls == labels]
    return value


def test_budget_skips_and_counts_the_transfer_that_would_exceed_it() -> None:
    with iperf3_server(LOOPBACK) as port:
        target = ThroughputTarget(name="province", host=LOOPBACK, port=port, duration=Duration(2),
                                  directions=("upload",), daily_budget=ByteSize(10**6), ping="tcp",
                                  ping_port=free_port())
        probe = ThroughputProbe(target, lambda: True)
        result = ProbeResult()

        async def two_runs() -> None:
            await probe.run()  # nothing known yet: runs, and moves far more than 1 MB
            await probe.run()  # the last transfer's bytes no longer fit: skipped
            probe.report(result)

        asyncio.run(two_runs())
    assert result.reason is None
    assert sample(result, RUNS, "upload") == 1
    assert sample(result, SKIPPED, "upload") == 1
    moved = sample(result, BYTES_TODAY)
    assert moved > 1_000_000
    assert sample(result, BITS_PER_SECOND, "upload") * 2 / 8 == pytest.approx(moved, rel=0.5)


def grade(samples: dict[str, float], direction: str) -> str:
    """The grade whose series is 1 (exactly one is)."""
    [name] = [g for g in GRADE_NAMES if samples[f"commune_bufferbloat_grade{{{direction},{g}}}"]]
    return name


@pytest.fixture(scope="module")
def bottleneck() -> Iterator[Bottleneck]:
    with Bottleneck() as bottleneck:
        yield bottleneck


def shaped_run(bottleneck: Bottleneck, limit: str) -> dict[str, float]:
    """One run through the router shaped to 10 Mbit/s each way, with a ``limit`` queue."""
    bottleneck.shape("10mbit", limit)
    with iperf3_server(bottleneck.province_ip, bottleneck.province) as port:
        samples = run_probe(bottleneck.commune, {"name": "province", "host": bottleneck.province_ip,
                                           "port": port, "duration": 3})
    assert "failure" not in samples
    return samples


def test_shaped_throughput_and_a_short_queue_adds_no_latency(bottleneck: Bottleneck) -> None:
    samples = shaped_run(bottleneck, "15kb")  # ~12 ms of queue at 10 Mbit/s
    idle = samples["commune_throughput_idle_latency_seconds{}"]
    for direction in ("download", "upload"):
        rate = samples[f"commune_throughput_bits_per_second{{{direction}}}"]
        assert rate == pytest.approx(RATE, rel=0.15)
        loaded = samples[f"commune_latency_under_load_seconds{{{direction}}}"]
        assert loaded - idle < 0.030
        assert grade(samples, direction) in ("A+", "A")


def test_a_bloated_queue_raises_latency_under_load(bottleneck: Bottleneck) -> None:
    samples = shaped_run(bottleneck, "1mb")  # up to ~800 ms of queue at 10 Mbit/s
    idle = samples["commune_throughput_idle_latency_seconds{}"]
    for direction in ("download", "upload"):
        rate = samples[f"commune_throughput_bits_per_second{{{direction}}}"]
        assert rate == pytest.approx(RATE, rel=0.15)
        loaded = samples[f"commune_latency_under_load_seconds{{{direction}}}"]
        assert loaded - idle > 0.100
        assert grade(samples, direction) in ("C", "D", "F")
