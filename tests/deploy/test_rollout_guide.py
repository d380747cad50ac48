"""The "Add a commune / Thêm một xã" guide, run as written: docs/rollout.md's commands (the same
in English, in Vietnamese and in the README: tests/project/test_guides.py) on two machines, a
province collector and a commune node, each a ``--root`` install of the release that
scripts/build-wheelhouse.sh builds, with the mapping of tests/support/guide.py (roots, ports) and
systemd's part played by tests/support/machine.py (Prometheus and Alertmanager started from the
installed drop-ins, the ``.path`` units restarting the gateway and re-rendering after enrol).
"""

from __future__ import annotations

import re
import shutil
import time
from pathlib import Path

import pytest
import yaml

from tests.support.guide import Mapping, Ports, guides
from tests.support.installer import tree
from tests.support.machine import Machine
from tests.support.paths import ROOT
from tests.support.peers import LOOPBACK, free_port, require_binary
from tests.support.release import NAME

pytestmark = [pytest.mark.peer, pytest.mark.slow]

GUIDE = ROOT / "docs" / "rollout.md"
COMMUNE, NODE = "14797", "lan-2"


def _machines(tmp_path: Path, tarball: Path) -> dict[str, Machine]:
    ports = Ports(free_port(), free_port(), free_port(), free_port())
    url = f"http://{LOOPBACK}"
    ready = {"prometheus.service": f"{url}:{ports.prometheus}",
             "prometheus-alertmanager.service": f"{url}:{ports.alertmanager}",
             "commune-collector-gateway.service": f"{url}:{ports.gateway}"}
    machines = {}
    for name in ("province", "node"):
        home = tmp_path / name
        home.mkdir()
        shutil.copy2(tarball, home / tarball.name)
        machines[name] = Machine(name, home, Mapping(home / "root", ports), tmp_path,
                                 ready=ready if name == "province" else {})
    return machines


def test_add_a_commune_as_written(tmp_path: Path, release_tarball: Path) -> None:
    require_binary("prometheus")
    require_binary("promtool")
    assert not tmp_path.is_relative_to(ROOT)  # the machines' folders are outside the checkout
    machines = _machines(tmp_path, release_tarball)
    province, node = machines["province"], machines["node"]
    took: dict[str, float] = {}
    try:
        for step in guides(GUIDE)["add-commune-en"]:
            machine = machines[step.machine]
            for command in step.commands:
                started = time.monotonic()
                ran = machine.run(command)
                took[command.split(" --")[0]] = time.monotonic() - started
                assert ran.returncode == 0, (f"{step.where}: {command}\nran as: {ran.command}\n"
                                             f"{ran.output}")
                code = re.search(r"--enrol (cme1\.\S+)", ran.output)
                if code:
                    node.mapping.code = code[1]
                if "promtool query" in command:
                    heartbeat = ran.output
        assert province.cwd == province.home / NAME and node.cwd == node.home / NAME

        # The node pushed through the installed gateway into the installed Prometheus, its
        # series labelled from the inventory.
        assert f'instance="{NODE}"' in heartbeat, heartbeat
        assert 'commune_name="Phường Hạc Thành"' in heartbeat, heartbeat
        assert 'role="lan-node"' in heartbeat and 'terrain="lowland"' in heartbeat, heartbeat
        # enrol's edits went through the .path units: a render that knew the node and a
        # gateway restarted after each token change, the last one without any token.
        rendered = [r.command for r in province.ran if " render " in r.command]
        assert len(rendered) == 2, rendered  # enrol, then revoke --remove-node
        gateway = province.services["commune-collector-gateway.service"]
        assert gateway.alive(), gateway.log()
        etc = province.root / "etc" / "commune-collector"
        assert yaml.safe_load((etc / "gateway.yml").read_text())["tokens"] == []
        inventory = (etc / "inventory" / "thanh-hoa.yml").read_text(encoding="utf-8")
        assert f"name: {NODE}" not in inventory
        # The node's uninstall removed all the install added.
        assert tree(node.root) == set(), sorted(tree(node.root))
    finally:
        for machine in machines.values():
            machine.close()
    print("\n" + "; ".join(f"{what}: {seconds:.1f}s" for what, seconds in took.items()
                           if seconds >= 1))
