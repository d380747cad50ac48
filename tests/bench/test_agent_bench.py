"""Agent vs node_exporter, same machine, same run: RSS, scrape latency, host collection CPU.

Run with ``make bench``; prints ratios against Debian's prometheus-node-exporter, the host
module's CPU per collection and the slowest of its sections. Targets: host collection CPU
< 50 ms, RSS <= 1.5x node_exporter's and flat (within 5%) over 10k scrapes.
"""

from __future__ import annotations

import asyncio
import gzip
import http.client
import statistics
import time
from pathlib import Path

import pytest

from agent.modules.host import HostModule
from agent.modules.host_config import HostConfig
from agent.scheduler import ModuleRun, Scheduler
from tests.support.agent_process import Agent, host_config
from tests.support.peers import LOOPBACK, Process, free_port, http_get, require_binary, wait_for
from tests.support.samples import samples

pytestmark = [pytest.mark.bench, pytest.mark.peer]

SCRAPES = 500
SOAK_SCRAPES = 10_000


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def scrape_latencies(port: int, count: int) -> tuple[list[float], int]:
    """Scrape /metrics ``count`` times over one keep-alive connection, asking for gzip."""
    conn = http.client.HTTPConnection(LOOPBACK, port, timeout=10)
    latencies: list[float] = []
    samples = 0
    headers = {"Accept-Encoding": "gzip", "Accept": "text/plain"}
    for _ in range(count):
        start = time.perf_counter()
        conn.request("GET", "/metrics", headers=headers)
        response = conn.getresponse()
        body = response.read()
        latencies.append(time.perf_counter() - start)
        assert response.status == 200
        if not samples:
            text = gzip.decompress(body) if response.getheader("Content-Encoding") else body
            samples = sum(1 for line in text.splitlines() if line and not line.startswith(b"#"))
    conn.close()
    return latencies, samples


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1]


def test_agent_vs_node_exporter(tmp_path: Path) -> None:
    port = free_port()
    node_exporter = Process([require_binary("prometheus-node-exporter"),
                             f"--web.listen-address={LOOPBACK}:{port}"],
                            tmp_path / "node_exporter.log")
    try:
        wait_for(lambda: http_get(f"http://{LOOPBACK}:{port}/metrics")[0] == 200, 15,
                 what="node_exporter")
        with Agent(tmp_path, host_config(interval="15s")) as agent:
            scrape_latencies(agent.port, 200)  # warm up both
            scrape_latencies(port, 200)
            ours, our_samples = scrape_latencies(agent.port, SCRAPES)
            theirs, their_samples = scrape_latencies(port, SCRAPES)
            our_rss, their_rss = rss_bytes(agent.proc.pid), rss_bytes(node_exporter.proc.pid)
            scrape_latencies(agent.port, SOAK_SCRAPES)
            soak_rss = rss_bytes(agent.proc.pid)
    finally:
        node_exporter.stop()

    module = HostModule(HostConfig())
    cpu = []
    sections: dict[str, list[float]] = {}
    for _ in range(50):
        start = time.thread_time()
        families = list(module.collect())
        cpu.append(time.thread_time() - start)
        for labels, seconds in samples(families,
                                       "node_scrape_collector_duration_seconds").items():
            sections.setdefault(dict(labels)["collector"], []).append(seconds)
    slowest = sorted(((statistics.median(v), k) for k, v in sections.items()), reverse=True)[:5]

    scheduler = Scheduler([ModuleRun("host", module, 15, 15)], {"commune": "16318"})
    start = time.perf_counter()
    for _ in range(20):
        asyncio.run(scheduler.collect_all())
    render_ms = (time.perf_counter() - start) / 20 * 1000
    scheduler.stop()

    p50_ratio = statistics.median(ours) / statistics.median(theirs)
    per_sample_ratio = (statistics.median(ours) / our_samples) / (
        statistics.median(theirs) / their_samples)
    lines = [
        "",
        "agent vs node_exporter (same machine, same run)",
        f"  samples per scrape     agent {our_samples:6d}   node_exporter {their_samples:6d}",
        f"  scrape p50 (ms)        agent {statistics.median(ours) * 1000:6.2f}   "
        f"node_exporter {statistics.median(theirs) * 1000:6.2f}   ratio {p50_ratio:.2f} "
        "(target <= 0.5)",
        f"  scrape p95 (ms)        agent {pct(ours, 95) * 1000:6.2f}   "
        f"node_exporter {pct(theirs, 95) * 1000:6.2f}   "
        f"ratio {pct(ours, 95) / pct(theirs, 95):.2f}",
        f"  p50 per sample ratio   {per_sample_ratio:.2f}",
        f"  RSS (MB)               agent {our_rss / 1e6:6.1f}   node_exporter "
        f"{their_rss / 1e6:6.1f}   ratio {our_rss / their_rss:.2f} (target <= 1.5)",
        f"  RSS after {SOAK_SCRAPES} more scrapes {soak_rss / 1e6:.1f} MB "
        f"({(soak_rss / our_rss - 1) * 100:+.1f}%, target within 5%)",
        f"  host collection CPU    median {statistics.median(cpu) * 1000:.1f} ms "
        "(target < 50 ms)",
        f"  host collection + render, wall {render_ms:.1f} ms",
        "  slowest host sections (median wall ms): "
        + ", ".join(f"{name} {seconds * 1000:.1f}" for seconds, name in slowest),
    ]
    print("\n".join(lines))
    assert our_samples > 100 and their_samples > 100
    assert abs(soak_rss / our_rss - 1) < 0.05, "agent RSS grew over the soak"
    assert statistics.median(cpu) < 0.050, "host collection CPU over 50 ms"
    assert our_rss <= 1.5 * their_rss, "agent RSS over 1.5x node_exporter's"
