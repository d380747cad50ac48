"""The real wheel, installed into a fresh venv and run from a folder outside the checkout (the
checkout off sys.path): its shipped data is found, overrides under $COMMUNE_MONITOR_ETC win, and
render writes every shipped rule, the templates and grafana/, accepted by promtool and amtool."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from tests.support.paths import ROOT
from tests.support.peers import require_binary

RULES = sorted(p.name for p in (ROOT / "configs/prometheus/rules").glob("*.yml"))
RUNBOOKS = sorted(p.stem for p in (ROOT / "configs/runbooks").glob("*.yml"))
DASHBOARDS = sorted(p.name for p in (ROOT / "dashboards").glob("*.json"))
OVERRIDE_RULE = """\
groups:
  - name: override
    rules:
      - alert: OverriddenAvailability
        expr: vector(1)
        for: 1h
        labels: {severity: info}
"""


class Venv:
    """A venv holding the installed wheel; commands run in ``cwd``, outside the checkout."""

    def __init__(self, path: Path, cwd: Path) -> None:
        self.path = path
        self.cwd = cwd
        self.data = path / "share" / "commune-monitor"
        self.env = {k: v for k, v in os.environ.items()
                    if k not in ("PYTHONPATH", "VIRTUAL_ENV", "COMMUNE_DIAG_RUNBOOKS",
                                 "COMMUNE_SNMP_MODULE_PATH")}
        self.env["COMMUNE_MONITOR_ETC"] = str(cwd / "etc")  # empty unless a test fills it

    def run(self, tool: str, *args: str | Path) -> subprocess.CompletedProcess[str]:
        """Run an installed console script (or python) with ``args``."""
        return subprocess.run([str(self.path / "bin" / tool), *map(str, args)], cwd=self.cwd,
                              env=self.env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def venv(wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> Venv:
    base = tmp_path_factory.mktemp("installed")
    path = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    subprocess.run([str(path / "bin" / "python"), "-m", "pip", "install", "--quiet",
                    "--disable-pip-version-check", "--no-index", "--find-links", str(wheels),
                    "commune-monitor[diag]"], check=True, timeout=600)
    cwd = base / "elsewhere"
    cwd.mkdir()
    return Venv(path, cwd)


def _agent_config(venv: Venv, modules: str) -> Path:
    """The shipped SNMP example with the core switch polling ``modules``, outside the venv."""
    example = venv.data / "examples" / "agent" / "snmp.yml"
    config = venv.cwd / "agent.yml"
    config.write_text(example.read_text().replace("[if_mib, system]", modules)
                      .replace("secrets/", f"{example.parent}/secrets/"))
    return config


def _ok(done: subprocess.CompletedProcess[str]) -> str:
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.mark.slow  # builds the wheelhouse and a venv
def test_the_installed_package_is_not_the_checkout(venv: Venv) -> None:
    where = _ok(venv.run("python", "-c", "import sys, common, agent, collector; "
                         "print(common.__file__); print(sys.path)"))
    assert where.splitlines()[0].startswith(str(venv.path))
    assert str(ROOT) not in where
    from_checkout = _ok(venv.run("python", "-c", "from common.shipped import checkout_root; "
                                 "print(checkout_root())"))
    assert from_checkout.strip() == "None"


@pytest.mark.slow
def test_diag_lists_the_shipped_runbooks(venv: Venv) -> None:
    rows = json.loads(_ok(venv.run("commune-diag", "list", "--json")))
    assert sorted(r["name"] for r in rows) == RUNBOOKS
    assert {Path(r["file"]).parent for r in rows} == {venv.data / "runbooks"}


@pytest.mark.slow
def test_the_snmp_modules_and_examples_are_found(venv: Venv) -> None:
    example = venv.data / "examples" / "agent" / "snmp.yml"  # uses if_mib, system, vc/poly
    _ok(venv.run("commune-agent", "check-config", example))
    done = venv.run("commune-agent", "check-config", _agent_config(venv, "[if_mib, nope]"))
    assert done.returncode == 2
    assert "unknown SNMP module 'nope'" in done.stderr and "vc/yealink" in done.stderr
    for name in ("gateway/example.yml", "inventory/thanh-hoa.yml", "conferences/conferences.yml"):
        assert (venv.data / "examples" / name).is_file()


@pytest.mark.slow
@pytest.mark.peer  # promtool, amtool
def test_render_copies_every_shipped_rule_and_writes_grafana(venv: Venv) -> None:
    inventory = venv.data / "examples" / "inventory" / "thanh-hoa.yml"
    out = venv.cwd / "out"
    schedule = venv.data / "examples" / "conferences" / "conferences.yml"
    printed = _ok(venv.run("commune-collector", "render", "--inventory", inventory,
                           "--out", "out", "--prometheus-url", "http://10.38.0.5:9090",
                           "--conferences", schedule))
    assert f"rules/ ({len(RULES)} copied from {venv.data / 'rules'}" in printed
    assert f"commune-conferences.yml (0 upcoming conferences of {schedule})" in printed
    assert sorted(p.name for p in (out / "rules").iterdir()) == sorted(
        [*RULES, "commune-inventory.yml", "commune-conferences.yml"])
    for name in RULES:
        assert (out / "rules" / name).read_bytes() == (ROOT / "configs/prometheus/rules" /
                                                       name).read_bytes()
    assert sorted(p.name for p in (out / "grafana/dashboards").iterdir()) == DASHBOARDS
    provider = yaml.safe_load((out / "grafana/provisioning/dashboards/commune-monitor.yaml")
                              .read_text())
    assert provider["providers"][0]["options"]["path"] == str(out / "grafana/dashboards")
    source = yaml.safe_load((out / "grafana/provisioning/datasources/commune-monitor.yaml")
                            .read_text())["datasources"][0]
    assert source["url"] == "http://10.38.0.5:9090"
    board = json.loads((out / "grafana/dashboards/province-overview.json").read_text())
    ds = next(v for v in board["templating"]["list"] if v["name"] == "DS_PROMETHEUS")
    assert ds["current"]["value"] == source["uid"]
    am = yaml.safe_load((out / "alertmanager.yml").read_text())
    assert am["templates"] == [f"{out}/templates/*.tmpl"]
    assert (out / "templates/commune.tmpl").read_bytes() == (
        ROOT / "configs/alertmanager/commune.tmpl").read_bytes()
    checked = subprocess.run([require_binary("promtool"), "check", "config",
                              str(out / "prometheus.yml")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(RULES) + 2} rule files found" in checked.stdout
    # From another folder: the absolute template path still holds.
    checked = subprocess.run([require_binary("amtool"), "check-config",
                              str(out / "alertmanager.yml")], capture_output=True, text=True,
                             cwd="/")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "1 templates" in checked.stdout


def _etc(venv: Venv, kind: str, name: str, text: str) -> None:
    path = venv.cwd / "etc" / kind / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.mark.slow
def test_overrides_under_commune_monitor_etc_win(venv: Venv) -> None:
    try:
        _etc(venv, "commune-collector/rules", "availability.yml", OVERRIDE_RULE)
        _etc(venv, "commune-collector/rules", "local.yml", OVERRIDE_RULE.replace(
            "name: override", "name: local").replace("Overridden", "Local"))
        book = (venv.data / "runbooks" / "disk-mem.yml").read_text()
        _etc(venv, "commune-collector/runbooks", "local-disk.yml", book)
        snmp = (venv.data / "snmp" / "system.yml").read_text()
        _etc(venv, "commune-agent/snmp", "local_system.yml", snmp)
        out = venv.cwd / "overridden"
        _ok(venv.run("commune-collector", "render", "--inventory",
                     venv.data / "examples/inventory/thanh-hoa.yml", "--out", out,
                     "--max-for", "30s"))
        assert sorted(p.name for p in (out / "rules").iterdir()) == sorted(
            [*RULES, "local.yml", "commune-inventory.yml"])
        assert (out / "rules/availability.yml").read_text() == OVERRIDE_RULE.replace(
            "for: 1h", "for: 30s")
        rows = json.loads(_ok(venv.run("commune-diag", "list", "--json")))
        assert "local-disk" in {r["name"] for r in rows}
        _ok(venv.run("commune-agent", "check-config", _agent_config(venv, "[local_system]")))
    finally:
        shutil.rmtree(venv.cwd / "etc", ignore_errors=True)


def _hide(paths: Sequence[Path]) -> list[tuple[Path, Path]]:
    moved = [(p, p.with_name(p.name + ".hidden")) for p in paths]
    for src, dst in moved:
        src.rename(dst)
    return moved


@pytest.mark.slow
def test_no_rule_anywhere_is_exit_2_naming_where_it_looked(venv: Venv) -> None:
    moved = _hide([venv.data / "rules", venv.data / "runbooks"])
    try:
        done = venv.run("commune-collector", "render", "--inventory",
                        venv.data / "examples/inventory/thanh-hoa.yml", "--out", "empty")
        listed = venv.run("commune-diag", "list")
    finally:
        for src, dst in moved:
            dst.rename(src)
    assert done.returncode == 2, done.stdout + done.stderr
    assert done.stderr == (
        f"commune-collector render: no Prometheus rule file (*.yml) found in "
        f"{venv.cwd}/etc/commune-collector/rules, {venv.data}/rules; a province without rules "
        "never alerts: reinstall commune-monitor, or give --rules DIR\n")
    assert not (venv.cwd / "empty").exists()
    etc = venv.cwd / "etc"
    assert (listed.returncode, listed.stderr) == (2, (
        f"commune-diag: no runbook found (looked in {etc}/commune-collector/runbooks, "
        f"{etc}/commune-diag/runbooks, {venv.data}/runbooks); reinstall commune-monitor, or "
        "give --runbooks DIR\n"))
