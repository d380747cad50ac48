"""A real OpenSSH server (Debian's /usr/sbin/sshd) on a free loopback port, with generated keys.

No system file is touched except creating /run/sshd (sshd's privilege separation directory)
when it is missing.
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from tests.peers import LOOPBACK, Process, free_port, require_binary, wait_for


def keygen(path: Path, kind: str = "ed25519") -> Path:
    """Generate an unencrypted key pair at ``path`` (and ``path.pub``); return ``path``."""
    subprocess.run([require_binary("ssh-keygen"), "-q", "-t", kind, "-N", "", "-C", "test",
                    "-f", str(path)], check=True)
    return path


def _accepts(host: str, port: int) -> bool:
    with socket.create_connection((host, port), timeout=1) as sock:
        return sock.recv(4).startswith(b"SSH-")


class Sshd(Process):
    """sshd -D -e -f CONFIG, listening on ``addresses`` (all loopback) at one free port."""

    def __init__(self, workdir: Path, authorized_keys: Sequence[Path],
                 addresses: Sequence[str] = (LOOPBACK,), extra_config: str = "",
                 port: int | None = None, host_key: Path | None = None,
                 log_level: str = "VERBOSE") -> None:
        assert all(a.startswith("127.") for a in addresses), "tests listen on loopback only"
        workdir.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.workdir = workdir
        self.addresses = list(addresses)
        self.port = port or free_port()
        self.user = getpass.getuser()
        self.host_key = host_key or keygen(workdir / "ssh_host_ed25519_key")
        keys_file = workdir / "authorized_keys"
        keys_file.write_text("".join(Path(f"{k}.pub").read_text() for k in authorized_keys))
        os.chmod(keys_file, 0o600)
        listen = "".join(f"ListenAddress {a}:{self.port}\n" for a in self.addresses)
        config = workdir / "sshd_config"
        config.write_text(
            f"{listen}"
            f"HostKey {self.host_key}\n"
            f"PidFile {workdir / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {keys_file}\n"
            "UsePAM no\nStrictModes no\nPasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
            "MaxStartups 1000\nMaxSessions 100\nAllowTcpForwarding yes\n"
            f"LogLevel {log_level}\n"
            "PrintMotd no\nUseDNS no\n"
            # Debian's bash sources ~/.bashrc for commands run by sshd unless it is a nested
            # shell: keep the test user's ~/.bashrc (here: pyenv init, ~0.1 s of CPU) out of
            # every command.
            "SetEnv SHLVL=1\n"
            f"{extra_config}")
        super().__init__([require_binary("sshd"), "-D", "-e", "-f", str(config)],
                         workdir / "sshd.log")
        for address in self.addresses:
            wait_for(partial(_accepts, address, self.port), 15,
                     what=f"sshd on {address}:{self.port} ({self.log_path})")

    def __enter__(self) -> Sshd:
        return self

    def public_host_key(self) -> str:
        """``type base64`` of the host key."""
        kind, blob = Path(f"{self.host_key}.pub").read_text().split()[:2]
        return f"{kind} {blob}"

    def known_hosts(self, addresses: Sequence[str] | None = None) -> str:
        """known_hosts lines for this server at ``addresses`` (default: all it listens on)."""
        key = self.public_host_key()
        return "".join(f"[{a}]:{self.port} {key}\n" for a in addresses or self.addresses)
