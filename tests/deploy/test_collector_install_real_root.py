"""install-collector.sh without --root, in a mount namespace whose /etc, /opt and /var/lib are
overlays (tests/deploy/real-root.sh): the system user and owners, apt-get for missing packages,
systemctl restarting Prometheus and Alertmanager on their drop-ins (stand-ins in fake-bin/ run
Debian's binaries from the drop-in's ExecStart=), a re-run that reloads them, and an uninstall
with --purge-packages. The machine itself is not changed."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import ROOT
from tests.support.peers import LOOPBACK, free_port, require_binary
from tests.support.province import INVENTORY

DRIVER = ROOT / "tests" / "deploy" / "real-root.sh"


def _calls(log: str, step: str) -> list[str]:
    """The stand-ins' calls during one step of real-root.sh."""
    part = log.split(f"== {step}\n", 1)[1]
    return part.split("\n== ", 1)[0].splitlines()


@pytest.mark.peer
def test_real_root_install_reinstall_uninstall(tmp_path: Path, wheels: Path):
    for binary in ("unshare", "prometheus", "prometheus-alertmanager", "curl"):
        require_binary(binary)
    inventory = tmp_path / "thanh-hoa.yml"
    inventory.write_text(INVENTORY, encoding="utf-8")
    prometheus = f"http://{LOOPBACK}:{free_port()}"
    alertmanager = f"http://{LOOPBACK}:{free_port()}"
    work = tmp_path / "work"
    work.mkdir()
    env = {**os.environ, "WORK": str(work), "WHEELS": str(wheels), "INVENTORY": str(inventory),
           "PROMETHEUS": prometheus, "ALERTMANAGER": alertmanager,
           "LISTEN": f"{LOOPBACK}:{free_port()}"}
    done = subprocess.run([require_binary("unshare"), "--mount", "--propagation", "private",
                           "bash", str(DRIVER)], env=env, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    out = {step: (work / f"{step}.out").read_text() for step in ("install", "again", "uninstall")}
    rc = {step: (work / f"{step}.rc").read_text().strip() for step in out}
    state = {step: (work / f"{step}.state").read_text() for step in out}
    log = (work / "calls.log").read_text()
    assert rc == {"install": "0", "again": "0", "uninstall": "0"}, out

    # First install: the missing packages from apt, the user and owners, both peers restarted on
    # their drop-ins and ready before it ends.
    calls = _calls(log, "install")
    assert "apt-get install -y -q --no-install-recommends prometheus prometheus-alertmanager" \
        in calls, calls
    assert "[install-collector] creating the system user commune-collector" in out["install"]
    for unit in ("prometheus.service", "prometheus-alertmanager.service"):
        assert f"systemctl restart {unit}" in calls
    assert "warning" not in out["install"], out["install"]
    assert "systemctl status prometheus prometheus-alertmanager" in out["install"]
    assert state["install"].splitlines() == [
        "user: commune-collector:/usr/sbin/nologin",
        "owner: commune-collector:commune-collector",
        "gateway.yml: root:commune-collector:640",
        "prometheus: Prometheus Server is Ready.",
        "alertmanager: OK",
        "drop-in: commune-monitor.conf",
        "data: /var/lib/prometheus/metrics2/wal"], state["install"]

    # Re-run: nothing from apt, drop-ins unchanged, so both are reloaded, not restarted.
    calls = _calls(log, "again")
    assert not [c for c in calls if c.startswith("apt-get")], calls
    assert not [c for c in calls if c.startswith("systemctl restart prometheus")], calls
    assert f"reloaded {prometheus}\nreloaded {alertmanager}\n" in out["again"], out["again"]
    assert "apt: prometheus prometheus-alertmanager already installed" in out["again"]

    # Uninstall: the drop-ins, the user and the packages go; Prometheus' data stays.
    calls = _calls(log, "uninstall")
    assert "apt-get remove -y -q prometheus prometheus-alertmanager" in calls, calls
    assert "systemctl try-restart prometheus.service" in calls
    assert "systemctl disable --now --quiet commune-collector-gateway.service" in calls
    lines = state["uninstall"].splitlines()
    assert lines[0] == "user: " and lines[-1] == "data: /var/lib/prometheus/metrics2/wal", lines
    assert "No such file" in lines[5], lines
    assert not (work / "upper_opt" / "commune-collector").exists()
