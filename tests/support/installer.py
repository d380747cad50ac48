"""Runs deploy/install-agent.sh and uninstall-agent.sh in --root test mode."""

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


def tree(root: Path) -> set[str]:
    """Every path under ``root``, relative."""
    return {p.relative_to(root).as_posix() for p in root.rglob("*")}
