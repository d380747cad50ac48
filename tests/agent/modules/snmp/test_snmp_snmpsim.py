"""Shipped SNMP modules and VC profiles against snmpsim serving device recordings: snmpsim's own
Linux walk, a 48-port switch, a switch answering garbage, and the VC vendors' recordings."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import snmpsim

from agent.modules.snmp.definitions import Definition, load_definitions
from tests.support.samples import value
from tests.support.snmp_collect import collect, samples, snmp_config
from tests.support.snmp_peers import SNMPREC, Snmpsim, silent_udp

pytestmark = pytest.mark.peer

SHIPPED_LINUX = Path(snmpsim.__file__).parent / "data" / "recorded" / "linux-full-walk.snmprec"
RECORDINGS = {
    "linux": SHIPPED_LINUX,
    "winxp": SHIPPED_LINUX.parent / "winxp-full-walk.snmprec",
    "switch48": SNMPREC / "switch48.snmprec",
    "switch-bad": SNMPREC / "switch-bad.snmprec",
    "vc-poly": SNMPREC / "vc-poly.snmprec",
    "vc-yealink": SNMPREC / "vc-yealink.snmprec",
    "vc-huawei-te": SNMPREC / "vc-huawei-te.snmprec",
}
NUMERIC_TAGS = {"2", "65", "66", "67", "70"}


@pytest.fixture(scope="module")
def sim(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Snmpsim]:
    peer = Snmpsim(tmp_path_factory.mktemp("snmpsim"), RECORDINGS)
    try:
        yield peer
    finally:
        peer.stop()


def read_snmprec(path: Path) -> dict[str, tuple[str, str]]:
    """OID -> (tag, value) of a recording."""
    rows: dict[str, tuple[str, str]] = {}
    for line in path.read_text(errors="replace").splitlines():
        parts = line.split("|", 2)
        if len(parts) == 3:
            rows[parts[0]] = (parts[1], parts[2])
    return rows


def text(tag: str, raw: str) -> str:
    """A recorded OCTET STRING as the text it holds."""
    return bytes.fromhex(raw).decode("utf-8", "replace") if tag == "4x" else raw


def expected_numeric(definition: Definition, recording: dict[str, tuple[str, str]]
                     ) -> dict[tuple[str, str], float]:
    """(metric, index) -> value the recording holds for every plain numeric metric."""
    expected: dict[tuple[str, str], float] = {}
    for metric in definition.metrics:
        if metric.type not in ("gauge", "counter") or metric.value_map:
            continue
        if metric.indexes and [i.type for i in metric.indexes] != ["gauge"]:
            continue
        prefix = f"{metric.oid}."
        for oid, (tag, raw) in recording.items():
            if not oid.startswith(prefix) or tag not in NUMERIC_TAGS:
                continue
            suffix = oid[len(prefix):]
            if metric.indexes and "." not in suffix:
                expected[(metric.name, suffix)] = float(raw) * metric.scale
            elif not metric.indexes and suffix == "0":
                expected[(metric.name, "")] = float(raw) * metric.scale
    return expected


def got_numeric(registry, definition: Definition, device: str) -> dict[tuple[str, str], float]:
    got: dict[tuple[str, str], float] = {}
    for metric in definition.metrics:
        if metric.type not in ("gauge", "counter") or metric.value_map:
            continue
        if metric.indexes and [i.type for i in metric.indexes] != ["gauge"]:
            continue
        index = metric.indexes[0].labelname if metric.indexes else ""
        for labels, val in samples(registry, metric.name):
            if labels["device"] == device:
                got[(metric.name, labels.get(index, ""))] = val
    return got


@pytest.mark.parametrize("backend", ["native", "pysnmp"])
@pytest.mark.parametrize(("community", "modules"), [
    ("linux", ["if_mib", "system", "host_resources", "ucd"]),
    ("winxp", ["if_mib", "system", "host_resources"]),
    ("switch48", ["if_mib", "system"]),
])
def test_shipped_modules_read_every_recorded_value(sim: Snmpsim, tmp_path: Path, community: str,
                                                   modules: list[str], backend: str) -> None:
    (tmp_path / "community").write_text(community)
    config = snmp_config(tmp_path, f"""
        - {{name: dev, address: "{sim.address}", community_file: community, timeout: 5s,
           modules: [{", ".join(modules)}], backend: {backend}}}
    """)
    registry = collect(config)
    assert value(registry, "commune_snmp_up", device="dev") == 1.0
    recording = read_snmprec(RECORDINGS[community])
    definitions = load_definitions(modules)
    for name in modules:
        expected = expected_numeric(definitions[name], recording)
        if name in ("if_mib", "system"):
            assert expected, f"the {community} recording has no {name} values"
        assert got_numeric(registry, definitions[name], "dev") == expected, name
    # Interface labels come from the recording's ifName/ifDescr columns ("" where it has none;
    # Windows pads ifDescr with a NUL, kept as snmp_exporter keeps it).
    def column(prefix: str) -> dict[str, str]:
        return {oid.rsplit(".", 1)[1]: text(tag, raw) for oid, (tag, raw) in recording.items()
                if oid.startswith(prefix)}
    names, descrs = column("1.3.6.1.2.1.31.1.1.1.1."), column("1.3.6.1.2.1.2.2.1.2.")
    labelled = {labels["ifIndex"]: (labels["ifName"], labels["ifDescr"])
                for labels, _ in samples(registry, "ifOperStatus")}
    assert labelled == {i: (names.get(i, ""), descrs[i]) for i in descrs}
    sysname = recording["1.3.6.1.2.1.1.5.0"][1]
    assert value(registry, "sysName", device="dev", sysName=sysname) == 1.0


def test_switch48_port_labels_and_enum_values(sim: Snmpsim, tmp_path: Path) -> None:
    (tmp_path / "community").write_text("switch48")
    config = snmp_config(tmp_path, f"""
        - {{name: sw, address: "{sim.address}", community_file: community, timeout: 5s,
           max_repetitions: 50, modules: [if_mib]}}
    """)
    registry = collect(config)
    uplink = {"device": "sw", "ifIndex": "48", "ifName": "Gi1/0/48",
              "ifDescr": "GigabitEthernet1/0/48", "ifAlias": "uplink-province"}
    assert value(registry, "ifHCInOctets", **uplink) == 48 * 10_000_000_019
    assert value(registry, "ifOperStatus", **uplink) == 2.0  # every fourth port is down
    assert value(registry, "ifHighSpeed", **uplink) == 1000.0
    assert value(registry, "ifPhysAddress", **uplink, ifPhysAddress="00:11:22:00:00:30") == 1.0
    assert len(samples(registry, "ifHCOutOctets")) == 49
    # A clean recording drops nothing.
    assert not [s for s in samples(registry, "commune_snmp_errors_total")]


@pytest.mark.parametrize("backend", ["native", "pysnmp"])
def test_garbage_values_are_counted_and_left_out(sim: Snmpsim, tmp_path: Path,
                                                 backend: str) -> None:
    (tmp_path / "community").write_text("switch-bad")
    config = snmp_config(tmp_path, f"""
        - {{name: cheap, address: "{sim.address}", community_file: community, timeout: 5s,
           modules: [if_mib], backend: {backend}}}
    """)
    registry = collect(config)
    assert value(registry, "commune_snmp_up", device="cheap") == 1.0
    octets = {labels["ifIndex"]: val for labels, val in samples(registry, "ifHCInOctets")}
    assert octets == {"1": 10_000_000_019.0}  # port 2 answered a string: no number invented
    assert value(registry, "commune_snmp_errors_total", device="cheap", reason="type") == 1.0
    assert value(registry, "commune_snmp_errors_total", device="cheap", reason="index") == 1.0
    assert {labels["ifIndex"] for labels, _ in samples(registry, "ifOperStatus")} == {"1", "2"}


def test_vc_profiles(sim: Snmpsim, tmp_path: Path) -> None:
    for community in ("vc-poly", "vc-yealink", "vc-huawei-te"):
        (tmp_path / community).write_text(community)
    with silent_udp() as dead:
        config = snmp_config(tmp_path, f"""
            - {{name: poly, address: "{sim.address}", community_file: vc-poly, timeout: 5s,
               modules: [system, vc/poly]}}
            - {{name: yealink, address: "{sim.address}", community_file: vc-yealink,
               timeout: 5s, modules: [vc/yealink]}}
            - {{name: huawei, address: "{sim.address}", community_file: vc-huawei-te,
               timeout: 5s, modules: [if_mib, vc/huawei_te]}}
            - {{name: poly-off, address: "{dead}", timeout: 300ms, retries: 0,
               modules: [vc/poly]}}
        """)
        registry = collect(config)
    poly = {"device": "poly", "vendor": "poly"}
    assert value(registry, "commune_vc_up", **poly) == 1.0
    assert value(registry, "commune_vc_uptime_seconds", **poly) == 86400.0
    assert value(registry, "commune_vc_packet_loss_ratio", **poly, direction="both") == \
        pytest.approx(0.015)
    assert value(registry, "commune_vc_jitter_seconds", **poly, direction="both") == \
        pytest.approx(0.023)  # "23 ms": the number is read out of the text
    assert value(registry, "commune_vc_latency_seconds", **poly) == pytest.approx(0.12)
    assert value(registry, "polycomPhoneNumber", **poly, polycomPhoneNumber="84123456") == 1.0
    assert value(registry, "sysUpTime", device="poly") == 8640000.0

    yealink = {"device": "yealink", "vendor": "yealink"}
    assert value(registry, "commune_vc_up", **yealink) == 1.0
    assert value(registry, "commune_vc_uptime_seconds", **yealink) == 3600.0
    assert value(registry, "yealinkFirmwareVersion", **yealink,
                 yealinkFirmwareVersion="63.345.0.10") == 1.0
    assert value(registry, "yealinkModel", **yealink, yealinkModel="VC800") == 1.0

    huawei = {"device": "huawei", "vendor": "huawei"}
    assert value(registry, "commune_vc_up", **huawei) == 1.0
    assert value(registry, "commune_vc_uptime_seconds", **huawei) == 999.0
    assert value(registry, "ifOperStatus", device="huawei", ifIndex="1", ifName="GE0",
                 ifDescr="GE0", ifAlias="") == 1.0

    assert value(registry, "commune_vc_up", device="poly-off", vendor="poly") == 0.0
    assert value(registry, "commune_snmp_failure_reason", device="poly-off",
                 reason="timeout") == 1.0
    assert not [labels for labels, _ in samples(registry, "commune_vc_packet_loss_ratio")
                if labels["device"] == "poly-off"]
