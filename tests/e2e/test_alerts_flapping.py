"""A flapping commune uplink gives one notification: real Prometheus, real Alertmanager.

The rules are a test copy of configs/prometheus/rules with every duration divided by 60 (minutes
become seconds), scraped and evaluated every second; a tiny exporter in the test flips one
commune's probes down and up; Alertmanager (config from collector/render/alertmanager.py, its waits
shortened) posts to a webhook receiver in the test, which counts the notifications.
"""

from __future__ import annotations

import contextlib
import time
from http.server import ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.support.alert_peers import Webhook, prometheus_and_alertmanager, scaled
from tests.support.peers import EXPOSITION, LOOPBACK, QuietHandler, serving, wait_for

REGION = 'region="Thành phố Thanh Hóa",terrain="lowland"'
FLAPPING = f'commune="14797",commune_name="Phường Hạc Thành",{REGION}'
HEALTHY = [f'commune="{code}",commune_name="{name}",{REGION}'
           for code, name in (("15853", "Phường Đông Tiến"), ("14758", "Phường Hàm Rồng"),
                              ("15925", "Phường Nguyệt Viên"))]
HEALTHY_FOR = 3.0             # seconds before the flapping starts
CYCLES = ((3.0, 1.0),) * 5    # (down, up) seconds: each down phase outlasts the scaled `for: 2s`


def link_up(elapsed: float) -> bool:
    """Whether the flapping commune's uplink is up ``elapsed`` seconds into the test."""
    t = elapsed - HEALTHY_FOR
    if t < 0:
        return True
    for down, up in CYCLES:
        if t < down:
            return False
        t -= down
        if t < up:
            return True
        t -= up
    return True


class Exporter(ThreadingHTTPServer):
    """probe_success of four communes; one of them flaps on the schedule above."""

    def __init__(self) -> None:
        super().__init__((LOOPBACK, 0), _ExporterHandler)
        self.started = time.monotonic()

    def exposition(self) -> bytes:
        """The current /metrics body."""
        up = int(link_up(time.monotonic() - self.started))
        lines = ["# TYPE probe_success gauge"]
        for target, kind in (("tthc-portal", "http"), ("tthc-db", "tcp")):
            lines.append(f'probe_success{{{FLAPPING},target="{target}",kind="{kind}"}} {up}')
        lines += [f'probe_success{{{labels},target="tthc-portal",kind="http"}} 1'
                  for labels in HEALTHY]
        return ("\n".join(lines) + "\n").encode()


class _ExporterHandler(QuietHandler):
    server: Exporter

    def do_GET(self) -> None:
        self.send_body(self.server.exposition(), EXPOSITION)


def test_schedule_flaps() -> None:
    assert link_up(0) and not link_up(HEALTHY_FOR + 1) and link_up(HEALTHY_FOR + 3.5)
    assert not link_up(HEALTHY_FOR + 4.5) and link_up(HEALTHY_FOR + 30)


def test_scaled_rules_keep_annotations() -> None:
    assert scaled("for: 2m\nexpr: x[3m] > 150ms and y[6h]") == (
        "for: 2s\nexpr: x[3s] > 150ms and y[6m]")


@pytest.mark.peer
def test_flapping_uplink_gives_one_notification(tmp_path: Path) -> None:
    webhook, exporter = Webhook(), Exporter()
    with contextlib.ExitStack() as stack:
        stack.enter_context(serving(webhook))
        stack.enter_context(serving(exporter))
        exporter.started = time.monotonic()
        prom = stack.enter_context(prometheus_and_alertmanager(
            tmp_path, ("recording.yml", "availability.yml"), webhook.url,
            [{"job_name": "probes", "honor_labels": True, "static_configs": [
                {"targets": [f"{LOOPBACK}:{exporter.server_address[1]}"]}]}]))
        flapping_ends = HEALTHY_FOR + sum(d + u for d, u in CYCLES)
        wait_for(lambda: webhook.notifications, flapping_ends + 10, what="a notification")
        # Sit out the rest of the flapping and a few evaluations after it.
        time.sleep(max(0.0, flapping_ends + 3 - (time.monotonic() - exporter.started)))
        assert webhook.alerts("firing") == [
            ("critical", "CommuneUplinkDown", "14797"),
            ("technicians-thanh-pho-thanh-hoa", "CommuneUplinkDown", "14797")]
        assert webhook.alerts("resolved") == []
        # The alert went through several down/up cycles in Prometheus, yet stayed one alert.
        assert prom.query('ALERTS{alertname="CommuneUplinkDown", alertstate="firing"}')
