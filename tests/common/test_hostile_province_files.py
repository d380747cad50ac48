"""The files enrolment edits and render copies, through the real console scripts: hostile ones
are refused with exit 2 and one line, and nothing is changed.

``commune-collector enrol``, ``revoke`` and ``expire`` meet a hostile gateway config,
inventory and pending-enrolments ledger; ``render`` a hostile rule file (``--rules DIR``), a
Grafana dashboard and a datasource template (overrides under ``$COMMUNE_MONITOR_ETC``); each
case of ``tests/support/hostile_files.py``. ``commune-diag run`` meets runbook names no file
can have.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from collector.diag.cli import main as diag_main
from tests.support.hostile_files import CASES, write_hostile
from tests.support.inventory import HAC_THANH, Node, inventory_yaml
from tests.support.paths import ROOT, script
from tests.support.province import THU_NGHIEM, gateway_yaml

URL = "http://127.0.0.1:9/api/v1/write"
CLOSED = "http://127.0.0.1:9"  # expire's Prometheus: never asked when a file is refused
# Two nodes in each commune, so that revoke --remove-node of one leaves a valid inventory.
INVENTORY = inventory_yaml([THU_NGHIEM.with_nodes(Node("lan-1"), Node("lan-2")),
                            HAC_THANH.with_nodes(Node("lan-1", block=True), Node("lan-2"))])
TOKEN = "  - {commune: '16318', node: lan-2, sha256: " + "ab" * 32 + "}\n"
LEDGER = ("# Written by commune-collector enrol.\n"
          '- {commune: "16318", node: lan-2, sha256: "' + "ab" * 32 + '", expires: 4102444800}\n')
RULE = "groups:\n  - name: g\n    rules:\n      - {alert: A, expr: vector(1), for: 5m}\n"
DASHBOARD = '{"title": "Extra", "templating": {"list": []}, "panels": []}\n'
DATASOURCE = (ROOT / "dashboards/provisioning/datasources/prometheus.yml").read_text()


@dataclass
class Files:
    """A province folder: inventory.yml, gateway.yml (a token for 16318/lan-2), rules/."""

    tmp: Path
    env: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.inventory.write_text(INVENTORY)
        self.gateway.write_text(gateway_yaml(URL, self.inventory).replace(
            "tokens: []\n", "tokens:\n" + TOKEN))
        self.rules.mkdir()
        (self.rules / "test.yml").write_text(RULE)

    @property
    def inventory(self) -> Path:
        return self.tmp / "inventory.yml"

    @property
    def gateway(self) -> Path:
        return self.tmp / "gateway.yml"

    @property
    def rules(self) -> Path:
        return self.tmp / "rules"

    @property
    def ledger(self) -> Path:
        return self.tmp / "pending-enrolments.yml"

    def etc(self, relative: str) -> Path:
        """An override file under ``$COMMUNE_MONITOR_ETC``, which this sets."""
        root = self.tmp / "etc"
        self.env["COMMUNE_MONITOR_ETC"] = str(root)
        path = root / "commune-collector" / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        return path

    def render(self) -> list[str]:
        return [script("commune-collector"), "render", "--inventory", str(self.inventory),
                "--out", str(self.tmp / "out"), "--rules", str(self.rules)]

    def enrol(self) -> list[str]:
        return [script("commune-collector"), "enrol", "--commune", "14797", "--node", "lan-3",
                "--inventory", str(self.inventory), "--gateway-config", str(self.gateway),
                "--gateway-url", URL]

    def revoke(self, *extra: str) -> list[str]:
        return [script("commune-collector"), "revoke", "--commune", "16318", "--node", "lan-2",
                "--gateway-config", str(self.gateway), *extra]

    def expire(self) -> list[str]:
        return [script("commune-collector"), "expire", "--gateway-config", str(self.gateway),
                "--prometheus", CLOSED]


@dataclass(frozen=True)
class Reader:
    """One reader: the file made hostile, its good text, and the command that reads it."""

    target: Callable[[Files], Path]
    good: Callable[[Files], str]
    command: Callable[[Files], list[str]]
    json: bool = False
    listed: bool = False
    good_exit: int = 0  # of the command on the good file


def _current(attribute: str) -> Callable[[Files], str]:
    return lambda files: getattr(files, attribute).read_text()


READERS = {
    "enrol-gateway": Reader(lambda f: f.gateway, _current("gateway"), Files.enrol),
    "enrol-inventory": Reader(lambda f: f.inventory, _current("inventory"), Files.enrol),
    "revoke-gateway": Reader(lambda f: f.gateway, _current("gateway"), Files.revoke),
    "revoke-inventory": Reader(lambda f: f.inventory, _current("inventory"), lambda f: f.revoke(
        "--inventory", str(f.inventory), "--remove-node")),
    "expire-gateway": Reader(lambda f: f.gateway, _current("gateway"), Files.expire),
    # A pending code not yet expired: with the good ledger, expire asks Prometheus (closed).
    "expire-ledger": Reader(lambda f: f.ledger, lambda _: LEDGER, Files.expire, listed=True,
                            good_exit=1),
    "render-rule-file": Reader(lambda f: f.rules / "hostile.yml", lambda _: RULE, Files.render),
    "render-dashboard": Reader(lambda f: f.etc("dashboards/hostile.json"), lambda _: DASHBOARD,
                               Files.render, json=True),
    "render-datasource": Reader(lambda f: f.etc("grafana/datasources/prometheus.yml"),
                                lambda _: DATASOURCE, Files.render),
}


def _snapshot(folder: Path) -> dict[str, str]:
    """The SHA-256 of every file under ``folder`` but enrolment's lock files."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(".lock")}


def _run(argv: list[str], env: dict[str, str]) -> tuple[subprocess.CompletedProcess[str], float]:
    started = time.monotonic()
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60,
                            env={**os.environ, **env})
    return result, time.monotonic() - started


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("reader", list(READERS))
def test_hostile_file_is_one_line_exit_2_and_changes_nothing(reader: str, case: str,
                                                             tmp_path: Path) -> None:
    spec = READERS[reader]
    files = Files(tmp_path)
    hostile = spec.target(files)
    if reader == "expire-ledger":
        hostile.write_text(LEDGER)
    expected = write_hostile(hostile, case, spec.good(files), json=spec.json,
                             listed=spec.listed)
    before = _snapshot(tmp_path)
    result, elapsed = _run(spec.command(files), files.env)
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert expected in lines[0], lines[0]
    assert f"{hostile}" in lines[0], lines[0]  # it names the file
    assert lines[0].endswith(")"), lines[0]  # and says what to do
    assert _snapshot(tmp_path) == before  # no file edited, no ledger, no render output
    assert elapsed < 20, f"{reader}/{case} took {elapsed:.1f}s"


@pytest.mark.parametrize("reader", list(READERS))
def test_the_good_file_passes_the_same_command(reader: str, tmp_path: Path) -> None:
    """The hostile cases are refused for what they hold, not for the command line."""
    spec = READERS[reader]
    files = Files(tmp_path)
    good = spec.target(files)
    good.write_text(spec.good(files))
    before = _snapshot(tmp_path)
    result, _ = _run(spec.command(files), files.env)
    assert "Traceback" not in result.stderr
    assert result.returncode == spec.good_exit, result.stderr
    if spec.good_exit:
        assert "Prometheus at http://127.0.0.1:9 is unreachable" in result.stderr
        assert _snapshot(tmp_path) == before
    else:
        assert _snapshot(tmp_path) != before


@pytest.mark.parametrize(("name", "problem"), [
    ("x" * 100_000, "runbook name 'xxx"),
    ("/tmp/" + "d/" * 3000 + "disk-mem.yml", "runbook file '/tmp/d/d/"),
])
def test_a_runbook_name_too_long_is_exit_2(name: str, problem: str) -> None:
    result, _ = _run([script("commune-diag"), "run", name, "--host", "127.0.0.1"], {})
    assert "Traceback" not in result.stderr, result.stderr
    assert result.returncode == 2, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and len(lines[0]) < 300, result.stderr
    assert problem in lines[0] and "bytes long, over the" in lines[0], lines[0]
    assert "commune-diag list" in lines[0]


def test_a_runbook_name_with_a_nul_byte_is_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    # No command line of a real process can hold a NUL: the CLI is called in-process.
    assert diag_main(["run", "disk\x00mem", "--host", "127.0.0.1"]) == 2
    err = capsys.readouterr().err
    assert err == ("commune-diag: runbook name 'disk\\x00mem' holds a NUL byte, which no file "
                   "name can; give a runbook name from 'commune-diag list', or the path of a "
                   "runbook file\n")
