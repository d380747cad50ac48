"""A real Debian snmpd on a free loopback UDP port with a chosen read-only community."""

from __future__ import annotations

import socket
from pathlib import Path

from tests.peers import LOOPBACK, Process, require_binary, wait_for


def free_udp_port() -> int:
    """A UDP port free on loopback right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


class Snmpd(Process):
    """snmpd -f answering ``community`` (v1/v2c) on 127.0.0.1:``port``."""

    def __init__(self, workdir: Path, community: str) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_udp_port()
        config = workdir / "snmpd.conf"
        config.write_text(f"agentAddress udp:{LOOPBACK}:{self.port}\n"
                          f"rocommunity {community} {LOOPBACK}\n")
        super().__init__([require_binary("snmpd"), "-f", "-Lo", "-C", "-c", str(config),
                          "-p", str(workdir / "snmpd.pid")],
                         workdir / "snmpd.log",
                         env={"SNMP_PERSISTENT_DIR": str(workdir), "MIBS": "", "MIBDIRS": ""})
        wait_for(self._listening, 15, what=f"snmpd listening ({self.log_path})")

    def _listening(self) -> bool:
        assert self.alive(), self.log()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            try:
                s.bind((LOOPBACK, self.port))
            except OSError:
                return True  # taken: snmpd holds it
        return False
