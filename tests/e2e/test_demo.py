"""make demo: the rendered config brings up Prometheus scraping the agent, and Alertmanager."""

from __future__ import annotations

import json
import urllib.parse
from pathlib import Path

import pytest

from tests.support.paths import ROOT
from tests.support.peer_marker import require_peer
from tests.support.peers import LOOPBACK, Process, free_port, http_get, wait_for

pytestmark = pytest.mark.peer


def test_demo_renders_and_runs(tmp_path: Path) -> None:
    ports = {"AGENT_PORT": free_port(), "PROMETHEUS_PORT": free_port(),
             "ALERTMANAGER_PORT": free_port(), "PUSH_AGENT_PORT": free_port(),
             "GATEWAY_PORT": free_port(), "PORTAL_PORT": free_port()}
    env = {k: str(v) for k, v in ports.items()}
    require_peer("scripts/demo.sh (prometheus, alertmanager, openssl, curl)")
    demo = Process([str(ROOT / "scripts/demo.sh")], tmp_path / "demo.log",
                   env={**env, "DEMO_SECONDS": "120", "DEMO_DIR": str(tmp_path / "demo")})
    with demo:
        wait_for(lambda: "demo is running" in demo.log(), 60, what="demo up")
        assert f"Alertmanager    http://127.0.0.1:{ports['ALERTMANAGER_PORT']}/" in demo.log()
        assert (tmp_path / "demo/render/file_sd/lan-node.json").is_file()
        prom = f"http://{LOOPBACK}:{ports['PROMETHEUS_PORT']}"
        query = urllib.parse.urlencode({"query": 'up{commune="16318", role="lan-node"} == 1'})

        def scraped() -> bool:
            status, body, _ = http_get(f"{prom}/api/v1/query?{query}")
            return status == 200 and len(json.loads(body)["data"]["result"]) == 1

        wait_for(scraped, 30, what="Prometheus scraping the demo agent with inventory labels")
        # the agent probes the demo's stand-in portal (what make demo-incident slows and stops)
        _, body, _ = http_get(f"http://{LOOPBACK}:{ports['AGENT_PORT']}/metrics")
        assert 'probe_success{commune="16318",kind="http",target="tthc-portal"} 1.0' in (
            body.decode())

        def communes() -> set[tuple[str, str, str]]:
            both = "count by (commune, terrain, job) (node_load1{commune!=\"\"})"
            status, body, _ = http_get(f"{prom}/api/v1/query?"
                                       + urllib.parse.urlencode({"query": both}))
            assert status == 200, body
            return {(r["metric"]["commune"], r["metric"]["terrain"], r["metric"]["job"])
                    for r in json.loads(body)["data"]["result"]}

        # The pushed agent's series come through the gateway, labelled from the inventory.
        assert wait_for(lambda: len(communes()) == 2 and communes(), 30,
                        what="both communes' series in Prometheus") == {
            ("16318", "lowland", "commune-agent"), ("14797", "mountain", "commune-agent")}
        gateway = f"http://{LOOPBACK}:{ports['GATEWAY_PORT']}"
        assert f"gateway         {gateway}/metrics" in demo.log()
        assert "count by (commune, commune_name, instance, job)" in demo.log()
        token = (tmp_path / "demo/push-token").read_text().strip()
        assert len(token) == 64 and token not in (tmp_path / "demo/gateway.yml").read_text()

        def alertmanagers() -> list[str]:
            status, body, _ = http_get(f"{prom}/api/v1/alertmanagers")
            assert status == 200, body
            return [a["url"] for a in json.loads(body)["data"]["activeAlertmanagers"]]

        assert wait_for(alertmanagers, 30, what="Alertmanager known to Prometheus") == [
            f"http://127.0.0.1:{ports['ALERTMANAGER_PORT']}/api/v2/alerts"]
    assert "demo stopped" in demo.log_path.read_text()
