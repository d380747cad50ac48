"""Runs the installers of deploy/ in --root test mode; reads the units they installed."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path

from tests.support.paths import ROOT
from tests.support.peers import LOOPBACK, Process, free_port

INSTALL = ROOT / "deploy" / "install-agent.sh"
UNINSTALL = ROOT / "deploy" / "uninstall-agent.sh"
PREFIX = "/opt/commune-agent"
INSTALL_COLLECTOR = ROOT / "deploy" / "install-collector.sh"
UNINSTALL_COLLECTOR = ROOT / "deploy" / "uninstall-collector.sh"
COLLECTOR_PREFIX = "/opt/commune-collector"
# Where a unit's own file is looked for: the root's, then the packages' of this machine
# (Debian's prometheus.service is installed on the machine, its drop-in under the root).
UNIT_DIRS = ("etc/systemd/system", "lib/systemd/system", "usr/lib/systemd/system")
# ExecStart= prefixes that change how systemd runs the command, not the command itself.
EXEC_PREFIXES = "-@:+!"


class Installed:
    """An install under ``root``: where things went, the agent it started, what it printed."""

    def __init__(self, root: Path, port: int) -> None:
        self.root = root
        self.port = port
        self.url = f"http://{LOOPBACK}:{port}"
        self.venv = root / PREFIX.lstrip("/")
        self.etc = root / "etc" / "commune-agent"
        self.spool = root / "var" / "lib" / "commune-agent" / "spool"
        self.unit = root / "etc" / "systemd" / "system" / "commune-agent.service"
        self.output = ""
        self.returncode: int | None = None
        self.agent: Process | None = None

    def run(self, args: Sequence[str], wheels: Path | None, logdir: Path,
            start_agent: bool = True, script: Path = INSTALL) -> Installed:
        """Run the installer; start the agent from the "start:" command it prints."""
        argv = ["bash", str(script), "--root", str(self.root), "--prefix", PREFIX,
                "--no-systemd", "--listen", f"{LOOPBACK}:{self.port}", "--ready-timeout", "60",
                *(["--wheelhouse", str(wheels)] if wheels else []), *args]
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, cwd=self.root.parent)
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("start: ") and start_agent and self.agent is None:
                self.agent = Process(shlex.split(line[len("start: "):]),
                                     logdir / f"installed-agent-{self.port}.log",
                                     cwd=self.root)
        self.returncode = proc.wait(timeout=180)
        self.output = "".join(lines)
        return self

    def stop(self) -> None:
        """Stop the agent the test started."""
        if self.agent is not None:
            self.agent.stop()
            self.agent = None


def install(root: Path, args: Sequence[str], wheels: Path | None, logdir: Path,
            port: int | None = None, start_agent: bool = True,
            script: Path = INSTALL) -> Installed:
    """Install into ``root`` (a fresh port unless given)."""
    return Installed(root, port or free_port()).run(args, wheels, logdir, start_agent, script)


def release(wheels: Path, out: Path) -> Path:
    """An unpacked release like scripts/build-wheelhouse.sh makes: deploy/ + wheelhouse/."""
    shutil.copytree(ROOT / "deploy", out / "deploy")
    shutil.copytree(wheels, out / "wheelhouse")
    return out / "deploy" / "install-agent.sh"


def uninstall(root: Path) -> subprocess.CompletedProcess[str]:
    """Run the uninstaller on ``root``."""
    return subprocess.run(["bash", str(UNINSTALL), "--root", str(root), "--prefix", PREFIX],
                          capture_output=True, text=True, timeout=60)


def install_collector(root: Path, wheels: Path, *args: str,
                      timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """Run install-collector.sh into ``root`` (offline, from ``wheels``) with ``args``."""
    return subprocess.run(["bash", str(INSTALL_COLLECTOR), "--root", str(root), "--prefix",
                           COLLECTOR_PREFIX, "--wheelhouse", str(wheels), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=root.parent)


def uninstall_collector(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run uninstall-collector.sh on ``root``."""
    return subprocess.run(["bash", str(UNINSTALL_COLLECTOR), "--root", str(root), *args],
                          capture_output=True, text=True, timeout=60)


def tree(root: Path) -> set[str]:
    """Every path under ``root``, relative."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}


def _unit_lines(path: Path) -> list[tuple[str, str, str]]:
    """(section, key, value) of a unit file, continuation lines joined, comments skipped."""
    lines: list[tuple[str, str, str]] = []
    section, pending = "", ""
    for raw in path.read_text().splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif "=" in line:
            key, value = line.split("=", 1)
            lines.append((section, key.strip(), value.strip()))
    return lines


def exec_starts(root: Path, unit: str) -> list[list[str]]:
    """The ExecStart= command lines of ``unit`` as installed under ``root``, after its drop-ins.

    The unit file is the root's or, for a package's unit such as Debian's prometheus.service, the
    machine's; drop-ins are ``root/etc/systemd/system/UNIT.d/*.conf`` in name order, where an
    empty ``ExecStart=`` clears the list as systemd does. Paths stay as the installer wrote them.
    """
    base = next((d / unit for prefix in (root, Path("/")) for d in
                 (prefix / sub for sub in UNIT_DIRS) if (d / unit).is_file()), None)
    dropins = sorted((root / UNIT_DIRS[0] / f"{unit}.d").glob("*.conf"))
    if base is None and not dropins:
        raise FileNotFoundError(f"{unit}: no unit file or drop-in under {root} or /")
    commands: list[list[str]] = []
    for path in ([base] if base else []) + dropins:
        for section, key, value in _unit_lines(path):
            if section != "Service" or key != "ExecStart":
                continue
            if not value:
                commands = []
            else:
                commands.append(shlex.split(value.lstrip(EXEC_PREFIXES)))
    return commands
