"""The status model: what makes a commune ok, degraded, down or no data, and the cause shown."""

from __future__ import annotations

import pytest

from collector.board.causes import State
from collector.board.status import Board, judge
from collector.inventory import Inventory, load_inventory
from tests.collector.board.fleet_readings import TARGETS, FleetReadings
from tests.support.paths import ROOT

PROVINCE = ROOT / "configs/inventory/thanh-hoa.yml"
PROVINCE_TARGETS = ("tthc-portal", "tthc-db", "vc-sip")


@pytest.fixture(scope="module")
def inventory() -> Inventory:
    return load_inventory(PROVINCE)


@pytest.fixture
def fleet(inventory: Inventory) -> FleetReadings:
    return FleetReadings(inventory, pushed=[inventory.communes[1].code])


def code(inventory: Inventory, i: int) -> str:
    return inventory.communes[i].code


def board(inventory: Inventory, fleet: FleetReadings) -> Board:
    return judge(inventory, fleet.readings(), now=0)


def causes_of(b: Board, commune: str) -> list[str]:
    status = b.commune(commune)
    assert status is not None
    return [c.key for c in status.causes]


def test_a_healthy_province_is_all_ok(inventory: Inventory, fleet: FleetReadings) -> None:
    b = board(inventory, fleet)
    assert len(b.communes) == 166
    assert b.counts()[State.OK] == 166
    assert sum(len(members) for _, members in b.regions) == 166
    assert [t.name for t in b.targets if t.down] == []


def test_every_probe_of_the_province_failing_is_uplink_down(inventory: Inventory,
                                                             fleet: FleetReadings) -> None:
    c = code(inventory, 5)
    for target in PROVINCE_TARGETS:
        fleet.set("probe_success", c, 0, target=target)
    b = board(inventory, fleet)
    status = b.commune(c)
    assert status is not None and status.state is State.DOWN
    assert status.cause is not None and status.cause.text == "mất kết nối / uplink down"
    assert status.runbook == "network-basic"
    assert b.counts()[State.DOWN] == 1
    region = next(members for name, members in b.regions if name == status.region)
    assert region[0].code == c  # worst first within its region


def test_a_portal_outage_is_the_provinces_not_every_communes_uplink(
        inventory: Inventory, fleet: FleetReadings) -> None:
    for commune in inventory.communes:
        fleet.set("probe_success", commune.code, 0, target="tthc-portal")
    fleet.alert("TTHCPortalDown", severity="critical", scope="province", target="tthc-portal")
    b = board(inventory, fleet)
    assert b.counts()[State.OK] == 166
    assert [t.name for t in b.targets if t.down] == ["tthc-portal"]
    assert [a.name for a in b.alerts] == ["TTHCPortalDown"]
    status = b.commune(code(inventory, 0))
    assert status is not None
    assert [p.province_down for p in status.probes if p.target == "tthc-portal"] == [True]


def test_a_commune_without_its_other_province_targets_during_a_portal_outage_is_down(
        inventory: Inventory, fleet: FleetReadings) -> None:
    for commune in inventory.communes:
        fleet.set("probe_success", commune.code, 0, target="tthc-portal")
    c = code(inventory, 7)
    fleet.set("probe_success", c, 0, target="tthc-db")
    fleet.set("probe_success", c, 0, target="vc-sip")
    assert causes_of(board(inventory, fleet), c) == ["uplink-down"]


def test_one_target_unreachable_is_degraded_and_named(inventory: Inventory,
                                                      fleet: FleetReadings) -> None:
    c = code(inventory, 3)
    fleet.set("probe_success", c, 0, target="tthc-db")
    status = board(inventory, fleet).commune(c)
    assert status is not None and status.state is State.DEGRADED
    assert status.cause is not None
    assert status.cause.text == "không kết nối được CSDL / database unreachable"
    assert status.runbook == "services"


def test_scraped_agent_down_and_pushed_agent_silent_are_down(inventory: Inventory,
                                                             fleet: FleetReadings) -> None:
    scraped, pushed = code(inventory, 0), code(inventory, 1)
    fleet.set("up", scraped, 0)
    fleet.set("heartbeat_age", pushed, 121)
    b = board(inventory, fleet)
    assert causes_of(b, scraped) == ["agent-unreachable"]
    assert causes_of(b, pushed) == ["agent-silent"]
    assert b.commune(pushed).state is State.DOWN  # type: ignore[union-attr]


def test_a_mountain_agent_gets_five_minutes(inventory: Inventory) -> None:
    mountain = next(c.code for c in inventory.communes if c.terrain == "mountain")
    fleet = FleetReadings(inventory, pushed=[mountain])
    fleet.set("heartbeat_age", mountain, 200)
    assert board(inventory, fleet).commune(mountain).state is State.OK  # type: ignore[union-attr]
    fleet.set("heartbeat_age", mountain, 301)
    assert causes_of(board(inventory, fleet), mountain) == ["agent-silent"]


def test_a_commune_that_never_reported_is_no_data(inventory: Inventory,
                                                  fleet: FleetReadings) -> None:
    c = code(inventory, 9)
    fleet.drop(c)
    b = board(inventory, fleet)
    status = b.commune(c)
    assert status is not None and status.state is State.NO_DATA
    assert status.cause is not None and status.cause.text == "chưa có số liệu / no data"
    assert b.counts()[State.NO_DATA] == 1


def test_portal_slow_from_one_commune_only(inventory: Inventory, fleet: FleetReadings) -> None:
    c = code(inventory, 2)
    fleet.set("probe_duration", c, 3.5, target="tthc-portal")
    assert causes_of(board(inventory, fleet), c) == ["portal-slow"]
    for commune in inventory.communes:  # slow everywhere: the province's SLO alert, not a tile
        fleet.set("probe_duration", commune.code, 3.5, target="tthc-portal")
    assert board(inventory, fleet).counts()[State.OK] == 166


def test_link_quality_thresholds(inventory: Inventory, fleet: FleetReadings) -> None:
    c = code(inventory, 4)
    fleet.set("icmp_loss", c, 0.06)
    fleet.set("icmp_rtt", c, 0.2)
    b = board(inventory, fleet)
    assert causes_of(b, c) == ["packet-loss", "high-latency"]
    assert b.commune(c).cause.text == "đường truyền mất gói / packet loss"  # type: ignore[union-attr]


@pytest.mark.parametrize("name,value,in_call", [("vc_up", 0, 0), ("vc_registered", 0, 0),
                                                ("vc_loss", 0.05, 1), ("vc_jitter", 0.06, 1)])
def test_vc_faults(inventory: Inventory, fleet: FleetReadings, name: str, value: float,
                   in_call: int) -> None:
    c = code(inventory, 6)
    fleet.set("vc_in_call", c, in_call)
    fleet.set(name, c, value)
    status = board(inventory, fleet).commune(c)
    assert status is not None and status.cause is not None
    assert status.cause.text == "hội nghị truyền hình lỗi / VC fault"
    assert status.runbook == "vc-endpoint"


def test_call_quality_is_not_judged_outside_a_call(inventory: Inventory,
                                                   fleet: FleetReadings) -> None:
    c = code(inventory, 6)
    fleet.set("vc_loss", c, 0.5)
    assert causes_of(board(inventory, fleet), c) == []


def test_an_alert_about_a_commune_makes_it_degraded_once(inventory: Inventory,
                                                         fleet: FleetReadings) -> None:
    c = code(inventory, 8)
    fleet.set("probe_duration", c, 3.5, target="tthc-portal")
    fleet.alert("CommunePortalSlow", commune=c, severity="warning")
    fleet.alert("CommuneDiskNearlyFull", commune=c, severity="critical")
    fleet.alert("AuthBruteForceFromWAN", commune=c, severity="warning")
    fleet.alert("SomethingNew", commune=c, severity="warning")
    b = board(inventory, fleet)
    status = b.commune(c)
    assert status is not None and status.state is State.DEGRADED
    assert [x.key for x in status.causes] == ["portal-slow", "disk", "security",
                                              "alert:SomethingNew"]
    assert len(status.alerts) == 4 and b.alerts == ()


def test_an_uplink_alert_during_recovery_keeps_the_commune_degraded(
        inventory: Inventory, fleet: FleetReadings) -> None:
    c = code(inventory, 8)
    fleet.alert("CommuneUplinkDown", commune=c, severity="critical")
    status = board(inventory, fleet).commune(c)
    assert status is not None and status.state is State.DEGRADED
    assert status.cause is not None and status.cause.en == "uplink down"


def test_a_node_of_two_silent(inventory: Inventory, fleet: FleetReadings) -> None:
    c = code(inventory, 0)
    fleet.add("up", {"commune": c, "instance": "10.38.1.11:9810"}, 0)
    assert causes_of(board(inventory, fleet), c) == ["node-unreachable"]


def test_the_uplink_falls_back_to_every_probe_without_province_targets(
        inventory: Inventory, fleet: FleetReadings) -> None:
    c = code(inventory, 10)
    fleet.vectors["probe_success"] = [
        s for s in fleet.vectors["probe_success"]
        if s.labels["commune"] != c or s.labels["target"] == "gateway"]
    fleet.set("probe_success", c, 0, target="gateway")
    assert causes_of(board(inventory, fleet), c) == ["uplink-down"]
    assert len(TARGETS) == 4


@pytest.mark.parametrize("kind", ["ocsp", "crl"])
def test_a_signature_service_probe_is_not_a_target_or_the_uplink(
        inventory: Inventory, fleet: FleetReadings, kind: str) -> None:
    c, lone = code(inventory, 11), code(inventory, 12)
    labels = {"commune": c, "instance": "10.38.12.10:9810", "job": "commune-agent",
              "target": "ca-ocsp", "kind": kind}
    fleet.add("probe_success", labels, 0)
    assert causes_of(board(inventory, fleet), c) == []
    # A commune whose only failing probes are the gateway and the signature service: its uplink
    # is judged by the gateway alone, as CommuneTargetUnreachable and the uplink rules do.
    fleet.vectors["probe_success"] = [
        s for s in fleet.vectors["probe_success"]
        if s.labels["commune"] != lone or s.labels["target"] == "gateway"]
    fleet.set("probe_success", lone, 1, target="gateway")
    fleet.add("probe_success", {**labels, "commune": lone}, 0)
    assert causes_of(board(inventory, fleet), lone) == []


@pytest.mark.parametrize(("alert", "key", "text"), [
    ("CommuneLinkCongested", "link-congested", "đường truyền nghẽn / link congested"),
    ("CommuneSignatureServiceUnreachable", "signature",
     "dịch vụ chữ ký số lỗi / signature service fault"),
    ("SignatureServiceDownProvinceWide", "signature",
     "dịch vụ chữ ký số lỗi / signature service fault"),
    ("CRLStale", "signature", "dịch vụ chữ ký số lỗi / signature service fault"),
    ("TrustRootMissing", "security", "cảnh báo an ninh / security alert"),
])
def test_the_signature_and_congestion_alerts_have_their_cause(
        inventory: Inventory, fleet: FleetReadings, alert: str, key: str, text: str) -> None:
    c = code(inventory, 13)
    fleet.alert(alert, commune=c, severity="warning")
    status = board(inventory, fleet).commune(c)
    assert status is not None and status.state is State.DEGRADED
    assert status.cause is not None and (status.cause.key, status.cause.text) == (key, text)
