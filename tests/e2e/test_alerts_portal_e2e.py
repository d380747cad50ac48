"""The portal slows down, then goes down, then comes back: end to end with real agents.

make demo's stand-in TTHC portal (scripts/demo_portal.py: normal, slow, or down with 503) is
probed as ``tthc-portal`` every 4 s by three real commune-agent processes (a slow probe must take
over the SLI's 3 s, and a module's timeout may not exceed its interval; the agents start
together so their probes are in step); ``commune-collector render`` of a loopback inventory
listing them gives Prometheus its config (scrape every 0.5 s, rules every 1 s) and every rule,
each duration divided by 60 ('2m' -> '2s'); a real Alertmanager on
the rendered alertmanager.yml (waits cut to 1-2 s) posts to a webhook receiver in the test.
Expected: TTHCPortalSLOBurnFast while slow; TTHCPortalDown (and the burn alert resolved) while
down; TTHCPortalDown resolved once healthy; never a per-commune alert. The time from each onset
to the webhook is printed. On the way, the province-overview and TTHC-portal panels fed by
these probes return data, and the open-alert panels show the portal down.
"""

from __future__ import annotations

import contextlib
import functools
import importlib.util
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

from tests.support.agent_process import Agent
from tests.support.alert_peers import Webhook, scaled
from tests.support.alertmanager_peer import Alertmanager
from tests.support.dashboard_queries import ALL, substituted
from tests.support.inventory import Commune, Node, inventory_yaml
from tests.support.paths import ROOT
from tests.support.peers import LOOPBACK, Prometheus, free_port, http_get, serving, wait_for

pytestmark = pytest.mark.peer

COMMUNES = {"14797": ("Phường Hạc Thành", "Thành phố Thanh Hóa"),
            "16531": ("Phường Sầm Sơn", "Thành phố Sầm Sơn"),
            "15853": ("Phường Đông Tiến", "Huyện Đông Sơn")}
SLOW_SECONDS = 3.4  # over the SLI's 3 s, under the probe's 3.9 s timeout


def _demo_portal() -> ModuleType:
    """scripts/demo_portal.py: make demo's stand-in portal, served here on a free port."""
    spec = importlib.util.spec_from_file_location("demo_portal", ROOT / "scripts/demo_portal.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _agent_config(code: str, portal_url: str) -> str:
    return (f'commune: "{code}"\ninterval: 4s\nmodules:\n  probe:\n'
            f'    targets:\n      - {{name: tthc-portal, kind: http, url: "{portal_url}",'
            ' timeout: 3900ms}\n')


def _inventory(agents: dict[str, Agent], portal_url: str) -> str:
    communes = [Commune(code, name, "phường", "lowland", region, (
        Node("lan-1", mode="scrape", address=agents[code].address),))
        for code, (name, region) in COMMUNES.items()]
    return inventory_yaml(communes, targets=[
        {"name": "tthc-portal", "kind": "http", "url": portal_url}])


def _render(workdir: Path, am_port: int, webhook_url: str) -> Path:
    out = workdir / "render"
    subprocess.run([sys.executable, "-m", "collector.cli", "render",
                    "--inventory", str(workdir / "inventory.yml"), "--out", str(out),
                    "--rules", str(ROOT / "configs/prometheus/rules"),
                    "--alertmanager", f"{LOOPBACK}:{am_port}", "--webhook-url", webhook_url,
                    "--scrape-interval", "500ms", "--scrape-timeout", "500ms",
                    "--evaluation-interval", "1s"], check=True, capture_output=True)
    for rule_file in (out / "rules").glob("*.yml"):
        rule_file.write_text(scaled(rule_file.read_text()))
    config = yaml.safe_load((out / "alertmanager.yml").read_text())
    config["route"].update(group_wait="1s", group_interval="2s")
    for route in config["route"]["routes"]:
        route["group_wait"] = "1s"
    (out / "alertmanager.yml").write_text(yaml.safe_dump(config, allow_unicode=True))
    return out


def _wait_notified(webhook: Webhook, status: str, alertname: str, timeout: float) -> float:
    start = time.monotonic()
    wait_for(lambda: any(a[1] == alertname for a in webhook.alerts(status)), timeout,
             what=f"{status} {alertname} at the webhook")
    return time.monotonic() - start


def _probe_panels() -> list[tuple[str, str, str]]:
    """The province-overview and TTHC-portal panel queries fed by HTTP probes and agent ``up``
    (the ICMP, certificate and access-log panels need other modules: test_dashboards_live.py)."""
    fed = re.compile(r"probe_success|probe_duration|probe_http_duration|probe_http_status_code"
                     r"|tthc_portal_probe|commune_agent_up|uplink_probe")
    found = []
    for board in ("province-overview", "tthc-portal"):
        for panel in json.loads((ROOT / f"dashboards/{board}.json").read_text())["panels"]:
            found += [(board, panel["title"], substituted(t["expr"], ALL))
                      for t in panel["targets"] if fed.search(t["expr"])]
    return found


def _panels(board: str, contains: str) -> Iterator[str]:
    """The queries of ``board``'s panels that contain ``contains`` (variables at "All")."""
    for panel in json.loads((ROOT / f"dashboards/{board}.json").read_text())["panels"]:
        yield from (substituted(t["expr"], ALL) for t in panel["targets"]
                    if contains in t["expr"])


def _ready(agent: Agent) -> bool:
    return http_get(f"{agent.url}/-/ready")[0] == 200


def _first(webhook: Webhook, alertname: str) -> dict[str, Any]:
    """The first notified alert named ``alertname``."""
    alert: dict[str, Any] = next(a for n in webhook.notifications for a in n["alerts"]
                                 if a["labels"]["alertname"] == alertname)
    return alert


def test_portal_slow_then_down_then_healthy(tmp_path: Path) -> None:
    webhook, portal = Webhook(), _demo_portal().Portal((LOOPBACK, 0), SLOW_SECONDS)
    portal_url = f"http://{LOOPBACK}:{portal.server_address[1]}/"
    with contextlib.ExitStack() as stack:
        stack.enter_context(serving(webhook))
        stack.enter_context(serving(portal))
        agents = {}
        for code in COMMUNES:  # started together, ready waited for after: probes in step
            agents[code] = Agent(tmp_path, _agent_config(code, portal_url), wait=False)
            stack.callback(agents[code].stop)
        for agent in agents.values():
            wait_for(functools.partial(_ready, agent), 15, what=f"agent ready ({agent.log_path})")
        (tmp_path / "inventory.yml").write_text(_inventory(agents, portal_url))
        am_port = free_port()
        out = _render(tmp_path, am_port, webhook.url)
        # the agents probe exactly the target render tells them to
        assert yaml.safe_load((out / "agent-probe-targets.yml").read_text())["targets"] == [
            {"name": "tthc-portal", "kind": "http", "url": portal_url}]
        am = Alertmanager(out / "alertmanager.yml", tmp_path, port=am_port)
        stack.callback(am.stop)
        prom = Prometheus((out / "prometheus.yml").read_text(), out)
        stack.callback(prom.stop)
        wait_for(lambda: len(prom.query(
            'commune_target:probe_success:max{target="tthc-portal"} == 1')) == 3, 30,
            what="three communes reaching the portal")
        # The dashboards' probe panels return data from these real agents.
        for board, title, expr in _probe_panels():
            wait_for(functools.partial(prom.query, expr), 10,
                     what=f"{board} / {title}: {expr!r} returns data")
        time.sleep(2)  # a few seconds of a healthy portal in the SLO windows
        assert webhook.alerts("firing") == []

        # 1. Slow for everyone: the province-wide burn alert, no per-commune slowness alert.
        portal.set_mode("slow")
        slow_took = _wait_notified(webhook, "firing", "TTHCPortalSLOBurnFast", 40)
        assert webhook.alerts("firing") == [("critical", "TTHCPortalSLOBurnFast", "")]
        burn = _first(webhook, "TTHCPortalSLOBurnFast")
        assert (burn["labels"]["severity"], burn["labels"]["scope"],
                burn["labels"]["runbook"]) == ("critical", "province", "portal-slow")
        assert "Slowest phase (median over communes): processing" in " ".join(
            burn["annotations"]["description_en"].split())

        # 2. Down for everyone: one province alert; the burn alert gives way to it.
        portal.set_mode("down")
        down_took = _wait_notified(webhook, "firing", "TTHCPortalDown", 30)
        _wait_notified(webhook, "resolved", "TTHCPortalSLOBurnFast", 15)
        time.sleep(3)  # a per-commune alert (scaled for: 2-5 s) would have fired by now
        assert webhook.alerts("firing") == [("critical", "TTHCPortalDown", ""),
                                            ("critical", "TTHCPortalSLOBurnFast", "")]
        down = _first(webhook, "TTHCPortalDown")["labels"]
        # the province overview's open-alert panels show it
        for panel in _panels("province-overview", "ALERTS"):
            assert wait_for(functools.partial(prom.query, panel), 10, what=panel)
        open_alerts = prom.query(next(_panels("province-overview", "count by (alertname")))
        assert [s["metric"]["alertname"] for s in open_alerts] == ["TTHCPortalDown"]
        assert (down["severity"], down["scope"], down["target"], down["kind"]) == (
            "critical", "province", "tthc-portal", "http")

        # 3. Healthy again: resolved, and no per-commune echo.
        portal.set_mode("normal")
        healthy_took = _wait_notified(webhook, "resolved", "TTHCPortalDown", 30)
        time.sleep(3)
        assert webhook.alerts("resolved") == [("critical", "TTHCPortalDown", ""),
                                              ("critical", "TTHCPortalSLOBurnFast", "")]
        assert webhook.alerts("firing") == [("critical", "TTHCPortalDown", ""),
                                            ("critical", "TTHCPortalSLOBurnFast", "")]
        print(f"\nportal slow -> webhook: {slow_took:.1f} s; portal down -> webhook: "
              f"{down_took:.1f} s; healthy -> resolved: {healthy_took:.1f} s "
              "(rules scaled down 60x, probes every 4 s, Alertmanager waits 1 s)")
