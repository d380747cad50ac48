"""make demo: the rendered config brings up Prometheus scraping the agent, and Alertmanager; and
every dashboard panel has data in it (the demo runs what each dashboard reads)."""

from __future__ import annotations

import json
import re
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector.render import dashboards
from tests.support.dashboard_queries import empty_panels, panel_queries
from tests.support.paths import ROOT
from tests.support.peer_marker import require_peer
from tests.support.peers import (
    LOOPBACK,
    Process,
    free_port,
    free_udp_port,
    http_get,
    wait_for,
)

pytestmark = pytest.mark.peer
TCP = ("AGENT_PORT", "PROMETHEUS_PORT", "ALERTMANAGER_PORT", "PUSH_AGENT_PORT", "GATEWAY_PORT",
       "PORTAL_PORT", "PORTAL_TLS_PORT", "VC_PORT", "DIAG_PORT", "BOARD_PORT", "IPERF3_PORT")
UDP = ("SNMP_PORT", "SIP_PORT", "DNS_PORT", "FLOWS_PORT")


@dataclass(frozen=True)
class Demo:
    """A running scripts/demo.sh: its ports, folder and process."""

    ports: dict[str, int]
    folder: Path
    process: Process

    @property
    def prometheus(self) -> str:
        return f"http://{LOOPBACK}:{self.ports['PROMETHEUS_PORT']}"


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    tmp_path = tmp_path_factory.mktemp("demo")
    ports = {name: free_port() for name in TCP} | {name: free_udp_port() for name in UDP}
    env = {k: str(v) for k, v in ports.items()}
    require_peer("scripts/demo.sh (prometheus, alertmanager, snmpd, node exporter, openssl, curl)")
    process = Process([str(ROOT / "scripts/demo.sh")], tmp_path / "demo.log",
                      env={**env, "DEMO_SECONDS": "150", "DEMO_DIR": str(tmp_path / "demo")})
    with process:
        wait_for(lambda: "demo is running" in process.log(), 60, what="demo up")
        yield Demo(ports, tmp_path / "demo", process)
    assert "demo stopped" in process.log_path.read_text()


def test_the_demo_names_its_status_board_first_and_the_board_shows_every_commune(
        demo: Demo) -> None:
    board = f"http://127.0.0.1:{demo.ports['BOARD_PORT']}/"
    listing = demo.process.log().split("commune-monitor demo is running", 1)[1].splitlines()
    assert listing[1].split() == ["status", "board", board, "(every", "commune", "at", "a",
                                  "glance:", "commune-collector", "board)"], listing[:3]

    def status() -> Any:
        code, body, _ = http_get(f"{board}api/status.json")
        return json.loads(body) if code == 200 else None

    data = wait_for(status, 30, what="the demo's board answering")
    inventory = yaml.safe_load((demo.folder / "inventory.yml").read_text())
    shown = {c["code"] for region in data["regions"] for c in region["communes"]}
    assert shown == {str(c["code"]) for c in inventory["communes"]}, data["regions"]


def test_the_demo_schedules_a_conference_the_board_shows(demo: Demo) -> None:
    """The demo's conference starts in a few minutes: its readiness window is open, and the
    silent commune (no VC data at all) is not ready."""
    board = f"http://127.0.0.1:{demo.ports['BOARD_PORT']}/"

    def open_conferences() -> list[dict[str, Any]]:
        code, body, _ = http_get(f"{board}api/status.json")
        found = json.loads(body)["conferences"] if code == 200 else []
        return [c for c in found if c["window_open"] and c["not_ready"]]

    [conference] = wait_for(open_conferences, 60, interval=2.0, what="the demo's conference")
    assert conference["name"] == "giao-ban-demo"
    reasons = {n["code"]: n["reasons"] for n in conference["not_ready"]}
    assert reasons["16522"] == ["no_data"], reasons
    _, page, _ = http_get(board)
    assert b"Conference readiness: Giao ban tr" in page and b'href="/commune/16522"' in page


def test_demo_renders_and_runs(demo: Demo) -> None:
    ports, tmp_path, log = demo.ports, demo.folder.parent, demo.process.log
    assert f"Alertmanager    http://127.0.0.1:{ports['ALERTMANAGER_PORT']}/" in log()
    assert (tmp_path / "demo/render/file_sd/lan-node.json").is_file()
    prom = f"http://{LOOPBACK}:{ports['PROMETHEUS_PORT']}"
    query = urllib.parse.urlencode({"query": 'up{commune="16318", role="lan-node"} == 1'})

    def scraped() -> bool:
        status, body, _ = http_get(f"{prom}/api/v1/query?{query}")
        return status == 200 and len(json.loads(body)["data"]["result"]) == 1

    wait_for(scraped, 30, what="Prometheus scraping the demo agent with inventory labels")
    # the agent probes the demo's stand-in portal (what make demo-incident slows and stops)
    _, body, _ = http_get(f"http://{LOOPBACK}:{ports['AGENT_PORT']}/metrics")
    assert 'probe_success{commune="16318",kind="https",target="tthc-portal"} 1.0' in (
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
    # Both agents estimate a call's quality towards the (loopback) MCU: a clean G.711 path.
    def mos() -> dict[str, float]:
        worst = "min by (commune) (commune_vc_mos_estimate)"
        status, body, _ = http_get(f"{prom}/api/v1/query?"
                                   + urllib.parse.urlencode({"query": worst}))
        assert status == 200, body
        return {r["metric"]["commune"]: float(r["value"][1])
                for r in json.loads(body)["data"]["result"]}

    scores = wait_for(lambda: len(mos()) == 2 and mos(), 30, what="both communes' MOS")
    assert set(scores) == {"16318", "14797"} and all(4.3 < s <= 4.41 for s in scores.values()), (
        scores)
    gateway = f"http://{LOOPBACK}:{ports['GATEWAY_PORT']}"
    assert f"gateway         {gateway}/metrics" in log()
    assert "count by (commune, commune_name, instance, job)" in log()
    token = (tmp_path / "demo/push-token").read_text().strip()
    assert len(token) == 64 and token not in (tmp_path / "demo/gateway.yml").read_text()

    def alertmanagers() -> list[str]:
        status, body, _ = http_get(f"{prom}/api/v1/alertmanagers")
        assert status == 200, body
        return [a["url"] for a in json.loads(body)["data"]["activeAlertmanagers"]]

    assert wait_for(alertmanagers, 30, what="Alertmanager known to Prometheus") == [
        f"http://127.0.0.1:{ports['ALERTMANAGER_PORT']}/api/v2/alerts"]


def test_every_panel_has_data_in_the_demo(demo: Demo) -> None:
    """Each query of each panel, with the variables at "All", returns something (a graph: a
    point in the last minutes) once the demo has run a little."""
    panels = {q.panel for q in panel_queries()}
    assert len(panels) > 90
    deadline = time.monotonic() + 100
    while (empty := empty_panels(demo.prometheus)) and time.monotonic() < deadline:
        time.sleep(3)  # rates need a few scrapes, the 5 min recording rules a few evaluations
    if empty:
        pytest.fail(f"{len(empty)} of {len(panels)} panels are empty in the demo:\n  "
                    + "\n  ".join(empty))


def test_every_panel_showing_communes_links_to_their_detail(demo: Demo) -> None:
    """Outside commune detail, a panel whose series carry ``commune`` links them to its detail."""
    wait_for(lambda: not empty_panels(demo.prometheus), 100, interval=3.0,
             what="every panel with data")
    links = {(path.stem, panel["id"]): bool(panel.get("fieldConfig", {}).get("defaults", {})
                                            .get("links"))
             for path in (ROOT / "dashboards").glob("*.json")
             for panel in json.loads(path.read_text(encoding="utf-8"))["panels"]
             if panel["type"] != "row"}
    unlinked = {q.panel for q in panel_queries() if q.board != "commune-detail"
                and not links[(q.board, q.panel_id)]
                and any("commune" in series for series in _query_metrics(demo, q.expr))}
    assert not unlinked, unlinked


def _query_metrics(demo: Demo, expr: str) -> list[dict[str, str]]:
    _, body, _ = http_get(f"{demo.prometheus}/api/v1/query?"
                          + urllib.parse.urlencode({"query": expr}))
    return [r["metric"] for r in json.loads(body)["data"]["result"]]


def test_the_commune_variable_lists_every_inventory_commune(demo: Demo) -> None:
    """A silent commune (16522 never reports) can be picked, and is shown as no data."""
    variable = {v["name"]: v for v in dashboards.commune()["templating"]["list"]}["commune"]
    query = variable["query"]["query"].replace("$region", ".+").removeprefix(
        "query_result(").removesuffix(")")
    pattern = re.compile(variable["regex"].strip("/").replace("(?<", "(?P<"))
    _, body, _ = http_get(f"{demo.prometheus}/api/v1/query?"
                          + urllib.parse.urlencode({"query": query}))
    lines = [grafana_line(r["metric"]) for r in json.loads(body)["data"]["result"]]
    found = {m["value"]: m["text"] for m in map(pattern.search, lines) if m}
    assert set(found) == {"16318", "14797", "16522"}, lines
    status = dashboards.STATUS.replace("$region", ".+").replace("$commune", ".+")
    _, body, _ = http_get(f"{demo.prometheus}/api/v1/query?"
                          + urllib.parse.urlencode({"query": status}))
    by_commune = {r["metric"]["commune"]: r["value"][1] for r in json.loads(body)["data"]["result"]}
    assert by_commune["16522"] == "-1"


def grafana_line(metric: dict[str, str]) -> str:
    """A series as Grafana's query_result() writes it, for the variable's regex."""
    return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(metric.items())) + "} 1 1700000000000"


def _query(demo: Demo, expr: str) -> dict[str, str]:
    """``expr`` with the variables at "All": {commune: value}."""
    expr = expr.replace("$region", ".+").replace("$commune", ".+")
    status, body, _ = http_get(f"{demo.prometheus}/api/v1/query?"
                               + urllib.parse.urlencode({"query": expr}))
    assert status == 200, body
    return {r["metric"].get("commune", ""): r["value"][1]
            for r in json.loads(body)["data"]["result"]}


def test_a_portal_outage_leaves_the_uplinks_green(demo: Demo) -> None:
    """The portal down from every commune is the portal's fault: the communes show degraded,
    their uplinks (ICMP to the gateway) stay up. Runs last: it takes the portal down."""
    portal = f"http://{LOOPBACK}:{demo.ports['PORTAL_PORT']}/-/mode/"
    down = 'max(commune_target:probe_success:max{target="tthc-portal"}) == 0'
    urllib.request.urlopen(urllib.request.Request(portal + "down", method="POST"), timeout=5)
    try:
        wait_for(lambda: _query(demo, down), 60, interval=1.0,
                 what="the portal seen down from both communes")
        assert _query(demo, dashboards.UPLINK) == {"16318": "1", "14797": "1"}
        status = _query(demo, dashboards.STATUS)
        assert (status["16318"], status["14797"], status["16522"]) == ("1", "1", "-1")
    finally:
        urllib.request.urlopen(urllib.request.Request(portal + "normal", method="POST"),
                               timeout=5)
