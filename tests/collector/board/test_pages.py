"""The HTML pages: tiles, escaping, the commune page, the 404 and unreachable pages, the JSON."""

from __future__ import annotations

import dataclasses
import json
import re
from html.parser import HTMLParser

import pytest

from collector.board import api, pages
from collector.board.status import Board, judge
from collector.inventory import Commune, Inventory, load_inventory
from tests.collector.board.fleet_readings import FleetReadings
from tests.support.paths import ROOT

PROVINCE = ROOT / "configs/inventory/thanh-hoa.yml"
EVIL = '<script>alert("x")</script>&"\''


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(PROVINCE)


class Tags(HTMLParser):
    """Every start tag with its attributes; fails on nothing, counts scripts."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))


def tags(text: str) -> list[tuple[str, dict[str, str | None]]]:
    parser = Tags()
    parser.feed(text)
    return parser.tags


def test_the_board_has_one_tile_per_commune_and_no_external_asset(inventory: Inventory) -> None:
    fleet = FleetReadings(inventory)
    down = inventory.communes[20].code
    fleet.set("up", down, 0)
    text = pages.board_page(judge(inventory, fleet.readings(), now=0), refresh=30)
    found = tags(text)
    tiles = [a for t, a in found if t == "a" and "tile" in (a.get("class") or "")]
    assert len(tiles) == 166
    assert {a["data-code"] for a in tiles} == {c.code for c in inventory.communes}
    assert [a["class"] for a in tiles if a["data-code"] == down] == ["tile down"]
    assert not [t for t, _ in found if t in ("script", "img", "link", "iframe")]
    assert not re.search(r"(src|href)=\"(https?:)?//", text)
    assert '<meta http-equiv="refresh" content="30">' in text
    assert len(text.encode()) < 300_000


def test_everything_from_the_inventory_and_prometheus_is_escaped(tmp_path: object) -> None:
    inventory = load_inventory(PROVINCE)
    first = inventory.communes[0]
    evil = dataclasses.replace(first, name=EVIL, group=EVIL)
    inventory = dataclasses.replace(inventory, communes=type(inventory.communes)(
        (evil, *inventory.communes[1:])))
    object.__setattr__(inventory, "file", EVIL)
    fleet = FleetReadings(inventory)
    fleet.add("snmp_up", {"commune": first.code, "instance": "x", "device": EVIL}, 0)
    fleet.add("probe_success", {"commune": first.code, "instance": "x", "target": EVIL,
                                "kind": EVIL}, 0)
    fleet.alert(EVIL, commune=first.code, severity=EVIL)
    fleet.alert(EVIL, severity=EVIL)
    b = judge(inventory, fleet.readings(), now=0)
    status = b.commune(first.code)
    assert status is not None
    for text in (pages.board_page(b), pages.commune_page(b, status, inventory.file),
                 pages.not_found_page(EVIL), pages.unreachable_page(EVIL)):
        assert "<script>" not in text
        assert "&lt;script&gt;" in text
        assert not [t for t, _ in tags(text) if t == "script"]


def test_the_commune_page_has_its_probes_vc_heartbeat_and_the_diag_command(
        inventory: Inventory) -> None:
    fleet = FleetReadings(inventory, pushed=[inventory.communes[1].code])
    c: Commune = inventory.communes[1]
    fleet.set("vc_up", c.code, 0)
    fleet.alert("VCEndpointUnreachable", commune=c.code, severity="warning")
    b = judge(inventory, fleet.readings(), now=0)
    status = b.commune(c.code)
    assert status is not None
    text = pages.commune_page(b, status, "configs/inventory/thanh-hoa.yml")
    assert "hội nghị truyền hình lỗi / VC fault" in text
    assert (f"commune-diag run vc-endpoint --commune {c.code} "
            "--inventory configs/inventory/thanh-hoa.yml") in text
    assert "VCEndpointUnreachable" in text and "VCEndpointUnreachable vi / " in text
    for target in ("tthc-portal", "tthc-db", "vc-sip", "gateway"):
        assert f"<td>{target}</td>" in text
    assert "<td>lan-1</td>" in text and "<td>5 s</td>" in text  # the heartbeat's age
    assert "<td>vc-1</td>" in text and "<td>core-switch</td>" in text


def test_the_404_page_says_what_to_do() -> None:
    text = pages.not_found_page("99999")
    assert "No commune has the code 99999 in the inventory: check the code" in text


def test_the_json_holds_the_same_data(inventory: Inventory) -> None:
    fleet = FleetReadings(inventory)
    c = inventory.communes[30].code
    for target in ("tthc-portal", "tthc-db", "vc-sip"):
        fleet.set("probe_success", c, 0, target=target)
    b: Board = judge(inventory, fleet.readings(), now=0)
    data = json.loads(api.status_json(b))
    assert data["counts"] == {"ok": 165, "nodata": 0, "degraded": 0, "down": 1}
    communes = {x["code"]: x for r in data["regions"] for x in r["communes"]}
    assert len(communes) == 166
    assert communes[c]["state"] == "down"
    assert communes[c]["causes"][0] == {"key": "uplink-down", "state": "down",
                                        "vi": "mất kết nối", "en": "uplink down"}
    assert {p["target"] for p in communes[c]["probes"]} == {"tthc-portal", "tthc-db", "vc-sip",
                                                            "gateway"}
    assert communes[c]["diag"] == f"commune-diag run network-basic --commune {c}"
