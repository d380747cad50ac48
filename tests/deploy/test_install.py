"""Enrol -> install-agent.sh into a temporary root -> the installed agent pushes through a real
gateway into a real Prometheus; re-install keeps the spool; uninstall leaves nothing."""

from __future__ import annotations

import hashlib
import stat
import subprocess
import time
from pathlib import Path

import pytest

from collector.cli import main
from common.enrolment import Enrolment
from tests.support.installer import Installed, install, release, tree, uninstall
from tests.support.paths import ROOT
from tests.support.peers import LOOPBACK, Prometheus, free_port, require_binary, wait_for
from tests.support.province import INVENTORY, gateway_yaml
from tests.support.push_peers import PROMETHEUS_PUSH_ARGS, PROMETHEUS_PUSH_CONFIG, Gateway


def _province(tmp_path: Path, receiver: str) -> tuple[Path, Path]:
    inventory = tmp_path / "inventory.yml"
    inventory.write_text(INVENTORY, encoding="utf-8")
    gateway = tmp_path / "gateway.yml"
    gateway.write_text(gateway_yaml(receiver, inventory))
    return inventory, gateway


def _enroll(capsys, inventory: Path, gateway: Path, node: str, url: str) -> str:
    assert main(["enroll", "--commune", "16318", "--node", node, "--inventory", str(inventory),
                 "--gateway-config", str(gateway), "--gateway-url", url]) == 0
    out = capsys.readouterr().out
    assert "sudo bash deploy/install-agent.sh --enrol cme1." in out
    return next(w for w in out.split() if w.startswith("cme1."))


def _verify_unit(unit: Path) -> None:
    done = subprocess.run([require_binary("systemd-analyze"), "verify", str(unit)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert unit.name not in done.stderr, done.stderr  # unknown keys are only warnings


@pytest.mark.peer
def test_enrol_install_push_reinstall_uninstall(tmp_path: Path, wheels: Path, capsys):
    prom_dir = tmp_path / "prom"
    prom_dir.mkdir()
    prometheus = Prometheus(PROMETHEUS_PUSH_CONFIG, prom_dir, PROMETHEUS_PUSH_ARGS)
    gateway = None
    installed: Installed | None = None
    root = tmp_path / "root"
    root.mkdir()
    try:
        inventory, gateway_file = _province(tmp_path, f"{prometheus.url}/api/v1/write")
        gateway_port = free_port()
        started = time.monotonic()
        code = _enroll(capsys, inventory, gateway_file, "lan-2",
                       f"http://{LOOPBACK}:{gateway_port}/api/v1/write")
        gateway = Gateway(gateway_file, tmp_path, port=gateway_port)
        installed = install(root, ["--enrol", code], wheels, tmp_path)
        assert installed.returncode == 0, installed.output
        assert installed.output.rstrip().splitlines()[-1].startswith("done: "), installed.output
        assert "pushing: " in installed.output
        query = 'commune_agent_heartbeat_timestamp_seconds{commune="16318",instance="lan-2"}'
        series = wait_for(lambda: prometheus.query(query), 60, what="first pushed sample")
        elapsed = time.monotonic() - started
        print(f"\nenrol -> first sample in Prometheus: {elapsed:.1f}s "
              f"(target: under 300s)")
        labels = series[0]["metric"]
        assert (labels["commune"], labels["commune_name"], labels["region"], labels["role"]) == (
            "16318", "Xã Thử Nghiệm", "Huyện Thử", "lan-node")
        host = prometheus.query('node_load1{commune="16318"}')
        assert host and host[0]["metric"]["instance"] == "lan-2"
        # paramiko (commune-diag's SSH client) is not installed on a commune node.
        no_ssh = subprocess.run([str(installed.venv / "bin" / "python"), "-c", "import paramiko"],
                                capture_output=True, text=True, timeout=60)
        assert no_ssh.returncode == 1 and "No module named 'paramiko'" in no_ssh.stderr
        diag = subprocess.run([str(installed.venv / "bin" / "commune-diag"), "list"],
                              capture_output=True, text=True, timeout=60)
        assert (diag.returncode, diag.stderr.count("\n")) == (1, 1), diag.stderr
        assert "install commune-monitor[diag]" in diag.stderr

        # The installed files: config and token private, token matching the stored digest.
        token = (installed.etc / "token").read_text().strip()
        assert hashlib.sha256(token.encode()).hexdigest() in gateway_file.read_text()
        for name in ("agent.yml", "token"):
            assert stat.S_IMODE((installed.etc / name).stat().st_mode) == 0o600
        assert stat.S_IMODE(installed.spool.stat().st_mode) == 0o700
        config = (installed.etc / "agent.yml").read_text()
        assert f'spool_dir: "{installed.spool}"' in config
        unit = installed.unit.read_text()
        assert f"ExecStart={installed.venv}/bin/commune-agent run --config.file " \
               f"{installed.etc}/agent.yml --web.listen-address {LOOPBACK}:{installed.port}" in unit
        assert f"ReadWritePaths={root}/var/lib/commune-agent" in unit
        assert "\nCapabilityBoundingSet=\n" in unit and "\n#AmbientCapabilities" in unit
        _verify_unit(installed.unit)

        # Re-install (upgrade in place): spool, config and token stay.
        marker = installed.spool / "kept-by-reinstall"
        marker.write_text("x")
        before = {n: (installed.etc / n).read_text() for n in ("agent.yml", "token")}
        again = Installed(root, installed.port).run([], wheels, tmp_path, start_agent=False)
        assert again.returncode == 0, again.output
        assert "keeping" in again.output and "done: " in again.output
        assert marker.exists()
        assert {n: (installed.etc / n).read_text() for n in before} == before
    finally:
        if installed is not None:
            installed.stop()
        if gateway is not None:
            gateway.stop()
        prometheus.stop()
    done = uninstall(root)
    assert done.returncode == 0, done.stderr
    assert tree(root) == set()


@pytest.mark.slow  # builds the offline wheelhouse and installs it into a venv
def test_revoked_token_fails_the_install_with_what_to_do(tmp_path: Path, wheels: Path,
                                                         capsys):
    inventory, gateway_file = _province(tmp_path, "http://127.0.0.1:9/api/v1/write")
    gateway_port = free_port()
    url = f"http://{LOOPBACK}:{gateway_port}/api/v1/write"
    code = _enroll(capsys, inventory, gateway_file, "lan-2", url)
    _enroll(capsys, inventory, gateway_file, "lan-3", url)  # the gateway needs one token left
    assert main(["revoke", "--commune", "16318", "--node", "lan-2", "--gateway-config",
                 str(gateway_file)]) == 0
    gateway = Gateway(gateway_file, tmp_path, port=gateway_port)
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("node\n")  # not ours: uninstall keeps it
    installed = None
    try:
        # From an unpacked release (deploy/ + wheelhouse/), no --wheelhouse, no checkout.
        script = release(wheels, tmp_path / "release")
        installed = install(root, ["--enrol", code], None, tmp_path, script=script)
        assert installed.returncode == 1, installed.output
        assert f"from {tmp_path}/release/wheelhouse (offline)" in installed.output
        assert "the gateway refused this node's token" in installed.output
        assert "done" not in installed.output
    finally:
        if installed is not None:
            installed.stop()
        gateway.stop()
    assert uninstall(root).returncode == 0
    assert tree(root) == {"etc", "etc/hostname"}


def test_expired_or_damaged_code_is_refused_before_anything_is_installed(tmp_path: Path,
                                                                          wheels: Path):
    code = Enrolment("http://127.0.0.1:9/api/v1/write", "16318", "lan-2", "ab" * 32,
                     time.time() - 60).encode()
    root = tmp_path / "root"
    root.mkdir()
    for bad, message in ((code, "this enrolment code expired at"),
                         (code[:-9], "the enrolment code is damaged")):
        installed = install(root, ["--enrol", bad], wheels, tmp_path)
        assert installed.returncode == 2, installed.output
        assert message in installed.output
        assert installed.agent is None
        assert tree(root) == set()


def test_installer_usage_errors(tmp_path: Path):
    root = tmp_path / "root"
    for args, message in (
            ([], "not configured yet: give --enrol CODE"),
            (["--enrol", "eyJhbGciOi"], "an enrolment code starts with 'cme1.'"),
            (["--config", str(tmp_path / "nope.yml")], "--config"),
            (["--bogus"], "unknown option '--bogus'")):
        done = subprocess.run(["bash", "deploy/install-agent.sh", "--root", str(root), *args],
                              capture_output=True, text=True, timeout=30,
                              cwd=ROOT)
        assert done.returncode == 2, (args, done.stderr)
        assert message in done.stderr, (args, done.stderr)
    assert tree(root) == set()
    done = subprocess.run(["bash", "deploy/uninstall-agent.sh", "--root", str(root)],
                          capture_output=True, text=True, timeout=30,
                          cwd=ROOT)
    assert done.returncode == 2 and "nothing installed" in done.stderr
