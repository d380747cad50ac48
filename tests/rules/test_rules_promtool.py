"""The Prometheus rules: promtool check and unit tests, and the conventions every alert keeps."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from collector.inventory import load_inventory
from tests.support.paths import ROOT
from tests.support.peers import require_binary

RULES_DIR = ROOT / "configs" / "prometheus" / "rules"
RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
TEST_DIR = ROOT / "tests" / "rules"
TEST_FILES = sorted(TEST_DIR.glob("*_test.yml"))
RUNBOOKS = {"network-basic", "portal-slow", "interfaces", "disk-mem", "services", "vc-endpoint",
            "security"}
ANNOTATIONS = {"summary_vi", "summary_en", "description_vi", "description_en", "diag"}
INVENTORY_LABELS = ("commune", "commune_name", "region", "terrain")


def _rules(kind: str) -> list[tuple[Path, dict[str, Any]]]:
    found = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            found += [(path, rule) for rule in group["rules"] if kind in rule]
    return found


def _duration_seconds(text: str) -> float:
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    return sum(float(n) * units[u] for n, u in re.findall(r"(\d+)([smhd])", text))


def _test_cases() -> list[dict[str, Any]]:
    cases = []
    for path in TEST_FILES:
        for test in yaml.safe_load(path.read_text())["tests"]:
            cases += test.get("alert_rule_test", [])
    return cases


def test_there_are_rules_and_tests() -> None:
    assert len(RULE_FILES) >= 5 and len(TEST_FILES) >= 5
    assert len(_rules("alert")) >= 20 and len(_rules("record")) >= 20


@pytest.mark.peer
def test_promtool_check_rules() -> None:
    promtool = require_binary("promtool")
    out = subprocess.run([promtool, "check", "rules", *map(str, RULE_FILES)],
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout + out.stderr


@pytest.mark.peer
@pytest.mark.parametrize("test_file", TEST_FILES, ids=lambda p: p.name)
def test_promtool_test_rules(test_file: Path) -> None:
    promtool = require_binary("promtool")
    out = subprocess.run([promtool, "test", "rules", test_file.name], cwd=TEST_DIR,
                         capture_output=True, text=True)
    assert out.returncode == 0, out.stdout[-6000:] + out.stderr[-6000:]
    assert "SUCCESS" in out.stdout


@pytest.mark.peer
def test_promtool_test_rules_can_fail(tmp_path: Path) -> None:
    """A wrong expectation makes promtool fail: the unit tests are not vacuous."""
    promtool = require_binary("promtool")
    source = (TEST_DIR / "availability_test.yml").read_text()
    good = ('exp_labels: {severity: critical, scope: commune, runbook: network-basic, '
            'commune: "14797"')
    broken = source.replace(good, good.replace("critical", "warning"), 1)
    assert broken != source
    broken = broken.replace("../../configs", str(ROOT / "configs"))
    (tmp_path / "broken_test.yml").write_text(broken)
    out = subprocess.run([promtool, "test", "rules", "broken_test.yml"], cwd=tmp_path,
                         capture_output=True, text=True)
    assert out.returncode != 0


def test_every_alert_fires_and_stays_silent_in_a_test() -> None:
    cases = _test_cases()
    fired = {c["alertname"] for c in cases if c.get("exp_alerts")}
    silent = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    names = {rule["alert"] for _, rule in _rules("alert")}
    assert names - fired == set(), "alerts never shown firing in tests/rules"
    assert names - silent == set(), "alerts never shown silent in tests/rules"


@pytest.mark.parametrize("path,rule", _rules("alert"),
                         ids=lambda v: v["alert"] if isinstance(v, dict) else v.name)
def test_alert_conventions(path: Path, rule: dict[str, Any]) -> None:
    labels, annotations = rule["labels"], rule["annotations"]
    assert labels["severity"] in {"critical", "warning"}
    assert labels["scope"] in {"province", "commune"}
    assert labels["runbook"] in RUNBOOKS
    assert set(annotations) == ANNOTATIONS
    assert f"commune-diag run {labels['runbook']}" in annotations["diag"]
    # survives one lost packet or one slow scrape (15 s intervals in production)
    assert _duration_seconds(rule.get("for", "0s")) >= 60
    if labels["scope"] == "commune":
        assert "{{ $labels.commune_name }}" in annotations["summary_vi"]
        assert "$labels.commune" in annotations["diag"]


def test_commune_alerts_keep_the_inventory_labels() -> None:
    """Every commune-scope alert expression keeps commune and commune_name (checked in promtool
    tests' expected labels)."""
    by_alert: dict[str, list[dict[str, Any]]] = {}
    for case in _test_cases():
        for exp in case.get("exp_alerts") or []:
            by_alert.setdefault(case["alertname"], []).append(exp["exp_labels"])
    for _, rule in _rules("alert"):
        if rule["labels"]["scope"] == "commune":
            for labels in by_alert[rule["alert"]]:
                assert all(labels.get(k) for k in INVENTORY_LABELS), (rule["alert"], labels)


def test_recording_rule_names_follow_the_convention() -> None:
    for _, rule in _rules("record"):
        assert re.fullmatch(r"[a-z_]+:[a-zA-Z_]+:[a-z0-9_]+", rule["record"]), rule["record"]


def test_rules_name_the_inventorys_province_targets() -> None:
    """The province targets the rules hard-code are the inventory's `province_targets`."""
    names = {t.name for t in load_inventory(ROOT / "configs/inventory/thanh-hoa.yml")
             .province_targets}
    text = "\n".join(p.read_text() for p in RULE_FILES)
    named = set()
    for alternatives in re.findall(r'target=~"([a-z|-]+)"', text):
        named |= set(alternatives.split("|"))
    named |= set(re.findall(r'target="([a-z-]+)"', text))
    assert named and named <= names, named - names
    assert "tthc-portal" in named
