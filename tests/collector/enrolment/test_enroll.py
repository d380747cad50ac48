"""commune-collector enroll / revoke: inventory and gateway edits, codes, clear errors."""

from __future__ import annotations

import difflib
import stat
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from agent.config import load_config
from collector.cli import main
from collector.enrolment.enrol import NodeRequest, enrol
from collector.enrolment.files import EnrolError
from collector.enrolment.ledger import ledger_path
from collector.enrolment.revoke import revoke
from collector.enrolment.yamledit import append_item, compose, quote, remove_items
from collector.gateway.config import load_gateway_config, token_digest
from collector.inventory import load_inventory
from common.enrolment import BadCode, Enrolment, decode
from tests.support.paths import ROOT
from tests.support.province import Province

URL = "http://127.0.0.1:9820/api/v1/write"


def _diff(before: str, after: str) -> list[str]:
    return [line for line in difflib.ndiff(before.splitlines(), after.splitlines())
            if line[:1] in "+-"]


def _code(out: str) -> str:
    return next(w for w in out.split() if w.startswith("cme1."))


def test_enroll_adds_one_line_to_each_file_and_keeps_the_rest(province: Province, capsys):
    inv_before = province.inventory.read_text()
    gw_before = province.gateway.read_text()
    assert main(["enroll", "--commune", "16318", "--node", "vc-1", "--role", "vc",
                 *province.args(), "--gateway-url", URL]) == 0
    out = capsys.readouterr().out
    assert _diff(inv_before, province.inventory.read_text()) == [
        "+       - {name: vc-1, role: vc, mode: push}"]
    gw_diff = _diff(gw_before, province.gateway.read_text())
    assert gw_diff[0] == "- tokens: []" and gw_diff[1] == "+ tokens:"
    assert len(gw_diff) == 3 and gw_diff[2].startswith('+   - {commune: "16318", node: vc-1')
    enrolment = decode(_code(out))
    assert (enrolment.commune, enrolment.node, enrolment.url) == ("16318", "vc-1", URL)
    assert 23 * 3600 < enrolment.expires - time.time() <= 24 * 3600
    # Only the digest is stored; it matches the token in the code.
    gateway = load_gateway_config(str(province.gateway))
    assert [(t.commune, t.node, t.sha256) for t in gateway.tokens] == [
        ("16318", "vc-1", token_digest(enrolment.token))]
    assert enrolment.token not in province.gateway.read_text()
    node = load_inventory(province.inventory).commune("16318").node("vc-1")
    assert (node.role, node.mode) == ("vc", "push")


def test_enrol_is_the_command_and_enroll_its_alias(province: Province, capsys):
    assert main(["enrol", "--commune", "16318", "--node", "lan-2", *province.args(),
                 "--gateway-url", URL]) == 0
    assert "--enrol cme1." in capsys.readouterr().out
    assert main(["enroll", "--commune", "16318", "--node", "lan-2", *province.args(),
                 "--gateway-url", URL]) == 2
    assert capsys.readouterr().err.startswith(
        "commune-collector enrol: commune 16318 (Xã Thử Nghiệm) already has a node 'lan-2'")


def test_enroll_into_a_block_style_commune(province: Province):
    before = province.inventory.read_text()
    enrol(NodeRequest("14797", "lan-2", address="127.0.0.1:9811"), province.inventory,
          province.gateway, URL, 60)
    assert _diff(before, province.inventory.read_text()) == [
        '+       - {name: lan-2, role: lan-node, mode: push, address: "127.0.0.1:9811"}']
    inventory = load_inventory(province.inventory)
    assert [n.name for n in inventory.commune("14797").nodes] == ["lan-1", "lan-2"]
    assert inventory.commune("14797").node("lan-2").address == "127.0.0.1:9811"


def test_duplicate_node_is_refused_and_changes_nothing(province: Province, capsys):
    before = (province.inventory.read_text(), province.gateway.read_text())
    assert main(["enroll", "--commune", "16318", "--node", "lan-1", *province.args(),
                 "--gateway-url", URL]) == 2
    err = capsys.readouterr().err
    assert "already has a node 'lan-1'" in err and "(e.g. lan-2)" in err and "--reissue" in err
    assert (province.inventory.read_text(), province.gateway.read_text()) == before


def test_unknown_commune_names_close_codes(province: Province, capsys):
    assert main(["enroll", "--commune", "16319", "--node", "lan-2", *province.args(),
                 "--gateway-url", URL]) == 2
    err = capsys.readouterr().err
    assert "commune '16319' is not in the inventory" in err
    assert "did you mean 16318" in err


def test_bad_gateway_url_and_role(province: Province):
    with pytest.raises(EnrolError, match="remote-write URL"):
        enrol(NodeRequest("16318", "lan-2"), province.inventory, province.gateway,
              "collector:9820", 60)
    with pytest.raises(EnrolError, match="expected one of lan-node, vc, server"):
        enrol(NodeRequest("16318", "lan-2", role="router"), province.inventory,
              province.gateway, URL, 60)


def test_reissue_replaces_the_token(province: Province):
    first = enrol(NodeRequest("16318", "lan-2"), province.inventory, province.gateway, URL, 60)
    with pytest.raises(EnrolError, match="already has a node"):
        enrol(NodeRequest("16318", "lan-2"), province.inventory, province.gateway, URL, 60)
    second = enrol(NodeRequest("16318", "lan-2"), province.inventory, province.gateway, URL, 60,
                   reissue=True)
    digests = [t.sha256 for t in load_gateway_config(str(province.gateway)).tokens]
    assert digests == [token_digest(second.enrolment.token)]
    assert first.enrolment.token != second.enrolment.token
    with pytest.raises(EnrolError, match="has no node 'lan-9'"):
        enrol(NodeRequest("16318", "lan-9"), province.inventory, province.gateway, URL, 60,
              reissue=True)


def test_revoke_removes_the_token_and_says_so_twice(province: Province, capsys):
    enrol(NodeRequest("16318", "lan-2"), province.inventory, province.gateway, URL, 60)
    kept = enrol(NodeRequest("14797", "lan-2"), province.inventory, province.gateway, URL, 60)
    assert main(["revoke", "--commune", "16318", "--node", "lan-2", "--gateway-config",
                 str(province.gateway)]) == 0
    tokens = load_gateway_config(str(province.gateway)).tokens
    assert [(t.commune, t.node, t.sha256) for t in tokens] == [
        ("14797", "lan-2", token_digest(kept.enrolment.token))]
    assert "# One token per pushing node" in province.gateway.read_text()
    capsys.readouterr()
    assert main(["revoke", "--commune", "16318", "--node", "lan-2", "--gateway-config",
                 str(province.gateway)]) == 2
    assert "no token for commune '16318' node 'lan-2': already revoked" in capsys.readouterr().err


def test_revoke_with_remove_node_restores_the_inventory(province: Province):
    before = province.inventory.read_text()
    enrol(NodeRequest("16318", "vc-1", role="vc"), province.inventory, province.gateway, URL, 60)
    assert revoke("16318", "vc-1", province.gateway, province.inventory, remove_node=True) == 1
    assert province.inventory.read_text() == before
    assert "tokens: []" in province.gateway.read_text()


def test_revoke_cannot_empty_a_commune(province: Province):
    enrol(NodeRequest("14797", "lan-1"), province.inventory, province.gateway, URL, 60,
          reissue=True)
    before = (province.inventory.read_text(), province.gateway.read_text())
    with pytest.raises(EnrolError, match="a commune needs at least one node"):
        revoke("14797", "lan-1", province.gateway, province.inventory, remove_node=True)
    assert (province.inventory.read_text(), province.gateway.read_text()) == before


def test_offline_writes_a_valid_config_and_a_private_token(province: Province, tmp_path: Path,
                                                           capsys):
    out = tmp_path / "usb"
    assert main(["enroll", "--commune", "16318", "--node", "lan-2", *province.args(),
                 "--gateway-url", URL, "--offline", str(out)]) == 0
    assert "--config agent.yml --token-file token" in capsys.readouterr().out
    for name in ("agent.yml", "token"):
        assert stat.S_IMODE((out / name).stat().st_mode) == 0o600
    token = (out / "token").read_text().strip()
    assert [t.sha256 for t in load_gateway_config(str(province.gateway)).tokens] == [
        token_digest(token)]
    # agent.yml points at /etc/commune-agent/token: load it with that path redirected.
    text = (out / "agent.yml").read_text().replace("/etc/commune-agent/token", str(out / "token"))
    (out / "check.yml").write_text(text)
    config = load_config(out / "check.yml")
    assert config.commune == "16318" and config.push is not None and config.push.url == URL
    assert config.push.spool_dir == "/var/lib/commune-agent/spool"


def test_codes_expire_and_damage_is_detected():
    good = Enrolment(URL, "16318", "lan-1", "ab" * 32, time.time() + 60)
    assert decode(good.encode()) == Enrolment(URL, "16318", "lan-1", "ab" * 32,
                                              float(int(good.expires)))
    with pytest.raises(BadCode, match=r"expired at .*--reissue"):
        decode(good.encode(), now=good.expires + 1)
    with pytest.raises(BadCode, match="damaged"):
        decode(good.encode()[:-7])
    with pytest.raises(BadCode, match=r"starts with 'cme1\."):
        decode("eyJ1Ijoi")


def test_edits_keep_comments_in_odd_layouts():
    text = ("receivers: []\ntokens:\n  - commune: '1'\n    # why\n    node: a\n\n"
            "  - {commune: '2', node: b}\n# tail\n")
    root = compose(text)
    tokens = root.value[1][1]
    removed, count = remove_items(text, tokens, lambda n: n.value[1][1].value == "a")
    assert count == 1
    assert removed == "receivers: []\ntokens:\n\n  - {commune: '2', node: b}\n# tail\n"
    added = append_item(removed, compose(removed), "tokens", "{commune: '3', node: c}")
    assert added.endswith("  - {commune: '2', node: b}\n  - {commune: '3', node: c}\n# tail\n")
    bare = append_item("receivers: []\n", compose("receivers: []\n"), "tokens", "{x: 1}")
    assert bare == "receivers: []\ntokens:\n  - {x: 1}\n"


def test_enroll_and_revoke_on_the_example_gateway_config(province: Province, tmp_path: Path):
    example = ROOT / "configs" / "gateway" / "example.yml"
    gateway = tmp_path / "example.yml"
    # Its inventory path is relative to configs/gateway/: point the copy at the test's.
    original = example.read_text().replace("inventory: ../inventory/thanh-hoa.yml",
                                           f"inventory: {province.inventory}")
    assert f"inventory: {province.inventory}" in original
    gateway.write_text(original)
    issued = enrol(NodeRequest("14797", "lan-2"), province.inventory, gateway, URL, 60)
    assert _diff(original, gateway.read_text()) == [
        f'+   - {{commune: "14797", node: lan-2, sha256: '
        f'{quote(token_digest(issued.enrolment.token))}}}']
    revoke("14797", "lan-2", gateway)
    assert gateway.read_text() == original
    revoke("14797", "lan-1", gateway)
    text = gateway.read_text()
    assert "tokens: []  # one per pushing node" in text
    assert "# token: openssl rand -hex 32" in text and "sha256: 5b0c" not in text
    assert compose(text).value[-1][1].value == []


def test_concurrent_enrolments_lose_no_edit(province: Province):
    names = [f"lan-{i}" for i in range(2, 10)]
    with ThreadPoolExecutor(max_workers=len(names)) as pool:
        issued = list(pool.map(lambda name: enrol(NodeRequest("16318", name),
                                                    province.inventory, province.gateway,
                                                    URL, 60), names))
    nodes = [n.name for n in load_inventory(province.inventory).commune("16318").nodes]
    assert sorted(nodes) == sorted(["lan-1", *names])
    digests = {t.sha256 for t in load_gateway_config(str(province.gateway)).tokens}
    assert digests == {token_digest(i.enrolment.token) for i in issued}


def test_a_bad_ledger_refuses_the_enrolment_before_any_file_changes(province: Province,
                                                                    capsys):
    ledger_path(province.gateway).write_text("{not: a list}\n")
    inv_before, gw_before = province.inventory.read_text(), province.gateway.read_text()
    assert main(["enroll", "--commune", "16318", "--node", "lan-2",
                 "--inventory", str(province.inventory),
                 "--gateway-config", str(province.gateway), "--gateway-url", URL]) == 2
    assert "expected a list of pending enrolments" in capsys.readouterr().err
    assert province.inventory.read_text() == inv_before
    assert province.gateway.read_text() == gw_before
