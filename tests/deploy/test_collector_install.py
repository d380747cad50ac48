"""install-collector.sh into a temporary root: units verify, enrol into the installed files, the
gateway and the render+reload step run from the installed units' ExecStart lines."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from collector.cli import main
from tests.support.alertmanager_peer import Alertmanager
from tests.support.installer import (
    COLLECTOR_PREFIX,
    INSTALL_COLLECTOR,
    exec_starts,
    install_collector,
    tree,
    uninstall_collector,
)
from tests.support.peers import (
    LOOPBACK,
    Process,
    Prometheus,
    free_port,
    http_get,
    require_binary,
    wait_for,
)
from tests.support.province import INVENTORY
from tests.support.push_peers import PROMETHEUS_PUSH_ARGS, PROMETHEUS_PUSH_CONFIG

UNITS = ("commune-collector-gateway.service", "commune-collector-gateway.path",
         "commune-collector-gateway-restart.service", "commune-collector-render.service",
         "commune-collector-render.path", "commune-collector-expire.service",
         "commune-collector-expire.timer")


@pytest.mark.peer
def test_collector_install_enrol_serve_render_reload_uninstall(tmp_path: Path, wheels: Path,
                                                                capsys):
    (tmp_path / "prom").mkdir()
    prometheus = Prometheus(PROMETHEUS_PUSH_CONFIG, tmp_path / "prom", PROMETHEUS_PUSH_ARGS)
    am_config = tmp_path / "am.yml"
    am_config.write_text("route: {receiver: ops}\nreceivers: [{name: ops}]\n")
    (tmp_path / "am").mkdir()
    alertmanager = Alertmanager(am_config, tmp_path / "am")
    source_inventory = tmp_path / "thanh-hoa.yml"
    source_inventory.write_text(INVENTORY, encoding="utf-8")
    root = tmp_path / "root"
    port = free_port()
    gateway: Process | None = None
    try:
        done = install_collector(root, wheels, "--inventory", str(source_inventory), "--receiver",
                        f"{prometheus.url}/api/v1/write", "--listen", f"{LOOPBACK}:{port}",
                        "--prometheus", prometheus.url, "--alertmanager", alertmanager.url)
        assert done.returncode == 0, done.stdout + done.stderr
        assert "done: commune-collector is installed" in done.stdout
        # The collector's install selects the diag extra: commune-diag can open SSH sessions.
        venv = root / COLLECTOR_PREFIX.lstrip("/")
        with_ssh = subprocess.run([str(venv / "bin" / "python"), "-c", "import paramiko"],
                                  capture_output=True, text=True, timeout=60)
        assert with_ssh.returncode == 0, with_ssh.stderr
        assert subprocess.run([str(venv / "bin" / "commune-diag"), "--help"],
                              capture_output=True, timeout=60).returncode == 0
        etc = root / "etc" / "commune-collector"
        inventory, gateway_file = etc / "inventory" / "thanh-hoa.yml", etc / "gateway.yml"
        assert inventory.read_text() == INVENTORY and "tokens: []" in gateway_file.read_text()
        units = [root / "etc" / "systemd" / "system" / name for name in UNITS]
        verify = subprocess.run([require_binary("systemd-analyze"), "verify", *map(str, units)],
                                capture_output=True, text=True, timeout=60, cwd=tmp_path)
        assert verify.returncode == 0, verify.stderr
        assert not any(name in verify.stderr for name in UNITS), verify.stderr

        assert main(["enroll", "--commune", "16318", "--node", "lan-2", "--inventory",
                     str(inventory), "--gateway-config", str(gateway_file), "--gateway-url",
                     f"http://{LOOPBACK}:{port}/api/v1/write"]) == 0
        [serve] = exec_starts(root, UNITS[0])
        gateway = Process(serve, tmp_path / "gateway.log")
        wait_for(lambda: http_get(f"http://{LOOPBACK}:{port}/-/ready")[0] == 200
                 or not gateway.alive(), 20, what="installed gateway ready")
        assert gateway.alive(), gateway.log()

        render, reload = exec_starts(root, UNITS[3])
        assert subprocess.run(render, capture_output=True, timeout=60).returncode == 0
        rules = root / "var/lib/commune-collector/prometheus/rules/commune-inventory.yml"
        assert "lan-2" in rules.read_text()
        # The conference schedule: installed empty beside the inventory, passed by the unit,
        # watched by the path unit; a conference written there is rendered, a bad one refused.
        conferences = etc / "conferences.yml"
        assert "conferences: []" in conferences.read_text()
        assert render[render.index("--conferences") + 1] == str(conferences)
        watched = (root / "etc/systemd/system/commune-collector-render.path").read_text()
        assert f"PathChanged={conferences}\n" in watched
        conferences.write_text('conferences:\n  - {name: giao-ban, title: "Giao ban",'
                               ' start: 2099-01-05T08:00, communes: ["16318"]}\n')
        assert subprocess.run(render, capture_output=True, timeout=60).returncode == 0
        rendered = rules.with_name("commune-conferences.yml").read_text()
        assert "conference-giao-ban" in rendered and 'commune=~"16318"' in rendered
        conferences.write_text('conferences:\n  - {name: x, title: "X", start: 2099-01-05}\n')
        refused = subprocess.run(render, capture_output=True, text=True, timeout=60)
        assert refused.returncode == 2
        assert f"{conferences}:2:34: conferences[0].start: expected a date and a time" in (
            refused.stderr)
        conferences.write_text("conferences: []\n")
        reloaded = subprocess.run(reload, capture_output=True, text=True, timeout=60)
        assert reloaded.returncode == 0, reloaded.stderr
        assert reloaded.stdout.splitlines() == [f"reloaded {prometheus.url}",
                                                f"reloaded {alertmanager.url}"]

        # The expire unit's command runs against the same Prometheus: the node never pushed
        # but its code is still valid, so nothing changes.
        [expire_cmd] = exec_starts(root, UNITS[5])
        assert expire_cmd[-1] == prometheus.url
        expired = subprocess.run(expire_cmd, capture_output=True, text=True, timeout=60)
        assert expired.returncode == 0 and "no enrolment to settle" in expired.stdout, expired

        # Upgrade in place: the enrolled token and the edited inventory stay.
        kept = (inventory.read_text(), gateway_file.read_text())
        again = install_collector(root, wheels)
        assert again.returncode == 0, again.stdout + again.stderr
        assert again.stdout.count("keeping") == 3  # inventory, gateway.yml, conferences.yml
        assert (inventory.read_text(), gateway_file.read_text()) == kept
    finally:
        if gateway is not None:
            gateway.stop()
        alertmanager.stop()
        prometheus.stop()
    removed = uninstall_collector(root)
    assert removed.returncode == 0, removed.stderr
    assert tree(root) == set()


def test_first_collector_install_needs_inventory_and_receiver(tmp_path: Path):
    root = tmp_path / "root"
    done = subprocess.run(["bash", str(INSTALL_COLLECTOR), "--root", str(root)],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 2 and "first install: give --inventory FILE" in done.stderr
    assert tree(root) == set()
