"""A real OpenSSH server (Debian's /usr/sbin/sshd) on a free loopback port, with generated keys.

No system file is touched except creating /run/sshd (sshd's privilege separation directory)
when it is missing. Used by the diagnostics tests (sessions, jump hosts) and by the security
tests (failed logins written to a log file, see ``fail_password``/``fail_key``).
"""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from tests.support.peers import LOOPBACK, Process, free_port, require_binary, wait_for


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
                 log_level: str = "VERBOSE", log_file: Path | None = None,
                 password_auth: bool = False) -> None:
        assert all(a.startswith("127.") for a in addresses), "tests listen on loopback only"
        workdir.mkdir(parents=True, exist_ok=True)
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self.workdir = workdir
        self.addresses = list(addresses)
        self.port = port or free_port()
        self.user = getpass.getuser()
        self.host_key = host_key or keygen(workdir / "ssh_host_ed25519_key")
        # Where sshd's log lines go: ``log_file`` (sshd -E) if given, else its stderr (-e).
        self.log_file = log_file or workdir / "sshd.log"
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
            "UsePAM no\nStrictModes no\n"
            f"PasswordAuthentication {'yes' if password_auth else 'no'}\n"
            "KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
            "MaxStartups 1000\nMaxSessions 100\nAllowTcpForwarding yes\n"
            f"LogLevel {log_level}\n"
            "PrintMotd no\nUseDNS no\n"
            # Debian's bash sources ~/.bashrc for commands run by sshd unless it is a nested
            # shell: keep the test user's ~/.bashrc (here: pyenv init, ~0.1 s of CPU) out of
            # every command.
            "SetEnv SHLVL=1\n"
            f"{extra_config}")
        argv = [require_binary("sshd"), "-D", "-e", "-f", str(config)]
        if log_file is not None:
            argv += ["-E", str(log_file)]
        super().__init__(argv, workdir / ("sshd.out" if log_file else "sshd.log"))
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

    def auth_log(self) -> str:
        """What sshd logged so far (its log file, or its stderr without one)."""
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def _ssh(self, user: str, *options: str) -> int:
        askpass = self.workdir / "askpass"
        if not askpass.exists():
            askpass.write_text("#!/bin/sh\necho not-the-password\n")
            askpass.chmod(0o700)
        argv = [require_binary("ssh"), "-n", "-p", str(self.port),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", *options, f"{user}@{self.addresses[0]}", "true"]
        env = {**os.environ, "SSH_ASKPASS": str(askpass), "SSH_ASKPASS_REQUIRE": "force",
               "DISPLAY": "none"}
        return subprocess.run(argv, env=env, capture_output=True, timeout=30,
                              check=False).returncode

    def fail_password(self, user: str, tries: int = 1) -> int:
        """Log in as ``user`` with a wrong password ``tries`` times on one connection."""
        return self._ssh(user, "-o", "PreferredAuthentications=password",
                         "-o", f"NumberOfPasswordPrompts={tries}")

    def fail_key(self, user: str) -> int:
        """Offer a key that is not authorised, then give up."""
        client_key = self.workdir / "unauthorised_key"
        if not client_key.exists():
            keygen(client_key)
        return self._ssh(user, "-i", str(client_key), "-o", "IdentitiesOnly=yes",
                         "-o", "BatchMode=yes", "-o", "PreferredAuthentications=publickey")


def failing_sshd(workdir: Path, max_auth_tries: int = 3) -> Sshd:
    """A real sshd that takes passwords, authorises no key, and logs (INFO) to ``log_file``."""
    return Sshd(workdir, authorized_keys=(), log_level="INFO", log_file=workdir / "auth.log",
                password_auth=True, extra_config=f"MaxAuthTries {max_auth_tries}\n")
