"""The board's conference readiness section against a real Prometheus evaluating vc.yml and the
rules render writes from a schedule (a conference in an hour, its window open), and in Chromium.

The VC series of three communes come from a small exporter: 14797's endpoint is up but not
registered, 14866's link has a MOS of 3.2 (threshold 3.6), 14860 is ready; the other communes
of Huyện Mường Lát report nothing (no data).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import yaml

from collector.board import pages
from collector.board.server import BoardOptions, BoardServer
from collector.board.sources import Readings
from collector.board.status import judge
from collector.conferences import load_conferences
from collector.inventory import Inventory, load_inventory
from collector.render.output import RenderOptions, ShippedData, render
from common.schema import HostPort
from tests.support.browser import Browser
from tests.support.paths import ROOT
from tests.support.peers import LOOPBACK, Prometheus, http_get, serving, wait_for

PROVINCE = ROOT / "configs/inventory/thanh-hoa.yml"
ARTEFACTS = ROOT / ".artefacts" / "board"
TITLE = 'Giao ban <b>tháng 12</b> & "khẩn"'
MUONG_LAT = "Huyện Mường Lát"


def _series(code: str, inventory: Inventory) -> dict[str, str]:
    commune = inventory.commune(code)
    return {"commune": code, "commune_name": commune.name, "region": commune.group,
            "terrain": commune.terrain, "instance": "lan-1", "job": "commune-agent"}


def exposition(inventory: Inventory) -> str:
    lines = []
    for code, vendor, registered, mos in (("14797", "cisco", "0", ""),
                                          ("14866", "yealink", "1", "3.2"),
                                          ("14860", "poly", "", "4.1")):
        labels = _series(code, inventory)
        device = {**labels, "device": "vc-1", "vendor": vendor}
        lines.append(f"commune_vc_up{_text(device)} 1")
        if registered:
            lines.append(f"commune_vc_registered{_text(device)} {registered}")
        if mos:
            lines.append(f"commune_vc_mos_estimate{_text({**labels, 'target': 'vc-mcu'})} {mos}")
    return "\n".join(lines) + "\n"


def _text(labels: dict[str, str]) -> str:
    return "{" + ",".join(f'{k}="{v}"' for k, v in labels.items()) + "}"


class Exporter(ThreadingHTTPServer):
    def __init__(self, body: str) -> None:
        super().__init__((LOOPBACK, 0), _Handler)
        self.body = body.encode()

    @property
    def address(self) -> str:
        return f"{LOOPBACK}:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Exporter

    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.end_headers()
        self.wfile.write(self.server.body)

    def log_message(self, *args: Any) -> None:
        pass


@dataclass(frozen=True)
class Stack:
    url: str
    inventory: Inventory


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    from tests.support.peer_marker import require_peer
    require_peer("prometheus")
    work = tmp_path_factory.mktemp("conference-board")
    inventory = load_inventory(PROVINCE)
    soon = (datetime.now(timezone.utc) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M+00:00")
    later = (datetime.now(timezone.utc) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M+00:00")
    schedule_file = work / "conferences.yml"
    schedule_file.write_text(yaml.safe_dump({"conferences": [
        {"name": "giao-ban", "title": TITLE, "start": soon,
         "communes": ["14797", MUONG_LAT]},
        {"name": "hop-sau", "title": "Họp sau / later", "start": later}]},
        allow_unicode=True), encoding="utf-8")
    schedule = load_conferences(schedule_file, inventory)
    files = render(inventory, RenderOptions(), work / "out",
                   ShippedData.load({"vc.yml": (ROOT / "configs/prometheus/rules/vc.yml")
                                     .read_bytes()}), schedule)
    rules = work / "rules"
    rules.mkdir()
    for name in ("vc.yml", "commune-inventory.yml", "commune-conferences.yml"):
        (rules / name).write_bytes(files[f"rules/{name}"])
    exporter = Exporter(exposition(inventory))
    with serving(exporter):
        prom = Prometheus(yaml.safe_dump({
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules / "*.yml")],
            "scrape_configs": [{"job_name": "vc", "honor_labels": True,
                                "static_configs": [{"targets": [exporter.address]}]}],
        }), work)
        try:
            # the reasons settle once the scraped series reach vc.yml's rules, then these
            wait_for(lambda: len(prom.query(
                'commune_conference_reason:vc_not_ready:bool{reason!="no_data"}')) == 2
                and len(prom.query("commune_conference:vc_ready:bool == 1")) == 1,
                60, interval=0.5, what="the readiness rules evaluated on the scraped series")
            board = BoardServer(HostPort(f"{LOOPBACK}:0"), inventory,
                                BoardOptions(prom.url, None, timeout=5, cache_ttl=1))
            board.serve_in_thread()
            try:
                yield Stack(f"http://{LOOPBACK}:{board.port}", inventory)
            finally:
                board.shutdown()
                board.server_close()
        finally:
            prom.stop()


def _json(stack: Stack) -> dict[str, Any]:
    status, body, _ = http_get(f"{stack.url}/api/status.json")
    assert status == 200
    found: dict[str, Any] = json.loads(body)
    return found


@pytest.mark.peer
def test_the_json_names_the_open_conference_and_who_is_not_ready(stack: Stack) -> None:
    soon, later = _json(stack)["conferences"]
    assert (soon["name"], soon["title"], soon["window_open"]) == ("giao-ban", TITLE, True)
    assert soon["starts"].endswith("+00:00") and soon["mos_threshold"] == "3.6"
    muong_lat = {c.code for c in stack.inventory.communes if c.group == MUONG_LAT}
    reasons = {n["code"]: n["reasons"] for n in soon["not_ready"]}
    assert reasons == {"14797": ["unregistered"], "14866": ["mos_low"],
                       **{code: ["no_data"] for code in muong_lat - {"14866", "14860"}}}
    assert soon["ready"] == 1  # 14860
    assert later["window_open"] is False and later["not_ready"] == [] and later["ready"] is None


@pytest.mark.peer
def test_the_board_section_links_each_commune_and_escapes_the_title(stack: Stack) -> None:
    status, body, _ = http_get(f"{stack.url}/")
    text = body.decode()
    assert status == 200
    assert "Sẵn sàng hội nghị / Conference readiness: Giao ban &lt;b&gt;tháng 12&lt;/b&gt; " \
           "&amp; &quot;khẩn&quot;" in text
    assert "<b>tháng" not in text
    assert '<a href="/commune/14797">Phường Hạc Thành</a>' in text
    assert "chưa đăng ký tổng đài / not registered" in text
    assert "MOS đường truyền thấp / link MOS below the threshold" in text
    assert 'data-conference="hop-sau"' not in text  # its window is not open


@pytest.mark.peer
def test_the_section_in_chromium(stack: Stack) -> None:
    with Browser(width=1366, height=900) as browser:
        browser.load(f"{stack.url}/")
        found = browser.evaluate("""(() => { const s = document.querySelector(
            'section.conference'); return s && {text: s.innerText,
            links: [...s.querySelectorAll('a')].map(a => a.getAttribute('href'))}; })()""")
        assert found, "no conference section"
        muong_lat = [c for c in stack.inventory.communes if c.group == MUONG_LAT]
        # 14797 and every Mường Lát commune but 14860
        assert f"{len(muong_lat)} chưa sẵn sàng / not ready" in found["text"]
        assert "1 sẵn sàng / ready" in found["text"]
        assert "/commune/14797" in found["links"] and "/commune/14866" in found["links"]
        path = browser.screenshot(ARTEFACTS / "board-conference.png")
    assert path.is_file()


def test_without_a_conference_one_line_says_so() -> None:
    inventory = load_inventory(PROVINCE)
    empty = judge(inventory, Readings({}, [], "prometheus"), now=0)
    assert "no conference scheduled" in pages.board_page(empty)
    assert empty.conferences == ()
