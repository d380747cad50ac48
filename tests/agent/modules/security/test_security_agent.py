"""End to end: a real commune-agent with the security module, a real sshd refusing logins, and a
real Prometheus scraping the agent and querying the security series."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.agent_process import Agent
from tests.support.peers import Prometheus, http_get, wait_for
from tests.support.sshd import failing_sshd

pytestmark = pytest.mark.peer


def scrape(agent: Agent) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    status, body, _ = http_get(f"{agent.url}/metrics")
    assert status == 200
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(body.decode()) for s in f.samples}


def failures(agent: Agent, reason: str) -> float:
    key = ("commune_auth_failures_total", (("commune", "16318"), ("reason", reason),
                                           ("service", "ssh"), ("source_class", "loopback")))
    return scrape(agent).get(key, 0.0)


def test_agent_counts_sshd_failures_and_prometheus_sees_them(tmp_path: Path) -> None:
    with failing_sshd(tmp_path / "sshd") as sshd:
        config = textwrap.dedent(f"""\
            commune: "16318"
            interval: 1s
            modules:
              security:
                state_dir: {tmp_path / "state"}
                auth: {{files: [{sshd.log_file}]}}
                listen:
                  include_loopback: true
                  allow: [{{proto: tcp, port: {sshd.port}, process: sshd}}]
            """)
        with Agent(tmp_path, config) as agent:
            sshd.fail_password("root", tries=2)
            sshd.fail_password("nobody-here")
            wait_for(lambda: failures(agent, "bad_password") == 2
                     and failures(agent, "invalid_user") == 1, 20,
                     what=f"failed logins in /metrics ({agent.log_path})")
            samples = scrape(agent)
            unexpected = [labels for name, labels in samples
                          if name == "commune_unexpected_listen"]
            assert all(dict(labels)["port"] != str(sshd.port) for labels in unexpected)
            assert any(dict(labels)["port"] == str(agent.port) for labels in unexpected)

            prom_dir = tmp_path / "prometheus"
            prom_dir.mkdir()
            prom_config = ("global: {scrape_interval: 1s}\nscrape_configs:\n"
                           "  - job_name: agent\n"
                           f"    static_configs: [{{targets: ['{agent.address}']}}]\n")
            with Prometheus(prom_config, prom_dir) as prometheus:
                result = wait_for(lambda: prometheus.query(
                    'sum by (reason) (commune_auth_failures_total{service="ssh"})'), 30,
                    what="prometheus query")
    by_reason = {r["metric"]["reason"]: float(r["value"][1]) for r in result}
    assert by_reason == {"bad_password": 2.0, "invalid_user": 1.0}
