"""The pieces of the province in a box (tests/e2e/test_province_box.py): the province's stand-in
services, a small inventory of real communes, and what the webhook was told after a fault."""

from __future__ import annotations

import importlib.util
import socketserver
import time
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from collector.inventory import load_inventory
from tests.support.alert_peers import PROVINCE, Webhook
from tests.support.inventory import Commune, Node, inventory_yaml
from tests.support.paths import ROOT
from tests.support.peers import wait_for


def demo_portal() -> ModuleType:
    """scripts/demo_portal.py: make demo's stand-in TTHC portal (normal, slow or down)."""
    spec = importlib.util.spec_from_file_location("demo_portal", ROOT / "scripts/demo_portal.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


class _Accept(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        pass  # a TCP probe only needs the connection


class TcpService(socketserver.ThreadingTCPServer):
    """A TCP port that accepts and closes: the province database as a TCP probe sees it."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str) -> None:
        super().__init__((host, 0), _Accept)


def inventory(codes: list[str], targets: list[dict[str, str | int]]) -> str:
    """An inventory of the province inventory's communes ``codes`` (names, regions, terrain as
    there), each with its one node lan-1, and the province ``targets``."""
    real = {c.code: c for c in load_inventory(PROVINCE).communes}
    return inventory_yaml([Commune(code, real[code].name, real[code].type, real[code].terrain,
                                   real[code].group, (Node("lan-1"),)) for code in codes],
                          targets=targets,
                          comment="The province in a box: three communes of Thanh Hóa.")


@dataclass
class Fault:
    """What the webhook was told from the moment a fault began."""

    webhook: Webhook
    name: str
    began: float = 0.0
    seen: int = 0  # notifications before the fault

    def __post_init__(self) -> None:
        self.began, self.seen = time.monotonic(), len(self.webhook.notifications)

    def alerts(self, status: str) -> list[tuple[str, str, str]]:
        """(receiver, alertname, commune) of the alerts notified with ``status`` since."""
        return sorted({(n["receiver"], a["labels"]["alertname"], a["labels"].get("commune", ""))
                       for n in list(self.webhook.notifications)[self.seen:]
                       for a in n["alerts"] if a["status"] == status})

    def first(self, alertname: str) -> dict[str, Any]:
        """The first alert called ``alertname`` notified since."""
        alert: dict[str, Any] = next(a for n in list(self.webhook.notifications)[self.seen:]
                                     for a in n["alerts"] if a["labels"]["alertname"] == alertname)
        return alert

    def wait(self, status: str, alertname: str, timeout: float) -> float:
        """Seconds from the fault until the webhook got ``alertname`` with ``status``."""
        wait_for(lambda: any(a[1] == alertname for a in self.alerts(status)), timeout,
                 interval=0.2, what=f"{status} {alertname} at the webhook ({self.name})")
        return time.monotonic() - self.began
