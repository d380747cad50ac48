"""render's shipped inputs and rehearsal options: the rules lookup (and its exit 2), templates and
grafana/, --max-for, --max-group-wait, --prometheus-url, overrides under $COMMUNE_MONITOR_ETC."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from collector.cli import main
from collector.render.rules import cap_waits
from common import shipped
from common.cli import UsageError
from common.units import Duration
from tests.support.inventory import HAC_THANH, Node, inventory_yaml
from tests.support.paths import ROOT
from tests.support.peers import require_binary

RULES = ROOT / "configs/prometheus/rules"
WAITS = """\
# a comment that stays
groups:
  - name: waits
    rules:
      - alert: Long   # so does this one
        expr: vector(1)
        for: 1h
        keep_firing_for: 10m
        labels: {severity: info}
        annotations: {summary: "for: 1h in text is not a wait"}
      - alert: Short
        expr: vector(1)
        for: 5s
      - record: job:up:sum
        expr: sum(up)
"""


def _inventory(tmp_path: Path) -> Path:
    path = tmp_path / "inventory.yml"
    path.write_text(inventory_yaml([HAC_THANH.with_nodes(Node("lan-1"))]), encoding="utf-8")
    return path


def _render(tmp_path: Path, *extra: str) -> tuple[int, Path]:
    out = tmp_path / "out"
    return main(["render", "--inventory", str(_inventory(tmp_path)), "--out", str(out),
                 *extra]), out


@pytest.fixture
def etc(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty override root, as $COMMUNE_MONITOR_ETC."""
    root = tmp_path / "etc"
    root.mkdir()
    monkeypatch.setenv(shipped.ETC_ENV, str(root))
    return root


def test_lookup_order_override_checkout_installed(etc: Path, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = tmp_path / "prefix"
    monkeypatch.setattr(sys, "prefix", str(prefix))
    assert shipped.candidate_dirs("rules") == [
        etc / "commune-collector/rules", RULES, prefix / "share/commune-monitor/rules"]
    assert shipped.candidate_dirs("snmp")[0] == etc / "commune-agent/snmp"
    assert shipped.shipped_dirs("rules") == [RULES]
    (etc / "commune-collector/rules").mkdir(parents=True)
    (etc / "commune-collector/rules/host.yml").write_text("groups: []\n")
    files = shipped.shipped_files("rules", "*.yml")
    assert files["host.yml"] == etc / "commune-collector/rules/host.yml"
    assert files["vc.yml"] == RULES / "vc.yml"
    with pytest.raises(ValueError, match="unknown kind of shipped data 'rule'"):
        shipped.candidate_dirs("rule")


def test_no_checkout_and_nothing_installed(etc: Path, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    prefix = tmp_path / "prefix"
    monkeypatch.setattr(sys, "prefix", str(prefix))
    monkeypatch.setattr(shipped, "checkout_root", lambda: None)
    with pytest.raises(shipped.NotShipped) as caught:
        shipped.shipped_dir("runbooks")
    assert str(caught.value) == (
        f"no runbooks folder found (looked for {etc}/commune-collector/runbooks, "
        f"{etc}/commune-diag/runbooks, {prefix}/share/commune-monitor/runbooks); reinstall "
        f"commune-monitor or create {etc}/commune-collector/runbooks")
    code, out = _render(tmp_path)
    assert code == 2
    assert capsys.readouterr().err == (
        f"commune-collector render: no Prometheus rule file (*.yml) found in "
        f"{etc}/commune-collector/rules, {prefix}/share/commune-monitor/rules; a province "
        "without rules never alerts: reinstall commune-monitor, or give --rules DIR\n")
    assert not out.exists()


def test_an_empty_rules_folder_is_exit_2(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "empty").mkdir()
    code, out = _render(tmp_path, "--rules", str(tmp_path / "empty"))
    assert code == 2
    assert capsys.readouterr().err == (
        f"commune-collector render: no Prometheus rule file (*.yml) found in {tmp_path}/empty; "
        "a province without rules never alerts: reinstall commune-monitor, or give --rules DIR\n")
    assert not out.exists()


def test_cap_waits_changes_only_the_waits() -> None:
    capped = cap_waits(WAITS.encode(), Duration(30), "waits.yml").decode()
    assert capped == WAITS.replace("for: 1h\n", "for: 30s\n").replace(
        "keep_firing_for: 10m", "keep_firing_for: 30s")
    rules = yaml.safe_load(capped)["groups"][0]["rules"]
    assert [r.get("for") for r in rules] == ["30s", "5s", None]


@pytest.mark.parametrize(("text", "message"), [
    ("groups: [", "waits.yml:1:10: not a YAML rule file: invalid YAML: expected the node content"),
    ("groups:\n  - rules:\n      - {alert: A, expr: '1', for: 5x}\n",
     "waits.yml:3: expected a duration like '10s', '1m30s' or '500ms', got '5x'"),
    ("groups:\n  - rules: {}\n", "waits.yml:2: rules: expected a list"),
])
def test_cap_waits_on_a_bad_file(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("[", r"\[")):
        cap_waits(text.encode(), Duration(30), "waits.yml")


def test_a_rule_file_that_is_not_yaml_is_refused_without_max_for(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "good.yml").write_text(WAITS)
    (rules / "broken.yml").write_text("groups:\n  - name: [\n")
    code, out = _render(tmp_path, "--rules", str(rules))
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"commune-collector: {rules}/broken.yml:3:1: invalid YAML: ")
    assert len(err.splitlines()) == 1
    assert not out.exists()


def test_a_rule_file_keeps_its_bytes_but_a_bom(tmp_path: Path) -> None:
    rules = tmp_path / "rules"
    rules.mkdir()
    (rules / "waits.yml").write_bytes(b"\xef\xbb\xbf" + WAITS.encode())
    code, out = _render(tmp_path, "--rules", str(rules))
    assert code == 0
    assert (out / "rules/waits.yml").read_text() == WAITS


@pytest.mark.peer  # promtool, amtool
def test_rehearsal_options_give_valid_config(tmp_path: Path) -> None:
    code, out = _render(tmp_path, "--max-for", "10s", "--max-group-wait", "2s")
    assert code == 0
    for path in sorted((out / "rules").glob("*.yml")):
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                for key in ("for", "keep_firing_for"):
                    if key in rule:
                        assert Duration.parse(rule[key]) <= 10, (path.name, rule)
    original = (RULES / "recording.yml").read_bytes()
    assert (out / "rules/recording.yml").read_bytes() == original  # no wait: unchanged bytes
    checked = subprocess.run([require_binary("promtool"), "check", "config",
                              str(out / "prometheus.yml")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    am = yaml.safe_load((out / "alertmanager.yml").read_text())
    waits = [am["route"]] + am["route"]["routes"]
    assert all(Duration.parse(r.get(k, "0s")) <= 2 for r in waits
               for k in ("group_wait", "group_interval"))
    assert am["route"]["group_wait"] == am["route"]["group_interval"] == "2s"
    assert am["route"]["repeat_interval"] == "4h"
    checked = subprocess.run([require_binary("amtool"), "check-config",
                              str(out / "alertmanager.yml")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_grafana_output(tmp_path: Path) -> None:
    code, out = _render(tmp_path, "--prometheus-url", "https://prom.example:9090")
    assert code == 0
    shipped_boards = sorted(p.name for p in (ROOT / "dashboards").glob("*.json"))
    assert sorted(p.name for p in (out / "grafana/dashboards").iterdir()) == shipped_boards
    provider = yaml.safe_load(
        (out / "grafana/provisioning/dashboards/commune-monitor.yaml").read_text())
    assert provider["providers"][0]["type"] == "file"
    assert provider["providers"][0]["options"]["path"] == str(out / "grafana/dashboards")
    sources = yaml.safe_load(
        (out / "grafana/provisioning/datasources/commune-monitor.yaml").read_text())
    (source,) = sources["datasources"]
    assert (source["type"], source["url"]) == ("prometheus", "https://prom.example:9090")
    for name in shipped_boards:
        board = json.loads((out / "grafana/dashboards" / name).read_text())
        original = json.loads((ROOT / "dashboards" / name).read_text())
        (ds,) = [v for v in board["templating"]["list"] if v["name"] == "DS_PROMETHEUS"]
        assert ds["current"] == {"selected": True, "text": source["name"], "value": source["uid"]}
        del ds["current"]
        assert board == original, name  # nothing else changed


def test_grafana_and_template_overrides(etc: Path, tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    grafana = etc / "commune-collector/grafana/datasources"
    grafana.mkdir(parents=True)
    template = yaml.safe_load((ROOT / "dashboards/provisioning/datasources/prometheus.yml")
                              .read_text())
    template["datasources"][0].update(uid="province", basicAuth=True, basicAuthUser="grafana")
    (grafana / "prometheus.yml").write_text(yaml.safe_dump(template))
    templates = etc / "commune-collector/alertmanager"
    templates.mkdir(parents=True)
    (templates / "local.tmpl").write_text('{{ define "local.title" }}x{{ end }}\n')
    code, out = _render(tmp_path)
    assert code == 0
    source = yaml.safe_load(
        (out / "grafana/provisioning/datasources/commune-monitor.yaml").read_text())
    assert source["datasources"][0]["basicAuthUser"] == "grafana"
    board = json.loads((out / "grafana/dashboards/commune-detail.json").read_text())
    assert [v["current"]["value"] for v in board["templating"]["list"]
            if v["name"] == "DS_PROMETHEUS"] == ["province"]
    assert sorted(p.name for p in (out / "templates").iterdir()) == ["commune.tmpl", "local.tmpl"]
    (grafana / "prometheus.yml").write_text("datasources: [{type: loki}]\n")
    capsys.readouterr()
    assert _render(tmp_path)[0] == 2
    assert capsys.readouterr().err == (
        f"commune-collector render: {grafana}/prometheus.yml: expected a datasource of "
        "'type: prometheus' with a 'uid:' (the dashboards select it by uid)\n")


@pytest.mark.parametrize(("extra", "message"), [
    (["--prometheus-url", "prom:9090"], "--prometheus-url 'prom:9090': expected the URL Grafana "
                                        "reaches Prometheus at, like http://127.0.0.1:9090"),
    (["--max-for", "0s"], "--max-for must be greater than 0s"),
    (["--max-group-wait", "0s"], "--max-group-wait must be greater than 0s"),
])
def test_bad_rehearsal_options(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               extra: list[str], message: str) -> None:
    code, out = _render(tmp_path, *extra)
    assert code == 2
    assert capsys.readouterr().err == f"commune-collector render: {message}\n"
    assert not out.exists()


@pytest.mark.parametrize("templating", [None, [], {"list": None}, {"list": {}}])
def test_an_override_dashboard_with_odd_templating_is_exit_2(
        etc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], templating: object) -> None:
    boards = etc / "commune-collector/dashboards"
    boards.mkdir(parents=True)
    board = json.loads((ROOT / "dashboards/commune-detail.json").read_text())
    board["templating"] = templating
    (boards / "commune-detail.json").write_text(json.dumps(board))
    code, out = _render(tmp_path)
    assert code == 2
    assert capsys.readouterr().err == (
        f"commune-collector render: {boards}/commune-detail.json: 'templating' must be a mapping "
        "with a 'list' of variables, as Grafana writes it; fix the dashboard or remove it\n")
    assert not out.exists()


def test_an_override_provider_without_providers_says_what_to_do(
        etc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grafana = etc / "commune-collector/grafana/dashboards"
    grafana.mkdir(parents=True)
    (grafana / "commune-monitor.yml").write_text("providers: {}\n")
    assert _render(tmp_path)[0] == 2
    assert capsys.readouterr().err == (
        f"commune-collector render: {grafana}/commune-monitor.yml: expected Grafana provisioning "
        "with a 'providers:' list of mappings; fix it, or remove the override from "
        "/etc/commune-collector/grafana/ to use the shipped file\n")


def test_an_override_template_is_read_like_the_other_config_files(
        etc: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    templates = etc / "commune-collector/alertmanager"
    templates.mkdir(parents=True)
    (templates / "local.tmpl").write_bytes(b'{{ define "local.title" }}\xff{{ end }}\n')
    code, out = _render(tmp_path)
    assert code == 2
    err = capsys.readouterr().err
    assert f"{templates}/local.tmpl:1:27: byte 0xff is not UTF-8" in err
    assert len(err.splitlines()) <= 2
    assert not out.exists()
