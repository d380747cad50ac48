"""The status board in a real browser: headless Chromium (Debian's) loads the board served
against a real Prometheus and Alertmanager, Prometheus scraping a synthetic fleet of the
province's 166 communes with a few broken on purpose (tests/collector/board/board_fleet.py)
and evaluating the shipped availability rules (durations / 60).

Screenshots of ``/`` and of the down commune's page are saved under ``.artefacts/board/`` in
the checkout (the test prints the folder).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from collector.board.server import BoardOptions, BoardServer
from collector.inventory import Inventory, load_inventory
from common.schema import HostPort
from tests.collector.board.board_fleet import (
    BARE,
    PORTAL_SLOW,
    UNREACHABLE,
    UPLINK,
    VC_DOWN,
    BrokenFleet,
    fleet_of,
)
from tests.support.alert_peers import Webhook, prometheus_and_alertmanager
from tests.support.browser import Browser
from tests.support.paths import ROOT
from tests.support.peers import LOOPBACK, free_port, http_get, serving, wait_for
from tests.support.synthetic_fleet import scrape_config

pytestmark = pytest.mark.peer

PROVINCE = ROOT / "configs/inventory/thanh-hoa.yml"
ARTEFACTS = ROOT / ".artefacts" / "board"
RED, AMBER, GREY, PALE_GREEN = ("rgb(198, 40, 40)", "rgb(249, 168, 37)",
                                "rgb(154, 163, 174)", "rgb(226, 240, 227)")


@dataclass(frozen=True)
class Cast:
    """Which commune plays which fault."""

    uplink: str        # every province probe fails: down, uplink
    unreachable: str   # its scrape fails: down, unreachable
    silent: str        # never scraped: no data
    slow: str          # portal slow from it alone: degraded
    vc: str            # VC endpoint down: degraded
    failing: str       # the synthetic fleet's: database unreachable, snmp module down
    bare: str          # no RTT histogram, throughput target or flows: ok, nothing to say why


def cast(inventory: Inventory) -> Cast:
    lowland = [c.code for c in inventory.communes if c.terrain == "lowland"]
    codes = [c.code for c in inventory.communes]
    # The uplink one in the first region, so it heads the page; the others spread out.
    return Cast(uplink=lowland[2], unreachable=codes[40], silent=codes[60],
                slow=next(c for c in lowland if codes.index(c) > 80), vc=codes[100],
                failing=codes[120], bare=codes[140])


@dataclass(frozen=True)
class Stack:
    url: str
    cast: Cast
    prometheus: str
    inventory: Inventory


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    inventory = load_inventory(PROVINCE)
    who = cast(inventory)
    fleet = fleet_of(inventory)
    exporter = BrokenFleet(fleet, {who.uplink: UPLINK, who.unreachable: UNREACHABLE,
                                   who.slow: PORTAL_SLOW, who.vc: VC_DOWN, who.bare: BARE},
                           failing=who.failing, down_target="vc-sip")
    scraped = [c for c in fleet if c.code != who.silent]
    config = scrape_config(scraped, exporter.address, interval="3s")
    webhook = Webhook()
    with serving(exporter), serving(webhook), prometheus_and_alertmanager(
            tmp_path_factory.mktemp("board"), ["recording.yml", "availability.yml"],
            webhook.url, [config]) as prom:
        def alertmanagers() -> list[dict[str, str]]:
            found: list[dict[str, str]] = json.loads(
                http_get(f"{prom.url}/api/v1/alertmanagers")[1])["data"]["activeAlertmanagers"]
            return found

        am_url = wait_for(alertmanagers, 30, what="Prometheus' Alertmanager")[0]["url"]
        am_url = am_url.removesuffix("/api/v2/alerts")

        def open_alerts() -> set[tuple[str, str]]:
            _, body, _ = http_get(f"{am_url}/api/v2/alerts")
            return {(a["labels"]["alertname"], a["labels"].get("commune", ""))
                    for a in json.loads(body)}

        wait_for(lambda: {("CommuneUplinkDown", who.uplink), ("ProvinceServiceDown", "")}
                 <= open_alerts(), 90, interval=0.5, what="the uplink and vc-sip alerts")
        wait_for(lambda: len(prom.query('up{job="commune-agent"}')) == 165, 30,
                 what="every scraped commune")
        board = BoardServer(HostPort(f"{LOOPBACK}:0"), inventory,
                            BoardOptions(prom.url, am_url, timeout=5, cache_ttl=1))
        board.serve_in_thread()
        try:
            yield Stack(f"http://{LOOPBACK}:{board.port}", who, prom.url, inventory)
        finally:
            board.shutdown()
            board.server_close()


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with Browser(width=1366, height=900) as b:
        yield b


def tile(browser: Browser, code: str) -> dict[str, Any]:
    found: dict[str, Any] = browser.evaluate(
        f"""(() => {{ const t = document.querySelector('a.tile[data-code="{code}"]');
        return t && {{cls: t.className, text: t.innerText, href: t.getAttribute('href'),
                      bg: getComputedStyle(t).backgroundColor}}; }})()""")
    assert found, f"no tile for {code}"
    return found


def test_the_board_shows_166_tiles_and_the_down_commune_red(stack: Stack,
                                                            browser: Browser) -> None:
    browser.load(f"{stack.url}/")
    assert browser.evaluate("document.querySelectorAll('a.tile').length") == 166
    down = tile(browser, stack.cast.uplink)
    assert down["cls"] == "tile down" and down["bg"] == RED
    assert "mất kết nối / uplink down" in down["text"]
    assert down["href"] == f"/commune/{stack.cast.uplink}"
    region_first = browser.evaluate("document.querySelector('section a.tile').dataset.code")
    assert region_first == stack.cast.uplink  # worst first in the first region
    path = browser.screenshot(ARTEFACTS / "board.png")
    print(f"\nboard screenshots in {ARTEFACTS}/ ({path.name})")


def test_each_fault_has_its_colour_and_cause(stack: Stack, browser: Browser) -> None:
    browser.load(f"{stack.url}/")
    expected = {
        stack.cast.unreachable: (RED, "không liên lạc được xã / commune unreachable"),
        stack.cast.silent: (GREY, "chưa có số liệu / no data"),
        stack.cast.slow: (AMBER, "cổng TTHC chậm / portal slow"),
        stack.cast.vc: (AMBER, "hội nghị truyền hình lỗi / VC fault"),
        stack.cast.failing: (AMBER, "không kết nối được CSDL / database unreachable"),
    }
    for code, (colour, cause) in expected.items():
        found = tile(browser, code)
        assert (found["bg"], cause in found["text"]) == (colour, True), (code, found)
    # vc-sip fails from every commune: one province alert on top, no commune painted for it.
    alerts = browser.evaluate("document.querySelector('ul.alerts').innerText")
    assert "ProvinceServiceDown" in alerts
    states = browser.evaluate(
        "Array.from(document.querySelectorAll('a.tile')).map(t => t.dataset.state)")
    assert states.count("ok") == 160  # the bare commune is ok
    ok = tile(browser, next(c for c in (t["code"] for t in _json(stack)) if c not in
                            vars(stack.cast).values()))
    assert ok["bg"] == PALE_GREEN


def _json(stack: Stack) -> list[dict[str, Any]]:
    status, body, _ = http_get(f"{stack.url}/api/status.json")
    assert status == 200
    return [c for r in json.loads(body)["regions"] for c in r["communes"]]


def test_the_json_agrees(stack: Stack) -> None:
    communes = {c["code"]: c for c in _json(stack)}
    assert len(communes) == 166
    assert communes[stack.cast.uplink]["state"] == "down"
    assert communes[stack.cast.uplink]["causes"][0]["key"] == "uplink-down"
    assert [a["name"] for a in communes[stack.cast.uplink]["alerts"]] == ["CommuneUplinkDown"]


def test_the_down_communes_page(stack: Stack, browser: Browser) -> None:
    code = stack.cast.uplink
    browser.load(f"{stack.url}/commune/{code}")
    text = browser.evaluate("document.body.innerText")
    assert f"commune-diag run network-basic --commune {code} --inventory {PROVINCE}" in text
    assert "mất kết nối / uplink down" in text
    assert "CommuneUplinkDown" in text and "Mất kết nối đường truyền" in text  # summary_vi
    assert browser.evaluate(
        "getComputedStyle(document.querySelector('.state.down')).backgroundColor") == RED
    for target in ("tthc-portal", "tthc-db", "vc-sip", "gateway"):
        assert target in text
    browser.screenshot(ARTEFACTS / f"commune-{code}.png")
    browser.load(f"{stack.url}/commune/nope")
    assert "No commune has the code nope" in browser.evaluate("document.body.innerText")


def _why_slow_text(browser: Browser) -> str:
    found: str = browser.evaluate("document.querySelector('section.why-slow').innerText")
    return found


def test_a_communes_page_says_why_it_is_slow(stack: Stack, browser: Browser) -> None:
    """RTT quantiles per target over the hour, the last throughput run with its grade, the
    top 5 talkers and apps, from the recorded series; a commune without them says what to
    configure."""
    code = next(c.code for c in stack.inventory.communes if c.code not in vars(stack.cast).values())

    def section() -> str:
        browser.load(f"{stack.url}/commune/{code}")
        text = _why_slow_text(browser)
        # the RTT quantiles come from a one-minute group over rates of two scrapes: up to
        # two evaluations after Prometheus starts
        return (text if "ketoan-pc" in text and "Mbit/s" in text and "gateway" in text
                else "")

    text = wait_for(section, 150, interval=2.0, what="the why-is-it-slow section with data")
    assert text.startswith("Vì sao chậm? / Why is it slow?")
    for shown in ("gateway", "48 Mbit/s", "9 Mbit/s", "90 ms", "35 ms", "30 ms",
                  "ketoan-pc", "camera-1", "https", "windows-update", "rtp"):
        assert shown in text, (shown, text)
    rows = browser.evaluate("Array.from(document.querySelectorAll('section.why-slow tr'))"
                            ".map(r => Array.from(r.cells).map(c => c.innerText))")
    assert ["province", "download", "48 Mbit/s", "90 ms", "30 ms", "B"] in rows
    assert ["province", "upload", "9 Mbit/s", "35 ms", "30 ms", "A"] in rows
    talkers = [r[0] for r in rows if r and r[-1].endswith("B/s") and r[0].startswith(
        ("ketoan", "camera", "pc-"))]
    assert talkers == ["ketoan-pc", "camera-1", "pc-3", "pc-2", "pc-1"]  # top 5, 'other' not
    assert "other" not in talkers
    browser.screenshot(ARTEFACTS / f"commune-{code}-why-slow.png")
    data = {c["code"]: c for c in _json(stack)}[code]["why_slow"]
    assert [t["name"] for t in data["talkers"]] == talkers and len(data["apps"]) == 5
    assert {r["grade"] for r in data["throughput"]} == {"A", "B"}

    browser.load(f"{stack.url}/commune/{stack.cast.bare}")
    bare = _why_slow_text(browser)
    assert "no RTT in the last hour" in bare
    assert "no throughput target configured" in bare
    assert "the agent's flows module is off" in bare and "NetFlow/IPFIX" in bare


def test_without_alertmanager_the_alerts_come_from_prometheus(stack: Stack) -> None:
    dead = f"http://{LOOPBACK}:{free_port()}"
    board = BoardServer(HostPort(f"{LOOPBACK}:0"), stack.inventory,
                        BoardOptions(stack.prometheus, dead, timeout=2, cache_ttl=60))
    board.serve_in_thread()
    try:
        status, body, _ = http_get(f"http://{LOOPBACK}:{board.port}/api/status.json")
    finally:
        board.shutdown()
        board.server_close()
    assert status == 200
    data = json.loads(body)
    assert data["alerts_from"] == "prometheus"
    assert data["notes"] == [f"Alertmanager at {dead} is unreachable (Connection refused); "
                             "alerts below come from Prometheus (ALERTS)"]
    communes = {c["code"]: c for r in data["regions"] for c in r["communes"]}
    assert "CommuneUplinkDown" in [a["name"] for a in communes[stack.cast.uplink]["alerts"]]
    assert "ProvinceServiceDown" in [a["name"] for a in data["alerts"]]


def test_the_screenshots_are_there(stack: Stack) -> None:
    shots = sorted(p.name for p in Path(ARTEFACTS).glob("*.png"))
    assert "board.png" in shots and f"commune-{stack.cast.uplink}.png" in shots
