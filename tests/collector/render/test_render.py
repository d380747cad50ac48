"""commune-collector render: valid for promtool/amtool, deterministic, and a real Prometheus
started on the rendered config scrapes a real agent with the inventory's labels."""

from __future__ import annotations

import contextlib
import dataclasses
import json
import subprocess
from pathlib import Path

import pytest
import yaml

from collector.cli import main
from collector.inventory import load_inventory
from collector.render.output import (
    INVENTORY_METRIC,
    RenderOptions,
    ShippedData,
    render,
    write_files,
)
from collector.render.rules import read_rules
from tests.support.agent_process import Agent, host_config
from tests.support.alertmanager_peer import Alertmanager
from tests.support.inventory import HAC_THANH, MUONG_LAT, Node, inventory_yaml
from tests.support.paths import ROOT
from tests.support.peers import Prometheus, free_port, require_binary, wait_for

PROVINCE = ROOT / "configs/inventory/thanh-hoa.yml"
SHIPPED_RULES = sorted(p.name for p in (ROOT / "configs/prometheus/rules").glob("*.yml"))

RULE = """\
groups:
  - name: render-test
    rules:
      - alert: CommuneAgentUp
        expr: up{job="commune-agent"} == 1
        labels: {severity: info}
"""


def small_inventory(tmp_path: Path, lan: str = "127.0.0.1:9810", vc: str = "127.0.0.1:9811",
                    reverse: bool = False, name: str = "small.yml") -> Path:
    communes = [HAC_THANH.with_nodes(Node("lan-1", mode="scrape", address=lan), Node("lan-2")),
                MUONG_LAT.with_nodes(Node("vc-1", role="vc", mode="scrape", address=vc))]
    if reverse:
        communes.reverse()
    path = tmp_path / name
    path.write_text(inventory_yaml(communes), encoding="utf-8")
    return path


def cli_render(inventory: Path, out: Path, *extra: str) -> int:
    return main(["render", "--inventory", str(inventory), "--out", str(out), *extra])


def promtool_check(config: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([require_binary("promtool"), "check", "config", str(config)],
                          capture_output=True, text=True, check=False)


@pytest.mark.peer
def test_province_render_passes_promtool_and_amtool(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert cli_render(PROVINCE, out) == 0
    result = promtool_check(out / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
    # Without --rules: every shipped rule file (here the checkout's), and the inventory's.
    assert f"SUCCESS: {len(SHIPPED_RULES) + 1} rule files found" in result.stdout
    assert sorted(p.name for p in (out / "rules").iterdir()) == sorted(
        [*SHIPPED_RULES, "commune-inventory.yml"])
    am = subprocess.run([require_binary("amtool"), "check-config", str(out / "alertmanager.yml")],
                        capture_output=True, text=True, check=False)
    assert am.returncode == 0, am.stdout + am.stderr
    # default + one per severity + one per region's technicians
    regions = {c.group for c in load_inventory(PROVINCE).communes}
    assert f"{4 + len(regions)} receivers" in am.stdout
    config = yaml.safe_load((out / "prometheus.yml").read_text())
    assert config["storage"]["tsdb"]["out_of_order_time_window"] == "1d"
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:9093"]
    assert config["rule_files"] == ["rules/*.yml"]
    assert cli_render(PROVINCE, out, "--scrape-interval", "5s") == 0
    config = yaml.safe_load((out / "prometheus.yml").read_text())
    assert (config["global"]["scrape_interval"], config["global"]["scrape_timeout"]) == (
        "5s", "5s")
    assert [j["job_name"] for j in config["scrape_configs"]] == [
        "commune-agent-lan-node", "commune-agent-vc", "commune-agent-server"]
    probe = yaml.safe_load((out / "agent-probe-targets.yml").read_text())
    assert probe["targets"][0] == {"name": "tthc-portal", "kind": "http",
                                   "url": "https://dichvucong.thanhhoa.gov.vn/"}
    assert {"name": "tthc-db", "kind": "tcp", "host": "10.38.0.20", "port": 5432} in (
        probe["targets"])
    assert {"name": "vc-mcu", "kind": "icmp", "host": "10.38.0.30", "mos": True} in (
        probe["targets"])
    # The province's nodes all push: nothing to scrape, but every role's file exists.
    assert json.loads((out / "file_sd/lan-node.json").read_text()) == []


@pytest.mark.peer
def test_small_render_with_rules_and_options(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "test.yml").write_text(RULE)
    (rules / "notes.txt").write_text("not a rule file")
    out = tmp_path / "out"
    assert cli_render(small_inventory(tmp_path), out, "--rules", str(rules),
                      "--alertmanager", "127.0.0.1:19093", "--out-of-order-window", "6h",
                      "--gateway", "127.0.0.1:9820", "--webhook-url",
                      "http://127.0.0.1:9/hook") == 0
    result = promtool_check(out / "prometheus.yml")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 2 rule files found" in result.stdout
    assert "SUCCESS: 1 rules found" in result.stdout  # test.yml
    assert "SUCCESS: 3 rules found" in result.stdout  # one per inventory node
    assert sorted(p.name for p in (out / "rules").iterdir()) == [
        "commune-inventory.yml", "test.yml"]
    assert (out / "rules/test.yml").read_text() == RULE
    config = yaml.safe_load((out / "prometheus.yml").read_text())
    assert config["storage"]["tsdb"]["out_of_order_time_window"] == "6h"
    assert (config["global"]["scrape_interval"], config["global"]["scrape_timeout"]) == (
        "15s", "10s")
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == [
        "127.0.0.1:19093"]
    assert config["scrape_configs"][-1] == {
        "job_name": "commune-collector", "static_configs": [{"targets": ["127.0.0.1:9820"]}]}
    assert json.loads((out / "file_sd/lan-node.json").read_text()) == [{
        "targets": ["127.0.0.1:9810"],
        "labels": {"commune": "14797", "commune_name": "Phường Hạc Thành",
                   "region": "Thành phố Thanh Hóa", "terrain": "lowland", "role": "lan-node"}}]
    assert json.loads((out / "file_sd/vc.json").read_text())[0]["labels"]["terrain"] == "mountain"
    am = subprocess.run([require_binary("amtool"), "check-config", str(out / "alertmanager.yml")],
                        capture_output=True, text=True, check=False)
    assert am.returncode == 0, am.stdout + am.stderr
    receivers = yaml.safe_load((out / "alertmanager.yml").read_text())["receivers"]
    assert all(r["webhook_configs"][0]["url"] == "http://127.0.0.1:9/hook" for r in receivers)
    readme = (out / "README").read_text()
    assert "--web.enable-remote-write-receiver" in readme
    assert "out_of_order_time_window is 6h" in readme


def test_render_is_deterministic(tmp_path: Path) -> None:
    options = RenderOptions()
    data = ShippedData.load(read_rules(ROOT / "configs/prometheus/rules"))
    first = render(load_inventory(PROVINCE), options, tmp_path / "out", data)
    second = render(load_inventory(PROVINCE), options, tmp_path / "out", data)
    assert first == second
    a, b = tmp_path / "a", tmp_path / "b"
    assert cli_render(PROVINCE, a) == 0
    assert cli_render(PROVINCE, b) == 0
    files = sorted(p.relative_to(a) for p in a.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(b) for p in b.rglob("*") if p.is_file())
    # Alertmanager's templates and Grafana's dashboards are named by absolute path.
    assert all((a / f).read_bytes().replace(bytes(a), bytes(b)) == (b / f).read_bytes()
               for f in files)
    # Order of communes in the inventory does not change the target lists.
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    fwd = render(load_inventory(small_inventory(tmp_path / "x")), options, tmp_path, data)
    rev = render(load_inventory(small_inventory(tmp_path / "y", reverse=True)), options,
                 tmp_path, data)
    assert all(fwd[f] == rev[f] for f in fwd if f.startswith("file_sd/"))


def test_rerender_drops_stale_rules_and_keeps_unchanged_files(tmp_path: Path) -> None:
    out = tmp_path / "out"
    inventory = load_inventory(small_inventory(tmp_path))
    data = ShippedData.load({"old.yml": b"groups: []\n"})
    write_files(render(inventory, RenderOptions(), out, data), out)
    assert (out / "rules/old.yml").exists()
    (out / "grafana/dashboards/removed.json").write_text("{}")
    before = (out / "file_sd/vc.json").stat().st_mtime_ns
    data = dataclasses.replace(data, rules={"new.yml": b"groups: []\n"})
    write_files(render(inventory, RenderOptions(), out, data), out)
    assert not (out / "grafana/dashboards/removed.json").exists()
    assert sorted(p.name for p in (out / "rules").iterdir()) == [
        "commune-inventory.yml", "new.yml"]
    assert (out / "file_sd/vc.json").stat().st_mtime_ns == before


@pytest.mark.parametrize(("extra", "message"), [
    (["--scrape-interval", "5s", "--scrape-timeout", "10s"],
     "commune-collector render: --scrape-timeout (10s) must not exceed --scrape-interval (5s)\n"),
    (["--rules", "/nonexistent/rules"],
     "commune-collector render: --rules /nonexistent/rules: no such folder\n"),
])
def test_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str], extra: list[str],
                     message: str) -> None:
    assert cli_render(small_inventory(tmp_path), tmp_path / "out", *extra) == 2
    assert capsys.readouterr().err == message
    assert not (tmp_path / "out").exists()


def test_rule_file_named_like_the_inventory_rules(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "commune-inventory.yml").write_text("groups: []\n")
    assert cli_render(small_inventory(tmp_path), tmp_path / "out", "--rules", str(rules)) == 2
    assert capsys.readouterr().err == (
        "commune-collector render: rules/commune-inventory.yml is written by render from the "
        "inventory; rename that rule file\n")
    (rules / "commune-inventory.yml").rename(rules / "commune-conferences.yml")
    assert cli_render(small_inventory(tmp_path), tmp_path / "out", "--rules", str(rules)) == 2
    assert capsys.readouterr().err == (
        "commune-collector render: rules/commune-conferences.yml is written by render from the "
        "conference schedule; rename that rule file\n")


def test_bad_flag_value(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        cli_render(small_inventory(tmp_path), tmp_path / "out", "--out-of-order-window", "1x")
    assert info.value.code == 2
    assert "expected a duration like '10s'" in capsys.readouterr().err


def test_bad_inventory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = small_inventory(tmp_path, vc="127.0.0.1:70000")
    assert cli_render(bad, tmp_path / "out") == 2
    assert capsys.readouterr().err == (
        f"commune-collector: {bad}:17:55: communes[1].nodes[0].address: expected 'host:port' "
        "with a port in 1..65535, like '10.38.1.10:9810' or '[fd00::1]:9810', "
        "got '127.0.0.1:70000'\n")
    assert not (tmp_path / "out").exists()


def test_help_exits_zero(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["render", "--help"])
    assert info.value.code == 0
    assert "--out-of-order-window" in capsys.readouterr().out
    assert main([]) == 2


@pytest.mark.peer
def test_prometheus_scrapes_agents_with_inventory_labels(tmp_path: Path) -> None:
    """Render -> real Prometheus -> real agents; alerts reach a real Alertmanager."""
    with contextlib.ExitStack() as stack:
        lan = Agent(tmp_path, host_config("14797"))
        stack.callback(lan.stop)
        vc = Agent(tmp_path, host_config("99999"))
        stack.callback(vc.stop)
        rules = tmp_path / "rules"
        rules.mkdir()
        (rules / "test.yml").write_text(RULE)
        out = tmp_path / "prom"
        am_port = free_port()
        assert cli_render(small_inventory(tmp_path, lan.address, vc.address), out,
                          "--rules", str(rules), "--alertmanager", f"127.0.0.1:{am_port}",
                          "--scrape-interval", "1s", "--scrape-timeout", "1s",
                          "--evaluation-interval", "1s") == 0
        am = Alertmanager(out / "alertmanager.yml", tmp_path, am_port)
        stack.callback(am.stop)
        prom = Prometheus((out / "prometheus.yml").read_text(), out,
                          ["--web.enable-remote-write-receiver"])
        stack.callback(prom.stop)
        series = wait_for(lambda: len(r := prom.query("commune_agent_build_info")) == 2 and r,
                          30, what="both agents scraped")
        labels = sorted((s["metric"] for s in series), key=lambda m: m["commune"])
        for m in labels:
            del m["version"]
        assert labels == [
            {"__name__": "commune_agent_build_info", "job": "commune-agent",
             "instance": lan.address, "commune": "14797", "commune_name": "Phường Hạc Thành",
             "region": "Thành phố Thanh Hóa", "terrain": "lowland", "role": "lan-node"},
            # This agent claims commune 99999: the inventory's code wins, no exported_ copy.
            {"__name__": "commune_agent_build_info", "job": "commune-agent",
             "instance": vc.address, "commune": "14845", "commune_name": "Xã Mường Lát",
             "region": "Huyện Mường Lát", "terrain": "mountain", "role": "vc"}]
        inventory = wait_for(lambda: prom.query(INVENTORY_METRIC), 30, what="inventory rules")
        assert sorted((s["metric"]["commune"], s["metric"]["node"], s["metric"]["mode"],
                       s["metric"]["region"]) for s in inventory) == [
            ("14797", "lan-1", "scrape", "Thành phố Thanh Hóa"),
            ("14797", "lan-2", "push", "Thành phố Thanh Hóa"),
            ("14845", "vc-1", "scrape", "Huyện Mường Lát")]
        up = prom.query('up{job="commune-agent"}')
        assert sorted(s["metric"]["role"] for s in up) == ["lan-node", "vc"]
        assert all(s["value"][1] == "1" for s in up)
        alerts = wait_for(lambda: len(a := am.alerts()) == 2 and a, 30,
                          what="alerts in Alertmanager")
        got = sorted((a["labels"]["commune"], a["labels"]["region"], a["labels"]["severity"],
                      a["receivers"][0]["name"]) for a in alerts)
        assert got == [("14797", "Thành phố Thanh Hóa", "info", "info"),
                       ("14845", "Huyện Mường Lát", "info", "info")]
