"""One incident, one notification, then its resolution: real Prometheus, real Alertmanager.

Four communes' probes are served by an exporter the test controls (inventory labels per scrape
target, as render's file_sd gives them); Prometheus evaluates a copy of the rules with every
duration divided by 60 and alerts a real Alertmanager configured by render/alertmanager.py;
a webhook receiver in the test records what is notified. Two incidents in turn:
- commune 16531 loses its uplink (its LAN gateway still answers): CommuneUplinkDown for it, to
  the province team and to the technicians of its region, nothing else; then resolved;
- the portal fails from every commune: TTHCPortalDown to the province team, no per-commune
  alert; then resolved.
The time from onset to the webhook is printed (rules scaled down 60x; Alertmanager waits 1 s).
"""

from __future__ import annotations

import contextlib
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support.alert_peers import Webhook, prometheus_and_alertmanager
from tests.support.peers import LOOPBACK, serving, wait_for

pytestmark = pytest.mark.peer

COMMUNES = {"14797": ("Phường Hạc Thành", "Thành phố Thanh Hóa", "lowland"),
            "16531": ("Phường Sầm Sơn", "Thành phố Sầm Sơn", "lowland"),
            "14866": ("Xã Mường Chanh", "Huyện Mường Lát", "mountain"),
            "15853": ("Phường Đông Tiến", "Thành phố Thanh Hóa", "lowland")}
TARGETS = (("tthc-portal", "http"), ("tthc-db", "tcp"), ("gateway", "icmp"))


class ProbeExporter(ThreadingHTTPServer):
    """probe_success of every commune and target; the test sets ``up[(commune, target)]``."""

    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.up = {(code, target): 1 for code in COMMUNES for target, _ in TARGETS}

    def set(self, value: int, communes: Any = COMMUNES, targets: Any = ("tthc-portal",)) -> None:
        """Set the probes of ``targets`` from ``communes`` up (1) or down (0)."""
        for code in communes:
            for target in targets:
                self.up[(code, target)] = value


class _Handler(BaseHTTPRequestHandler):
    server: ProbeExporter

    def do_GET(self) -> None:
        code = urllib.parse.parse_qs(urllib.parse.urlparse(self.path).query)["commune"][0]
        body = "".join(f'probe_success{{target="{t}",kind="{k}"}} {self.server.up[(code, t)]}\n'
                       for t, k in TARGETS).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


def _scrape_config(address: str) -> dict[str, Any]:
    return {"job_name": "commune-agent", "static_configs": [
        {"targets": [address], "labels": {
            "__param_commune": code, "commune": code, "commune_name": name, "region": region,
            "terrain": terrain, "role": "lan-node", "instance": f"10.38.{i}.10:9810"}}
        for i, (code, (name, region, terrain)) in enumerate(COMMUNES.items(), start=1)]}


def _notified(webhook: Webhook, status: str, expected: list[tuple[str, str, str]],
              timeout: float) -> float:
    """Wait until exactly ``expected`` was notified with ``status``; return the seconds waited."""
    start = time.monotonic()
    wait_for(lambda: len(webhook.alerts(status)) >= len(expected), timeout,
             what=f"{status} notifications {expected}")
    assert webhook.alerts(status) == expected
    return time.monotonic() - start


def test_one_incident_one_notification_then_resolved(tmp_path: Path) -> None:
    webhook, exporter = Webhook(), ProbeExporter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(serving(webhook))
        stack.enter_context(serving(exporter))
        prom = stack.enter_context(prometheus_and_alertmanager(
            tmp_path, ("recording.yml", "availability.yml", "tthc-portal.yml"), webhook.url,
            [_scrape_config(f"{LOOPBACK}:{exporter.server_address[1]}")], group_interval="2s"))
        wait_for(lambda: len(prom.query("commune:uplink_probe_success:max == 1")) == 4, 30,
                 what="four healthy communes")

        # 1. Commune 16531's uplink goes down; its gateway (a LAN target) still answers.
        exporter.set(0, ["16531"], ["tthc-portal", "tthc-db"])
        uplink = [("critical", "CommuneUplinkDown", "16531"),
                  ("technicians-thanh-pho-sam-son", "CommuneUplinkDown", "16531")]
        took = _notified(webhook, "firing", uplink, 30)
        time.sleep(4)  # a per-target or portal alert would have fired by now (scaled for: 2-3 s)
        assert webhook.alerts("firing") == uplink
        exporter.set(1, ["16531"], ["tthc-portal", "tthc-db"])
        _notified(webhook, "resolved", uplink, 30)
        print(f"\nuplink down -> webhook: {took:.1f} s (rules scaled down 60x)")

        # 2. The portal fails from every commune: one province alert, no commune alert.
        webhook.notifications.clear()
        exporter.set(0)
        portal = [("critical", "TTHCPortalDown", "")]
        took = _notified(webhook, "firing", portal, 30)
        time.sleep(4)
        assert webhook.alerts("firing") == portal
        exporter.set(1)
        _notified(webhook, "resolved", portal, 30)
        print(f"portal down -> webhook: {took:.1f} s (rules scaled down 60x)")
        # and nothing about the communes in the 10 scaled minutes after it came back
        time.sleep(3)
        assert webhook.alerts("firing") == portal
