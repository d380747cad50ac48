"""Agent -> gateway -> real Prometheus across a link outage and an agent restart: nothing lost."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.support.peers import Prometheus, wait_for
from tests.support.push_peers import (
    Gateway,
    NodeToken,
    PushAgent,
    raw_samples,
    write_agent_config,
    write_gateway_config,
)
from tests.support.tick import read_ticks

pytestmark = pytest.mark.peer

OUTAGE_SAMPLES = 300  # tick samples produced while the gateway is down


def test_outage_and_agent_restart_lose_no_sample(tmp_path: Path, prometheus: Prometheus) -> None:
    prom = prometheus
    token = NodeToken.new("14797")
    gw_config = write_gateway_config(tmp_path / "gateway.yml",
                                     [f"{prom.url}/api/v1/write"], [token])
    gateway = Gateway(gw_config, tmp_path)
    agent_config = write_agent_config(tmp_path, gateway.write_url, token)
    ticks = tmp_path / "ticks"
    agent = PushAgent(agent_config, tmp_path)
    try:
        wait_for(lambda: len(raw_samples(prom, "test_ticks_total")) >= 20, 30,
                 what="first ticks in Prometheus")

        gateway.stop()  # the link goes down
        down_at, down_ticks = time.monotonic(), read_ticks(ticks)
        wait_for(lambda: read_ticks(ticks) >= down_ticks + OUTAGE_SAMPLES // 2, 60,
                 what="ticks spooled during the outage")
        assert agent.metric("commune_push_spool_bytes") > 0
        assert agent.metric("commune_push_oldest_sample_age_seconds") > 1
        assert agent.metric("commune_agent_heartbeat_timestamp_seconds") > time.time() - 60
        assert agent.metric("commune_push_lag_seconds") > 1
        agent.stop()  # restarted while the link is down: the spool is on disk
        agent = PushAgent(agent_config, tmp_path, name="agent-2")
        wait_for(lambda: read_ticks(ticks) >= down_ticks + OUTAGE_SAMPLES, 60,
                 what="more ticks spooled during the outage")

        up_ticks = read_ticks(ticks)
        outage = time.monotonic() - down_at
        gateway = Gateway(gw_config, tmp_path, port=gateway.port, name="gateway-2")
        back_at = time.monotonic()
        wait_for(lambda: max((v for _, v in raw_samples(prom, "test_ticks_total")),
                             default=0) >= up_ticks, 60, what="backlog delivered")
        drained = time.monotonic() - back_at
        print(f"\noutage {outage:.1f}s ({up_ticks - down_ticks} ticks) drained in "
              f"{drained:.2f}s: {outage / max(drained, 1e-3):.0f}x real time")
        wait_for(lambda: agent.metric("commune_push_oldest_sample_age_seconds") < 1, 30,
                 what="spool drained")
    finally:
        agent.stop()
        gateway.stop()

    samples = raw_samples(prom, "test_ticks_total")
    values = [v for _, v in samples]
    stamps = [t for t, _ in samples]
    last = int(values[-1])
    assert last >= up_ticks
    assert values == [float(i) for i in range(1, last + 1)], "a tick is missing or repeated"
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    series = prom.query("test_ticks_total")[0]["metric"]
    assert series["commune"] == "14797" and series["instance"] == "lan-1"
    heartbeat = prom.query("commune_agent_heartbeat_timestamp_seconds")
    assert heartbeat and heartbeat[0]["metric"]["commune"] == "14797"
    assert prom.query("commune_push_sent_samples_total"), "push metrics are pushed too"
