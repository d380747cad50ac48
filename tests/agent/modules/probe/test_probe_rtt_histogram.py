"""The latency histogram: buckets, what ICMP and TCP probes put in them, and Prometheus's view."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.utils import floatToGoString

from agent.modules.probe.module import ProbeModule
from agent.modules.probe.rtt_histogram import BUCKETS, Histogram, RttHistograms
from tests.support.agent_process import Agent, scrape_config
from tests.support.delay_link import DelayLink
from tests.support.peers import Prometheus, free_port, http_get, wait_for
from tests.support.probe_peers import base_url, collect, http_server, line_server, load_probe_config
from tests.support.samples import maybe_value, samples, value

NAME = "commune_probe_rtt_histogram_seconds"
LES = [*(floatToGoString(b) for b in BUCKETS), "+Inf"]


def buckets(registry: CollectorRegistry, target: str, kind: str) -> list[float]:
    """The cumulative bucket counts of one target, in ``LES`` order."""
    return [value(registry, f"{NAME}_bucket", target=target, kind=kind, le=le) for le in LES]


def expected(rtts: list[float]) -> list[float]:
    """The cumulative counts a Prometheus client would give for ``rtts``."""
    return [float(sum(1 for r in rtts if r <= bound)) for bound in (*BUCKETS, float("inf"))]


def assert_grew(before: list[float], after: list[float]) -> None:
    assert all(b <= a for b, a in zip(before, after, strict=True)), (before, after)


def test_buckets_are_smokepings_exponential_layout() -> None:
    assert len(BUCKETS) == 20
    assert BUCKETS[0] == 50e-6
    assert all(b / a == 2 for a, b in itertools.pairwise(BUCKETS))
    assert LES[-2:] == ["26.2144", "+Inf"]
    histogram = Histogram()
    for seconds in (0.0, 50e-6, 50.1e-6, 0.0256, 0.03, 26.2144, 30.0):
        histogram.observe(seconds)
    cumulative = dict(histogram.cumulative())
    assert cumulative["5e-05"] == 2  # an upper bound is inclusive, as Prometheus's le
    assert cumulative["0.0001"] == 3
    assert cumulative["0.0256"] == 4
    assert cumulative["0.0512"] == 5
    assert cumulative["26.2144"] == 6
    assert cumulative["+Inf"] == histogram.count == 7
    assert histogram.sum == pytest.approx(0.0 + 50e-6 + 50.1e-6 + 0.0256 + 0.03 + 26.2144 + 30)


def test_only_configured_targets_are_kept() -> None:
    histograms = RttHistograms([("lo", "icmp"), ("portal", "http")])
    histograms.observe("gone", "icmp", [0.01])
    histograms.observe("portal", "http", [])
    family = histograms.family()
    assert {s.labels["target"] for s in family.samples} == {"lo"}  # http: at its first connect
    histograms.observe("portal", "http", [0.002])
    assert {s.labels["target"] for s in histograms.family().samples} == {"lo", "portal"}


def test_each_icmp_echo_reply_is_counted_in_its_bucket() -> None:
    """One echo per burst: each collection's min RTT is that echo's RTT."""
    module = ProbeModule(load_probe_config("""
        targets:
          - {name: one, kind: icmp, host: 127.0.0.1, count: 1}
          - {name: burst, kind: icmp, host: 127.0.0.1, count: 4, interval: 10ms}
    """))
    rtts: list[float] = []
    burst_sum, previous = 0.0, [0.0] * len(LES)
    for _ in range(5):
        reg = collect(module)
        rtts.append(value(reg, "commune_probe_icmp_rtt_seconds", target="one", stat="min"))
        burst_sum += 4 * value(reg, "commune_probe_icmp_rtt_seconds", target="burst", stat="avg")
        now = buckets(reg, "one", "icmp")
        assert now == expected(rtts)
        assert_grew(previous, now)
        previous = now
    assert value(reg, f"{NAME}_sum", target="one", kind="icmp") == pytest.approx(sum(rtts))
    assert value(reg, f"{NAME}_count", target="burst", kind="icmp") == 20
    assert value(reg, f"{NAME}_sum", target="burst", kind="icmp") == pytest.approx(burst_sum)


def test_each_tcp_connect_is_counted_and_a_refused_one_is_not() -> None:
    with line_server() as (port, _):
        module = ProbeModule(load_probe_config(f"""
            targets:
              - {{name: smtp, kind: tcp, host: 127.0.0.1, port: {port}}}
              - {{name: closed, kind: tcp, host: 127.0.0.1, port: {free_port()}}}
        """))
        connects: list[float] = []
        for _ in range(5):
            reg = collect(module)
            connects.append(value(reg, "commune_probe_connect_duration_seconds", target="smtp"))
            assert buckets(reg, "smtp", "tcp") == expected(connects)
    assert value(reg, f"{NAME}_sum", target="smtp", kind="tcp") == pytest.approx(sum(connects))
    assert value(reg, "probe_success", target="closed", kind="tcp") == 0
    assert buckets(reg, "closed", "tcp") == [0.0] * len(LES)  # there from the start, at zero


def test_each_http_request_counts_its_connect() -> None:
    with http_server() as server:
        reg = collect(ProbeModule(load_probe_config(f"""
            targets: [{{name: portal, kind: http, url: "{base_url(server)}/redirect"}}]
        """)))
    assert value(reg, "probe_http_redirects", target="portal") == 1
    assert value(reg, f"{NAME}_count", target="portal", kind="http") == 2  # one per request
    # The connect phase of plain HTTP also holds the streams' setup; the histogram the TCP
    # connects alone.
    assert 0 < value(reg, f"{NAME}_sum", target="portal", kind="http") <= value(
        reg, "probe_http_duration_seconds", target="portal", phase="connect")


def test_a_target_removed_from_the_config_disappears() -> None:
    lo = "{name: lo, kind: icmp, host: 127.0.0.1, count: 1}"
    first = collect(ProbeModule(load_probe_config(
        f"targets: [{lo}, {{name: lo2, kind: icmp, host: 127.0.0.1, count: 1}}]")))
    assert value(first, f"{NAME}_count", target="lo2", kind="icmp") == 1
    second = collect(ProbeModule(load_probe_config(f"targets: [{lo}]")))
    assert value(second, f"{NAME}_count", target="lo", kind="icmp") == 1
    assert maybe_value(second, f"{NAME}_count", target="lo2", kind="icmp") is None


# --- a real Prometheus, a link with a known delay ---------------------------------------------

DELAY = 0.02  # each way: a 40 ms RTT, in the middle of the (25.6 ms, 51.2 ms] bucket
LISTENER = """
import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))
s.listen(64)
while True:
    s.accept()[0].close()
"""


def _agent_config(link: DelayLink, port: int, icmp: bool = True) -> str:
    targets = [f"{{name: relay-tcp, kind: tcp, host: {link.far}, port: {port}, timeout: 900ms}}"]
    if icmp:
        targets.append(f"{{name: relay-icmp, kind: icmp, host: {link.far}, count: 3, "
                       f"interval: 100ms, packet_timeout: 500ms, timeout: 900ms}}")
    return ('commune: "16318"\ninterval: 1s\nmodules:\n  probe:\n    targets:\n'
            + "".join(f"      - {t}\n" for t in targets))


def _quantile(prom: Prometheus, q: float, target: str) -> float:
    result = prom.query(f'histogram_quantile({q}, sum by (le) '
                        f'(rate({NAME}_bucket{{target="{target}"}}[1m])))')
    assert len(result) == 1, result
    return float(result[0]["value"][1])


@pytest.mark.peer
def test_prometheus_quantiles_over_a_delayed_link(tmp_path: Path) -> None:
    with DelayLink(DELAY) as link:
        port = free_port()
        with subprocess.Popen(link.argv([sys.executable, "-c", LISTENER, link.far, str(port)])
                              ) as listener:
            try:
                agent = Agent(tmp_path, _agent_config(link, port))
                with agent, Prometheus(scrape_config(agent.address), tmp_path) as prom:
                    wait_for(lambda: prom.query(
                        f'{NAME}_count{{target="relay-tcp"}} >= 8 and '
                        f'count_over_time({NAME}_count{{target="relay-tcp"}}[1m]) >= 6'), 40,
                        what="eight connects scraped over six scrapes")
                    for target in ("relay-tcp", "relay-icmp"):
                        for q in (0.5, 0.9, 0.99):
                            got = _quantile(prom, q, target)
                            print(f"{target} p{round(q * 100)}: {got * 1000:.1f} ms")
                            # p99 of some ten samples is their slowest: one late relay
                            # turn on a loaded machine lands it a bucket higher
                            upper = 0.1024 if q == 0.99 else 0.0512
                            assert 0.0256 < got <= upper, (target, q, got)
                    assert prom.query(f"resets({NAME}_bucket[1m]) > 0") == []
                    assert prom.query(f"resets({NAME}_count[1m]) > 0") == []
                    text = http_get(f"{agent.url}/metrics")[1].decode()
                    assert f'{NAME}_bucket{{commune="16318",kind="icmp",le="0.0256",' \
                           f'target="relay-icmp"}} 0.0' in text
                # The agent again, without the ICMP target: its series are gone.
                agent = Agent(tmp_path, _agent_config(link, port, icmp=False))
                with agent:
                    wait_for(lambda: NAME in http_get(f"{agent.url}/metrics")[1].decode(), 10,
                             what="a collection with the histogram")
                    kept = samples(http_get(f"{agent.url}/metrics")[1], f"{NAME}_count")
                    assert {dict(k)["target"] for k in kept} == {"relay-tcp"}
            finally:
                listener.kill()
    assert link.packets > 0
