"""A real systemd-journald in its own journal namespace (its own sockets and files), cleaned up."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support.peer_marker import require_peer
from tests.support.peers import Process, require_binary, wait_for

JOURNALD = Path("/lib/systemd/systemd-journald")


class Journald(Process):
    """systemd-journald NAMESPACE; ``send`` writes entries through its native socket."""

    def __init__(self, workdir: Path) -> None:
        require_peer(str(JOURNALD))
        if not os.access(JOURNALD, os.X_OK):
            pytest.fail(f"{JOURNALD} is missing; install the systemd package")
        self.namespace = f"cmtest{uuid.uuid4().hex[:8]}"
        self.socket_path = Path(f"/run/systemd/journal.{self.namespace}/socket")
        super().__init__([str(JOURNALD), self.namespace], workdir / "journald.log")
        wait_for(self.socket_path.exists, 15, what=f"journald socket ({self.log_path})")

    def send(self, identifier: str, *messages: str) -> None:
        """Log ``messages`` as syslog identifier ``identifier`` (pid of this test)."""
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            for message in messages:
                entry = (f"SYSLOG_IDENTIFIER={identifier}\nSYSLOG_PID={os.getpid()}\n"
                         f"PRIORITY=5\nMESSAGE={message}\n")
                sock.sendto(entry.encode(), str(self.socket_path))

    def entries(self, *identifiers: str) -> int:
        """How many entries of these identifiers journalctl sees in the namespace."""
        argv = [require_binary("journalctl"), f"--namespace={self.namespace}", "-o", "cat",
                "--no-pager", "-q"]
        for identifier in identifiers:
            argv += ["-t", identifier]
        out = subprocess.run(argv, capture_output=True, text=True, check=False)
        return len(out.stdout.splitlines())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10.0) -> int:
        """Stop journald and remove the namespace's journal files and sockets."""
        code = super().stop(sig, timeout)
        machine_id = Path("/etc/machine-id").read_text().strip()
        for folder in (Path(f"/var/log/journal/{machine_id}.{self.namespace}"),
                       Path(f"/run/log/journal/{machine_id}.{self.namespace}"),
                       Path(f"/run/systemd/journal.{self.namespace}")):
            shutil.rmtree(folder, ignore_errors=True)
        return code
