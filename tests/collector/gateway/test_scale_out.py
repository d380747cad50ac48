"""Scaling out: two gateways behind one address, and VictoriaMetrics as a receiver."""

from __future__ import annotations

import http.client
import itertools
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.peers import LOOPBACK, Prometheus, wait_for
from tests.support.push_peers import (
    Gateway,
    NodeToken,
    PushAgent,
    VictoriaMetrics,
    raw_samples,
    write_agent_config,
    write_gateway_config,
)
from tests.support.tick import read_ticks

pytestmark = pytest.mark.peer


class RoundRobin(ThreadingHTTPServer):
    """A tiny load balancer: each request goes to the next backend port; 502 if it is down."""

    daemon_threads = True

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self.next = itertools.cycle(range(len(ports)))
        self.lock = threading.Lock()
        super().__init__((LOOPBACK, 0), _Proxy)

    def pick(self) -> int:
        with self.lock:
            return self.ports[next(self.next)]


class _Proxy(BaseHTTPRequestHandler):
    server: RoundRobin
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
        try:
            conn = http.client.HTTPConnection(LOOPBACK, self.server.pick(), timeout=10)
            conn.request("POST", self.path, body, headers)
            resp = conn.getresponse()
            status, answer = resp.status, resp.read()
            conn.close()
        except OSError as exc:
            status, answer = 502, str(exc).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def victoria(tmp_path: Path) -> Iterator[VictoriaMetrics]:
    vm = VictoriaMetrics(tmp_path)
    try:
        yield vm
    finally:
        vm.stop()


def check_ticks(values: list[float], at_least: int) -> None:
    """Every tick from 1 on, each once, in timestamp order."""
    assert values and values[-1] >= at_least
    assert values == [float(i) for i in range(1, int(values[-1]) + 1)]


def test_two_gateways_behind_one_address(tmp_path: Path, prometheus: Prometheus) -> None:
    token = NodeToken.new("14797")
    config = write_gateway_config(tmp_path / "gateway.yml",
                                  [f"{prometheus.url}/api/v1/write"], [token])
    gateways = [Gateway(config, tmp_path, name="gw-a"), Gateway(config, tmp_path, name="gw-b")]
    balancer = RoundRobin([g.port for g in gateways])
    threading.Thread(target=balancer.serve_forever, daemon=True).start()
    agent_config = write_agent_config(
        tmp_path, f"http://{LOOPBACK}:{balancer.server_address[1]}/api/v1/write", token)
    agent = PushAgent(agent_config, tmp_path)
    ticks = tmp_path / "ticks"
    try:
        wait_for(lambda: all(g.metric("commune_gateway_forwarded_samples_total") > 0
                             for g in gateways), 30, what="both gateways forwarding")
        gateways[0].stop()  # one gateway dies: its turns fail (502) and are retried
        down = read_ticks(ticks)
        wait_for(lambda: read_ticks(ticks) >= down + 60, 30, what="60 more ticks")
        gateways[0] = Gateway(config, tmp_path, port=gateways[0].port, name="gw-a2")
        target = read_ticks(ticks)
        wait_for(lambda: max((v for _, v in raw_samples(prometheus, "test_ticks_total")),
                             default=0) >= target, 30, what="all ticks through both gateways")
        wait_for(lambda: gateways[0].metric("commune_gateway_forwarded_samples_total") > 0, 30,
                 what="the restarted gateway forwarding again")
    finally:
        agent.stop()
        for g in gateways:
            g.stop()
        balancer.shutdown()
        balancer.server_close()
    check_ticks([v for _, v in raw_samples(prometheus, "test_ticks_total")], target)


def test_victoria_metrics_and_prometheus_receive_the_same(
        tmp_path: Path, prometheus: Prometheus, victoria: VictoriaMetrics) -> None:
    token = NodeToken.new("14797")
    config = write_gateway_config(tmp_path / "gateway.yml",
                                  [victoria.write_url, f"{prometheus.url}/api/v1/write"], [token])
    gateway = Gateway(config, tmp_path)
    agent = PushAgent(write_agent_config(tmp_path, gateway.write_url, token), tmp_path)
    ticks = tmp_path / "ticks"
    try:
        wait_for(lambda: read_ticks(ticks) >= 20, 30, what="20 ticks")
        gateway.stop()
        down = read_ticks(ticks)
        wait_for(lambda: read_ticks(ticks) >= down + 100, 30, what="ticks during the outage")
        gateway = Gateway(config, tmp_path, port=gateway.port, name="gateway-2")
        target = read_ticks(ticks)
        wait_for(lambda: max((v for _, v in raw_samples(prometheus, "test_ticks_total")),
                             default=0) >= target, 30, what="backlog in Prometheus")
    finally:
        agent.stop()
        gateway.stop()

    def vm_ticks() -> list[tuple[int, float]]:
        series = victoria.export('{__name__="test_ticks_total"}')
        assert len(series) <= 1, [s["metric"] for s in series]
        if not series:
            return []
        assert series[0]["metric"]["commune"] == "14797"
        assert series[0]["metric"]["instance"] == "lan-1"
        # At-least-once: a body resent after a timed-out answer is stored twice by VM.
        return sorted(set(zip(series[0]["timestamps"], series[0]["values"], strict=True)))

    prom_samples = raw_samples(prometheus, "test_ticks_total")
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and len(vm_ticks()) < len(prom_samples):
        time.sleep(0.5)
    samples = vm_ticks()
    check_ticks([v for _, v in samples], target)
    assert [v for _, v in samples] == [v for _, v in prom_samples]
    assert [t for t, _ in samples] == [round(t * 1000) for t, _ in prom_samples]
