"""Peers for alert tests: scaled rule copies, an Alertmanager config with short waits, a webhook
receiver counting notifications, and a Prometheus + Alertmanager pair on loopback."""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import yaml

from collector.inventory import load_inventory
from collector.render.alertmanager import alertmanager_config, alertmanager_files
from tests.support.alertmanager_peer import Alertmanager
from tests.support.paths import ROOT
from tests.support.peers import LOOPBACK, Prometheus

RULES = ROOT / "configs" / "prometheus" / "rules"
PROVINCE = ROOT / "configs" / "inventory" / "thanh-hoa.yml"


def scaled(text: str) -> str:
    """Durations / 60: '2m' -> '2s', '[6h]' -> '[6m]' (rule text only, annotations untouched)."""
    text = re.sub(r"\b(\d+)m\b", r"\1s", text)
    return re.sub(r"\b(\d+)h\b", r"\1m", text)


class Webhook(ThreadingHTTPServer):
    """Alertmanager's webhook receiver: keeps every notification it is sent."""

    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), _WebhookHandler)
        self.notifications: list[dict[str, Any]] = []

    @property
    def url(self) -> str:
        """Where Alertmanager posts."""
        return f"http://{LOOPBACK}:{self.server_address[1]}/hook"

    def alerts(self, status: str) -> list[tuple[str, str, str]]:
        """(receiver, alertname, commune) of every alert notified with ``status``."""
        return sorted((n["receiver"], a["labels"]["alertname"], a["labels"].get("commune", ""))
                      for n in list(self.notifications) for a in n["alerts"]
                      if a["status"] == status)


class _WebhookHandler(BaseHTTPRequestHandler):
    server: Webhook

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.notifications.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@contextlib.contextmanager
def prometheus_and_alertmanager(workdir: Path, rule_files: Iterable[str], webhook_url: str,
                                scrape_configs: list[dict[str, Any]],
                                group_interval: str = "1m") -> Iterator[Prometheus]:
    """A Prometheus evaluating scaled copies of ``rule_files`` every second, alerting a real
    Alertmanager rendered by collector/render/alertmanager.py (waits of 1 s) posting to the
    webhook."""
    rules = workdir / "rules"
    rules.mkdir()
    for name in rule_files:
        (rules / name).write_text(scaled((RULES / name).read_text()))
    config = alertmanager_config(load_inventory(PROVINCE), webhook_url)
    config["route"].update(group_wait="1s", group_interval=group_interval,
                           repeat_interval="1h")
    for route in config["route"]["routes"]:
        route["group_wait"] = "1s"
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config, allow_unicode=True))
    for rel, content in alertmanager_files().items():
        (workdir / rel).parent.mkdir(parents=True, exist_ok=True)
        (workdir / rel).write_bytes(content)
    with contextlib.ExitStack() as stack:
        am = Alertmanager(workdir / "alertmanager.yml", workdir)
        stack.callback(am.stop)
        prom = Prometheus(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules / "*.yml")],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [am.address]}]}]},
            "scrape_configs": scrape_configs,
        }, allow_unicode=True), workdir)
        stack.callback(prom.stop)
        yield prom
