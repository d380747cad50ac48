"""The gateway's memory under hostile clients, while a legitimate agent keeps pushing.

100 connections with one valid token each declare an 8 MiB body, send all but its last byte
and wait, reconnecting after every answer; an agent with its own token pushes a 500-series
body every 0.25 s through the same gateway (a real process) into a real Prometheus. Targets:
gateway RSS at most 300 MB, the agent's pushes all succeed with p99 under 1 s.

Then 300 connections from one other address push with wrong tokens, reconnecting after every
answer (more than the default max_connections, 256): the address holds at most
max_connections_per_source of them, those waiting out their 401 delay hold no max_connections
slot, and the agent's pushes all succeed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.collector.gateway.hostile import HostileResult, hostile_run, small_body
from tests.support.peers import Prometheus, http_get
from tests.support.push_peers import Gateway, NodeToken, write_gateway_config

pytestmark = [pytest.mark.bench, pytest.mark.peer]

CONNECTIONS = 100
BODY_BYTES = 8 << 20
SECONDS = 40.0  # longer than the default body_timeout (30 s): held bodies get their 408
MAX_RSS = 300_000_000  # bytes


def _peak_rss(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as f:
        return next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM:"))


def _limited(gateway_url: str) -> dict[str, float]:
    """The gateway's ``commune_gateway_limited_requests_total`` by reason."""
    metrics = http_get(f"{gateway_url}/metrics")[1].decode()
    return {line.split('"')[1]: float(line.rsplit(" ", 1)[1])
            for line in metrics.splitlines()
            if line.startswith("commune_gateway_limited_requests_total{")}


def _print_agent(result: HostileResult) -> None:
    latencies = sorted(result.agent_latencies)
    print(f"agent: {len(latencies)} pushes ok, {len(result.agent_failures)} failed, "
          f"p50 {latencies[len(latencies) // 2] * 1000:.0f} ms, "
          f"p99 {result.p99() * 1000:.0f} ms, max {latencies[-1] * 1000:.0f} ms")


def test_gateway_memory_under_100_slow_8mib_bodies(tmp_path: Path,
                                                   prometheus: Prometheus) -> None:
    hostile, agent = NodeToken.new("14797"), NodeToken.new("16318", "vc-1")
    config = write_gateway_config(tmp_path / "gateway.yml", [f"{prometheus.url}/api/v1/write"],
                                  [hostile, agent])  # the default limits
    with Gateway(config, tmp_path) as gateway:
        result = hostile_run(gateway.port, gateway.proc.pid, hostile.token, agent.token,
                             connections=CONNECTIONS, body_bytes=BODY_BYTES, seconds=SECONDS,
                             agent_body=lambda: small_body(series=500))
        peak = max(_peak_rss(gateway.proc.pid), result.peak_rss)
        limited = _limited(gateway.url)
    print(f"\n{CONNECTIONS} hostile connections x {BODY_BYTES >> 20} MiB for {SECONDS:.0f}s: "
          f"answers {result.hostile_answers}")
    print(f"limited requests counted: {limited}")
    print(f"gateway peak RSS {peak / 1e6:.0f} MB (VmHWM, or VmRSS sampled every 50 ms), "
          f"target <= {MAX_RSS / 1e6:.0f} MB")
    _print_agent(result)
    assert result.agent_failures == [], result.agent_failures[:5]
    assert result.p99() < 1.0
    assert peak <= MAX_RSS
    assert limited.get("token_busy", 0) > CONNECTIONS and limited.get("body_timeout", 0) >= 4


WRONG_TOKEN_CONNECTIONS = 300
WRONG_TOKEN_SECONDS = 20.0


def test_one_address_of_wrong_tokens_does_not_stop_an_agent(tmp_path: Path,
                                                            prometheus: Prometheus) -> None:
    agent = NodeToken.new("16318", "vc-1")
    config = write_gateway_config(tmp_path / "gateway.yml", [f"{prometheus.url}/api/v1/write"],
                                  [agent])  # the default limits
    with Gateway(config, tmp_path) as gateway:
        result = hostile_run(gateway.port, gateway.proc.pid, "", agent.token,
                             connections=WRONG_TOKEN_CONNECTIONS, body_bytes=0,
                             seconds=WRONG_TOKEN_SECONDS, wrong_tokens_from="127.0.0.2")
        limited = _limited(gateway.url)
    print(f"\n{WRONG_TOKEN_CONNECTIONS} wrong-token clients from one address for "
          f"{WRONG_TOKEN_SECONDS:.0f}s: answers {result.hostile_answers}")
    print(f"limited requests counted: {limited}")
    print(f"gateway peak RSS {result.peak_rss / 1e6:.0f} MB")
    _print_agent(result)
    assert result.agent_failures == [], result.agent_failures[:5]
    assert result.p99() < 1.0
    assert limited.get("per_source", 0) > WRONG_TOKEN_CONNECTIONS
    assert limited.get("connections", 0) == 0
