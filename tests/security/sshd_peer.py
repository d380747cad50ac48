"""A real Debian sshd on a free loopback port, logging to a file; failed logins sent by ssh."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from tests.peers import LOOPBACK, Process, free_port, require_binary, wait_for


class Sshd(Process):
    """sshd -D -e with its own config and host key; ``log_file`` gets its log lines (-E)."""

    def __init__(self, workdir: Path, max_auth_tries: int = 3) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        self.workdir = workdir
        self.port = free_port()
        self.log_file = workdir / "sshd-auth.log"
        host_key = workdir / "host_key"
        subprocess.run([require_binary("ssh-keygen"), "-q", "-t", "ed25519", "-N", "",
                        "-f", str(host_key)], check=True)
        config = workdir / "sshd_config"
        config.write_text(
            f"Port {self.port}\nListenAddress {LOOPBACK}\nHostKey {host_key}\n"
            f"PidFile {workdir / 'sshd.pid'}\nUsePAM no\nPasswordAuthentication yes\n"
            f"KbdInteractiveAuthentication no\nPubkeyAuthentication yes\n"
            f"AuthorizedKeysFile {workdir / 'no_authorized_keys'}\nMaxAuthTries {max_auth_tries}\n"
            "StrictModes no\nLogLevel INFO\n")
        Path("/run/sshd").mkdir(exist_ok=True)  # privilege separation directory
        super().__init__([require_binary("sshd"), "-D", "-e", "-f", str(config),
                          "-E", str(self.log_file)], workdir / "sshd.out")
        wait_for(lambda: "Server listening" in self.auth_log(), 15,
                 what=f"sshd listening ({self.log_file})")
        self.askpass = workdir / "askpass"
        self.askpass.write_text("#!/bin/sh\necho not-the-password\n")
        self.askpass.chmod(0o700)
        self.client_key = workdir / "client_key"
        subprocess.run([require_binary("ssh-keygen"), "-q", "-t", "ed25519", "-N", "",
                        "-f", str(self.client_key)], check=True)

    def auth_log(self) -> str:
        """What sshd logged so far."""
        return self.log_file.read_text(errors="replace") if self.log_file.exists() else ""

    def _ssh(self, user: str, *options: str) -> int:
        argv = [require_binary("ssh"), "-n", "-p", str(self.port),
                "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                "-o", "LogLevel=ERROR", *options, f"{user}@{LOOPBACK}", "true"]
        env = {**os.environ, "SSH_ASKPASS": str(self.askpass), "SSH_ASKPASS_REQUIRE": "force",
               "DISPLAY": "none"}
        return subprocess.run(argv, env=env, capture_output=True, timeout=30,
                              check=False).returncode

    def fail_password(self, user: str, tries: int = 1) -> int:
        """Log in as ``user`` with a wrong password ``tries`` times on one connection."""
        return self._ssh(user, "-o", "PreferredAuthentications=password",
                         "-o", f"NumberOfPasswordPrompts={tries}")

    def fail_key(self, user: str) -> int:
        """Offer a key that is not authorised, then give up."""
        return self._ssh(user, "-i", str(self.client_key), "-o", "IdentitiesOnly=yes",
                         "-o", "BatchMode=yes", "-o", "PreferredAuthentications=publickey")
