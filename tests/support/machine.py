"""A machine of a ``--root`` install, run the way systemd would run it, without systemd.

``Machine.run(command)`` runs one shell command in the machine's current folder (``cd`` moves
it), with ``guide.Mapping`` applied, and then does what systemd does on a real machine:

- a ``start: COMMAND`` line (``install-agent.sh --no-systemd``) starts COMMAND as
  commune-agent.service while the installer waits for it;
- a file watched by an installed ``.path`` unit (``PathChanged=``) that the command changed
  starts the unit's service (enrol's edits restart the gateway, re-render and reload);
- ``install-collector.sh`` starts what it enables (Prometheus and Alertmanager), an
  uninstaller stops what it removes.

Services run the ``ExecStart=`` lines of their installed units (``installer.exec_starts``), a
oneshot's lines in order and a ``systemctl restart UNIT`` among them as a restart. Everything runs
from the machine's own folder with ``PYTHONPATH`` unset, so nothing comes from the checkout, and
through ``wrap`` (``ip netns exec NS`` for a node in a namespace).
"""

from __future__ import annotations

import hashlib
import shlex
import subprocess
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from tests.support.guide import Mapping
from tests.support.installer import exec_starts
from tests.support.peers import Process, http_get, wait_for

UNIT_DIR = Path("etc/systemd/system")
CLEAN_ENV = ("env", "-u", "PYTHONPATH", "-u", "PYTHONHOME", "-u", "VIRTUAL_ENV")
AGENT_UNIT = "commune-agent.service"
# What an installer starts (or an uninstaller stops) with systemctl, which --root leaves out.
STARTED_BY = {"install-collector.sh": ("prometheus.service", "prometheus-alertmanager.service")}
STOPPED_BY = {"uninstall-agent.sh": (AGENT_UNIT,),
              "uninstall-collector.sh": ("commune-collector-gateway.service",
                                         "prometheus.service", "prometheus-alertmanager.service")}


@dataclass
class Ran:
    """One command as run: the mapped text, its exit code and output."""

    command: str
    returncode: int
    output: str


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else ""


class Machine:
    """A province collector or a commune node installed under ``mapping.root``."""

    def __init__(self, name: str, home: Path, mapping: Mapping, logdir: Path,
                 wrap: Callable[[list[str]], list[str]] = list,
                 ready: dict[str, str] | None = None,
                 before_start: Callable[[], object] | None = None) -> None:
        self.name = name
        self.home = self.cwd = home
        self.mapping = mapping
        self.logdir = logdir
        self.wrap = wrap
        self.ready = ready or {}  # unit -> URL whose /-/ready says it is up
        self.before_start = before_start  # called before a "start:" line's command starts
        self.services: dict[str, Process] = {}
        self.ran: list[Ran] = []
        self._lock = threading.Lock()

    @property
    def root(self) -> Path:
        """The machine's ``--root``."""
        return self.mapping.root

    def argv(self, argv: Sequence[str]) -> list[str]:
        """``argv`` as this machine runs it."""
        return self.wrap([*CLEAN_ENV, *argv])

    def run(self, command: str, timeout: float = 300) -> Ran:
        """Run one command as the guide writes it (see the module docstring)."""
        mapped = self.mapping.apply(command)
        words = shlex.split(mapped)
        if words and words[0] == "cd":
            self.cwd = (self.cwd / words[1]).resolve()
            return self._done(Ran(mapped, 0 if self.cwd.is_dir() else 1, ""))
        scripts = [Path(w).name for w in words]
        for unit in (u for name in scripts for u in STOPPED_BY.get(name, ())):
            self.stop(unit)
        before = self._watched()
        proc = subprocess.Popen(self.argv(["bash", "-euo", "pipefail", "-c", mapped]),
                                cwd=self.cwd, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("start: "):
                if self.before_start is not None:
                    self.before_start()
                self.spawn(AGENT_UNIT, shlex.split(line[len("start: "):]))
        ran = self._done(Ran(mapped, proc.wait(timeout=timeout), "".join(lines)))
        if ran.returncode == 0:
            for unit in (u for name in scripts for u in STARTED_BY.get(name, ())):
                self.restart(unit)
            self._trigger_paths(before)
        return ran

    def _done(self, ran: Ran) -> Ran:
        self.ran.append(ran)
        return ran

    def spawn(self, unit: str, argv: Sequence[str]) -> Process:
        """Start ``argv`` as the long-running ``unit``."""
        with self._lock:
            count = sum(1 for r in self.logdir.glob(f"{self.name}-{unit}*.log"))
            process = Process(self.argv(argv), self.logdir / f"{self.name}-{unit}-{count}.log",
                              cwd=self.home)
            self.services[unit] = process
        if unit in self.ready:
            url = self.ready[unit]
            wait_for(lambda: http_get(f"{url}/-/ready")[0] == 200 or not process.alive(), 60,
                     what=f"{unit} ready on {self.name} ({process.log_path})")
            assert process.alive(), process.log()
        return process

    def _unit_type(self, unit: str) -> str:
        path = self.root / UNIT_DIR / unit
        text = path.read_text() if path.is_file() else ""
        return "oneshot" if "\nType=oneshot" in text else "simple"

    def start(self, unit: str) -> None:
        """``systemctl start UNIT``: a oneshot runs to the end (each line must exit 0), a
        service starts unless it runs."""
        lines = exec_starts(self.root, unit)
        if self._unit_type(unit) != "oneshot":
            if unit not in self.services or not self.services[unit].alive():
                [argv] = lines
                self.spawn(unit, argv)
            return
        for argv in lines:
            if Path(argv[0]).name == "systemctl":
                action, *units = argv[1:]
                for other in units:
                    getattr(self, action)(other)
                continue
            done = subprocess.run(self.argv(argv), cwd=self.home, capture_output=True,
                                  text=True, timeout=120)
            self.ran.append(Ran(shlex.join(argv), done.returncode, done.stdout + done.stderr))
            assert done.returncode == 0, f"{unit}: {shlex.join(argv)}\n{done.stdout}{done.stderr}"

    def stop(self, unit: str) -> None:
        """``systemctl stop UNIT``."""
        process = self.services.pop(unit, None)
        if process is not None:
            process.stop()

    def restart(self, unit: str) -> None:
        """``systemctl restart UNIT``."""
        self.stop(unit)
        self.start(unit)

    def path_units(self) -> dict[Path, str]:
        """The files the installed ``.path`` units watch, and the unit each starts."""
        watched = {}
        for unit in sorted((self.root / UNIT_DIR).glob("*.path")):
            target = unit.with_suffix(".service").name
            paths = []
            for line in unit.read_text().splitlines():
                key, _, value = line.partition("=")
                if key.strip() == "Unit":
                    target = value.strip()
                elif key.strip() == "PathChanged":
                    paths.append(Path(value.strip()))
            watched.update({path: target for path in paths})
        return watched

    def _watched(self) -> dict[Path, str]:
        return {path: _digest(path) for path in self.path_units()}

    def _trigger_paths(self, before: dict[Path, str]) -> None:
        for path, unit in self.path_units().items():  # watched before, changed since
            if path in before and _digest(path) != before[path]:
                self.start(unit)

    def close(self) -> None:
        """Stop every service this machine started."""
        for unit in list(self.services):
            self.stop(unit)
