"""The systemd units in deploy/systemd pass systemd-analyze verify and keep their hardening."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.paths import ROOT
from tests.support.peers import VENV_BIN, require_binary

SYSTEMD = ROOT / "deploy" / "systemd"
HARDENING = ("NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes", "PrivateTmp=yes",
             "CapabilityBoundingSet=\n")


@pytest.mark.peer
def test_collector_units_verify(tmp_path: Path):
    prefix = tmp_path / "opt" / "commune-collector"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin" / "commune-collector").symlink_to(VENV_BIN / "commune-collector")
    units = []
    for unit in sorted(SYSTEMD.glob("commune-collector*")):
        target = tmp_path / unit.name
        target.write_text(unit.read_text().replace("/opt/commune-collector", str(prefix)))
        units.append(target)
    assert {u.suffix for u in units} == {".service", ".path", ".timer"} and len(units) == 7
    done = subprocess.run([require_binary("systemd-analyze"), "verify", *map(str, units)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    for unit in units:
        assert unit.name not in done.stderr, done.stderr  # unknown keys are only warnings


def test_long_running_units_are_hardened():
    for name in ("commune-agent.service", "commune-collector-gateway.service"):
        text = (SYSTEMD / name).read_text()
        for line in (*HARDENING, "Restart=on-failure"):
            assert line in text, (name, line)
    agent = (SYSTEMD / "commune-agent.service").read_text()
    assert "ReadWritePaths=/var/lib/commune-agent\n" in agent
    assert "\n#AmbientCapabilities=CAP_NET_RAW\n" in agent  # enabled by the installer for ICMP


@pytest.mark.peer
def test_a_bad_unit_is_caught(tmp_path: Path):
    """The check above can fail: a missing ExecStart binary is an error."""
    unit = tmp_path / "commune-collector-gateway.service"
    unit.write_text((SYSTEMD / unit.name).read_text())
    done = subprocess.run([require_binary("systemd-analyze"), "verify", str(unit)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode != 0 and "/opt/commune-collector/bin/commune-collector" in done.stderr


@pytest.mark.peer
def test_exposure_of_the_long_running_units_is_low(tmp_path: Path):
    """systemd's own hardening score (0 = fully locked down, 10 = unprotected), offline."""
    scores = {}
    for name, prefix in (("commune-agent.service", "/opt/commune-agent"),
                         ("commune-collector-gateway.service", "/opt/commune-collector")):
        venv = tmp_path / prefix.lstrip("/")
        (venv / "bin").mkdir(parents=True)
        for script in ("commune-agent", "commune-collector"):
            (venv / "bin" / script).symlink_to(VENV_BIN / script)
        unit = tmp_path / name
        unit.write_text((SYSTEMD / name).read_text().replace(prefix, str(venv)))
        done = subprocess.run([require_binary("systemd-analyze"), "security", "--offline=true",
                               str(unit)], capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
        match = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
        assert match, done.stdout[-500:]
        scores[name] = float(match.group(1))
    print(f"\nsystemd-analyze security exposure: {scores}")
    assert all(score < 3.0 for score in scores.values()), scores
