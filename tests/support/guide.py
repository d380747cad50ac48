"""The runnable guides of the docs: command blocks a test extracts and runs, so they cannot drift.

A fenced ``sh`` block is extractable when the line before it is the marker comment

    <!-- guide NAME: MACHINE -->

NAME names the guide and its language (``add-commune-en``, ``add-commune-vi``; the README's
bilingual copy is ``add-commune``), MACHINE the machine its commands run on (``province`` or
``node``). A guide is its marked blocks in file order. In a block, a line ending in ``\\``
continues on the next one; blank lines and ``#`` comment lines are not commands.

``Mapping`` is how a test runs them on a ``--root`` install with its own ports: ``sudo`` is
dropped (the test runs as root); ``/etc/``, ``/opt/`` and ``/var/lib/`` paths move under the
machine's root; the default ports of Prometheus (127.0.0.1:9090), Alertmanager
(127.0.0.1:9093) and the gateway (``COLLECTOR:9820``, ``COLLECTOR`` being the collector's name
as the nodes reach it) become the test's; ``bash deploy/install-*.sh`` and
``deploy/uninstall-*.sh`` get ``--root`` (and the installers the listen addresses), and the
enrolment code placeholder (``cme1.`` and dots or ``eyJ...``) becomes the code enrol printed.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

MARKER = re.compile(r"^<!-- guide ([\w-]+): (province|node) -->$")
FENCE = "```"
CODE = re.compile(r"cme1\.[\w.-]*")
HOME_PATHS = re.compile(r"(?<![\w./-])/(etc|opt|var/lib)/")
MACHINES = ("province", "node")


@dataclass(frozen=True)
class Step:
    """One marked block: the machine it runs on, its commands, where it is written."""

    machine: str
    commands: tuple[str, ...]
    where: str  # FILE:LINE of the block's marker


def commands(block: list[str]) -> list[str]:
    """The logical command lines of a block: continuations joined, spaces collapsed."""
    out: list[str] = []
    pending = ""
    for raw in block:
        line = raw.strip()
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line = (pending + line).strip()
        pending = ""
        if line and not line.startswith("#"):
            out.append(" ".join(line.split()))
    if pending.strip():
        out.append(" ".join(pending.split()))
    return out


def guides(path: Path) -> dict[str, list[Step]]:
    """Every guide of a Markdown file by name, its steps in order."""
    found: dict[str, list[Step]] = {}
    lines = path.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        m = MARKER.match(lines[i].strip())
        if not m:
            i += 1
            continue
        where = f"{path.name}:{i + 1}"
        opening = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if opening not in (f"{FENCE}sh", f"{FENCE}bash"):
            raise ValueError(f"{where}: a guide marker must be followed by a {FENCE}sh block")
        end = next((j for j in range(i + 2, len(lines)) if lines[j].strip() == FENCE), None)
        if end is None:
            raise ValueError(f"{where}: the {FENCE}sh block is not closed")
        found.setdefault(m[1], []).append(
            Step(m[2], tuple(commands(lines[i + 2:end])), where))
        i = end + 1
    return found


def runs(steps: list[Step]) -> list[tuple[str, tuple[str, ...]]]:
    """(machine, commands) with consecutive steps on the same machine joined: two guides are
    the same when their runs are, however their blocks are cut."""
    out: list[tuple[str, tuple[str, ...]]] = []
    for step in steps:
        if out and out[-1][0] == step.machine:
            out[-1] = (step.machine, out[-1][1] + step.commands)
        else:
            out.append((step.machine, step.commands))
    return out


@dataclass
class Ports:
    """The test's ports for the guide's defaults."""

    prometheus: int
    alertmanager: int
    gateway: int
    agent: int


@dataclass
class Mapping:
    """A guide's command as the test runs it on ``root`` (see the module's docstring)."""

    root: Path
    ports: Ports
    host: str = "127.0.0.1"  # where the machine's own services listen
    gateway_host: str = "127.0.0.1"  # COLLECTOR: the gateway's address as the nodes reach it
    code: str = ""
    extra: dict[str, list[str]] = field(default_factory=dict)  # script name -> more options

    def installer_options(self, script: str) -> list[str]:
        """What a test adds to ``deploy/SCRIPT``."""
        options = ["--root", str(self.root)]
        if script == "install-collector.sh":
            options += ["--listen", f"{self.gateway_host}:{self.ports.gateway}",
                        "--prometheus", f"http://{self.host}:{self.ports.prometheus}",
                        "--alertmanager", f"http://{self.host}:{self.ports.alertmanager}"]
        elif script == "install-agent.sh":
            options += ["--listen", f"{self.host}:{self.ports.agent}", "--ready-timeout", "90"]
        return options + self.extra.get(script, [])

    def apply(self, command: str) -> str:
        """``command`` with the test's root, ports and enrolment code."""
        if command.startswith("sudo "):
            command = command[len("sudo "):]
        command = HOME_PATHS.sub(lambda m: f"{self.root}/{m[1]}/", command)
        command = (command.replace("127.0.0.1:9090", f"{self.host}:{self.ports.prometheus}")
                   .replace("127.0.0.1:9093", f"{self.host}:{self.ports.alertmanager}")
                   .replace("COLLECTOR:9820", f"{self.gateway_host}:{self.ports.gateway}"))
        if self.code:
            command = CODE.sub(self.code, command)
        words = shlex.split(command)
        for i, word in enumerate(words):
            name = Path(word).name
            if word.startswith("deploy/") and name.endswith(".sh") and name.startswith(
                    ("install-", "uninstall")):
                words[i + 1:i + 1] = self.installer_options(name)
                return shlex.join(words)
        return command
