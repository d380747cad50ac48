"""install-agent.sh grants CAP_NET_RAW in the installed unit only to an agent with ICMP probes."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.support.installer import Installed, install, tree, uninstall
from tests.support.peers import free_port, require_binary

pytestmark = pytest.mark.peer

CONFIG = """\
commune: "16318"
interval: 15s
modules:
  host: {}
  probe:
    targets:
      - {name: gateway, kind: icmp, host: 127.0.0.1, count: 2}
"""


def _caps(unit: Path) -> tuple[str, list[str]]:
    """(CapabilityBoundingSet value, active AmbientCapabilities= lines) of an installed unit."""
    text = unit.read_text()
    (bounding,) = re.findall(r"^CapabilityBoundingSet=(.*)$", text, re.M)
    return bounding, re.findall(r"^AmbientCapabilities=.*$", text, re.M)


def test_cap_net_raw_only_with_an_icmp_probe(tmp_path: Path, wheels: Path):
    root = tmp_path / "root"
    root.mkdir()
    config = tmp_path / "agent.yml"
    config.write_text(CONFIG)
    token = tmp_path / "token"
    token.write_text("0" * 64 + "\n")
    installed: Installed | None = None
    port = free_port()
    try:
        installed = install(root, ["--config", str(config), "--token-file", str(token)], wheels,
                            tmp_path, port=port)
        assert installed.returncode == 0, installed.output
        assert _caps(installed.unit) == ("CAP_NET_RAW", ["AmbientCapabilities=CAP_NET_RAW"])
        verified = subprocess.run([require_binary("systemd-analyze"), "verify",
                                   str(installed.unit)], capture_output=True, text=True, timeout=60)
        assert verified.returncode == 0 and installed.unit.name not in verified.stderr, (
            verified.stderr)
        installed.stop()

        # The kept config is what counts on a re-install: a path probe (traceroute) needs ICMP
        # too; without either (a commented-out icmp target does not count) the unit has none.
        agent_yml = installed.etc / "agent.yml"
        for target, expected in (
                ("{name: route, kind: path, host: 127.0.0.1, max_hops: 2, timeout: 5s}",
                 ("CAP_NET_RAW", ["AmbientCapabilities=CAP_NET_RAW"])),
                ("{name: web, kind: tcp, host: 127.0.0.1, port: 9}\n"
                 "      # - {name: gateway, kind: icmp, host: 127.0.0.1}", ("", []))):
            agent_yml.write_text(CONFIG.replace(
                "{name: gateway, kind: icmp, host: 127.0.0.1, count: 2}", target))
            installed = Installed(root, port).run([], wheels, tmp_path)
            assert installed.returncode == 0, installed.output
            assert "keeping" in installed.output
            assert _caps(installed.unit) == expected, target
            assert "#AmbientCapabilities=CAP_NET_RAW" in installed.unit.read_text() or expected[1]
            installed.stop()
    finally:
        if installed is not None:
            installed.stop()
    done = uninstall(root)
    assert done.returncode == 0, done.stderr
    assert tree(root) == set()
