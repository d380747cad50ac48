"""A pushed agent that stops is alerted on: inventory -> render -> Prometheus <- gateway <- agent.

Everything is real and on loopback: `commune-collector render` writes the Prometheus config
and rules from a one-commune inventory, Prometheus runs them with its remote-write receiver on,
`commune-collector serve` (reading the same inventory) forwards a real commune-agent's pushes.
The rules are the shipped ones, durations scaled by tests/support/alert_peers.py.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.support.agent_process import Agent
from tests.support.alert_peers import RULES, scaled
from tests.support.inventory import HAC_THANH, Node, inventory_yaml
from tests.support.peers import VENV_BIN, Prometheus, http_get, wait_for
from tests.support.push_peers import Gateway, NodeToken, write_gateway_config

pytestmark = pytest.mark.peer

COMMUNE = "14797"
PUSHER = NodeToken.new(COMMUNE, "lan-1")
INVENTORY = inventory_yaml([HAC_THANH.with_nodes(Node("lan-1"), Node("vc-1", role="vc"))])
# The heartbeat-age thresholds are plain seconds (120 lowland, 300 mountain), which scaled()
# leaves alone; divide them too so the alert can fire within seconds.
AGE_THRESHOLD = re.compile(r"(heartbeat:age_seconds\{[^}]*\} > )(\d+)")


def scaled_rules(text: str) -> str:
    """scaled() plus heartbeat-age thresholds / 10 (120 s -> 12 s)."""
    return AGE_THRESHOLD.sub(lambda m: f"{m[1]}{int(m[2]) // 10}", scaled(text))


def alerts(prom: Prometheus, name: str) -> list[dict[str, Any]]:
    """The pending or firing alerts called ``name``."""
    status, body, _ = http_get(f"{prom.url}/api/v1/alerts")
    assert status == 200, body
    return [a for a in json.loads(body)["data"]["alerts"] if a["labels"]["alertname"] == name]


def not_reporting(prom: Prometheus) -> list[str]:
    """The nodes CommuneAgentNotReporting is pending or firing for."""
    return sorted(a["labels"]["node"] for a in alerts(prom, "CommuneAgentNotReporting"))


def test_a_stopped_pushed_agent_is_alerted_on(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    for name in ("availability.yml", "recording.yml"):
        text = scaled_rules((RULES / name).read_text())
        if name == "availability.yml":
            assert "> 12\n" in text and "> 30\n" in text  # the thresholds were found
        (rules / name).write_text(text)
    (tmp_path / "inventory.yml").write_text(INVENTORY)
    out = tmp_path / "render"
    subprocess.run([str(VENV_BIN / "commune-collector"), "render", "--inventory",
                    str(tmp_path / "inventory.yml"), "--out", str(out), "--rules", str(rules),
                    "--scrape-interval", "1s", "--evaluation-interval", "1s"],
                   check=True, capture_output=True)
    assert "commune_inventory_node_info" in (out / "rules/commune-inventory.yml").read_text()
    with Prometheus((out / "prometheus.yml").read_text(), out,
                    extra_args=["--web.enable-remote-write-receiver"]) as prom:
        gateway_yml = write_gateway_config(
            tmp_path / "gateway.yml", [f"{prom.url}/api/v1/write"], [PUSHER],
            extra=f"inventory: {tmp_path / 'inventory.yml'}\n")
        with Gateway(gateway_yml, tmp_path) as gateway:
            (tmp_path / "token").write_text(PUSHER.token + "\n")
            agent = Agent(tmp_path, f"""\
commune: "{COMMUNE}"
interval: 1s
modules:
  host: {{}}
push:
  url: {gateway.write_url}
  token_file: {tmp_path / 'token'}
  spool_dir: {tmp_path / 'spool'}
  min_backoff: 100ms
  max_backoff: 500ms
""")
            with agent:
                heartbeat = f'commune_agent_heartbeat_timestamp_seconds{{commune="{COMMUNE}"}}'
                (series,) = wait_for(lambda: prom.query(heartbeat), 30,
                                     what="the pushed heartbeat in Prometheus")
                assert series["metric"] == {
                    "__name__": "commune_agent_heartbeat_timestamp_seconds",
                    "commune": COMMUNE, "commune_name": "Phường Hạc Thành",
                    "region": "Thành phố Thanh Hóa", "terrain": "lowland", "role": "lan-node",
                    "instance": "lan-1", "job": "commune-agent"}
                # The inventory's node that never pushed is reported, the pushing one is not.
                # (lan-1 may be pending until the first evaluation that sees its heartbeat.)
                def only_vc1() -> list[dict[str, Any]] | None:
                    found = alerts(prom, "CommuneAgentNotReporting")
                    return found if [a["labels"]["node"] for a in found] == ["vc-1"] else None

                (never,) = wait_for(only_vc1, 20, what="CommuneAgentNotReporting for vc-1 only")
                assert never["labels"]["node"] == "vc-1"
                assert never["labels"]["commune_name"] == "Phường Hạc Thành"
                wait_for(lambda: prom.query("commune_instance:commune_agent_heartbeat:"
                                            "age_seconds"), 20, what="heartbeat age recorded")
                assert alerts(prom, "CommuneAgentSilent") == []
                agent.stop()
            (silent,) = wait_for(lambda: alerts(prom, "CommuneAgentSilent"), 30,
                                 what="CommuneAgentSilent after the agent stopped")
            assert silent["state"] in ("pending", "firing")
            assert {k: silent["labels"].get(k) for k in ("commune", "instance", "role", "job")
                    } == {"commune": COMMUNE, "instance": "lan-1", "role": "lan-node",
                          "job": "commune-agent"}
            assert not_reporting(prom) == ["vc-1"]
