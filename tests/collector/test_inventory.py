"""Inventory loading: the province file loads; every bad input gives an exact file:line:col."""

from __future__ import annotations

import textwrap
import unicodedata
from pathlib import Path

import pytest
import yaml

from agent.config import AgentConfig
from agent.modules.probe.config import ProbeConfig
from collector.inventory import (
    Address,
    ConfigError,
    Inventory,
    UnknownCommune,
    agent_probe_targets,
    load_inventory,
)
from common.schema import load_yaml
from tests.support.inventory import HAC_THANH, Commune, Node, inventory_yaml
from tests.support.paths import ROOT

GOOD = inventory_yaml(
    [HAC_THANH.with_nodes(
        Node("lan-1", mode="scrape", address="127.0.0.1:9811"),
        Node("vc-1", role="vc", mode="scrape", address="127.0.0.1", ssh="127.0.0.2:22",
             ssh_user="root")),
     Commune(16318, "Xã Mường Lát", "xã", "mountain", "Huyện Mường Lát", (Node("lan-1"),))],
    defaults={"agent_port": 9810, "ssh_port": 2222, "ssh_user": "diag"},
    targets=[{"name": "tthc-portal", "kind": "http", "url": "https://portal.example/"},
             {"name": "tthc-db", "kind": "tcp", "host": "db.example", "port": 5432}])


def write(tmp_path: Path, text: str, name: str = "inv.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text).lstrip("\n"))
    return path


def test_good_inventory_loads_and_resolves_defaults(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, GOOD))
    assert isinstance(inv, Inventory)
    assert inv.province.name == "Thanh Hóa"
    assert [c.code for c in inv.communes] == ["14797", "16318"]  # unquoted code is text
    hac_thanh = inv.commune("14797")
    lan, vc = hac_thanh.nodes
    assert (lan.address, lan.ssh, lan.ssh_user) == ("127.0.0.1:9811", "127.0.0.1:2222", "diag")
    assert (vc.address, vc.ssh, vc.ssh_user) == ("127.0.0.1:9810", "127.0.0.2:22", "root")
    pushed = inv.commune("16318").node("lan-1")
    assert (pushed.mode, pushed.address, pushed.ssh) == ("push", None, None)
    assert [(c.code, n.name) for c, n in inv.nodes()] == [
        ("14797", "lan-1"), ("14797", "vc-1"), ("16318", "lan-1")]
    assert [t.name for t in inv.province_targets] == ["tthc-portal", "tthc-db"]
    assert inv.file.endswith("inv.yml")


def test_unknown_commune(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, GOOD))
    with pytest.raises(UnknownCommune) as info:
        inv.commune("99999")
    assert str(info.value) == f"commune '99999' is not in the inventory {inv.file}; check the code"
    with pytest.raises(KeyError, match="has no node 'lan-9'"):
        inv.commune("14797").node("lan-9")


def test_names_are_nfc(tmp_path: Path) -> None:
    text = unicodedata.normalize("NFD", GOOD)
    assert text != GOOD
    inv = load_inventory(write(tmp_path, text))
    commune = inv.commune("16318")
    assert (commune.type, commune.name, commune.group) == ("xã", "Xã Mường Lát", "Huyện Mường Lát")
    assert commune.name == unicodedata.normalize("NFC", commune.name)


def test_inventory_is_frozen(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, GOOD))
    with pytest.raises(AttributeError):
        inv.communes[0].code = "1"  # type: ignore[misc]


def test_province_inventory_loads() -> None:
    inv = load_inventory(ROOT / "configs/inventory/thanh-hoa.yml")
    assert len(inv.communes) == 166
    assert len({c.code for c in inv.communes}) == 166
    assert sum(c.type == "phường" for c in inv.communes) == 19
    assert {c.terrain for c in inv.communes} == {"lowland", "mountain"}
    assert all(len(c.nodes) == 1 and c.nodes[0].name == "lan-1" for c in inv.communes)
    assert {(n.role, n.mode) for _, n in inv.nodes()} == {("lan-node", "push")}
    assert {t.kind for t in inv.province_targets} >= {"http", "tcp", "sip"}
    # every agent estimates a call's quality towards the MCU
    assert [(t.name, t.kind, t.mos) for t in inv.province_targets if t.mos] == [
        ("vc-mcu", "icmp", True)]


def test_mcu_target_gives_every_agent_an_icmp_probe_with_mos(tmp_path: Path) -> None:
    inv = load_inventory(write(tmp_path, HEAD + C1 + (
        "province_targets:\n"
        "  - {name: vc-mcu, kind: icmp, host: 10.38.0.30, mos: true}\n"
        "  - {name: gateway, kind: icmp, host: 10.38.0.1}\n")))
    targets = agent_probe_targets(inv, "1")
    assert targets == [{"name": "vc-mcu", "kind": "icmp", "host": "10.38.0.30", "mos": True},
                       {"name": "gateway", "kind": "icmp", "host": "10.38.0.1"}]
    # the agent's own loader takes them as they are
    agent = load_yaml(AgentConfig, yaml.safe_dump(
        {"commune": "1", "modules": {"probe": {"targets": targets}}}), "agent.yml")
    probe = agent.modules.entries[0].config
    assert isinstance(probe, ProbeConfig)
    assert [(t.name, getattr(t, "mos", None)) for t in probe.targets] == [
        ("vc-mcu", True), ("gateway", False)]


HEAD = 'province: {code: "38", name: T}\ncommunes:\n'
C1 = ('  - {code: "1", name: A, type: xã, terrain: lowland, group: G,\n'
      '     nodes: [{name: lan-1, role: lan-node, mode: push}]}\n')


def commune(code: str = "2", node: str = "{name: lan-1, role: lan-node, mode: push}",
            **over: str) -> str:
    fields = {"code": f'"{code}"', "name": "B", "type": "xã", "terrain": "lowland", "group": "G"}
    fields.update(over)
    inner = ", ".join(f"{k}: {v}" for k, v in fields.items())
    return f"  - {{{inner},\n     nodes: [{node}]}}\n"


BAD = [
    (HEAD + C1 + commune(code="1"),
     ["inv.yml:5:12: communes[1].code: duplicate commune code '1' (first at line 3); "
      "each commune code must be unique"]),
    (HEAD + C1 + commune(node="{name: lan-1, role: router, mode: push}"),
     ["inv.yml:6:34: communes[1].nodes[0].role: expected one of 'lan-node', 'vc', 'server', "
      "got 'router'"]),
    (HEAD + C1 + commune(node="{name: lan-1, role: vc, mode: pull}"),
     ["inv.yml:6:44: communes[1].nodes[0].mode: expected one of 'scrape', 'push', got 'pull'"]),
    (HEAD + C1 + commune(terrain="hills"),
     ["inv.yml:5:45: communes[1].terrain: expected one of 'lowland', 'mountain', got 'hills'"]),
    (HEAD + C1 + commune(type="huyện"),
     ["inv.yml:5:32: communes[1].type: expected one of 'xã', 'phường', got 'huyện'"]),
    (HEAD + C1 + commune(node="{name: lan-1, role: vc, mode: scrape, address: '10.0.0.1:99999'}"),
     ["inv.yml:6:61: communes[1].nodes[0].address: expected 'host:port' with a port in 1..65535,"
      " like '10.38.1.10:9810' or '[fd00::1]:9810', got '10.0.0.1:99999'"]),
    (HEAD + C1 + commune(node="{name: lan-1, role: vc, mode: scrape, address: 'fd00::1:9810'}"),
     ["inv.yml:6:61: communes[1].nodes[0].address: an IPv6 address needs brackets, like "
      "'10.38.1.10:9810' or '[fd00::1]:9810', got 'fd00::1:9810'"]),
    (HEAD + C1 + commune(node="{name: lan-1, role: vc, mode: scrape, address: 'a b:1'}"),
     ["inv.yml:6:61: communes[1].nodes[0].address: expected 'host:port' like '10.38.1.10:9810' "
      "or '[fd00::1]:9810', got 'a b:1'"]),
    (HEAD + C1 + commune(node="{name: lan-1, role: vc, mode: push, ssh: 'h:x'}"),
     ["inv.yml:6:55: communes[1].nodes[0].ssh: expected 'host:port' with a port in 1..65535, "
      "like '10.38.1.10:9810' or '[fd00::1]:9810', got 'h:x'"]),
    (HEAD + C1 + commune(node="{name: lan-1, role: vc, mode: scrape}"),
     ["inv.yml:6:44: communes[1].nodes[0].mode: a scrape node needs 'address: host:port' "
      "(where its agent listens); or set 'mode: push'"]),
    (HEAD + C1 + commune(node="{name: lan-1, role: vc, mode: push}, "
                              "{name: lan-1, role: vc, mode: push}"),
     ["inv.yml:6:58: communes[1].nodes[1].name: duplicate node name 'lan-1' (first at line 6); "
      "each node name must be unique"]),
    (HEAD + C1 + commune(node="{name: Lan 1, role: vc, mode: push}"),
     ["inv.yml:6:21: communes[1].nodes[0].name: expected a node name like 'lan-1' "
      "(a-z, 0-9, '-', '_'), got 'Lan 1'"]),
    (HEAD + C1 + commune(code="1 2"),
     ["inv.yml:5:12: communes[1].code: expected the official unit code, like '14797', "
      "got '1 2'"]),
    (HEAD + "  - {code: '3', name: C, type: xã, terrain: lowland, group: G, nodes: []}\n",
     ["inv.yml:3:71: communes[0].nodes: list at least one node, e.g. "
      "'- {name: lan-1, role: lan-node, mode: push}'"]),
    (HEAD + C1 + commune(colour="red"),
     ["inv.yml:5:64: communes[1].colour: unknown key (known: code, name, type, terrain, group, "
      "nodes)"]),
    (HEAD + "  - {code: '3', name: C, type: xã, terrain: lowland, nodes: []}\n",
     ["inv.yml:3:61: communes[0].nodes: list at least one node, e.g. "
      "'- {name: lan-1, role: lan-node, mode: push}'",
      "inv.yml:3:5: communes[0]: missing required key 'group' (a string)"]),
    (HEAD + C1 + "province_targets:\n  - {name: p, kind: http, host: x}\n",
     ["inv.yml:6:5: province_targets[0].url: an http target needs 'url: https://host/path'"]),
    (HEAD + C1 + "province_targets:\n  - {name: db, kind: tcp, host: x}\n",
     ["inv.yml:6:33: province_targets[0].host: a tcp target needs 'port'"]),
    (HEAD + C1 + "province_targets:\n  - {name: db, kind: ftp, host: x}\n",
     ["inv.yml:6:22: province_targets[0].kind: expected one of 'http', 'tcp', 'sip', 'icmp', "
      "'throughput', "
      "got 'ftp'"]),
    (HEAD + C1 + "province_targets:\n  - {name: db, kind: icmp, host: x}\n"
     "  - {name: db, kind: icmp, host: y}\n",
     ["inv.yml:7:12: province_targets[1].name: duplicate target name 'db' (first at line 6); "
      "each target name must be unique"]),
    (HEAD + C1 + "province_targets:\n  - {name: vc, kind: sip, host: x, port: 5060, mos: true}\n",
     ["inv.yml:6:53: province_targets[0].mos: 'mos: true' needs an icmp target (the MOS comes "
      "from its RTT, jitter and loss), not sip"]),
    (HEAD + C1 + "defaults: {agent_port: 0}\n",
     ["inv.yml:5:24: defaults.agent_port: expected a port in 1..65535, got 0"]),
    ("communes: []\n", ["inv.yml:1:1: missing required key 'province' (a mapping)"]),
    (HEAD + C1 + "file: x\n",
     ["inv.yml:5:1: file: unknown key (known: province, communes, defaults, province_targets)"]),
]


@pytest.mark.parametrize(("text", "expected"), BAD, ids=[b[1][0].split(": ")[1] for b in BAD])
def test_bad_inventory_messages(tmp_path: Path, text: str, expected: list[str]) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_inventory(path)
    got = [str(issue).removeprefix(str(tmp_path) + "/") for issue in info.value.issues]
    assert got == expected


def test_all_errors_at_once(tmp_path: Path) -> None:
    text = HEAD + C1 + commune(code="1", terrain="hills") + commune(
        code="5", node="{name: x, role: router, mode: scrape}")
    with pytest.raises(ConfigError) as info:
        load_inventory(write(tmp_path, text))
    keys = [issue.key for issue in info.value.issues]
    assert keys == ["communes[1].terrain", "communes[1].code", "communes[2].nodes[0].role"]
    assert all(issue.line > 0 and issue.column > 0 for issue in info.value.issues)


@pytest.mark.parametrize(("text", "host", "port"), [
    ("10.38.1.10:9810", "10.38.1.10", 9810), ("lan.example", "lan.example", None),
    ("[fd00::1]:22", "fd00::1", 22), ("[fd00::1]", "fd00::1", None), ("h:01", "h", 1)])
def test_address(text: str, host: str, port: int | None) -> None:
    address = Address.parse(text)
    assert (address.host, address.port) == (host, port)
    assert address.with_port(7).port == (port or 7)
