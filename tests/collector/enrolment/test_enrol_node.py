"""Enrolment gives a working node: its agent.yml probes the province targets (install line and
--offline alike); missing files and bad requests are exit 2 with what to do, nothing edited;
revoking the last node leaves a gateway that starts and answers 401."""

from __future__ import annotations

import urllib.error
import urllib.request
from pathlib import Path

import pytest
import yaml

from agent.config import load_config
from collector.cli import main
from collector.gateway.config import load_gateway_config
from common import enrolment
from tests.support.inventory import HAC_THANH, Node, inventory_yaml
from tests.support.province import THU_NGHIEM, Province, gateway_yaml
from tests.support.push_peers import Gateway

URL = "http://127.0.0.1:9820/api/v1/write"
TARGETS: list[dict[str, str | int]] = [
    {"name": "tthc-portal", "kind": "http", "url": "https://portal.example/"},
    {"name": "tthc-db", "kind": "tcp", "host": "10.38.0.20", "port": 5432},
    {"name": "vc-sip", "kind": "sip", "host": "10.38.0.30", "port": 5060},
    {"name": "gateway", "kind": "icmp", "host": "10.38.0.1"},
    {"name": "vc-mcu", "kind": "icmp", "host": "10.38.0.30", "mos": True}]


@pytest.fixture
def targeted(tmp_path: Path) -> Province:
    """inventory.yml with province targets, gateway.yml with no token."""
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(inventory_yaml(
        [THU_NGHIEM.with_nodes(Node("lan-1")), HAC_THANH.with_nodes(Node("lan-1"))],
        targets=TARGETS), encoding="utf-8")
    gateway = tmp_path / "gateway.yml"
    gateway.write_text(gateway_yaml("http://127.0.0.1:9/api/v1/write", inventory))
    return Province(inventory, gateway)


def _enrol(province: Province, *extra: str, node: str = "lan-2") -> int:
    return main(["enrol", "--commune", "16318", "--node", node, *province.args(),
                 "--gateway-url", URL, *extra])


def _rendered_targets(province: Province, tmp_path: Path) -> list[dict[str, object]]:
    assert main(["render", "--inventory", str(province.inventory), "--out",
                 str(tmp_path / "rendered")]) == 0
    targets = yaml.safe_load((tmp_path / "rendered/agent-probe-targets.yml").read_text())
    return list(targets["targets"])


def _probe_targets(agent_yml: Path, token: Path) -> list[dict[str, object]]:
    """The probe targets of an agent.yml, after the real loader accepted it."""
    check = agent_yml.with_name("check.yml")
    check.write_text(agent_yml.read_text().replace("/etc/commune-agent/token", str(token)))
    config = load_config(check)
    assert config.commune == "16318" and config.push is not None
    return list(yaml.safe_load(agent_yml.read_text())["modules"]["probe"]["targets"])


def test_offline_agent_probes_what_render_lists(targeted: Province, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    usb = tmp_path / "usb"
    assert _enrol(targeted, "--offline", str(usb)) == 0
    assert f"its agent.yml probes the 5 province targets of {targeted.inventory}" in (
        capsys.readouterr().out)
    rendered = _rendered_targets(targeted, tmp_path)
    assert rendered == TARGETS
    assert _probe_targets(usb / "agent.yml", usb / "token") == rendered
    assert yaml.safe_load((usb / "agent.yml").read_text())["modules"]["host"] == {}


def test_the_install_line_carries_the_targets(targeted: Province, tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    assert _enrol(targeted) == 0
    code = next(w for w in capsys.readouterr().out.split() if w.startswith("cme1."))
    assert list(enrolment.decode(code).targets) == TARGETS
    node = tmp_path / "node"
    assert enrolment.main(["write", "--code", code, "--config", str(node / "agent.yml"),
                           "--token-file", str(node / "token"),
                           "--spool-dir", str(node / "spool")]) == 0
    assert _probe_targets(node / "agent.yml", node / "token") == _rendered_targets(
        targeted, tmp_path)


def test_an_inventory_without_targets_is_a_warning(province: Province, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert _enrol(province, "--offline", str(tmp_path / "usb")) == 0
    assert capsys.readouterr().err == (
        f"warning: {province.inventory} lists no province_targets, so the node probes nothing "
        "and takes no part in uplink and portal alerts; add them and enrol again with "
        "--reissue\n")
    assert "probe:" not in (tmp_path / "usb/agent.yml").read_text()


def test_a_code_without_targets_still_works() -> None:
    old = enrolment.Enrolment(URL, "16318", "lan-2", "t" * 64, 4e9)
    assert enrolment.decode(old.encode()).targets == ()
    assert "probe:" not in enrolment.agent_yaml("16318", URL, "/t", "/s")


@pytest.mark.parametrize(("missing", "message"), [
    ("gateway.yml", "--gateway-config {path}: no such file; give the gateway config that "
                    "deploy/install-collector.sh wrote (/etc/commune-collector/gateway.yml), "
                    "or run deploy/install-collector.sh first"),
    ("inventory.yml", "--inventory {path}: no such file; give the inventory that "
                      "deploy/install-collector.sh installed "
                      "(/etc/commune-collector/inventory/NAME.yml), or run "
                      "deploy/install-collector.sh --inventory FILE first"),
])
def test_a_missing_file_is_exit_2_naming_it_and_what_makes_it(
        targeted: Province, capsys: pytest.CaptureFixture[str], missing: str,
        message: str) -> None:
    path = targeted.inventory.parent / missing
    path.unlink()
    before = sorted(p.name for p in path.parent.iterdir())
    assert _enrol(targeted) == 2
    assert capsys.readouterr().err == f"commune-collector enrol: {message.format(path=path)}\n"
    assert sorted(p.name for p in path.parent.iterdir()) == before  # not even a lock file


def test_serve_render_revoke_expire_without_their_files(
        targeted: Province, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "inventory-nope.yml"
    assert main(["render", "--inventory", str(missing), "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == (
        f"commune-collector render: --inventory {missing}: no such file; give the inventory "
        "that deploy/install-collector.sh installed (/etc/commune-collector/inventory/NAME.yml), "
        "or run deploy/install-collector.sh --inventory FILE first\n")
    targeted.gateway.unlink()
    assert main(["serve", "--config.file", str(targeted.gateway)]) == 2
    assert capsys.readouterr().err == (
        f"commune-collector: --config.file {targeted.gateway}: no such file; give the gateway "
        "config that deploy/install-collector.sh wrote (/etc/commune-collector/gateway.yml), or "
        "run deploy/install-collector.sh first\n")
    assert main(["revoke", "--commune", "16318", "--node", "lan-1", "--gateway-config",
                 str(targeted.gateway)]) == 2
    assert capsys.readouterr().err.startswith(
        f"commune-collector revoke: --gateway-config {targeted.gateway}: no such file; ")
    assert main(["expire", "--gateway-config", str(targeted.gateway), "--prometheus",
                 "http://127.0.0.1:9"]) == 2
    assert "no such file; give the gateway config" in capsys.readouterr().err


def test_unknown_commune_says_what_to_do_and_edits_nothing(
        targeted: Province, capsys: pytest.CaptureFixture[str]) -> None:
    before = (targeted.inventory.read_text(), targeted.gateway.read_text())
    assert main(["enrol", "--commune", "16319", "--node", "lan-2", *targeted.args(),
                 "--gateway-url", URL]) == 2
    assert capsys.readouterr().err == (
        f"commune-collector enrol: commune '16319' is not in the inventory {targeted.inventory}, "
        "and enrol only adds nodes to its communes: check the code (did you mean 16318?) "
        f"(commune-diag hosts --inventory {targeted.inventory} lists them), or add the commune "
        "to that file first\n")
    assert (targeted.inventory.read_text(), targeted.gateway.read_text()) == before
    assert _enrol(targeted, node="lan-1") == 2
    assert "choose another --node (e.g. lan-2)" in capsys.readouterr().err
    assert (targeted.inventory.read_text(), targeted.gateway.read_text()) == before


def test_revoking_the_last_node_leaves_a_gateway_that_starts(
        targeted: Province, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _enrol(targeted) == 0
    code = next(w for w in capsys.readouterr().out.split() if w.startswith("cme1."))
    assert main(["revoke", "--commune", "16318", "--node", "lan-2", "--gateway-config",
                 str(targeted.gateway)]) == 0
    assert "tokens: []" in targeted.gateway.read_text()
    assert load_gateway_config(str(targeted.gateway)).tokens == ()
    gateway = Gateway(targeted.gateway, tmp_path)
    try:
        request = urllib.request.Request(gateway.write_url, data=b"x", headers={
            "Authorization": f"Bearer {enrolment.decode(code).token}"})
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=10)
        assert refused.value.code == 401
    finally:
        gateway.stop()
    # And the next enrolment fills the empty list again.
    assert _enrol(targeted, node="lan-3") == 0
    assert len(load_gateway_config(str(targeted.gateway)).tokens) == 1
