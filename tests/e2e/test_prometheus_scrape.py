"""A real Prometheus scrapes a real agent: plain, and over TLS with basic auth."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.agent_process import Agent, scrape_config
from tests.support.peers import Prometheus, wait_for
from tests.support.tlsfiles import TLSFiles
from tests.support.web_config import PASSWORD, web_config

pytestmark = pytest.mark.peer


def test_prometheus_scrapes_agent(tmp_path: Path) -> None:
    (tmp_path / "prom").mkdir()
    with Agent(tmp_path) as agent, \
            Prometheus(scrape_config(agent.address), tmp_path / "prom") as prom:
        up = wait_for(lambda: prom.query('up{job="commune-agent"} == 1'), 20,
                      what="up == 1 for the agent")
        assert up[0]["metric"]["instance"] == agent.address
        load = wait_for(lambda: prom.query('node_load1{commune="16318"}'), 10,
                        what="node_load1 in Prometheus")
        assert float(load[0]["value"][1]) >= 0
        fs = prom.query('node_filesystem_avail_bytes{mountpoint="/"}')
        assert fs and fs[0]["metric"]["commune"] == "16318"
        assert prom.query('commune_module_up{module="host"} == 1')


def test_prometheus_scrapes_over_tls_with_basic_auth(tmp_path: Path, tls: TLSFiles) -> None:
    (tmp_path / "prom").mkdir()
    config = web_config(tmp_path, tls)
    extra = ("    scheme: https\n"
             f"    tls_config:\n      ca_file: {tls.ca_cert}\n"
             f"    basic_auth:\n      username: prometheus\n      password: {PASSWORD}\n")
    with Agent(tmp_path, args=["--web.config.file", str(config)], scheme="https",
               wait=False) as agent, \
            Prometheus(scrape_config(agent.address, extra), tmp_path / "prom") as prom:
        wait_for(lambda: prom.query('up{job="commune-agent"} == 1'), 20,
                 what=f"up == 1 over TLS ({agent.log_path})")
        assert prom.query('node_cpu_seconds_total{commune="16318",mode="idle"}')
