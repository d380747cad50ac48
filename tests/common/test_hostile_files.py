"""Every loader, through its real console script, refuses hostile files with exit 2 and one line.

Each loader (agent config, web config, gateway config, inventory, runbook, the agent's state
files) meets 100k levels of nesting, a NUL byte, UTF-16, Latin-1 bytes and a 50 MB file.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.hostile_files import CASES, write_hostile
from tests.support.inventory import HAC_THANH, Node, inventory_yaml
from tests.support.paths import script

AGENT = "commune: '14797'\nmodules: {host: {}}\n"
GATEWAY = ("receivers:\n  - url: http://127.0.0.1:9/api/v1/write\ntokens:\n"
           "  - {commune: '14797', node: lan-1, sha256: " + "ab" * 32 + "}\n")
WEB = "http_server_config:\n  headers: {X-Frame-Options: deny}\n"
RUNBOOK = "description: a check\nsteps:\n  - name: say\n    command: echo hello\n"
INVENTORY = inventory_yaml([HAC_THANH.with_nodes(Node("lan-1"))])
POSITIONS = '{"files": {"portal": {"device": 1, "inode": 2, "offset": 3}}}'
BASELINE = '{"created": 1.0, "files": {"/etc/hostname": "00"}}'


@dataclass(frozen=True)
class Loader:
    """How to give a loader one file: its good text, whether JSON, and the command line."""

    good: str
    command: Callable[[Path, Path], list[str]]  # (hostile file, tmp folder) -> argv
    json: bool = False


def _agent_with(tmp: Path, modules: str) -> Path:
    config = tmp / "agent.yml"
    config.write_text(f"commune: '14797'\nmodules:\n{modules}")
    return config


def _logs_state(file: Path, tmp: Path) -> list[str]:
    (tmp / "access.log").write_text("")
    config = _agent_with(tmp, f"  logs:\n    state_file: {file}\n    files:\n"
                              f"      - {{name: portal, path: {tmp / 'access.log'}}}\n")
    return [script("commune-agent"), "once", "--config.file", str(config)]


def _integrity_baseline(file: Path, tmp: Path) -> list[str]:
    state = tmp / "state"
    state.mkdir()
    file.rename(state / "integrity-etc.json")
    config = _agent_with(tmp, f"  security:\n    state_dir: {state}\n    integrity:\n"
                              "      path_sets: [{name: etc, paths: [/etc/hostname]}]\n")
    return [script("commune-agent"), "once", "--config.file", str(config)]


def _web_config(file: Path, tmp: Path) -> list[str]:
    gateway = tmp / "gateway.yml"
    gateway.write_text(GATEWAY)
    return [script("commune-collector"), "serve", "--config.file", str(gateway),
            "--web.listen-address", "127.0.0.1:0", "--web.config.file", str(file)]


LOADERS = {
    "agent-config": Loader(AGENT, lambda f, _: [script("commune-agent"), "check-config", str(f)]),
    "gateway-config": Loader(GATEWAY, lambda f, _: [
        script("commune-collector"), "serve", "--config.file", str(f), "--web.listen-address",
        "127.0.0.1:0"]),
    "web-config": Loader(WEB, _web_config),
    "inventory": Loader(INVENTORY, lambda f, tmp: [
        script("commune-collector"), "render", "--inventory", str(f), "--out", str(tmp / "out")]),
    "runbook": Loader(RUNBOOK, lambda f, _: [script("commune-diag"), "check", str(f)]),
    "logs-state": Loader(POSITIONS, _logs_state, json=True),
    "integrity-baseline": Loader(BASELINE, _integrity_baseline, json=True),
}


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("loader", list(LOADERS))
def test_hostile_file_is_one_line_and_exit_2(loader: str, case: str, tmp_path: Path) -> None:
    spec = LOADERS[loader]
    hostile = tmp_path / ("hostile.json" if spec.json else "hostile.yml")
    expected = write_hostile(hostile, case, spec.good, json=spec.json)
    argv = spec.command(hostile, tmp_path)
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    elapsed = time.monotonic() - started
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0], lines[0]
    assert "hostile" in lines[0] or "integrity-etc.json" in lines[0]  # it names the file
    assert "(" in lines[0] and lines[0].endswith(")"), lines[0]  # and says what to do
    assert elapsed < 20, f"{loader}/{case} took {elapsed:.1f}s"


# `serve` with a good config would serve; its config checks have their own tests.
@pytest.mark.parametrize("loader", [n for n in LOADERS if n not in ("gateway-config",
                                                                     "web-config")])
def test_the_good_file_passes_the_same_command(loader: str, tmp_path: Path) -> None:
    """The hostile cases are refused for what they hold, not for the command line."""
    spec = LOADERS[loader]
    good = tmp_path / ("good.json" if spec.json else "good.yml")
    good.write_text(spec.good)
    result = subprocess.run(spec.command(good, tmp_path), capture_output=True, text=True,
                            timeout=60)
    assert result.returncode in (0, 1), result.stderr  # `once` may see a module down
    assert "Traceback" not in result.stderr
